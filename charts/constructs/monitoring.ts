// Monitoring for one Trench: alert rules and scrape targets, plus a Grafana dashboard. With
// plain Prometheus the rules and a scrape-config snippet sit in a ConfigMap; with the
// Prometheus Operator they are a PrometheusRule, a ServiceMonitor and a PodMonitor.
import { ApiObject } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { trenchRuleGroup } from '../lib/alerts.js';
import { dashboardUid, trenchDashboard } from '../lib/dashboard.js';
import { toYaml } from '../lib/yaml.js';
import {
  check,
  checkInt,
  checkNamespace,
  checkPath,
  checkTrenchName,
  componentLabels,
  DEFAULT_MANAGED_BY,
  LABEL_COMPONENT,
  LABEL_INSTANCE,
  LABEL_PART_OF,
  PART_OF,
  selectorLabels,
  type TrenchComponentProps,
} from './common.js';

/** Label the Grafana dashboard sidecar looks for (the Grafana Helm chart's convention). */
export const DASHBOARD_LABEL = 'grafana_dashboard';

export interface AlertThresholds {
  /** Share of 5xx responses over 5 minutes, 0 < x <= 1. */
  readonly errorRate: number;
  readonly p95LatencySeconds: number;
  readonly queueBacklog: number;
}

export interface MonitoringProps extends TrenchComponentProps {
  /** Namespace of the Trench: rules select its series by namespace and trench. */
  readonly namespace: string;
  readonly alerts: AlertThresholds;
  /** Backup schedule; undefined when backups are suspended, which drops the backup alert. */
  readonly backupSchedule?: string;
  /** Port serving the API's metrics. */
  readonly apiMetricsPort: number;
  /** @default '/metrics' */
  readonly apiMetricsPath?: string;
  /** Port serving the workers' /metrics; undefined when they are not scraped. @default none */
  readonly workerMetricsPort?: number;
  /** Emit ServiceMonitor, PodMonitor and PrometheusRule objects. @default false */
  readonly prometheusOperator?: boolean;
}

export class Monitoring extends Construct {
  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const c = 'Monitoring';
    checkTrenchName(c, props.trench);
    checkNamespace(c, 'namespace', props.namespace);
    const { errorRate, p95LatencySeconds, queueBacklog } = props.alerts;
    check(errorRate > 0 && errorRate <= 1, c, 'alerts.errorRate', errorRate, 'must be in (0, 1]');
    check(p95LatencySeconds > 0, c, 'alerts.p95LatencySeconds', p95LatencySeconds, 'must be > 0');
    checkInt(c, 'alerts.queueBacklog', queueBacklog, 1, Number.MAX_SAFE_INTEGER);
    checkInt(c, 'apiMetricsPort', props.apiMetricsPort, 1, 65535);
    const metricsPath = props.apiMetricsPath ?? '/metrics';
    checkPath(c, 'apiMetricsPath', metricsPath);
    if (props.workerMetricsPort !== undefined) {
      checkInt(c, 'workerMetricsPort', props.workerMetricsPort, 1, 65535);
    }
    let group: ReturnType<typeof trenchRuleGroup>;
    try {
      group = trenchRuleGroup({
        namespace: props.namespace,
        trench: props.trench,
        errorRate,
        p95LatencySeconds,
        queueBacklog,
        backupSchedule: props.backupSchedule,
      });
    } catch (error) {
      throw new Error(
        `${c}: prop backupSchedule ${(error as Error).message} (got ${JSON.stringify(props.backupSchedule)})`,
      );
    }

    const managedBy = props.managedBy ?? DEFAULT_MANAGED_BY;
    const labels = componentLabels('monitoring', props.trench, managedBy);
    const name = props.trench;
    // Series get `trench` and `component` from the pod labels, whichever way they are scraped.
    const relabelings = [
      {
        sourceLabels: [`__meta_kubernetes_pod_label_${promLabel(LABEL_INSTANCE)}`],
        targetLabel: 'trench',
      },
      {
        sourceLabels: [`__meta_kubernetes_pod_label_${promLabel(LABEL_COMPONENT)}`],
        targetLabel: 'component',
      },
    ];

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
      new ApiObject(this, 'PrometheusRule', {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'PrometheusRule',
        metadata: { name, labels },
        spec: { groups: [group] },
      });
    } else {
      new kplus.ConfigMap(this, 'Rules', {
        metadata: { name: `${name}-monitoring`, labels },
        data: {
          'rules.yaml': toYaml({ groups: [group] }),
          'scrape-configs.yaml': toYaml(
            scrapeConfigs(props.namespace, props.trench, {
              apiPort: props.apiMetricsPort,
              apiPath: metricsPath,
              workerPort: props.workerMetricsPort,
            }),
          ),
        },
      });
    }

    new kplus.ConfigMap(this, 'Dashboard', {
      metadata: { name: `${name}-dashboard`, labels: { ...labels, [DASHBOARD_LABEL]: '1' } },
      data: {
        [`${dashboardUid(props.namespace, props.trench)}.json`]: `${JSON.stringify(
          trenchDashboard(props.namespace, props.trench),
          null,
          2,
        )}\n`,
      },
    });
  }
}

function promLabel(k8sLabel: string): string {
  return k8sLabel.replace(/[^a-zA-Z0-9_]/g, '_');
}

/** Scrape jobs for one Trench, for a Prometheus that is configured by hand. */
export function scrapeConfigs(
  namespace: string,
  trench: string,
  ports: { apiPort: number; apiPath: string; workerPort?: number },
): { scrape_configs: Record<string, unknown>[] } {
  const job = (component: 'api' | 'worker', port: number, path: string) => ({
    job_name: `trench/${namespace}/${trench}/${component}`,
    metrics_path: path,
    kubernetes_sd_configs: [{ role: 'pod', namespaces: { names: [namespace] } }],
    relabel_configs: [
      {
        source_labels: [
          `__meta_kubernetes_pod_label_${promLabel(LABEL_PART_OF)}`,
          `__meta_kubernetes_pod_label_${promLabel(LABEL_INSTANCE)}`,
          `__meta_kubernetes_pod_label_${promLabel(LABEL_COMPONENT)}`,
          '__meta_kubernetes_pod_container_port_number',
        ],
        regex: `${PART_OF};${trench};${component};${port}`,
        action: 'keep',
      },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      {
        source_labels: [`__meta_kubernetes_pod_label_${promLabel(LABEL_INSTANCE)}`],
        target_label: 'trench',
      },
      {
        source_labels: [`__meta_kubernetes_pod_label_${promLabel(LABEL_COMPONENT)}`],
        target_label: 'component',
      },
    ],
  });
  return {
    scrape_configs: [
      job('api', ports.apiPort, ports.apiPath),
      ...(ports.workerPort === undefined ? [] : [job('worker', ports.workerPort, '/metrics')]),
    ],
  };
}
