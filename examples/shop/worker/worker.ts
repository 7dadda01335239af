// One BullMQ Worker per queue, sharing one Redis connection for commands (each Worker opens
// its own blocking one, as BullMQ requires) and one PostgreSQL pool.
import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { recordJob } from '../lib/db.js';
import { log } from '../lib/log.js';
import { runJob, withJobTimeout } from './jobs.js';
import type { WorkerMetrics } from './metrics.js';

export interface WorkerDeps {
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly jobTimeoutSeconds: number;
  readonly prefix: string;
  readonly redis: Redis;
  readonly pool: pg.Pool;
  readonly metrics: WorkerMetrics;
  /** Share of jobs failed on purpose (FAULT_JOB_FAILURE_RATE). @default 0 */
  readonly faultJobFailureRate?: number;
  /** @default Math.random */
  readonly random?: () => number;
}

export interface ShopWorkers {
  readonly workers: readonly Worker[];
  /** Stops taking jobs and waits for the active ones to finish (BullMQ's close). */
  close(): Promise<void>;
}

export function startWorkers(deps: WorkerDeps): ShopWorkers {
  const workers = deps.queues.map((queue) => {
    const processor = async (job: Job) => {
      deps.metrics.active.inc({ queue });
      const end = deps.metrics.duration.startTimer({ queue });
      try {
        const fault = deps.faultJobFailureRate ?? 0;
        if (fault > 0 && (deps.random ?? Math.random)() < fault) {
          throw new Error('Injected fault (FAULT_JOB_FAILURE_RATE)');
        }
        return await withJobTimeout(deps.jobTimeoutSeconds, (signal) =>
          runJob(
            {
              queue,
              id: job.id ?? '',
              name: job.name,
              data: (job.data ?? {}) as Record<string, unknown>,
              attempts: job.attemptsMade + 1,
            },
            { signal, record: (j) => recordJob(deps.pool, j) },
          ),
        );
      } finally {
        end();
        deps.metrics.active.dec({ queue });
      }
    };
    const worker = new Worker(queue, processor, {
      connection: deps.redis,
      prefix: deps.prefix,
      concurrency: deps.concurrency,
    });
    worker.on('completed', () => deps.metrics.completed.inc({ queue }));
    worker.on('failed', (job, err) => {
      deps.metrics.failed.inc({ queue });
      log('warn', 'Failed a job', { queue, job: job?.id, name: job?.name, error: err.message });
    });
    worker.on('error', (err) =>
      log('error', 'Worker lost its connection', { queue, error: err.message }),
    );
    deps.metrics.active.set({ queue }, 0);
    return worker;
  });
  return {
    workers,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
