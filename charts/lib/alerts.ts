// Prometheus alert rules for every Trench at once, and for the operator. Pure: the same groups
// go into the bundled Prometheus's ConfigMap, the PrometheusRule object and the promtool tests.
//
// No rule names a Trench. The operator exports each monitored Trench's thresholds as
// `trench_alert_threshold{namespace,trench,alert,severity}` (see alertThresholds) and the rules
// join them on (namespace, trench): a Trench made with `kubectl apply` is covered at the next
// scrape, with no reload and no per-Trench rule file, and a Trench with monitoring disabled
// exports nothing and matches nothing.
//
// Every alert has a warning and a critical rule under one alertname, so Alertmanager's
// inhibition (alertname, namespace and trench equal) hides the warning while the critical
// one fires: one page, not a page and a chat message for the same fault.
import { maxIntervalSeconds } from './cron.js';
import {
  ALERT_THRESHOLD,
  BACKUP_DRILL_FAILURES,
  BACKUP_LAST_SUCCESS,
  DEPENDENCY_UP,
  HTTP_DURATION_BUCKET,
  HTTP_REQUESTS,
  MONITORED,
  OPERATOR_JOB,
  ROLLOUT_MIGRATION_FAILED,
  ROLLOUT_PHASE,
  TRENCH_CREATED,
  WORKER_BACKLOG,
} from './metrics.js';

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface RecordingRule {
  record: string;
  expr: string;
}

export interface RuleGroup {
  name: string;
  rules: (AlertRule | RecordingRule)[];
}

export type Severity = 'warning' | 'critical';
export const SEVERITIES: readonly Severity[] = ['warning', 'critical'];

/** Where each alert's runbook_url points, with `#<alertname in lower case>` appended. */
export const DEFAULT_RUNBOOK_URL =
  'https://github.com/playtrenches/trench/blob/main/docs/runbooks.md';

/** The thresholds of one Trench, as `spec.monitoring.alerts` holds them after defaults. */
export interface AlertLevels {
  /** Share of 5xx responses over 2 minutes, 0 < x <= 1: pages. */
  readonly errorRate: number;
  /** The same share, sent to chat; at most errorRate. */
  readonly errorRateWarning: number;
  /** API p95 latency in seconds, sent to chat (the product's "p95 above 2 s"). */
  readonly p95LatencySeconds: number;
  /** The p95 that pages; at least p95LatencySeconds. */
  readonly p95LatencySecondsCritical: number;
  /** Jobs waiting in one queue that page (the product's "queue beyond 1000 jobs"). */
  readonly queueBacklog: number;
  /** Jobs waiting in one queue sent to chat; at most queueBacklog. */
  readonly queueBacklogWarning: number;
  /** A container's CPU or memory use as a share of its limit, sent to chat (0.8). */
  readonly resourceUsage: number;
  /** The share that pages; at least resourceUsage. */
  readonly resourceUsageCritical: number;
}

/** Slack on top of the schedule's longest gap: a dump takes time and may be retried. */
export const BACKUP_GRACE_SECONDS = 3600;

/** One missed slot warns, two page: the age limit of each level for a backup schedule. */
export function backupMaxAgeSeconds(schedule: string, severity: Severity = 'warning'): number {
  const gap = maxIntervalSeconds(schedule);
  return (severity === 'critical' ? 2 * gap : gap) + BACKUP_GRACE_SECONDS;
}

/** The threshold names of trench_alert_threshold's `alert` label. */
export const THRESHOLDS = [
  'errorRate',
  'p95LatencySeconds',
  'queueBacklog',
  'resourceUsage',
  'backupAgeSeconds',
] as const;
export type ThresholdName = (typeof THRESHOLDS)[number];

export interface ThresholdSample {
  readonly alert: ThresholdName;
  readonly severity: Severity;
  readonly value: number;
}

/**
 * What the operator exports for one Trench: one sample per threshold and severity. Backups
 * that are suspended have no age limit, so no backup alert. Pure.
 */
export function alertThresholds(
  levels: AlertLevels,
  backupSchedule: string | undefined,
): ThresholdSample[] {
  const pairs: [ThresholdName, number, number][] = [
    ['errorRate', levels.errorRateWarning, levels.errorRate],
    ['p95LatencySeconds', levels.p95LatencySeconds, levels.p95LatencySecondsCritical],
    ['queueBacklog', levels.queueBacklogWarning, levels.queueBacklog],
    ['resourceUsage', levels.resourceUsage, levels.resourceUsageCritical],
  ];
  if (backupSchedule !== undefined) {
    pairs.push([
      'backupAgeSeconds',
      backupMaxAgeSeconds(backupSchedule, 'warning'),
      backupMaxAgeSeconds(backupSchedule, 'critical'),
    ]);
  }
  return pairs.flatMap(([alert, warning, critical]) => [
    { alert, severity: 'warning' as const, value: warning },
    { alert, severity: 'critical' as const, value: critical },
  ]);
}

// Recorded series the alerts read. The max_over_time bridges a leader handover: the new
// leader exports thresholds a few seconds after the old one stops, and a gap would reset
// every pending alert's `for`. The price: disabling monitoring silences a Trench 2 minutes late.
// The gauges the leader exports itself (backlog, last backup) are read through
// `leaderGauge` for the same reason.
export const THRESHOLD_RECORD = 'trench:alert_threshold:max2m';
export const MONITORED_RECORD = 'trench:monitored:max2m';
export const ERROR_RATIO_RECORD = 'trench:http_error_ratio:rate2m';
export const LATENCY_P95_RECORD = 'trench:http_latency_seconds:p95_5m';
/** Trench pods (namespace, pod) with their `trench` label, from kube-state-metrics. */
export const POD_TRENCH_RECORD = 'trench:pod_trench:info';

const BY = 'namespace, trench';

/**
 * A gauge only the operator's leader exports, bridged over a handover: the newest sample of
 * the last 2 minutes, whichever replica exported it.
 */
function leaderGauge(metric: string): string {
  return `last_over_time(${metric}[2m])`;
}

function threshold(alert: ThresholdName, severity: Severity): string {
  return `${THRESHOLD_RECORD}{alert="${alert}",severity="${severity}"}`;
}

/** `expr > threshold`, joined on the Trench; the result keeps expr's labels and value. */
function over(expr: string, alert: ThresholdName, severity: Severity): string {
  return `${expr} > on (${BY}) group_left () ${threshold(alert, severity)}`;
}

/** Restricts a per-Trench expression to monitored Trenches. */
function monitored(expr: string): string {
  return `${expr} and on (${BY}) ${MONITORED_RECORD}`;
}

/** The recording rules; their own group, evaluated before the alerts read them. */
export function trenchRecordingGroup(): RuleGroup {
  return {
    name: 'trench.records',
    rules: [
      {
        record: THRESHOLD_RECORD,
        expr: `max by (${BY}, alert, severity) (max_over_time(${ALERT_THRESHOLD}[2m]))`,
      },
      { record: MONITORED_RECORD, expr: `max by (${BY}) (max_over_time(${MONITORED}[2m]))` },
      {
        record: ERROR_RATIO_RECORD,
        // A 2-minute window holds four 30 s scrapes: enough to be steady, short enough that a
        // fixed release resolves the page within minutes.
        expr:
          `sum by (${BY}) (rate(${HTTP_REQUESTS}{code=~"5.."}[2m]))` +
          ` / sum by (${BY}) (rate(${HTTP_REQUESTS}[2m]))`,
      },
      {
        record: LATENCY_P95_RECORD,
        expr: `histogram_quantile(0.95, sum by (${BY}, le) (rate(${HTTP_DURATION_BUCKET}[5m])))`,
      },
      {
        record: POD_TRENCH_RECORD,
        expr:
          'max by (namespace, pod, trench) (label_replace(kube_pod_labels{label_app_kubernetes_io_part_of="trench"},' +
          ' "trench", "$1", "label_app_kubernetes_io_instance", "(.+)"))',
      },
    ],
  };
}

interface AlertSpec {
  readonly alert: string;
  readonly summary: string;
  readonly description: string;
  readonly levels: Record<Severity, { expr: string; for: string }>;
}

function trenchAlerts(): AlertSpec[] {
  const dbDown = (agg: 'min' | 'max') =>
    monitored(`${agg} by (${BY}) (${DEPENDENCY_UP}{dependency="database"}) == 0`);
  // A container's use over its limit, per (namespace, pod, container), tagged with its Trench.
  const usage = (numerator: string, resource: 'cpu' | 'memory') =>
    `max by (${BY}, pod, container) ((${numerator}` +
    ` / on (namespace, pod, container) group_left () max by (namespace, pod, container) (kube_pod_container_resource_limits{resource="${resource}"}))` +
    ` * on (namespace, pod) group_left (trench) ${POD_TRENCH_RECORD})`;
  const cpu = usage(
    'sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{container!="",container!="POD"}[5m]))',
    'cpu',
  );
  const memory = usage(
    'max by (namespace, pod, container) (container_memory_working_set_bytes{container!="",container!="POD"})',
    'memory',
  );
  const backlog = `max by (${BY}, queue) (${leaderGauge(WORKER_BACKLOG)})`;
  const restarts = (expr: string) =>
    monitored(
      `max by (${BY}, pod) (${expr} * on (namespace, pod) group_left (trench) ${POD_TRENCH_RECORD}) > 0`,
    );
  // The newest successful backup's age; for a Trench that never had one, the Trench's own age,
  // so the same limits are its grace period (a new daily Trench warns after 25 h without one).
  const lastSuccess = `max by (${BY}) (${leaderGauge(BACKUP_LAST_SUCCESS)})`;
  const drillFailures = `max by (${BY}) (${leaderGauge(BACKUP_DRILL_FAILURES)})`;
  const aborted = `max by (${BY}) (${leaderGauge(`${ROLLOUT_PHASE}{phase="Aborted"}`)})`;
  const migrationFailed = `max by (${BY}) (${leaderGauge(ROLLOUT_MIGRATION_FAILED)})`;
  const backupAge = (s: Severity) =>
    `${over(`(time() - ${lastSuccess})`, 'backupAgeSeconds', s)}` +
    ` or (${over(`(time() - max by (${BY}) (${leaderGauge(TRENCH_CREATED)}))`, 'backupAgeSeconds', s)}` +
    ` unless on (${BY}) ${lastSuccess})`;
  return [
    {
      alert: 'TrenchHighErrorRate',
      summary:
        'Trench {{ $labels.namespace }}/{{ $labels.trench }}: API error rate above its {severity} threshold',
      description: 'Share of 5xx responses over 2 minutes is {{ $value | humanizePercentage }}.',
      levels: {
        warning: { expr: over(ERROR_RATIO_RECORD, 'errorRate', 'warning'), for: '2m' },
        critical: { expr: over(ERROR_RATIO_RECORD, 'errorRate', 'critical'), for: '1m' },
      },
    },
    {
      alert: 'TrenchHighLatencyP95',
      summary:
        'Trench {{ $labels.namespace }}/{{ $labels.trench }}: API p95 latency above its {severity} threshold',
      description: 'p95 latency over 5 minutes is {{ $value | humanizeDuration }}.',
      levels: {
        warning: { expr: over(LATENCY_P95_RECORD, 'p95LatencySeconds', 'warning'), for: '5m' },
        critical: { expr: over(LATENCY_P95_RECORD, 'p95LatencySeconds', 'critical'), for: '5m' },
      },
    },
    {
      alert: 'TrenchQueueBacklogHigh',
      summary:
        'Trench {{ $labels.namespace }}/{{ $labels.trench }}: queue {{ $labels.queue }} is backing up',
      description: '{{ $value }} jobs wait; the workers may be at maxReplicas or failing.',
      levels: {
        warning: {
          expr: over(backlog, 'queueBacklog', 'warning'),
          for: '10m',
        },
        critical: {
          expr: over(backlog, 'queueBacklog', 'critical'),
          for: '5m',
        },
      },
    },
    {
      alert: 'TrenchDatabaseUnreachable',
      summary:
        'Trench {{ $labels.namespace }}/{{ $labels.trench }}: the API cannot reach PostgreSQL',
      description:
        'warning: at least one API pod failed its database health check; critical: no API pod reaches the database.',
      levels: {
        // The API's own health check is the signal that matters (it fails for a dead server, a
        // wrong password or a NetworkPolicy alike) and needs no exporter in the database.
        warning: { expr: dbDown('min'), for: '2m' },
        critical: { expr: dbDown('max'), for: '1m' },
      },
    },
    {
      alert: 'TrenchPodCrashLooping',
      summary:
        'Trench {{ $labels.namespace }}/{{ $labels.trench }}: pod {{ $labels.pod }} is restarting',
      description:
        'warning: a container restarted in the last 15 minutes; critical: it has been in CrashLoopBackOff for 2 minutes.',
      levels: {
        warning: {
          expr: restarts('increase(kube_pod_container_status_restarts_total[15m])'),
          for: '0m',
        },
        critical: {
          expr: restarts('kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}'),
          for: '2m',
        },
      },
    },
    {
      alert: 'TrenchContainerCpuHigh',
      summary:
        'Trench {{ $labels.namespace }}/{{ $labels.trench }}: {{ $labels.pod }}/{{ $labels.container }} uses {{ $value | humanizePercentage }} of its CPU limit',
      description:
        'CPU use over 5 minutes against the container limit; past it the container is throttled.',
      levels: {
        warning: { expr: over(cpu, 'resourceUsage', 'warning'), for: '15m' },
        critical: { expr: over(cpu, 'resourceUsage', 'critical'), for: '15m' },
      },
    },
    {
      alert: 'TrenchContainerMemoryHigh',
      summary:
        'Trench {{ $labels.namespace }}/{{ $labels.trench }}: {{ $labels.pod }}/{{ $labels.container }} uses {{ $value | humanizePercentage }} of its memory limit',
      description:
        'Working set against the container limit; at the limit the kernel kills it (OOMKilled).',
      levels: {
        warning: { expr: over(memory, 'resourceUsage', 'warning'), for: '10m' },
        critical: { expr: over(memory, 'resourceUsage', 'critical'), for: '5m' },
      },
    },
    {
      alert: 'TrenchBackupTooOld',
      summary:
        'Trench {{ $labels.namespace }}/{{ $labels.trench }}: the last successful backup is too old',
      description:
        'No successful backup for {{ $value | humanizeDuration }} (since the newest one, or since the Trench was created if it never had one); warning: one scheduled slot missed, critical: two.',
      levels: {
        warning: { expr: backupAge('warning'), for: '10m' },
        critical: { expr: backupAge('critical'), for: '10m' },
      },
    },
    {
      alert: 'TrenchRestoreDrillFailed',
      summary:
        'Trench {{ $labels.namespace }}/{{ $labels.trench }}: a restore drill of its backups failed',
      description:
        '{{ $value }} restore drill(s) in a row failed: the newest backups may not restore. Warning: the newest drill failed; critical: two in a row.',
      levels: {
        // A drill's verdict is final: no `for` to wait out.
        warning: { expr: monitored(`${drillFailures} >= 1`), for: '0m' },
        critical: { expr: monitored(`${drillFailures} >= 2`), for: '0m' },
      },
    },
    {
      alert: 'TrenchRolloutAborted',
      summary: 'Trench {{ $labels.namespace }}/{{ $labels.trench }}: a release was rolled back',
      description:
        'The rollout is aborted and the stable revision serves everything (kubectl trench status says why). Warning: any abort; critical: the migration Job failed, so the database may be half migrated under the stable revision.',
      levels: {
        // An abort is a final state until retry or a new revision: no `for` to wait out.
        warning: { expr: monitored(`${aborted} == 1`), for: '0m' },
        critical: { expr: monitored(`${migrationFailed} == 1`), for: '0m' },
      },
    },
  ];
}

function anchor(alert: string): string {
  return alert.toLowerCase();
}

function expand(specs: AlertSpec[], runbookUrl: string, extra: Record<string, string> = {}) {
  return specs.flatMap((a) =>
    SEVERITIES.map(
      (severity): AlertRule => ({
        alert: a.alert,
        expr: a.levels[severity].expr,
        for: a.levels[severity].for,
        labels: { severity, ...extra },
        annotations: {
          summary: a.summary.replace('{severity}', severity),
          description: a.description,
          runbook_url: `${runbookUrl}#${anchor(a.alert)}`,
        },
      }),
    ),
  );
}

/** The alerts of every Trench: one group, for every Trench the operator exports. */
export function trenchAlertGroup(runbookUrl = DEFAULT_RUNBOOK_URL): RuleGroup {
  return { name: 'trench.alerts', rules: expand(trenchAlerts(), runbookUrl) };
}

/** The operator's own alerts: warning when a replica is down, critical when none is up. */
export function operatorRuleGroup(runbookUrl = DEFAULT_RUNBOOK_URL): RuleGroup {
  return {
    name: 'trench-operator',
    rules: expand(
      [
        {
          alert: 'TrenchOperatorDown',
          summary: 'The Trench operator is down',
          description:
            'warning: a trench-operator replica has been down for 10 minutes (no standby); critical: none has been up for 5 minutes, so no scaling, rollouts or backups happen.',
          levels: {
            warning: { expr: `min(up{job="${OPERATOR_JOB}"}) == 0`, for: '10m' },
            critical: { expr: `absent(up{job="${OPERATOR_JOB}"} == 1)`, for: '5m' },
          },
        },
      ],
      runbookUrl,
    ),
  };
}

/** Every group, in evaluation order: records first, then the alerts that read them. */
export function allRuleGroups(runbookUrl = DEFAULT_RUNBOOK_URL): RuleGroup[] {
  return [trenchRecordingGroup(), trenchAlertGroup(runbookUrl), operatorRuleGroup(runbookUrl)];
}

/** Every alertname, once: what docs/runbooks.md must have a section for. */
export function alertNames(): string[] {
  return [
    ...new Set(
      allRuleGroups()
        .flatMap((g) => g.rules)
        .flatMap((r) => ('alert' in r ? [r.alert] : [])),
    ),
  ];
}
