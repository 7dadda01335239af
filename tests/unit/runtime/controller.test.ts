import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../operator/runtime/client.js';
import type { ReconcileOutcome } from '../../../operator/runtime/controller.js';
import { Controller } from '../../../operator/runtime/controller.js';
import { createLogger } from '../../../operator/runtime/log.js';
import { WorkQueue } from '../../../operator/runtime/workqueue.js';
import { FakeClock, flush } from './fake-clock.js';

function setup(
  reconcile: (key: string, signal: AbortSignal) => Promise<{ requeueAfterMs?: number } | undefined>,
  workers = 2,
) {
  const clock = new FakeClock();
  const queue = new WorkQueue({ clock, baseDelayMs: 10, maxDelayMs: 1000 });
  const outcomes: ReconcileOutcome[] = [];
  const controller = new Controller({
    name: 'test',
    queue,
    workers,
    clock,
    reconcile: (key, ctx) => reconcile(key, ctx.signal),
    metrics: { reconciled: (o) => outcomes.push(o) },
  });
  return { clock, queue, controller, outcomes };
}

describe('Controller', () => {
  it('reconciles queued keys with N workers, never one key twice at a time', async () => {
    let running = 0;
    let peak = 0;
    const active = new Set<string>();
    const seen: string[] = [];
    const gates: Array<() => void> = [];
    const { queue, controller } = setup(async (key) => {
      expect(active.has(key)).toBe(false);
      active.add(key);
      running++;
      peak = Math.max(peak, running);
      seen.push(key);
      await new Promise<void>((r) => gates.push(r));
      running--;
      active.delete(key);
      return undefined;
    }, 3);
    controller.start();
    for (const k of ['a', 'b', 'c', 'd', 'a']) queue.add(k);
    await flush();
    expect(peak).toBe(3);
    queue.add('a'); // in flight: must wait
    while (gates.length > 0) {
      gates.shift()!();
      await flush();
    }
    expect(seen.sort()).toEqual(['a', 'a', 'b', 'c', 'd']);
    expect(await controller.stop(1000)).toBe(true);
  });

  it('requeues after requeueAfterMs on success and forgets the backoff', async () => {
    let calls = 0;
    const { clock, queue, controller, outcomes } = setup(async () => {
      calls++;
      if (calls === 1) throw new Error('boom');
      return calls === 2 ? { requeueAfterMs: 5000 } : undefined;
    });
    controller.start();
    queue.add('a');
    await flush();
    expect(outcomes).toEqual(['error']);
    expect(queue.numRequeues('a')).toBe(1);
    await clock.advance(10);
    expect(outcomes).toEqual(['error', 'requeue']);
    expect(queue.numRequeues('a')).toBe(0);
    await clock.advance(4999);
    expect(calls).toBe(2);
    await clock.advance(1);
    expect(outcomes).toEqual(['error', 'requeue', 'success']);
    await controller.stop(1000);
  });

  it('backs off repeated failures exponentially', async () => {
    const times: number[] = [];
    const { clock, queue, controller } = setup(async () => {
      times.push(clock.now());
      throw new Error('always');
    });
    controller.start();
    queue.add('a');
    await clock.advance(200);
    const gaps = times.slice(1).map((t, i) => t - (times[i] ?? 0));
    expect(gaps).toEqual([10, 20, 40, 80]);
    await controller.stop(1000);
  });

  it('retries a pass refused because its namespace is being deleted, without a warning', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock, baseDelayMs: 10, maxDelayMs: 1000 });
    const lines: { level: string; msg: string }[] = [];
    let calls = 0;
    const controller = new Controller({
      name: 'backup',
      queue,
      workers: 1,
      clock,
      log: createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l)) }),
      reconcile: async () => {
        calls += 1;
        if (calls === 1) {
          throw new ApiError(
            403,
            'Forbidden',
            'jobs "b-remove" is forbidden: unable to create new content in namespace x because it is being terminated',
          );
        }
        if (calls === 2) throw new Error('etcd timed out');
        return undefined;
      },
    });
    controller.start();
    queue.add('x/b');
    await clock.advance(100);
    expect(calls).toBe(3);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['debug', 'Deferred reconcile backup: its namespace is being deleted'],
      ['warn', 'Failed to reconcile backup'],
    ]);
    await controller.stop(1000);
  });

  it('stop aborts the signal of in-flight reconciles and waits for them', async () => {
    let signal: AbortSignal | undefined;
    let release: () => void = () => undefined;
    const { queue, controller } = setup(async (_key, s) => {
      signal = s;
      await new Promise<void>((r) => {
        release = r;
      });
      return undefined;
    });
    controller.start();
    queue.add('a');
    await flush();
    let stopped: boolean | undefined;
    void controller.stop(10_000).then((s) => {
      stopped = s;
    });
    await flush();
    expect(signal?.aborted).toBe(true);
    expect(stopped).toBeUndefined();
    release();
    await flush();
    expect(stopped).toBe(true);
  });

  it('refuses zero workers', () => {
    expect(
      () =>
        new Controller({
          name: 'x',
          queue: new WorkQueue(),
          reconcile: async () => undefined,
          workers: 0,
        }),
    ).toThrow(/workers >= 1, got 0/);
  });
});

describe('Controller with an external signal', () => {
  it('stops taking keys and aborts in-flight reconciles the moment the signal aborts', async () => {
    const term = new AbortController();
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    let seen: AbortSignal | undefined;
    const started: string[] = [];
    const controller = new Controller({
      name: 't',
      queue,
      clock,
      workers: 1,
      signal: term.signal,
      reconcile: async (key, ctx) => {
        started.push(key);
        seen = ctx.signal;
        await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r()));
        return undefined;
      },
    });
    controller.start();
    queue.add('a');
    queue.add('b');
    await flush();
    term.abort();
    expect(seen?.aborted).toBe(true);
    expect(queue.isShuttingDown).toBe(true);
    expect(await controller.stop(1000)).toBe(true);
    expect(started).toEqual(['a']);
  });
});
