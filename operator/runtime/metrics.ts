// Prometheus metrics of the runtime, on a registry of our own (not prom-client's global one,
// so tests and several operators in one process do not collide).

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ControllerMetricsHooks, ReconcileOutcome } from './controller.js';
import type { QueueMetricsHooks } from './workqueue.js';

export interface OperatorMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'result'>;
  readonly reconcileDuration: Histogram<string>;
  readonly queueDepth: Gauge<string>;
  readonly queueWait: Histogram<string>;
  readonly queueRetries: Counter<string>;
  readonly leader: Gauge<string>;
  /** Hooks to pass to WorkQueue. */
  readonly queueHooks: QueueMetricsHooks;
  /** Hooks to pass to Controller. */
  readonly controllerHooks: ControllerMetricsHooks;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): OperatorMetrics {
  const registry = new Registry();
  // Process metrics (RSS, CPU, event loop lag) are what bench/ and alerts read.
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const reconcileTotal = new Counter({
    name: 'trench_reconcile_total',
    help: 'Reconciles by result: success, requeue (success with requeueAfter) or error.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  for (const r of ['success', 'requeue', 'error'] satisfies ReconcileOutcome[])
    reconcileTotal.inc({ result: r }, 0);
  const reconcileDuration = new Histogram({
    name: 'trench_reconcile_duration_seconds',
    help: 'Time one reconcile took.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const queueDepth = new Gauge({
    name: 'trench_workqueue_depth',
    help: 'Keys waiting in the work queue, ready to be reconciled.',
    registers: [registry],
  });
  const queueWait = new Histogram({
    name: 'trench_workqueue_wait_seconds',
    help: 'Time from a key becoming ready in the queue to a worker starting on it.',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const queueRetries = new Counter({
    name: 'trench_workqueue_retries_total',
    help: 'Keys re-queued with backoff after a failed reconcile.',
    registers: [registry],
  });
  const leader = new Gauge({
    name: 'trench_leader',
    help: '1 while this process holds the leader Lease, else 0.',
    registers: [registry],
  });
  leader.set(0);
  return {
    registry,
    reconcileTotal,
    reconcileDuration,
    queueDepth,
    queueWait,
    queueRetries,
    leader,
    queueHooks: {
      depth: (n) => queueDepth.set(n),
      waitMs: (ms) => queueWait.observe(ms / 1000),
      retry: () => queueRetries.inc(),
    },
    controllerHooks: {
      reconciled: (outcome, ms) => {
        reconcileTotal.inc({ result: outcome });
        reconcileDuration.observe(ms / 1000);
      },
    },
  };
}
