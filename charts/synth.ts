// values -> the files of dist/ and crds/. Pure: main.ts does the reading and writing, tests
// compare this output with what is committed.
import { App } from 'cdk8s';
import { trenchCrds } from './api/crds.js';
import { API_VERSION } from './api/trench.js';
import { type Manifest, manifestsOf } from './constructs/common.js';
import type { GrafanaAdminSecretRef } from './lib/grafana-admin.js';
import { canonical } from './lib/json.js';
import { toYamlStream } from './lib/yaml.js';
import { MonitoringChart } from './monitoring-chart.js';
import { OperatorChart } from './operator-chart.js';
import type { Values } from './values.js';

const SYNC_WAVE = 'argocd.argoproj.io/sync-wave';
const SYNC_OPTIONS = 'argocd.argoproj.io/sync-options';

function annotate(m: Manifest, annotations: Record<string, string>): Manifest {
  m.metadata.annotations = { ...m.metadata.annotations, ...annotations };
  return canonical(m) as Manifest;
}

/** The Secret the operator makes for Grafana's admin login; none without the monitoring stack. */
export function grafanaAdminSecretRef(values: Values): GrafanaAdminSecretRef | undefined {
  if (!values.monitoring.enabled) return undefined;
  return { namespace: values.monitoring.namespace, name: values.monitoring.grafana.adminSecret };
}

export interface SynthOutput {
  /** dist/<file> -> content; CRDs come first so `kubectl apply -f dist/` creates them first. */
  readonly dist: Map<string, string>;
  /** crds/<file> -> content. */
  readonly crds: Map<string, string>;
}

/**
 * Argo CD sync waves: CRDs (-1) before the operator and monitoring (0) before the Trenches
 * (1). The Trenches skip Argo's dry run, which would fail while their CRD does not exist yet.
 */
export function synthesize(values: Values): SynthOutput {
  const dist = new Map<string, string>();
  const crds = new Map<string, string>();
  const crdObjects = trenchCrds().map((c) => canonical(c) as Manifest);
  for (const crd of crdObjects) crds.set(`${crd.metadata.name}.yaml`, toYamlStream([crd]));
  dist.set(
    '0000-crds.k8s.yaml',
    toYamlStream(crdObjects.map((c) => annotate(structuredClone(c), { [SYNC_WAVE]: '-1' }))),
  );

  const app = new App();
  const operator = new OperatorChart(app, 'operator', {
    namespace: values.operator.namespace,
    image: values.operator.image,
    replicas: values.operator.replicas,
    logLevel: values.operator.logLevel,
    prometheusOperator: values.prometheusOperator,
    networkPolicies: values.networkPolicies,
    prometheusNamespace: values.monitoring.namespace,
    networkPolicy: values.networkPolicies,
    apiServerPorts: values.apiServerPorts,
    grafanaAdminSecret: grafanaAdminSecretRef(values),
    alerting: values.alerting,
    crds: false,
  });
  dist.set(
    '0001-operator.k8s.yaml',
    toYamlStream(manifestsOf(operator).map((m) => annotate(m, { [SYNC_WAVE]: '0' }))),
  );

  if (values.monitoring.enabled) {
    const monitoring = new MonitoringChart(app, 'monitoring', {
      namespace: values.monitoring.namespace,
      operatorNamespace: values.operator.namespace,
      images: values.monitoring.images,
      networkPolicies: values.networkPolicies,
      apiServerPorts: values.apiServerPorts,
      grafanaAdminSecret: values.monitoring.grafana.adminSecret,
      alerting: values.alerting,
    });
    dist.set(
      '0002-monitoring.k8s.yaml',
      toYamlStream(manifestsOf(monitoring).map((m) => annotate(m, { [SYNC_WAVE]: '0' }))),
    );
  }

  values.environments.forEach((env, i) => {
    const namespace: Manifest = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: env.namespace,
        labels: {
          'app.kubernetes.io/part-of': 'trench',
          'pod-security.kubernetes.io/enforce': 'restricted',
        },
      },
    };
    const trench: Manifest = {
      apiVersion: API_VERSION,
      kind: 'Trench',
      metadata: {
        name: env.name,
        namespace: env.namespace,
        labels: { 'app.kubernetes.io/part-of': 'trench' },
      },
      // As written in values.yaml: the API server applies the defaults, so that a default
      // changed in a later CRD version reaches every Trench that did not set the field.
      spec: env.spec as Record<string, unknown>,
    };
    const file = `${String(3 + i).padStart(4, '0')}-trench-${env.namespace}-${env.name}.k8s.yaml`;
    dist.set(
      file,
      toYamlStream([
        annotate(namespace, { [SYNC_WAVE]: '0' }),
        annotate(trench, { [SYNC_WAVE]: '1', [SYNC_OPTIONS]: 'SkipDryRunOnMissingResource=true' }),
      ]),
    );
  });
  return { dist, crds };
}
