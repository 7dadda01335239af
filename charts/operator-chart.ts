// The operator's install: its namespace, ServiceAccount, least-privilege RBAC (no wildcards),
// a Deployment with probes and the restricted security context, a metrics Service, a
// PodDisruptionBudget, a NetworkPolicy, and the CRDs it serves.
import { Value } from '@sinclair/typebox/value';
import { ApiObject, Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import { trenchCrds } from './api/crds.js';
import {
  check,
  checkImage,
  checkInt,
  checkNamespace,
  checkPorts,
  finishWorkload,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
  LABEL_NAME,
  LABEL_PART_OF,
  PART_OF,
  restrictedContainer,
  restrictedPod,
  scrapeAnnotations,
  setServiceSelector,
} from './constructs/common.js';
import {
  apiServerEgress,
  DEFAULT_API_SERVER_PORTS,
  DEFAULT_PROMETHEUS_PEER,
  DNS_EGRESS,
  tcp,
} from './constructs/network.js';
import { REDIS_PORT } from './constructs/redis.js';
import { type Alerting, AlertingSchema, alertmanagerConfigSpec } from './lib/alertmanager.js';
import { allRuleGroups } from './lib/alerts.js';
import { DASHBOARD_UID, trenchDashboard } from './lib/dashboard.js';
import { formatGrafanaAdminSecretRef, type GrafanaAdminSecretRef } from './lib/grafana-admin.js';
import { OPERATOR_JOB } from './lib/metrics.js';
import { operatorClusterRules } from './operator-kinds.js';

export { operatorClusterRules };

export const OPERATOR_NAME = 'trench-operator';
export const OPERATOR_PORT = 8080;
/**
 * Node's flags in the operator's pod. V8 sizes its heap from the host's memory (about 4 GB on a
 * large node), not the container's limit, and grows old space lazily towards it: at 1000
 * Trenches the live heap is about 115 MB, but the process held 300-500 MB. The ceiling keeps
 * it collected with room for about 1500 Trenches; raise it with the memory limit for more.
 */
export const OPERATOR_NODE_OPTIONS = '--max-old-space-size=192';
const OPERATOR_USER = 65532;
/** Where canary analysis finds Prometheus: its default port, or 443 (already open) behind TLS. */
export const OPERATOR_PROMETHEUS_PORT = 9090;

export interface OperatorChartProps {
  /** @default 'trench-system' */
  readonly namespace?: string;
  /** Operator image. */
  readonly image: string;
  /** Replicas; one leads through a Lease, the others wait. @default 2 */
  readonly replicas?: number;
  /** Log level passed as TRENCH_LOG_LEVEL. @default 'info' */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Also manage ServiceMonitor/PodMonitor/PrometheusRule children. @default false */
  readonly prometheusOperator?: boolean;
  /** Give every Trench its NetworkPolicies, passed as TRENCH_NETWORK_POLICIES. @default true */
  readonly networkPolicies?: boolean;
  /**
   * Namespace of the Prometheus that scrapes Trenches, passed as TRENCH_PROMETHEUS_NAMESPACE:
   * each Trench's NetworkPolicies admit it to the metrics ports. @default 'trench-monitoring'
   */
  readonly prometheusNamespace?: string;
  /** Include the CRDs. @default true */
  readonly crds?: boolean;
  /** A NetworkPolicy for the operator's pods. @default true */
  readonly networkPolicy?: boolean;
  /** Ports the NetworkPolicy lets the operator reach the API server on. @default [443, 6443] */
  readonly apiServerPorts?: readonly number[];
  /**
   * Grafana's admin Secret, which the operator creates at startup when missing, passed as
   * TRENCH_GRAFANA_ADMIN_SECRET. The Role that allows it is grafanaAdminSecretRbac's, in
   * the monitoring namespace. @default none
   */
  readonly grafanaAdminSecret?: GrafanaAdminSecretRef;
  /** Value of app.kubernetes.io/managed-by. @default 'cdk8s' */
  readonly managedBy?: string;
  /**
   * With prometheusOperator: the receivers of an AlertmanagerConfig in the operator's
   * namespace, and the runbook link of the PrometheusRule. @default no receivers
   */
  readonly alerting?: Alerting;
}

export class OperatorChart extends Chart {
  public readonly namespaceName: string;

  constructor(scope: Construct, id: string, props: OperatorChartProps) {
    const namespace = props.namespace ?? 'trench-system';
    super(scope, id, { namespace });
    const c = 'OperatorChart';
    checkNamespace(c, 'namespace', namespace);
    checkImage(c, 'image', props.image);
    const apiServerPorts = props.apiServerPorts ?? DEFAULT_API_SERVER_PORTS;
    checkPorts(c, 'apiServerPorts', apiServerPorts);
    const replicas = props.replicas ?? 2;
    checkInt(c, 'replicas', replicas, 1, 10);
    const logLevel = props.logLevel ?? 'info';
    check(
      ['debug', 'info', 'warn', 'error'].includes(logLevel),
      c,
      'logLevel',
      logLevel,
      'must be one of debug, info, warn, error',
    );
    this.namespaceName = namespace;
    const selector = { [LABEL_NAME]: OPERATOR_NAME, [LABEL_INSTANCE]: OPERATOR_NAME };
    const labels = {
      ...selector,
      [LABEL_PART_OF]: PART_OF,
      [LABEL_MANAGED_BY]: props.managedBy ?? 'cdk8s',
    };

    if (props.crds ?? true) {
      trenchCrds().forEach((crd, i) => {
        new ApiObject(this, `Crd${i}`, crd);
      });
    }

    new ApiObject(this, 'Namespace', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: namespace,
        namespace: undefined,
        labels: { ...labels, 'pod-security.kubernetes.io/enforce': 'restricted' },
      },
    });

    new ApiObject(this, 'ServiceAccount', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: OPERATOR_NAME, labels },
    });

    new ApiObject(this, 'ClusterRole', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: OPERATOR_NAME, labels, namespace: undefined },
      rules: operatorClusterRules(props.prometheusOperator ?? false),
    });
    new ApiObject(this, 'ClusterRoleBinding', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: OPERATOR_NAME, labels, namespace: undefined },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: OPERATOR_NAME },
      subjects: [{ kind: 'ServiceAccount', name: OPERATOR_NAME, namespace }],
    });

    // Leader election happens in the operator's own namespace only.
    new ApiObject(this, 'LeaderRole', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: `${OPERATOR_NAME}-leader-election`, labels },
      rules: [
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'],
        },
      ],
    });
    new ApiObject(this, 'LeaderRoleBinding', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: `${OPERATOR_NAME}-leader-election`, labels },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'Role',
        name: `${OPERATOR_NAME}-leader-election`,
      },
      subjects: [{ kind: 'ServiceAccount', name: OPERATOR_NAME, namespace }],
    });

    const serviceAccount = kplus.ServiceAccount.fromServiceAccountName(
      this,
      'ServiceAccountRef',
      OPERATOR_NAME,
    );
    const deployment = new kplus.Deployment(this, 'Deployment', {
      metadata: { name: OPERATOR_NAME, labels },
      podMetadata: { labels, annotations: scrapeAnnotations(OPERATOR_PORT) },
      select: false,
      replicas,
      serviceAccount,
      automountServiceAccountToken: true,
      securityContext: restrictedPod(OPERATOR_USER),
      // Shutdown drains reconciles for up to 20 s, then releases the Lease so that the next
      // leader starts at once; the margin keeps SIGKILL from landing before the release.
      terminationGracePeriod: Duration.seconds(45),
      containers: [
        {
          name: 'operator',
          image: props.image,
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          ports: [{ name: 'http', number: OPERATOR_PORT }],
          securityContext: restrictedContainer(OPERATOR_USER),
          readiness: kplus.Probe.fromHttpGet('/readyz', {
            port: OPERATOR_PORT,
            periodSeconds: Duration.seconds(5),
          }),
          liveness: kplus.Probe.fromHttpGet('/healthz', {
            port: OPERATOR_PORT,
            periodSeconds: Duration.seconds(10),
            failureThreshold: 6,
          }),
          startup: kplus.Probe.fromHttpGet('/healthz', {
            port: OPERATOR_PORT,
            failureThreshold: 30,
          }),
        },
      ],
    });
    deployment.select(kplus.LabelSelector.of({ labels: selector }));
    finishWorkload(deployment, {
      container: {
        env: [
          {
            name: 'POD_NAMESPACE',
            valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
          },
          {
            name: 'POD_NAME',
            valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } },
          },
          { name: 'NODE_OPTIONS', value: OPERATOR_NODE_OPTIONS },
          { name: 'TRENCH_LOG_LEVEL', value: logLevel },
          { name: 'TRENCH_METRICS_PORT', value: String(OPERATOR_PORT) },
          { name: 'TRENCH_PROMETHEUS_OPERATOR', value: String(props.prometheusOperator ?? false) },
          { name: 'TRENCH_NETWORK_POLICIES', value: String(props.networkPolicies ?? true) },
          {
            name: 'TRENCH_PROMETHEUS_NAMESPACE',
            value: props.prometheusNamespace ?? DEFAULT_PROMETHEUS_PEER.namespace,
          },
          {
            name: 'TRENCH_GRAFANA_ADMIN_SECRET',
            value: formatGrafanaAdminSecretRef(props.grafanaAdminSecret),
          },
        ],
        // It writes nothing to disk: ephemeral storage is its JSON log, which the kubelet
        // rotates at 50Mi.
        resources: {
          limits: { cpu: '1', memory: '512Mi', 'ephemeral-storage': '256Mi' },
          requests: { cpu: '100m', memory: '128Mi', 'ephemeral-storage': '64Mi' },
        },
      },
    });

    const service = new kplus.Service(this, 'Service', {
      metadata: { name: OPERATOR_JOB, labels },
      ports: [{ name: 'metrics', port: OPERATOR_PORT, targetPort: OPERATOR_PORT }],
    });
    setServiceSelector(service, selector);

    // One of the replicas may go at a time: the other leads or takes over within a lease.
    new ApiObject(this, 'Pdb', {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: OPERATOR_NAME, labels },
      spec: {
        maxUnavailable: 1,
        selector: { matchLabels: selector },
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    });

    if (props.networkPolicy ?? true) {
      new ApiObject(this, 'NetworkPolicy', {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: OPERATOR_NAME, labels },
        spec: {
          podSelector: { matchLabels: selector },
          policyTypes: ['Ingress', 'Egress'],
          // Metrics and probes only. From any namespace: with the Prometheus Operator the
          // scraper runs wherever the cluster put it (the kubelet's probes are always let in).
          ingress: [{ ports: [tcp(OPERATOR_PORT)] }],
          egress: [
            apiServerEgress(apiServerPorts),
            DNS_EGRESS,
            // Queue depth, from managed Redis pods in Trench namespaces and from external
            // Redis servers, which have no selector: any address.
            { ports: [tcp(REDIS_PORT)] },
            // Canary analysis queries the Prometheus each Trench names, in or out of cluster.
            { ports: [tcp(OPERATOR_PROMETHEUS_PORT)] },
          ],
        },
      });
    }

    if (props.prometheusOperator) {
      new ApiObject(this, 'ServiceMonitor', {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'ServiceMonitor',
        metadata: { name: OPERATOR_NAME, labels },
        spec: {
          selector: { matchLabels: selector },
          // The operator's series carry the Trench's namespace and name as labels.
          endpoints: [{ port: 'metrics', path: '/metrics', interval: '30s', honorLabels: true }],
        },
      });
      const alerting = props.alerting ?? (Value.Default(AlertingSchema, {}) as Alerting);
      // Every Trench's rules, once: they join the thresholds this operator exports.
      new ApiObject(this, 'PrometheusRule', {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'PrometheusRule',
        metadata: { name: OPERATOR_NAME, labels },
        spec: { groups: allRuleGroups(alerting.runbookUrl) },
      });
      new ApiObject(this, 'AlertmanagerConfig', {
        apiVersion: 'monitoring.coreos.com/v1alpha1',
        kind: 'AlertmanagerConfig',
        metadata: { name: OPERATOR_NAME, labels },
        spec: alertmanagerConfigSpec(alerting),
      });
      // One dashboard for every Trench, for Grafana's dashboard sidecar (its Helm chart's label).
      new kplus.ConfigMap(this, 'Dashboard', {
        metadata: {
          name: `${OPERATOR_NAME}-dashboard`,
          labels: { ...labels, grafana_dashboard: '1' },
        },
        data: { [`${DASHBOARD_UID}.json`]: `${JSON.stringify(trenchDashboard(), null, 2)}\n` },
      });
    }
  }
}

/**
 * The operator's right to create Grafana's admin Secret: a Role in the monitoring namespace,
 * narrower than a cluster-wide grant. It is rendered by MonitoringChart, after the namespace
 * it lives in (`kubectl apply -f dist/` would refuse it before). Create only: a create that
 * finds the Secret gets 409 and keeps it, so the operator never needs to read it.
 */
export function grafanaAdminSecretRbac(
  scope: Construct,
  props: { readonly operatorNamespace: string; readonly labels: Record<string, string> },
): void {
  const name = `${OPERATOR_NAME}-grafana-admin`;
  new ApiObject(scope, 'GrafanaAdminSecretRole', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name, labels: props.labels },
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['create'] }],
  });
  new ApiObject(scope, 'GrafanaAdminSecretRoleBinding', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, labels: props.labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name: OPERATOR_NAME, namespace: props.operatorNamespace }],
  });
}
