// Monitoring for one Trench: how its pods are scraped. Alert rules and the dashboard are not
// per Trench (charts/lib/alerts.ts and dashboard.ts cover every Trench from the thresholds the
// operator exports), so the bundled Prometheus, which finds pods by their prometheus.io/*
// annotations, needs nothing here; with the Prometheus Operator this is a ServiceMonitor for
// the API and a PodMonitor for the workers.
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import {
  checkInt,
  checkNamespace,
  checkPath,
  checkTrenchName,
  componentLabels,
  DEFAULT_MANAGED_BY,
  LABEL_COMPONENT,
  LABEL_INSTANCE,
  LABEL_REVISION,
  LABEL_TRACK,
  selectorLabels,
  type TrenchComponentProps,
} from './common.js';

export interface MonitoringProps extends TrenchComponentProps {
  /** Namespace of the Trench. */
  readonly namespace: string;
  /** Port serving the API's metrics. */
  readonly apiMetricsPort: number;
  /** @default '/metrics' */
  readonly apiMetricsPath?: string;
  /** Port serving the workers' /metrics; undefined when they are not scraped. @default none */
  readonly workerMetricsPort?: number;
  /** Emit ServiceMonitor and PodMonitor objects. @default false */
  readonly prometheusOperator?: boolean;
}

export class Monitoring extends Construct {
  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const c = 'Monitoring';
    checkTrenchName(c, props.trench);
    checkNamespace(c, 'namespace', props.namespace);
    checkInt(c, 'apiMetricsPort', props.apiMetricsPort, 1, 65535);
    const metricsPath = props.apiMetricsPath ?? '/metrics';
    checkPath(c, 'apiMetricsPath', metricsPath);
    if (props.workerMetricsPort !== undefined) {
      checkInt(c, 'workerMetricsPort', props.workerMetricsPort, 1, 65535);
    }

    const managedBy = props.managedBy ?? DEFAULT_MANAGED_BY;
    const labels = componentLabels('monitoring', props.trench, managedBy);
    const name = props.trench;
    // Series get `trench`, `component`, `track` and `revision` from the pod labels, whichever
    // way they are scraped.
    const relabelings = POD_LABEL_TARGETS.map(([label, target]) => ({
      sourceLabels: [podLabelMeta(label)],
      targetLabel: target,
    }));

    if (props.prometheusOperator) {
      new ApiObject(this, 'ServiceMonitor', {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'ServiceMonitor',
        metadata: { name: `${name}-api`, labels },
        spec: {
          selector: { matchLabels: selectorLabels('api', props.trench) },
          endpoints: [{ port: 'metrics', path: metricsPath, interval: '30s', relabelings }],
        },
      });
      if (props.workerMetricsPort !== undefined) {
        new ApiObject(this, 'PodMonitor', {
          apiVersion: 'monitoring.coreos.com/v1',
          kind: 'PodMonitor',
          metadata: { name: `${name}-worker`, labels },
          spec: {
            selector: { matchLabels: selectorLabels('worker', props.trench) },
            podMetricsEndpoints: [
              { port: 'metrics', path: '/metrics', interval: '30s', relabelings },
            ],
          },
        });
      }
    }
  }
}

/**
 * The pod labels every Trench series carries under another name: the Trench, the component,
 * and during a canary the track and revision its analysis selects on (operator/rollout).
 */
export const POD_LABEL_TARGETS: readonly (readonly [string, string])[] = [
  [LABEL_INSTANCE, 'trench'],
  [LABEL_COMPONENT, 'component'],
  [LABEL_TRACK, 'track'],
  [LABEL_REVISION, 'revision'],
];

/** Prometheus' kubernetes_sd meta label for a pod label. */
export function podLabelMeta(k8sLabel: string): string {
  return `__meta_kubernetes_pod_label_${k8sLabel.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}
