// The metric contract between the product, the operator and the alert rules. The API must
// expose the HTTP ones (prom-client's defaults for an HTTP middleware) and the dependency
// gauge, the worker its job counters (for a canary's analysis); the operator exports its own.

/** Counter of API responses, label `code` (HTTP status). */
export const HTTP_REQUESTS = 'http_requests_total';
/** Histogram of API response times in seconds. */
export const HTTP_DURATION_BUCKET = 'http_request_duration_seconds_bucket';
/**
 * Gauge of the API: 1 when its last health check reached a dependency, else 0; label
 * `dependency` is `database` or `redis`. The database alert reads it.
 */
export const DEPENDENCY_UP = 'app_dependency_up';
/** Counters of the worker: jobs it completed and job attempts that failed, label `queue`. */
export const WORKER_JOBS_COMPLETED = 'worker_jobs_completed_total';
export const WORKER_JOBS_FAILED = 'worker_jobs_failed_total';
/** Gauge exported by the operator: waiting + delayed jobs of a Trench's queue. */
export const WORKER_BACKLOG = 'trench_worker_backlog';
/** Gauge exported by the operator: Unix time of the Trench's last successful backup. */
export const BACKUP_LAST_SUCCESS = 'trench_backup_last_success_timestamp_seconds';
/**
 * Gauge exported by the operator: a Trench's restore drills that failed since the newest that
 * passed. TrenchRestoreDrillFailed fires on it.
 */
export const BACKUP_DRILL_FAILURES = 'trench_backup_drill_failures_in_a_row';
/**
 * Gauge exported by the operator: Unix time a monitored Trench was created. TrenchBackupTooOld
 * reads it for a Trench that never had a successful backup.
 */
/** One series per rollout phase of each Trench, 1 for the phase it is in (operator/rollout). */
export const ROLLOUT_PHASE = 'trench_rollout_phase';
/** The current canary step, from 0, and the canary's share of API pods in percent. */
export const ROLLOUT_STEP = 'trench_rollout_step';
export const ROLLOUT_WEIGHT = 'trench_rollout_weight';
/** Consecutive failed measurements of the canary, and each check's newest value. */
export const ROLLOUT_FAILURES = 'trench_rollout_analysis_failures_in_a_row';
export const ROLLOUT_ANALYSIS_VALUE = 'trench_rollout_analysis_value';
/** 1 for the verdict of the newest measurement (pass, fail or inconclusive). */
export const ROLLOUT_VERDICT = 'trench_rollout_analysis_verdict';
/**
 * 1 while a rollout is aborted because its migration Job failed: the database may be half
 * migrated under the stable revision. 0 otherwise.
 */
export const ROLLOUT_MIGRATION_FAILED = 'trench_rollout_migration_failed';
export const TRENCH_CREATED = 'trench_created_timestamp_seconds';
/** Gauge exported by the operator: one threshold of a monitored Trench, labels alert, severity. */
export const ALERT_THRESHOLD = 'trench_alert_threshold';
/** Gauge exported by the operator: 1 for each Trench with monitoring enabled. */
export const MONITORED = 'trench_monitoring_enabled';
/** The scrape job (and Service) name of the operator. */
export const OPERATOR_JOB = 'trench-operator';

/**
 * Labels every Trench series carries once scraped: `namespace`, `trench` (the Trench name,
 * from app.kubernetes.io/instance) and `component`. Operator series carry `namespace` and
 * `trench` themselves and are scraped with honor_labels.
 */
export const TRENCH_LABEL = 'trench';

/** The template variables of a canary analysis query (spec.rollout.analysis.metrics[].query). */
export const TEMPLATE_VARIABLES = ['namespace', 'trench', 'track', 'revision'] as const;
export const TEMPLATE_VARIABLE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Template variables a query names that do not exist. */
export function unknownVariables(query: string): string[] {
  const known: readonly string[] = TEMPLATE_VARIABLES;
  return [...query.matchAll(TEMPLATE_VARIABLE)].map((m) => m[1]!).filter((v) => !known.includes(v));
}
