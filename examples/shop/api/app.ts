// The shop's HTTP API as a Fastify instance with its dependencies passed in, so tests start
// it on real PostgreSQL and Redis without the entry point's process handling.
import { Queue } from 'bullmq';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { withTimeout } from '../lib/redis.js';
import type { ApiMetrics } from './metrics.js';

export interface ApiDeps {
  readonly pool: pg.Pool;
  readonly redis: Redis;
  readonly metrics: ApiMetrics;
  readonly prefix: string;
  readonly defaultQueue: string;
  readonly faultErrorRate: number;
  readonly faultLatencyMs: number;
  readonly version: string;
  /** Serve /metrics on this app too (METRICS_PORT unset or equal to PORT). */
  readonly serveMetrics: boolean;
  /** Injected so the fault switch is testable; Math.random by default. */
  readonly random?: () => number;
  readonly now?: () => number;
}

export const PROBE_ROUTES = new Set(['/livez', '/health', '/metrics']);
const DEPENDENCY_TIMEOUT_MS = 800;

interface JobBody {
  queue?: string;
  name?: string;
  data?: Record<string, unknown>;
  delayMs?: number;
  priority?: number;
  attempts?: number;
}

const jobBodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    queue: { type: 'string', pattern: '^[A-Za-z0-9._:-]+$', maxLength: 200 },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    data: { type: 'object' },
    delayMs: { type: 'integer', minimum: 0 },
    priority: { type: 'integer', minimum: 1, maximum: 2_097_152 },
    attempts: { type: 'integer', minimum: 1, maximum: 100 },
  },
} as const;

export function buildApi(deps: ApiDeps): FastifyInstance {
  const app = Fastify({ logger: false });
  const random = deps.random ?? Math.random;
  const started = (deps.now ?? Date.now)();
  const queues = new Map<string, Queue>();
  const queue = (name: string): Queue => {
    let q = queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: deps.redis, prefix: deps.prefix });
      queues.set(name, q);
    }
    return q;
  };

  const startTimes = new WeakMap<object, bigint>();
  app.addHook('onRequest', async (req) => {
    startTimes.set(req, process.hrtime.bigint());
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    if (PROBE_ROUTES.has(route)) return;
    const start = startTimes.get(req);
    const labels = { method: req.method, route, code: String(reply.statusCode) };
    deps.metrics.requests.inc(labels);
    if (start !== undefined) {
      deps.metrics.duration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
    }
  });
  // The fault switch acts on user traffic only: a bad release must show in the error rate
  // and latency that canary analysis reads, not in probes that would just restart it.
  app.addHook('preHandler', async (req, reply) => {
    const route = req.routeOptions.url ?? '';
    if (PROBE_ROUTES.has(route)) return;
    if (deps.faultLatencyMs > 0) await new Promise((r) => setTimeout(r, deps.faultLatencyMs));
    if (deps.faultErrorRate > 0 && random() < deps.faultErrorRate) {
      await reply.code(500).send({ error: 'Injected fault (FAULT_ERROR_RATE)' });
    }
  });

  app.get('/livez', async () => ({ status: 'ok' }));

  app.get('/health', async (_req, reply) => {
    const check = async (what: string, fn: () => Promise<unknown>) => {
      const t0 = Date.now();
      try {
        await withTimeout(what, DEPENDENCY_TIMEOUT_MS, fn());
        deps.metrics.dependencyUp.set({ dependency: what }, 1);
        return { ok: true, latencyMs: Date.now() - t0 };
      } catch (err) {
        deps.metrics.dependencyUp.set({ dependency: what }, 0);
        return { ok: false, latencyMs: Date.now() - t0, error: (err as Error).message };
      }
    };
    const [database, redis] = await Promise.all([
      check('database', () => deps.pool.query('SELECT 1')),
      check('redis', () => deps.redis.ping()),
    ]);
    const ok = database.ok && redis.ok;
    return reply.code(ok ? 200 : 503).send({
      status: ok ? 'ok' : 'unavailable',
      version: deps.version,
      uptimeSeconds: Math.round(((deps.now ?? Date.now)() - started) / 1000),
      database,
      redis,
    });
  });

  if (deps.serveMetrics) {
    app.get('/metrics', async (_req, reply) =>
      reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()),
    );
  }

  app.get('/', async () => ({ service: 'shop-api', version: deps.version }));

  app.post<{ Body: JobBody }>('/jobs', { schema: { body: jobBodySchema } }, async (req, reply) => {
    const body = req.body ?? {};
    const queueName = body.queue ?? deps.defaultQueue;
    const job = await queue(queueName).add(body.name ?? 'record', body.data ?? {}, {
      ...(body.delayMs ? { delay: body.delayMs } : {}),
      ...(body.priority ? { priority: body.priority } : {}),
      attempts: body.attempts ?? 3,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: 1_000,
      removeOnFail: 5_000,
    });
    deps.metrics.jobsEnqueued.inc({ queue: queueName });
    return reply.code(202).send({ id: job.id, queue: queueName, name: job.name });
  });

  app.get<{ Params: { queue: string; id: string } }>('/jobs/:queue/:id', async (req, reply) => {
    if (!/^[A-Za-z0-9._:-]{1,200}$/.test(req.params.queue)) {
      return reply.code(400).send({ error: `Queue name "${req.params.queue}" is not valid` });
    }
    const q = queue(req.params.queue);
    // State first: a job read before its state may have failed in between, and would then be
    // reported failed without its reason.
    const state = await q.getJobState(req.params.id);
    const job = await q.getJob(req.params.id);
    if (!job || state === 'unknown') {
      return reply
        .code(404)
        .send({ error: `Job ${req.params.id} not found in queue ${req.params.queue}` });
    }
    return {
      id: job.id,
      queue: req.params.queue,
      name: job.name,
      state,
      attemptsMade: job.attemptsMade,
      failedReason: job.failedReason || undefined,
      returnvalue: job.returnvalue ?? undefined,
    };
  });

  app.addHook('onClose', async () => {
    await Promise.all([...queues.values()].map((q) => q.close()));
  });
  return app;
}

/** A second, bare server for /metrics when METRICS_PORT differs from PORT. */
export function buildMetricsServer(metrics: ApiMetrics): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.get('/livez', async () => ({ status: 'ok' }));
  return app;
}
