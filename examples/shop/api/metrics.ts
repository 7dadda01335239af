// The metrics the stack's alert rules and dashboard query (names in charts/lib/metrics.ts):
// http_requests_total{code} and the http_request_duration_seconds histogram. Probes and
// scrapes are not user traffic and are left out, so they cannot dilute an error rate.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface ApiMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'method' | 'route' | 'code'>;
  readonly duration: Histogram<'method' | 'route' | 'code'>;
  /** 1 when the last health check reached the dependency, 0 when it did not. */
  readonly dependencyUp: Gauge<'dependency'>;
  readonly jobsEnqueued: Counter<'queue'>;
}

export function createApiMetrics(): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP responses of the API, by method, route and status code',
      labelNames: ['method', 'route', 'code'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP response time of the API in seconds',
      labelNames: ['method', 'route', 'code'],
      // Dense around the default p95 threshold of 2 s, so the alert's quantile is precise there.
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 2.5, 5, 10],
      registers: [registry],
    }),
    dependencyUp: new Gauge({
      name: 'app_dependency_up',
      help: 'Whether the last health check reached the dependency (database, redis)',
      labelNames: ['dependency'],
      registers: [registry],
    }),
    jobsEnqueued: new Counter({
      name: 'shop_jobs_enqueued_total',
      help: 'Jobs added to BullMQ by POST /jobs, by queue',
      labelNames: ['queue'],
      registers: [registry],
    }),
  };
}
