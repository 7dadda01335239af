// A small Prometheus, Alertmanager, Grafana and kube-state-metrics for clusters that have none.
// Prometheus finds Trench pods by their prometheus.io/* annotations, scrapes the operator with
// its own labels (it exports every Trench's thresholds) and the kubelets' cAdvisor, and loads
// one rule set that covers every Trench; Alertmanager pages for critical alerts and sends
// warnings to chat.
// Each Deployment has a PodDisruptionBudget and a NetworkPolicy that admits exactly its
// traffic; people reach the UIs with `kubectl port-forward`, which NetworkPolicy does not see.
import { Value } from '@sinclair/typebox/value';
import { ApiObject, Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import {
  check,
  checkImage,
  checkNamespace,
  checkPorts,
  type EnvVar,
  finishWorkload,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
  LABEL_NAME,
  LABEL_PART_OF,
  PART_OF,
  restrictedContainer,
  restrictedPod,
  setServiceSelector,
} from './constructs/common.js';
import { POD_LABEL_TARGETS, podLabelMeta } from './constructs/monitoring.js';
import {
  apiServerEgress,
  DEFAULT_API_SERVER_PORTS,
  DEFAULT_OPERATOR_PEER,
  DNS_EGRESS,
  peer,
  tcp,
} from './constructs/network.js';
import {
  type Alerting,
  AlertingSchema,
  alertmanagerConfig,
  secretKeysOf,
} from './lib/alertmanager.js';
import { allRuleGroups } from './lib/alerts.js';
import { DASHBOARD_UID, trenchDashboard } from './lib/dashboard.js';
import {
  DEFAULT_GRAFANA_ADMIN_SECRET,
  GRAFANA_ADMIN_PASSWORD_KEY,
  GRAFANA_ADMIN_USER_KEY,
} from './lib/grafana-admin.js';
import { OPERATOR_JOB } from './lib/metrics.js';
import { toYaml } from './lib/yaml.js';
import { grafanaAdminSecretRbac, OPERATOR_NAME } from './operator-chart.js';

export const DEFAULT_MONITORING_IMAGES = {
  prometheus: 'quay.io/prometheus/prometheus:v2.55.1',
  grafana: 'docker.io/grafana/grafana:11.3.1',
  kubeStateMetrics: 'registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0',
  // 0.26 or later: the Telegram receiver reads its token from a file (bot_token_file).
  alertmanager: 'quay.io/prometheus/alertmanager:v0.27.0',
};

export interface MonitoringChartProps {
  /** @default 'trench-monitoring' */
  readonly namespace?: string;
  /** Namespace of the operator, scraped as job trench-operator. @default 'trench-system' */
  readonly operatorNamespace?: string;
  /** @default DEFAULT_MONITORING_IMAGES */
  readonly images?: Partial<typeof DEFAULT_MONITORING_IMAGES>;
  /** Receivers of the alerts and the runbook link. @default no receivers: alerts go nowhere */
  readonly alerting?: Alerting;
  /** Value of app.kubernetes.io/managed-by. @default 'cdk8s' */
  readonly managedBy?: string;
  /** A NetworkPolicy for each Deployment. @default true */
  readonly networkPolicies?: boolean;
  /**
   * Secret in this namespace holding Grafana's admin login (keys admin-user and
   * admin-password). The operator generates it when missing; the chart only references it
   * and lets the operator create it. @default 'grafana-admin'
   */
  readonly grafanaAdminSecret?: string;
  /** Ports Prometheus and kube-state-metrics reach the API server on. @default [443, 6443] */
  readonly apiServerPorts?: readonly number[];
}

const PROMETHEUS_PORT = 9090;
const ALERTMANAGER_PORT = 9093;
const KUBELET_PORT = 10250;
/** Where the Alertmanager pod mounts the receivers' Secrets, one directory per Secret. */
export const ALERTMANAGER_SECRETS_DIR = '/etc/alertmanager/secrets';
const GRAFANA_PORT = 3000;
const KSM_PORT = 8080;

/**
 * Prometheus's emptyDir TSDB is bounded twice: by its ephemeral-storage limit (the kubelet
 * evicts the pod past it) and, below that, by the retention size (Prometheus deletes the
 * oldest blocks past it). The 2Gi between them absorb the WAL and a compaction's new block
 * before the old ones go. Prometheus reads GB as GiB.
 */
export const PROMETHEUS_STORAGE_LIMIT = '8Gi';
export const PROMETHEUS_RETENTION_SIZE = '6GB';

const NOBODY = 65534;
const GRAFANA_USER = 472;

export class MonitoringChart extends Chart {
  constructor(scope: Construct, id: string, props: MonitoringChartProps = {}) {
    const namespace = props.namespace ?? 'trench-monitoring';
    super(scope, id, { namespace });
    const c = 'MonitoringChart';
    checkNamespace(c, 'namespace', namespace);
    const images = { ...DEFAULT_MONITORING_IMAGES, ...props.images };
    for (const [k, v] of Object.entries(images)) checkImage(c, `images.${k}`, v);
    const operatorNamespace = props.operatorNamespace ?? 'trench-system';
    const adminSecret = props.grafanaAdminSecret ?? DEFAULT_GRAFANA_ADMIN_SECRET;
    check(
      /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(adminSecret),
      c,
      'grafanaAdminSecret',
      adminSecret,
      'must be a Secret name',
    );
    const apiServerPorts = props.apiServerPorts ?? DEFAULT_API_SERVER_PORTS;
    checkPorts(c, 'apiServerPorts', apiServerPorts);
    const managedBy = props.managedBy ?? 'cdk8s';
    const labelsOf = (name: string) => ({
      [LABEL_NAME]: name,
      [LABEL_INSTANCE]: name,
      [LABEL_PART_OF]: PART_OF,
      [LABEL_MANAGED_BY]: managedBy,
    });
    const selectorOf = (name: string) => ({ [LABEL_NAME]: name, [LABEL_INSTANCE]: name });

    new ApiObject(this, 'Namespace', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: namespace,
        labels: {
          ...labelsOf('trench-monitoring'),
          'pod-security.kubernetes.io/enforce': 'restricted',
        },
      },
    });

    // --- Prometheus ---------------------------------------------------------------------
    const alerting = props.alerting ?? (Value.Default(AlertingSchema, {}) as Alerting);
    const groups = allRuleGroups(alerting.runbookUrl);
    const promConfig = {
      global: { scrape_interval: '30s', evaluation_interval: '30s' },
      rule_files: ['/etc/prometheus/rules/*.yaml'],
      alerting: {
        alertmanagers: [
          { static_configs: [{ targets: [`alertmanager.${namespace}.svc:${ALERTMANAGER_PORT}`] }] },
        ],
      },
      scrape_configs: [
        {
          job_name: OPERATOR_JOB,
          honor_labels: true,
          kubernetes_sd_configs: [
            { role: 'endpoints', namespaces: { names: [operatorNamespace] } },
          ],
          relabel_configs: [
            {
              source_labels: [
                '__meta_kubernetes_service_name',
                '__meta_kubernetes_endpoint_port_name',
              ],
              regex: `${OPERATOR_JOB};metrics`,
              action: 'keep',
            },
          ],
        },
        {
          job_name: 'kube-state-metrics',
          honor_labels: true,
          static_configs: [{ targets: [`kube-state-metrics.${namespace}.svc:${KSM_PORT}`] }],
        },
        {
          // Container CPU and memory, for the alerts on use against limits. Straight from
          // each kubelet (the nodes/metrics right), not through the API server's node proxy,
          // whose nodes/proxy right would also open the kubelet's exec endpoints.
          job_name: 'kubelet-cadvisor',
          scheme: 'https',
          metrics_path: '/metrics/cadvisor',
          authorization: {
            credentials_file: '/var/run/secrets/kubernetes.io/serviceaccount/token',
          },
          // Kubelet serving certificates are self-signed on most clusters.
          tls_config: { insecure_skip_verify: true },
          kubernetes_sd_configs: [{ role: 'node' }],
          metric_relabel_configs: [
            {
              source_labels: ['__name__'],
              regex: 'container_cpu_usage_seconds_total|container_memory_working_set_bytes',
              action: 'keep',
            },
          ],
        },
        {
          job_name: 'trench-pods',
          kubernetes_sd_configs: [{ role: 'pod' }],
          relabel_configs: [
            {
              source_labels: [
                '__meta_kubernetes_pod_annotation_prometheus_io_scrape',
                '__meta_kubernetes_pod_label_app_kubernetes_io_part_of',
              ],
              regex: 'true;trench',
              action: 'keep',
            },
            {
              // The operator is the trench-operator job, with honor_labels: scraped here too,
              // its series would land under a Trench named trench-operator.
              source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name'],
              regex: OPERATOR_NAME,
              action: 'drop',
            },
            {
              source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_path'],
              regex: '(.+)',
              target_label: '__metrics_path__',
            },
            {
              source_labels: [
                '__meta_kubernetes_pod_ip',
                '__meta_kubernetes_pod_annotation_prometheus_io_port',
              ],
              regex: '(.+);(.+)',
              replacement: '$1:$2',
              target_label: '__address__',
            },
            { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
            { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
            ...POD_LABEL_TARGETS.map(([label, target]) => ({
              source_labels: [podLabelMeta(label)],
              target_label: target,
            })),
          ],
        },
      ],
    };
    new kplus.ConfigMap(this, 'PrometheusConfig', {
      metadata: { name: 'prometheus-config', labels: labelsOf('prometheus') },
      data: { 'prometheus.yml': toYaml(promConfig) },
    });
    new kplus.ConfigMap(this, 'PrometheusRules', {
      metadata: { name: 'prometheus-rules', labels: labelsOf('prometheus') },
      data: { 'trench.yaml': toYaml({ groups }) },
    });
    this.serviceAccountWithReadRole('prometheus', labelsOf('prometheus'), [
      {
        apiGroups: [''],
        resources: ['pods', 'services', 'endpoints'],
        verbs: ['get', 'list', 'watch'],
      },
      {
        apiGroups: ['discovery.k8s.io'],
        resources: ['endpointslices'],
        verbs: ['get', 'list', 'watch'],
      },
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['nodes/metrics'], verbs: ['get'] },
    ]);
    this.workload('prometheus', labelsOf('prometheus'), selectorOf('prometheus'), {
      image: images.prometheus,
      user: NOBODY,
      port: PROMETHEUS_PORT,
      args: [
        '--config.file=/etc/prometheus/prometheus.yml',
        '--storage.tsdb.path=/prometheus',
        '--storage.tsdb.retention.time=7d',
        // The TSDB is on an emptyDir, counted against the ephemeral-storage limit: exceeding
        // it evicts the pod and loses every series, so Prometheus drops old blocks first.
        `--storage.tsdb.retention.size=${PROMETHEUS_RETENTION_SIZE}`,
        '--web.enable-lifecycle',
      ],
      health: '/-/healthy',
      ready: '/-/ready',
      serviceAccount: 'prometheus',
      mounts: [
        { name: 'config', mountPath: '/etc/prometheus', configMap: 'prometheus-config' },
        { name: 'rules', mountPath: '/etc/prometheus/rules', configMap: 'prometheus-rules' },
        { name: 'data', mountPath: '/prometheus' },
      ],
      resources: {
        requests: { cpu: '100m', memory: '256Mi', 'ephemeral-storage': '2Gi' },
        limits: { cpu: '1', memory: '1Gi', 'ephemeral-storage': PROMETHEUS_STORAGE_LIMIT },
      },
    });

    // --- Alertmanager ----------------------------------------------------------------------
    const secretKeys = secretKeysOf(alerting);
    new kplus.ConfigMap(this, 'AlertmanagerConfig', {
      metadata: { name: 'alertmanager-config', labels: labelsOf('alertmanager') },
      data: {
        'alertmanager.yml': toYaml(alertmanagerConfig(alerting, ALERTMANAGER_SECRETS_DIR)),
      },
    });
    this.workload('alertmanager', labelsOf('alertmanager'), selectorOf('alertmanager'), {
      image: images.alertmanager,
      user: NOBODY,
      port: ALERTMANAGER_PORT,
      args: [
        '--config.file=/etc/alertmanager/alertmanager.yml',
        '--storage.path=/alertmanager',
        // One replica: no gossip peers to find, and no port 9094 to open.
        '--cluster.listen-address=',
      ],
      health: '/-/healthy',
      ready: '/-/ready',
      mounts: [
        { name: 'config', mountPath: '/etc/alertmanager', configMap: 'alertmanager-config' },
        // One volume per Secret, holding just the keys the receivers name; a Secret that does
        // not exist keeps the pod in ContainerCreating with an event that names it.
        ...[...new Set(secretKeys.map((r) => r.name))].map((secret, i) => ({
          name: `secret-${i}`,
          mountPath: `${ALERTMANAGER_SECRETS_DIR}/${secret}`,
          secret: {
            name: secret,
            keys: secretKeys.filter((r) => r.name === secret).map((r) => r.key),
          },
        })),
        // Silences and the notification log.
        { name: 'data', mountPath: '/alertmanager' },
      ],
      resources: {
        requests: { cpu: '20m', memory: '32Mi', 'ephemeral-storage': '32Mi' },
        limits: { cpu: '200m', memory: '128Mi', 'ephemeral-storage': '256Mi' },
      },
    });

    // --- kube-state-metrics (pod waiting reasons, pod labels, Deployment replicas) -----
    this.serviceAccountWithReadRole('kube-state-metrics', labelsOf('kube-state-metrics'), [
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
      { apiGroups: ['apps'], resources: ['deployments', 'statefulsets'], verbs: ['list', 'watch'] },
    ]);
    this.workload(
      'kube-state-metrics',
      labelsOf('kube-state-metrics'),
      selectorOf('kube-state-metrics'),
      {
        image: images.kubeStateMetrics,
        user: NOBODY,
        port: KSM_PORT,
        args: [
          '--resources=pods,deployments,statefulsets',
          '--metric-labels-allowlist=pods=[app.kubernetes.io/instance,app.kubernetes.io/part-of]',
        ],
        health: '/livez',
        // kube-state-metrics serves /readyz on its telemetry port, not the metrics port.
        ready: '/readyz',
        readyPort: 8081,
        serviceAccount: 'kube-state-metrics',
        mounts: [],
        // Writes nothing but its log.
        resources: {
          requests: { cpu: '50m', memory: '64Mi', 'ephemeral-storage': '32Mi' },
          limits: { cpu: '500m', memory: '256Mi', 'ephemeral-storage': '256Mi' },
        },
      },
    );

    // --- Grafana ------------------------------------------------------------------------
    const dashboards = {
      [`${DASHBOARD_UID}.json`]: `${JSON.stringify(trenchDashboard(), null, 2)}\n`,
    };
    new kplus.ConfigMap(this, 'GrafanaProvisioning', {
      metadata: { name: 'grafana-provisioning', labels: labelsOf('grafana') },
      data: {
        'datasources.yaml': toYaml({
          apiVersion: 1,
          datasources: [
            {
              name: 'Prometheus',
              type: 'prometheus',
              access: 'proxy',
              isDefault: true,
              url: `http://prometheus.${namespace}.svc:${PROMETHEUS_PORT}`,
            },
          ],
        }),
        'dashboards.yaml': toYaml({
          apiVersion: 1,
          providers: [
            { name: 'trench', type: 'file', options: { path: '/var/lib/grafana/dashboards' } },
          ],
        }),
      },
    });
    grafanaAdminSecretRbac(this, { operatorNamespace, labels: labelsOf(OPERATOR_NAME) });
    new kplus.ConfigMap(this, 'GrafanaDashboards', {
      metadata: { name: 'grafana-dashboards', labels: labelsOf('grafana') },
      data: dashboards,
    });
    this.workload('grafana', labelsOf('grafana'), selectorOf('grafana'), {
      image: images.grafana,
      user: GRAFANA_USER,
      port: GRAFANA_PORT,
      args: [],
      health: '/api/health',
      ready: '/api/health',
      env: [
        { name: 'GF_PATHS_PROVISIONING', value: '/etc/grafana/provisioning' },
        { name: 'GF_AUTH_ANONYMOUS_ENABLED', value: 'false' },
        // Not Grafana's default admin/admin: the login the operator generated (or yours).
        {
          name: 'GF_SECURITY_ADMIN_USER',
          valueFrom: { secretKeyRef: { name: adminSecret, key: GRAFANA_ADMIN_USER_KEY } },
        },
        {
          name: 'GF_SECURITY_ADMIN_PASSWORD',
          valueFrom: { secretKeyRef: { name: adminSecret, key: GRAFANA_ADMIN_PASSWORD_KEY } },
        },
        // Its NetworkPolicy allows no egress but Prometheus: skip the calls home that would fail.
        { name: 'GF_ANALYTICS_REPORTING_ENABLED', value: 'false' },
        { name: 'GF_ANALYTICS_CHECK_FOR_UPDATES', value: 'false' },
        { name: 'GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES', value: 'false' },
      ],
      mounts: [
        {
          name: 'provisioning',
          mountPath: '/etc/grafana/provisioning/datasources',
          configMap: 'grafana-provisioning',
          items: ['datasources.yaml'],
        },
        {
          name: 'providers',
          mountPath: '/etc/grafana/provisioning/dashboards',
          configMap: 'grafana-provisioning',
          items: ['dashboards.yaml'],
        },
        {
          name: 'dashboards',
          mountPath: '/var/lib/grafana/dashboards',
          configMap: 'grafana-dashboards',
        },
        { name: 'data', mountPath: '/var/lib/grafana' },
        { name: 'tmp', mountPath: '/tmp' },
      ],
      // Its SQLite database (users, preferences) and /tmp; dashboards come from ConfigMaps.
      resources: {
        requests: { cpu: '50m', memory: '128Mi', 'ephemeral-storage': '128Mi' },
        limits: { cpu: '500m', memory: '512Mi', 'ephemeral-storage': '1Gi' },
      },
    });

    // --- NetworkPolicies ----------------------------------------------------------------
    if (props.networkPolicies ?? true) {
      const apiServer = apiServerEgress(apiServerPorts);
      const local = (name: string) => ({ podSelector: { matchLabels: selectorOf(name) } });
      this.networkPolicy('prometheus', labelsOf('prometheus'), selectorOf('prometheus'), {
        ingress: [
          {
            // Grafana's queries, and the operator's canary analysis.
            from: [
              local('grafana'),
              peer({ ...DEFAULT_OPERATOR_PEER, namespace: operatorNamespace }),
            ],
            ports: [tcp(PROMETHEUS_PORT)],
          },
        ],
        egress: [
          // Scrapes, on whatever port a pod's annotation names: Trench pods in every
          // namespace, the operator and kube-state-metrics, all labelled part-of trench.
          {
            to: [
              {
                namespaceSelector: {},
                podSelector: { matchLabels: { [LABEL_PART_OF]: PART_OF } },
              },
            ],
          },
          // The kubelets' cAdvisor, on the nodes' own addresses, which no selector matches.
          { ports: [tcp(KUBELET_PORT)] },
          // Kubernetes service discovery.
          apiServer,
          DNS_EGRESS,
        ],
      });
      this.networkPolicy('alertmanager', labelsOf('alertmanager'), selectorOf('alertmanager'), {
        ingress: [{ from: [local('prometheus')], ports: [tcp(ALERTMANAGER_PORT)] }],
        // The receivers are outside the cluster (or anywhere, for a webhook): any address, on
        // exactly the ports they use.
        egress: [{ ports: receiverPorts(alerting).map(tcp) }, DNS_EGRESS],
      });
      // No ingress rule: nothing in the cluster needs to open Grafana.
      this.networkPolicy('grafana', labelsOf('grafana'), selectorOf('grafana'), {
        ingress: [],
        egress: [{ to: [local('prometheus')], ports: [tcp(PROMETHEUS_PORT)] }, DNS_EGRESS],
      });
      this.networkPolicy(
        'kube-state-metrics',
        labelsOf('kube-state-metrics'),
        selectorOf('kube-state-metrics'),
        {
          ingress: [{ from: [local('prometheus')], ports: [tcp(KSM_PORT)] }],
          egress: [apiServer, DNS_EGRESS],
        },
      );
    }
  }

  /** Both directions in one policy, so each pod is isolated by exactly one object. */
  private networkPolicy(
    name: string,
    labels: Record<string, string>,
    selector: Record<string, string>,
    rules: { ingress: unknown[]; egress: unknown[] },
  ): void {
    new ApiObject(this, `${name}-network-policy`, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name, labels },
      spec: {
        podSelector: { matchLabels: selector },
        policyTypes: ['Ingress', 'Egress'],
        // The API server drops an empty list; written out, `kubectl diff` would show drift.
        ...(rules.ingress.length > 0 ? { ingress: rules.ingress } : {}),
        egress: rules.egress,
      },
    });
  }

  private serviceAccountWithReadRole(
    name: string,
    labels: Record<string, string>,
    rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[],
  ): void {
    const ns = this.namespace!;
    new ApiObject(this, `${name}-sa`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name, labels },
    });
    new ApiObject(this, `${name}-role`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: `trench-monitoring-${name}`, labels },
      rules,
    });
    new ApiObject(this, `${name}-binding`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `trench-monitoring-${name}`, labels },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: `trench-monitoring-${name}`,
      },
      subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
    });
  }

  private workload(
    name: string,
    labels: Record<string, string>,
    selector: Record<string, string>,
    o: {
      image: string;
      user: number;
      port: number;
      args: string[];
      health: string;
      ready: string;
      /** Where `ready` is served, when not on `port`. */
      readyPort?: number;
      serviceAccount?: string;
      env?: EnvVar[];
      mounts: {
        name: string;
        mountPath: string;
        configMap?: string;
        items?: string[];
        secret?: { name: string; keys: string[] };
      }[];
      resources: { requests: Record<string, string>; limits: Record<string, string> };
    },
  ): void {
    const d = new kplus.Deployment(this, `${name}-deployment`, {
      metadata: { name, labels },
      podMetadata: { labels },
      select: false,
      replicas: 1,
      serviceAccount: o.serviceAccount
        ? kplus.ServiceAccount.fromServiceAccountName(this, `${name}-sa-ref`, o.serviceAccount)
        : undefined,
      automountServiceAccountToken: o.serviceAccount !== undefined,
      securityContext: restrictedPod(o.user),
      terminationGracePeriod: Duration.seconds(30),
      containers: [
        {
          name,
          image: o.image,
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          args: o.args.length ? o.args : undefined,
          ports: [
            { name: 'http', number: o.port },
            ...(o.readyPort ? [{ name: 'telemetry', number: o.readyPort }] : []),
          ],
          securityContext: restrictedContainer(o.user),
          readiness: kplus.Probe.fromHttpGet(o.ready, { port: o.readyPort ?? o.port }),
          liveness: kplus.Probe.fromHttpGet(o.health, { port: o.port, failureThreshold: 6 }),
          startup: kplus.Probe.fromHttpGet(o.health, { port: o.port, failureThreshold: 60 }),
        },
      ],
    });
    d.select(kplus.LabelSelector.of({ labels: selector }));
    finishWorkload(d, {
      container: {
        ...(o.env ? { env: o.env } : {}),
        resources: o.resources,
        ...(o.mounts.length
          ? { volumeMounts: o.mounts.map((m) => ({ name: m.name, mountPath: m.mountPath })) }
          : {}),
      },
      pod: o.mounts.length
        ? {
            volumes: o.mounts.map((m) =>
              m.secret
                ? {
                    name: m.name,
                    secret: {
                      secretName: m.secret.name,
                      items: m.secret.keys.map((k) => ({ key: k, path: k })),
                      defaultMode: 0o440,
                    },
                  }
                : m.configMap
                  ? {
                      name: m.name,
                      configMap: {
                        name: m.configMap,
                        ...(m.items ? { items: m.items.map((k) => ({ key: k, path: k })) } : {}),
                      },
                    }
                  : { name: m.name, emptyDir: {} },
            ),
          }
        : {},
    });
    const svc = new kplus.Service(this, `${name}-service`, {
      metadata: { name, labels },
      ports: [{ name: 'http', port: o.port, targetPort: o.port }],
    });
    setServiceSelector(svc, selector);
    // One replica each (the TSDB and Grafana's database are the pod's own), and a budget
    // that kept it would block every node drain. maxUnavailable 1 never blocks a drain;
    // what it adds is a budget that eviction-aware tooling and cluster policies can find.
    new ApiObject(this, `${name}-pdb`, {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name, labels },
      spec: {
        maxUnavailable: 1,
        selector: { matchLabels: selector },
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    });
  }
}

/** The TCP ports the receivers reach: HTTPS for the chat and paging services, SMTP, webhooks. */
export function receiverPorts(alerting: Alerting): number[] {
  const ports = new Set<number>([443]);
  for (const r of [alerting.paging, alerting.chat]) {
    if (r.email) ports.add(Number(r.email.smarthost.split(':')[1]));
    if (r.webhook) {
      const url = new URL(r.webhook.url);
      ports.add(url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80);
    }
  }
  return [...ports].sort((a, b) => a - b);
}
