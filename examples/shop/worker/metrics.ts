// The worker's own metrics on METRICS_PORT: jobs completed and failed by queue, jobs active.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface WorkerMetrics {
  readonly registry: Registry;
  readonly completed: Counter<'queue'>;
  readonly failed: Counter<'queue'>;
  readonly active: Gauge<'queue'>;
  readonly duration: Histogram<'queue'>;
}

// The names are Trench's worker metric contract (charts/lib/metrics.ts): a canary's default
// analysis reads the completed and failed counters by track.
export function createWorkerMetrics(): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    completed: new Counter({
      name: 'worker_jobs_completed_total',
      help: 'Jobs this worker completed, by queue',
      labelNames: ['queue'],
      registers: [registry],
    }),
    failed: new Counter({
      name: 'worker_jobs_failed_total',
      help: 'Job attempts that failed in this worker, by queue',
      labelNames: ['queue'],
      registers: [registry],
    }),
    active: new Gauge({
      name: 'worker_jobs_active',
      help: 'Jobs running in this worker now, by queue',
      labelNames: ['queue'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'worker_job_duration_seconds',
      help: 'Time a job took in this worker, by queue',
      labelNames: ['queue'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
  };
}
