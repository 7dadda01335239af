// The metric contract between the product, the operator and the alert rules. The API must
// expose these (prom-client's defaults for an HTTP middleware), the operator exports its own.

/** Counter of API responses, label `code` (HTTP status). */
export const HTTP_REQUESTS = 'http_requests_total';
/** Histogram of API response times in seconds. */
export const HTTP_DURATION_BUCKET = 'http_request_duration_seconds_bucket';
/** Gauge exported by the operator: waiting + delayed jobs of a Trench's queues. */
export const WORKER_BACKLOG = 'trench_worker_backlog';
/** Gauge exported by the operator: Unix time of the Trench's last successful backup. */
export const BACKUP_LAST_SUCCESS = 'trench_backup_last_success_timestamp_seconds';
/** The scrape job (and Service) name of the operator. */
export const OPERATOR_JOB = 'trench-operator';

/**
 * Labels every Trench series carries once scraped: `namespace`, `trench` (the Trench name,
 * from app.kubernetes.io/instance) and `component`. Operator series carry `namespace` and
 * `trench` themselves and are scraped with honor_labels.
 */
export const TRENCH_LABEL = 'trench';
