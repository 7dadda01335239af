// dist/ and crds/ are what a fresh synth of values.yaml gives, byte for byte; values.yaml
// errors name the file and the field; the operator and monitoring charts hold their shape.
import { readdirSync, readFileSync } from 'node:fs';
import { App } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { type Manifest, manifestsOf } from '../../../charts/constructs/common.js';
import { MonitoringChart } from '../../../charts/monitoring-chart.js';
import { OperatorChart, operatorClusterRules } from '../../../charts/operator-chart.js';
import { synthesize } from '../../../charts/synth.js';
import { renderTrench } from '../../../charts/trench-chart.js';
import { parseValues, ValuesError } from '../../../charts/values.js';
import {
  connectionAllowed,
  type Endpoint,
  labelsMatch,
  minimal,
  podOf,
  podTemplates,
  withoutEphemeralStorage,
} from './fixtures.js';
import { everyReceiver } from './receivers.js';

const values = () => parseValues(readFileSync('values.yaml', 'utf8'), 'values.yaml');
const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Manifest);

describe('synth', () => {
  it('matches the committed dist/ and crds/ (run make synth and commit)', () => {
    const out = synthesize(values());
    expect(readdirSync('dist').sort()).toEqual([...out.dist.keys()].sort());
    for (const [file, content] of out.dist)
      expect(readFileSync(`dist/${file}`, 'utf8'), file).toBe(content);
    expect(readdirSync('crds').sort()).toEqual([...out.crds.keys()].sort());
    for (const [file, content] of out.crds)
      expect(readFileSync(`crds/${file}`, 'utf8'), file).toBe(content);
  });

  it('is byte-identical across runs', () => {
    const a = synthesize(values());
    const b = synthesize(values());
    expect([...a.dist.entries()]).toEqual([...b.dist.entries()]);
  });

  it('puts the CRDs first, alone, in the earliest sync wave', () => {
    const out = synthesize(values());
    const [first, ...rest] = [...out.dist.keys()].sort();
    const crds = docs(out.dist.get(first!)!);
    expect(crds.map((d) => d.kind)).toEqual(Array(3).fill('CustomResourceDefinition'));
    for (const d of crds)
      expect(d.metadata.annotations?.['argocd.argoproj.io/sync-wave']).toBe('-1');
    for (const file of rest) {
      for (const d of docs(out.dist.get(file)!)) {
        expect(d.kind).not.toBe('CustomResourceDefinition');
        expect(
          Number(d.metadata.annotations?.['argocd.argoproj.io/sync-wave']),
        ).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it('bounds the ephemeral storage of every container it runs', () => {
    const all = [...synthesize(values()).dist.values()].flatMap(docs);
    expect(podTemplates(all).length).toBeGreaterThanOrEqual(4);
    expect(withoutEphemeralStorage(all)).toEqual([]);
  });

  it('holds no Secret and no secret value', () => {
    for (const [file, content] of synthesize(values()).dist) {
      for (const d of docs(content)) expect(d.kind, file).not.toBe('Secret');
      expect(content, file).not.toMatch(/password:\s*\S/i);
    }
  });

  it('writes the environments as Trench objects in restricted namespaces', () => {
    const out = synthesize(values());
    const all = [...out.dist.values()].flatMap(docs);
    const trenches = all.filter((d) => d.kind === 'Trench');
    expect(trenches.map((t) => `${t.metadata.namespace}/${t.metadata.name}`)).toEqual([
      'shop-production/production',
      'shop-staging/staging',
    ]);
    for (const t of trenches) {
      const ns = all.find(
        (d) => d.kind === 'Namespace' && d.metadata.name === t.metadata.namespace,
      );
      expect(ns?.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    }
  });
});

describe('values.yaml errors name the file and the field', () => {
  const base = readFileSync('values.yaml', 'utf8');
  const cases: [string, string, string][] = [
    ['not YAML', 'operator: [', 'my-values.yaml'],
    [
      'a missing operator image',
      base.replace(/^ {2}image: ghcr.io\/playtrenches\/trench-operator.*$/m, ''),
      'operator.image',
    ],
    ['a bad log level', base.replace('logLevel: info', 'logLevel: loud'), 'operator.logLevel'],
    [
      'a bad Trench spec',
      base.replace('maxReplicas: 20', 'maxReplicas: 1'),
      'environments[0].spec.worker.scaling.minReplicas',
    ],
    [
      'a bad Trench name',
      base.replace('- name: staging', '- name: Staging'),
      'environments[1].name',
    ],
    [
      'an unknown spec field',
      base.replace('replicas: 3', 'replicas: 3\n        replica: 3'),
      'environments[0].spec.api.replica',
    ],
  ];
  it.each(cases)('%s', (_, text, field) => {
    expect(() => parseValues(text, 'my-values.yaml')).toThrow(ValuesError);
    try {
      parseValues(text, 'my-values.yaml');
    } catch (error) {
      expect((error as Error).message).toContain('my-values.yaml');
      expect((error as Error).message).toContain(field);
    }
  });

  it('documents every key with ## @param (or @extra for the environments list)', () => {
    const params = [...base.matchAll(/^## @(?:param|extra) (\S+)/gm)].map((m) => m[1]);
    for (const key of [
      'operator.namespace',
      'operator.image',
      'operator.replicas',
      'operator.logLevel',
      'prometheusOperator',
      'networkPolicies',
      'apiServerPorts',
      'monitoring.enabled',
      'monitoring.namespace',
      'monitoring.images.prometheus',
      'monitoring.images.grafana',
      'monitoring.images.kubeStateMetrics',
      'monitoring.grafana.adminSecret',
      'environments',
    ]) {
      expect(params).toContain(key);
    }
  });
});

describe('OperatorChart', () => {
  const objects = () => manifestsOf(new OperatorChart(new App(), 'op', { image: 'op:1' }));

  it('matches its snapshot', () => {
    const all = objects();
    expect(all).toMatchSnapshot();
    expect(all.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'CustomResourceDefinition/trenches.playtrenches.xyz',
      'CustomResourceDefinition/trenchbackups.playtrenches.xyz',
      'CustomResourceDefinition/trenchrestores.playtrenches.xyz',
      'Namespace/trench-system',
      'ServiceAccount/trench-operator',
      'ClusterRole/trench-operator',
      'ClusterRoleBinding/trench-operator',
      'Role/trench-operator-leader-election',
      'RoleBinding/trench-operator-leader-election',
      'Deployment/trench-operator',
      'Service/trench-operator',
      'PodDisruptionBudget/trench-operator',
      'NetworkPolicy/trench-operator',
    ]);
    const [pod] = podTemplates(all);
    expect(pod!.spec.containers[0].image).toBe('op:1');
    expect(all.map((o) => o.kind)).not.toContain('Secret');
  });

  it('grants no wildcard and nothing beyond what the operator touches', () => {
    for (const prometheusOperator of [false, true]) {
      for (const rule of operatorClusterRules(prometheusOperator)) {
        for (const list of [rule.apiGroups, rule.resources, rule.verbs])
          expect(list).not.toContain('*');
        expect(rule.verbs).not.toContain('escalate');
        expect(rule.verbs).not.toContain('bind');
        expect(rule.verbs).not.toContain('impersonate');
      }
    }
    const role = objects().find((o) => o.kind === 'Role')!;
    expect(role.metadata.namespace).toBe('trench-system');
    expect(role.rules).toEqual([
      expect.objectContaining({ apiGroups: ['coordination.k8s.io'], resources: ['leases'] }),
    ]);
    const resources = operatorClusterRules(false).flatMap((r) => r.resources);
    for (const kind of [
      'trenches/status',
      'deployments',
      'statefulsets',
      'networkpolicies',
      'poddisruptionbudgets',
      'secrets',
      'events',
    ]) {
      expect(resources).toContain(kind);
    }
    expect(resources).not.toContain('servicemonitors');
    expect(operatorClusterRules(true).flatMap((r) => r.resources)).toContain('servicemonitors');
  });

  it('runs the operator restricted, with probes on 8080', () => {
    const [pod] = podTemplates(objects());
    const c = pod!.spec.containers[0];
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 8080 });
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 8080 });
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod!.spec.serviceAccountName).toBe('trench-operator');
  });

  it('includes the CRDs without a namespace', () => {
    const crds = objects().filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds.map((c) => c.metadata.name)).toEqual([
      'trenches.playtrenches.xyz',
      'trenchbackups.playtrenches.xyz',
      'trenchrestores.playtrenches.xyz',
    ]);
    for (const o of objects()) {
      if (
        ['CustomResourceDefinition', 'Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(
          o.kind,
        )
      ) {
        expect(o.metadata.namespace, o.kind).toBeUndefined();
      }
    }
  });

  it('refuses bad props naming them', () => {
    expect(() => new OperatorChart(new App(), 'op', { image: 'op:1', replicas: 0 })).toThrow(
      'OperatorChart: prop replicas must be an integer from 1 to 10 (got 0)',
    );
    expect(() => new OperatorChart(new App(), 'op', { image: 'op 1' })).toThrow(
      'OperatorChart: prop image',
    );
    expect(
      () => new OperatorChart(new App(), 'op', { image: 'op:1', apiServerPorts: [0] }),
    ).toThrow(
      'OperatorChart: prop apiServerPorts must list at least one port from 1 to 65535 (got [0])',
    );
    expect(() => new MonitoringChart(new App(), 'mon', { apiServerPorts: [] })).toThrow(
      'MonitoringChart: prop apiServerPorts must list at least one port from 1 to 65535 (got [])',
    );
  });
});

describe('MonitoringChart', () => {
  const objects = () =>
    manifestsOf(
      new MonitoringChart(new App(), 'mon', {
        alerting: {
          runbookUrl: 'https://example.com/runbooks.md',
          ...everyReceiver('http://oncall.example:8080/hook'),
        },
      }),
    );

  it('matches its snapshot', () => {
    const all = objects();
    expect(all).toMatchSnapshot();
    expect(all.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name)).toEqual([
      'prometheus',
      'alertmanager',
      'kube-state-metrics',
      'grafana',
    ]);
    // Each Deployment has its budget and its policy; Grafana's login is a Secret the operator
    // makes, so only the Role that lets it do so is here.
    expect(all).toHaveLength(30);
    expect(all.filter((o) => o.kind === 'PodDisruptionBudget')).toHaveLength(4);
    expect(all.filter((o) => o.kind === 'NetworkPolicy')).toHaveLength(4);
    expect(all.map((o) => o.kind)).not.toContain('Secret');
  });

  it('runs every pod restricted with requests and limits', () => {
    for (const { where, spec } of podTemplates(objects())) {
      expect(spec.securityContext.seccompProfile, where).toEqual({ type: 'RuntimeDefault' });
      for (const c of spec.containers) {
        expect(c.securityContext.allowPrivilegeEscalation, where).toBe(false);
        expect(c.securityContext.capabilities, where).toEqual({ drop: ['ALL'] });
        expect(c.resources.requests.cpu && c.resources.limits.memory, where).toBeTruthy();
      }
    }
  });

  it('loads one rule set for every Trench and points Prometheus at Alertmanager', () => {
    const all = objects();
    const rules = all.find((o) => o.metadata.name === 'prometheus-rules')!;
    const groups = (parse(rules.data['trench.yaml']) as { groups: { name: string }[] }).groups;
    expect(groups.map((g) => g.name)).toEqual([
      'trench.records',
      'trench.alerts',
      'trench-operator',
    ]);
    // No Trench is named: the rules join the thresholds the operator exports.
    expect(rules.data['trench.yaml']).not.toMatch(/trench="[a-z]/);
    expect(rules.data['trench.yaml']).toContain(
      'https://example.com/runbooks.md#trenchhigherrorrate',
    );
    const config = parse(
      all.find((o) => o.metadata.name === 'prometheus-config')!.data['prometheus.yml'],
    ) as {
      alerting: unknown;
      scrape_configs: { job_name: string; relabel_configs?: Record<string, unknown>[] }[];
    };
    // The operator's series (every Trench's thresholds) come from its own job only.
    const pods = config.scrape_configs.find((j) => j.job_name === 'trench-pods')!;
    expect(pods.relabel_configs).toContainEqual({
      source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name'],
      regex: 'trench-operator',
      action: 'drop',
    });
    expect(config.scrape_configs.map((j) => j.job_name)).toContain('kubelet-cadvisor');
    expect(config.alerting).toEqual({
      alertmanagers: [
        { static_configs: [{ targets: ['alertmanager.trench-monitoring.svc:9093'] }] },
      ],
    });
  });

  it('mounts each Secret the receivers name, and no secret value is in the objects', () => {
    const all = objects();
    const am = all.find((o) => o.kind === 'Deployment' && o.metadata.name === 'alertmanager')!;
    const volumes = am.spec.template.spec.volumes as {
      secret?: { secretName: string; items: { key: string }[] };
    }[];
    expect(
      volumes
        .filter((v) => v.secret)
        .map((v) => `${v.secret!.secretName}:${v.secret!.items.map((i) => i.key).join(',')}`)
        .sort(),
    ).toEqual(['hook:token', 'pagerduty:routing-key', 'slack:url', 'smtp:password']);
    const config = all.find((o) => o.metadata.name === 'alertmanager-config')!.data[
      'alertmanager.yml'
    ] as string;
    expect(config).toContain('routing_key_file: /etc/alertmanager/secrets/pagerduty/routing-key');
    expect(config).toContain('api_url_file: /etc/alertmanager/secrets/slack/url');
    expect(config).toContain('auth_password_file: /etc/alertmanager/secrets/smtp/password');
    expect(config).toContain('credentials_file: /etc/alertmanager/secrets/hook/token');
    expect(all.map((o) => o.kind)).not.toContain('Secret');
    // The receivers' ports and nothing else leave the cluster from Alertmanager.
    const policy = all.find(
      (o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'alertmanager',
    )!;
    expect(policy.spec.egress[0].ports.map((p: { port: number }) => p.port)).toEqual([
      443, 587, 8080,
    ]);
  });
});

describe('NetworkPolicies of dist/ and of a Trench, together', () => {
  const all = () => [
    ...[...synthesize(values()).dist.values()].flatMap(docs),
    ...renderTrench(minimal()),
  ];
  const objects = all();
  const pod = (ns: string, name: string) => podOf(objects, ns, name);
  const operator = pod('trench-system', 'trench-operator');
  const prometheus = pod('trench-monitoring', 'prometheus');
  const grafana = pod('trench-monitoring', 'grafana');
  const ksm = pod('trench-monitoring', 'kube-state-metrics');
  const alertmanager = pod('trench-monitoring', 'alertmanager');
  const api = pod('demo', 'demo-api');
  const redis = pod('demo', 'demo-redis');
  const postgres = pod('demo', 'demo-postgres');
  const stranger: Endpoint = { namespace: 'elsewhere', labels: { app: 'curious' } };

  const cases: [string, Endpoint, Endpoint, number, boolean, string?][] = [
    ['the operator reaches the API server', operator, 'outside', 6443, true],
    ['the operator reaches the API server on 443', operator, 'outside', 443, true],
    ['the operator resolves names', operator, 'outside', 53, true, 'UDP'],
    ['the operator reads queue depth from managed Redis', operator, redis, 6379, true],
    ['the operator reads queue depth from external Redis', operator, 'outside', 6379, true],
    ['the operator queries Prometheus for canary analysis', operator, prometheus, 9090, true],
    ['the operator never reaches Postgres', operator, postgres, 5432, false],
    ['the operator opens nothing else', operator, 'outside', 80, false],
    ['Prometheus scrapes the operator', prometheus, operator, 8080, true],
    ['Prometheus scrapes a Trench API', prometheus, api, 3000, true],
    ['Prometheus scrapes kube-state-metrics', prometheus, ksm, 8080, true],
    ['Prometheus discovers targets through the API server', prometheus, 'outside', 6443, true],
    ['Prometheus reaches nothing else outside', prometheus, 'outside', 80, false],
    ['Prometheus sends alerts to Alertmanager', prometheus, alertmanager, 9093, true],
    ['Prometheus reads container use from the kubelets', prometheus, 'outside', 10250, true],
    ['Alertmanager reaches its receivers over HTTPS', alertmanager, 'outside', 443, true],
    ['Alertmanager resolves names', alertmanager, 'outside', 53, true, 'UDP'],
    ['Alertmanager reaches nothing else outside', alertmanager, 'outside', 80, false],
    ['Alertmanager cannot open a Trench API', alertmanager, api, 3000, false],
    ['Grafana cannot open Alertmanager', grafana, alertmanager, 9093, false],
    [
      'Prometheus cannot open Trench Redis (its policy admits clients only)',
      prometheus,
      redis,
      6379,
      false,
    ],
    ['Grafana queries Prometheus', grafana, prometheus, 9090, true],
    ['Grafana resolves names', grafana, 'outside', 53, true, 'UDP'],
    ['Grafana reaches nothing outside', grafana, 'outside', 443, false],
    ['Grafana does not reach the API server', grafana, 'outside', 6443, false],
    ['Grafana does not reach a Trench', grafana, api, 3000, false],
    ['kube-state-metrics reaches the API server', ksm, 'outside', 6443, true],
    ['kube-state-metrics reaches nothing else', ksm, prometheus, 9090, false],
    ['no one else queries Prometheus', stranger, prometheus, 9090, false],
    ['a Trench API does not query Prometheus', api, prometheus, 9090, false],
    ['no one else opens Grafana (port-forward bypasses policies)', stranger, grafana, 3000, false],
    ['no one else reads kube-state-metrics', stranger, ksm, 8080, false],
    ['any scraper reads the operator metrics', stranger, operator, 8080, true],
    ['no one reaches the operator on another port', stranger, operator, 9090, false],
  ];
  it.each(cases)('%s', (_, from, to, port, allowed, protocol) => {
    expect(connectionAllowed(objects, from, to, port, protocol)).toBe(allowed);
  });

  it('gives every pod of the operator and of the monitoring stack exactly one policy and a budget', () => {
    for (const d of objects.filter(
      (o) =>
        o.kind === 'Deployment' &&
        ['trench-system', 'trench-monitoring'].includes(o.metadata.namespace!),
    )) {
      const podLabels = d.spec.template.metadata.labels;
      const where = `${d.metadata.namespace}/${d.metadata.name}`;
      const inNs = (kind: string) =>
        objects.filter((o) => o.kind === kind && o.metadata.namespace === d.metadata.namespace);
      const policies = inNs('NetworkPolicy').filter((p) =>
        labelsMatch(p.spec.podSelector.matchLabels, podLabels),
      );
      expect(
        policies.map((p) => p.metadata.name),
        where,
      ).toEqual([d.metadata.name]);
      expect(policies[0]!.spec.policyTypes, where).toEqual(['Ingress', 'Egress']);
      const budgets = inNs('PodDisruptionBudget').filter((p) =>
        labelsMatch(p.spec.selector.matchLabels, podLabels),
      );
      expect(
        budgets.map((b) => b.metadata.name),
        where,
      ).toEqual([d.metadata.name]);
      // Never a budget that blocks a drain: at least one pod may always go.
      expect(budgets[0]!.spec.maxUnavailable, where).toBeGreaterThanOrEqual(1);
    }
  });

  it('leaves the policies out with networkPolicies: false', () => {
    const text = readFileSync('values.yaml', 'utf8').replace(
      'networkPolicies: true',
      'networkPolicies: false',
    );
    const out = synthesize(parseValues(text, 'values.yaml'));
    const kinds = [...out.dist.values()].flatMap(docs).map((d) => d.kind);
    expect(kinds).not.toContain('NetworkPolicy');
    expect(kinds).toContain('PodDisruptionBudget');
  });

  it('follows apiServerPorts', () => {
    const text = readFileSync('values.yaml', 'utf8').replace(
      'apiServerPorts: [443, 6443]',
      'apiServerPorts: [8443]',
    );
    const changed = [...synthesize(parseValues(text, 'values.yaml')).dist.values()].flatMap(docs);
    for (const name of ['trench-operator', 'prometheus', 'kube-state-metrics']) {
      const from = name === 'trench-operator' ? operator : name === 'prometheus' ? prometheus : ksm;
      expect(connectionAllowed(changed, from, 'outside', 8443), name).toBe(true);
      expect(connectionAllowed(changed, from, 'outside', 6443), name).toBe(false);
    }
  });
});

describe('manifests/argocd', () => {
  it('syncs dist/ with no ignoreDifferences, within a project that allows every kind of dist/', () => {
    const app = parseAllDocuments(
      readFileSync('manifests/argocd/application.yaml', 'utf8'),
    )[0]!.toJS();
    expect(app.spec.source.path).toBe('dist');
    expect(app.spec).not.toHaveProperty('ignoreDifferences');
    const project = parseAllDocuments(
      readFileSync('manifests/argocd/appproject.yaml', 'utf8'),
    )[0]!.toJS();
    expect(app.spec.project).toBe(project.metadata.name);
    const allowed = new Set(
      [...project.spec.clusterResourceWhitelist, ...project.spec.namespaceResourceWhitelist].map(
        (k: { group: string; kind: string }) => `${k.group}/${k.kind}`,
      ),
    );
    for (const content of synthesize(values()).dist.values()) {
      for (const d of docs(content)) {
        const group = d.apiVersion.includes('/') ? d.apiVersion.split('/')[0] : '';
        expect(allowed.has(`${group}/${d.kind}`), `${d.kind} not in AppProject`).toBe(true);
      }
    }
  });
});
