// Prometheus alert rules for one Trench and for the operator. Pure: the same groups go into
// the plain Prometheus ConfigMap, the PrometheusRule object and the promtool tests.
import { maxIntervalSeconds } from './cron.js';
import {
  BACKUP_LAST_SUCCESS,
  HTTP_DURATION_BUCKET,
  HTTP_REQUESTS,
  OPERATOR_JOB,
  WORKER_BACKLOG,
} from './metrics.js';

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

export interface TrenchAlertInput {
  readonly namespace: string;
  readonly trench: string;
  /** Share of 5xx responses over 5 minutes, 0 < x <= 1. */
  readonly errorRate: number;
  readonly p95LatencySeconds: number;
  readonly queueBacklog: number;
  /** The backup schedule, or undefined when backups are suspended (no backup alert). */
  readonly backupSchedule?: string;
}

/** Slack on top of the schedule's longest gap: a dump takes time and may be retried. */
export const BACKUP_GRACE_SECONDS = 3600;

export function backupMaxAgeSeconds(schedule: string): number {
  return maxIntervalSeconds(schedule) + BACKUP_GRACE_SECONDS;
}

// PromQL numbers: no exponent surprises, no trailing noise from floating point.
function num(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(12)));
}

export function trenchRuleGroup(input: TrenchAlertInput): RuleGroup {
  const { namespace, trench } = input;
  const sel = `namespace="${namespace}",trench="${trench}"`;
  const labels = { namespace, trench };
  const rules: AlertRule[] = [
    {
      alert: 'TrenchHighErrorRate',
      expr: `(sum(rate(${HTTP_REQUESTS}{${sel},code=~"5.."}[5m])) / sum(rate(${HTTP_REQUESTS}{${sel}}[5m]))) > ${num(input.errorRate)}`,
      for: '5m',
      labels: { severity: 'critical', ...labels },
      annotations: {
        summary: `Trench ${namespace}/${trench}: API error rate above ${num(input.errorRate * 100)}%`,
        description: 'Share of 5xx responses over 5 minutes is {{ $value | humanizePercentage }}.',
      },
    },
    {
      alert: 'TrenchHighLatencyP95',
      expr: `histogram_quantile(0.95, sum by (le) (rate(${HTTP_DURATION_BUCKET}{${sel}}[5m]))) > ${num(input.p95LatencySeconds)}`,
      for: '10m',
      labels: { severity: 'warning', ...labels },
      annotations: {
        summary: `Trench ${namespace}/${trench}: API p95 latency above ${num(input.p95LatencySeconds)}s`,
        description: 'p95 latency over 5 minutes is {{ $value | humanizeDuration }}.',
      },
    },
    {
      alert: 'TrenchQueueBacklogHigh',
      expr: `max(${WORKER_BACKLOG}{${sel}}) > ${num(input.queueBacklog)}`,
      for: '10m',
      labels: { severity: 'warning', ...labels },
      annotations: {
        summary: `Trench ${namespace}/${trench}: queue backlog above ${num(input.queueBacklog)}`,
        description: '{{ $value }} jobs wait; the workers may be at maxReplicas or failing.',
      },
    },
    {
      alert: 'TrenchPodCrashLooping',
      expr:
        `max by (pod) (kube_pod_container_status_waiting_reason{namespace="${namespace}",reason="CrashLoopBackOff"}` +
        ` * on (namespace, pod) group_left () max by (namespace, pod) (kube_pod_labels{namespace="${namespace}",label_app_kubernetes_io_instance="${trench}",label_app_kubernetes_io_part_of="trench"})) > 0`,
      for: '5m',
      labels: { severity: 'warning', ...labels },
      annotations: {
        summary: `Trench ${namespace}/${trench}: pod {{ $labels.pod }} is crash-looping`,
        description: 'A container has been in CrashLoopBackOff for 5 minutes.',
      },
    },
  ];
  if (input.backupSchedule !== undefined) {
    const maxAge = backupMaxAgeSeconds(input.backupSchedule);
    rules.push({
      alert: 'TrenchBackupTooOld',
      expr: `(time() - max(${BACKUP_LAST_SUCCESS}{${sel}})) > ${maxAge}`,
      for: '10m',
      labels: { severity: 'critical', ...labels },
      annotations: {
        summary: `Trench ${namespace}/${trench}: last successful backup is older than the schedule "${input.backupSchedule}" allows`,
        description: `The last successful backup is {{ $value | humanizeDuration }} old; the limit is ${maxAge}s.`,
      },
    });
  }
  return { name: `trench.${namespace}.${trench}`, rules };
}

/** One group for the operator itself, shipped once with the operator, not per Trench. */
export function operatorRuleGroup(): RuleGroup {
  return {
    name: 'trench-operator',
    rules: [
      {
        alert: 'TrenchOperatorDown',
        expr: `absent(up{job="${OPERATOR_JOB}"} == 1)`,
        for: '5m',
        labels: { severity: 'critical' },
        annotations: {
          summary: 'The Trench operator is down',
          description:
            'No trench-operator target has been up for 5 minutes: no scaling, rollouts or backups happen.',
        },
      },
    ],
  };
}
