import type { LookupFunction } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LookupLimiter } from '../../../operator/scaling/lookup.js';
import { createScalingMetrics } from '../../../operator/scaling/scaler.js';

type Callback = Parameters<LookupFunction>[2];

/** A resolver that answers only when the test says so. */
function slowResolver() {
  const pending: { hostname: string; callback: Callback }[] = [];
  const lookup: LookupFunction = (hostname, _options, callback) => {
    pending.push({ hostname, callback });
  };
  return { lookup, pending };
}

const ask = (limiter: LookupLimiter, hostname: string, options = {}) =>
  new Promise<{ error: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
    limiter.lookup(hostname, options, (error, address) => resolve({ error, address })),
  );

afterEach(() => {
  vi.useRealTimers();
});

describe('LookupLimiter', () => {
  it('runs at most `concurrency` lookups and starts the next as one answers, in order', async () => {
    const r = slowResolver();
    const limiter = new LookupLimiter({ concurrency: 2, lookup: r.lookup });
    const answers = ['a', 'b', 'c', 'd'].map((h) => ask(limiter, `${h}.example`));
    expect(r.pending.map((p) => p.hostname)).toEqual(['a.example', 'b.example']);
    expect([limiter.inFlight, limiter.waiting]).toEqual([2, 2]);
    r.pending[1]!.callback(null, '10.0.0.2', 4);
    expect(await answers[1]).toEqual({ error: null, address: '10.0.0.2' });
    expect(r.pending.map((p) => p.hostname)).toEqual(['a.example', 'b.example', 'c.example']);
    expect(limiter.started).toBe(3);
  });

  it('passes the resolver’s options and answers through (all: true gives a list)', async () => {
    const seen: unknown[] = [];
    const limiter = new LookupLimiter({
      lookup: (_h, options, callback) => {
        seen.push(options);
        (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
          { address: '::1', family: 6 },
        ]);
      },
    });
    const got = await ask(limiter, 'localhost', { all: true, family: 0 });
    expect(seen).toEqual([{ all: true, family: 0 }]);
    expect(got.address).toEqual([{ address: '::1', family: 6 }]);
  });

  it('fails with EAI_AGAIN a lookup that waited maxWaitMs, so what waits stays bounded', async () => {
    vi.useFakeTimers();
    const r = slowResolver();
    const limiter = new LookupLimiter({ concurrency: 1, maxWaitMs: 2000, lookup: r.lookup });
    void ask(limiter, 'stuck.example');
    const waiting = ask(limiter, 'shop-redis.prod.svc');
    vi.advanceTimersByTime(1999);
    expect(limiter.waiting).toBe(1);
    vi.advanceTimersByTime(2);
    const { error } = await waiting;
    expect(error?.code).toBe('EAI_AGAIN');
    expect(error?.message).toBe(
      'DNS lookup of shop-redis.prod.svc not started within 2000 ms: 1 lookups were in flight (the resolver answers slower than Redis reconnects ask)',
    );
    expect([limiter.waiting, limiter.refused, limiter.started]).toEqual([0, 1, 1]);
    // The resolver never saw it: nothing of it is left behind the stuck lookup.
    expect(r.pending.map((p) => p.hostname)).toEqual(['stuck.example']);
  });

  it('under a burst far beyond the resolver, lookups in flight never pass the bound', async () => {
    vi.useFakeTimers();
    const r = slowResolver();
    const limiter = new LookupLimiter({ concurrency: 4, maxWaitMs: 2000, lookup: r.lookup });
    let peak = 0;
    // A thousand reconnects a second for ten seconds; the resolver answers five a second.
    for (let ms = 0; ms < 10_000; ms += 100) {
      for (let i = 0; i < 100; i++) void ask(limiter, `r${ms}-${i}.svc`);
      if (ms % 200 === 0) r.pending.shift()?.callback(null, '10.0.0.1', 4);
      peak = Math.max(peak, limiter.inFlight);
      vi.advanceTimersByTime(100);
    }
    expect(peak).toBe(4);
    // At most two seconds of arrivals wait; the rest were refused, not queued.
    expect(limiter.waiting).toBeLessThanOrEqual(2100);
    expect(limiter.refused).toBeGreaterThan(7000);
  });
});

describe('trench_redis_dns_lookups_total', () => {
  it('reads the limiter’s started and refused counts at scrape time', async () => {
    vi.useFakeTimers();
    const r = slowResolver();
    const limiter = new LookupLimiter({ concurrency: 1, maxWaitMs: 2000, lookup: r.lookup });
    const registry = new Registry();
    createScalingMetrics(registry, limiter);
    void ask(limiter, 'stuck.example');
    const refused = ask(limiter, 'late.example');
    vi.advanceTimersByTime(2001);
    await refused;
    const text = await registry.metrics();
    expect(text).toContain('trench_redis_dns_lookups_total{result="started"} 1');
    expect(text).toContain('trench_redis_dns_lookups_total{result="refused"} 1');
  });
});
