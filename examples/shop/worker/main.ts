// The worker's entry point: TRENCH_WORKER_QUEUES, TRENCH_WORKER_CONCURRENCY, JOB_TIMEOUT,
// METRICS_PORT, DATABASE_URL and REDIS_URL (lib/env.ts lists every variable).
import Fastify from 'fastify';
import { createPool, migrate } from '../lib/db.js';
import { workerConfig } from '../lib/env.js';
import { log } from '../lib/log.js';
import { runMain } from '../lib/main.js';
import { createRedis } from '../lib/redis.js';
import { createWorkerMetrics } from './metrics.js';
import { startWorkers } from './worker.js';

runMain('shop-worker', async () => {
  const config = workerConfig(process.env);
  const pool = createPool(config.databaseUrl);
  pool.on('error', () => undefined);
  const redis = createRedis(config.redisUrl, 'worker');
  if (config.migrateOnStart) {
    await migrate(pool).then(
      (applied) => log('info', 'Migrated the database', { applied }),
      (err: unknown) => log('warn', 'Failed to migrate the database', { error: String(err) }),
    );
  }
  const metrics = createWorkerMetrics();
  const workers = startWorkers({ ...config, redis, pool, metrics });
  const server = config.metricsPort === undefined ? undefined : Fastify({ logger: false });
  if (server) {
    server.get('/metrics', async (_req, reply) =>
      reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    );
    server.get('/livez', async () => ({ status: 'ok' }));
    await server.listen({ host: '0.0.0.0', port: config.metricsPort ?? 0 });
  }
  log('info', 'Started shop-worker', {
    queues: config.queues,
    concurrency: config.concurrency,
    jobTimeoutSeconds: config.jobTimeoutSeconds,
    metricsPort: config.metricsPort,
  });
  return async () => {
    // Active jobs finish first (the pod's grace period bounds this); metrics stay up meanwhile
    // so the last completions are still scraped.
    await workers.close();
    await server?.close();
    await Promise.allSettled([pool.end(), redis.quit()]);
  };
});
