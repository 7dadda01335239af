import { describe, expect, it } from 'vitest';
import { createLogger, formatLine } from '../../../operator/runtime/log.js';
import { createMetrics } from '../../../operator/runtime/metrics.js';
import { operatorReadiness, startServer } from '../../../operator/runtime/server.js';
import { runShutdown } from '../../../operator/runtime/shutdown.js';
import { formatMicroTime, formatTime } from '../../../operator/runtime/types.js';

describe('log', () => {
  it('writes one JSON object per line with time, level, msg and fields', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', write: (l) => lines.push(l), now: () => 0 }).child({
      controller: 'trench',
    });
    log.debug('Skipped Deployment');
    log.info('Applied Deployment', { name: 'api', msg: 'ignored' });
    log.error('Failed to apply Service', {
      error: Object.assign(new Error('boom'), { statusCode: 422 }),
    });
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toEqual({
      time: '1970-01-01T00:00:00.000Z',
      level: 'info',
      msg: 'Applied Deployment',
      controller: 'trench',
      name: 'api',
    });
    expect(JSON.parse(lines[1]!).error).toMatchObject({ message: 'boom', statusCode: 422 });
  });

  it('survives cyclic fields', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(JSON.parse(formatLine('warn', 'Hit cycle', 0, { cyclic })).msg).toBe('Hit cycle');
  });
});

describe('time formats', () => {
  it('metav1.Time has seconds, MicroTime exactly six fractional digits', () => {
    const t = Date.parse('2024-05-01T10:00:00.123Z');
    expect(formatTime(t)).toBe('2024-05-01T10:00:00Z');
    expect(formatMicroTime(t)).toBe('2024-05-01T10:00:00.123000Z');
  });
});

describe('server', () => {
  it('serves /healthz, /readyz and /metrics', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.controllerHooks.reconciled?.('success', 20);
    m.queueHooks.depth?.(3);
    m.leader.set(1);
    let synced = false;
    const server = await startServer({
      port: 0,
      host: '127.0.0.1',
      registry: m.registry,
      readiness: operatorReadiness({ informers: [{ kind: 'Trench', hasSynced: () => synced }] }),
    });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const notReady = await fetch(`${base}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.text()).toContain('caches not synced: Trench');
      synced = true;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(text).toContain('trench_reconcile_total{result="success"} 1');
      expect(text).toContain('trench_reconcile_total{result="error"} 0');
      expect(text).toContain('trench_reconcile_duration_seconds_count 1');
      expect(text).toContain('trench_workqueue_depth 3');
      expect(text).toContain('trench_workqueue_wait_seconds_bucket');
      expect(text).toContain('trench_leader 1');
      expect((await fetch(`${base}/nope`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});

describe('runShutdown', () => {
  it('runs every step in order, even after a failure or a timeout', async () => {
    const order: string[] = [];
    const report = await runShutdown([
      { name: 'controllers', run: async () => order.push('controllers') },
      { name: 'broken', run: () => Promise.reject(new Error('x')) },
      { name: 'hung', run: () => new Promise(() => undefined), timeoutMs: 20 },
      { name: 'server', run: () => order.push('server') },
    ]);
    expect(order).toEqual(['controllers', 'server']);
    expect(report.map((r) => r.outcome)).toEqual(['done', 'error', 'timeout', 'done']);
  });
});
