// The API's entry point: PORT, METRICS_PORT, DATABASE_URL and REDIS_URL as the operator sets
// them (lib/env.ts lists every variable).
import { createPool, migrate } from '../lib/db.js';
import { apiConfig } from '../lib/env.js';
import { log } from '../lib/log.js';
import { runMain } from '../lib/main.js';
import { createRedis } from '../lib/redis.js';
import { buildApi, buildMetricsServer } from './app.js';
import { createApiMetrics } from './metrics.js';

runMain('shop-api', async () => {
  const config = apiConfig(process.env);
  const pool = createPool(config.databaseUrl);
  const redis = createRedis(config.redisUrl, 'client');
  // The database can be late (the StatefulSet starts beside the API): /health says so and
  // readiness holds the pod out until it answers; migrating is retried by the next start.
  redis.on('error', () => undefined);
  pool.on('error', () => undefined);
  if (config.migrateOnStart) {
    await migrate(pool).then(
      (applied) => log('info', 'Migrated the database', { applied }),
      (err: unknown) => log('warn', 'Failed to migrate the database', { error: String(err) }),
    );
  }
  const metrics = createApiMetrics();
  const separate = config.metricsPort !== config.port;
  const app = buildApi({ ...config, pool, redis, metrics, serveMetrics: !separate });
  await app.listen({ host: '0.0.0.0', port: config.port });
  const metricsApp = separate ? buildMetricsServer(metrics) : undefined;
  await metricsApp?.listen({ host: '0.0.0.0', port: config.metricsPort });
  log('info', 'Started shop-api', {
    port: config.port,
    metricsPort: config.metricsPort,
    faultErrorRate: config.faultErrorRate,
    faultLatencyMs: config.faultLatencyMs,
  });
  return async () => {
    // Fastify stops accepting and waits for in-flight requests; the pod's preStop sleep has
    // already let the Service take it out of rotation.
    await app.close();
    await metricsApp?.close();
    await Promise.allSettled([pool.end(), redis.quit()]);
  };
});
