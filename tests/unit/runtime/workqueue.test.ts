import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../operator/runtime/clock.js';
import { ItemBackoff, TokenBucket, WorkQueue } from '../../../operator/runtime/workqueue.js';
import { FakeClock, flush } from './fake-clock.js';

describe('WorkQueue', () => {
  it('de-duplicates a key that is queued twice', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('re-queues a key added while in flight only after done', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    const k = await q.get();
    q.add('a');
    expect(q.len()).toBe(0);
    expect(q.inFlight()).toEqual(['a']);
    q.done(k!);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('hands a key to a waiting worker', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const p = q.get();
    q.add('x');
    expect(await p).toBe('x');
  });

  it('addAfter keeps the earliest deadline', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 1000);
    q.addAfter('a', 5000); // later: ignored
    q.addAfter('b', 5000);
    q.addAfter('b', 2000); // earlier: replaces
    await clock.advance(999);
    expect(q.len()).toBe(0);
    await clock.advance(1);
    expect(q.len()).toBe(1);
    await clock.advance(1000);
    expect(q.len()).toBe(2);
    await clock.advance(10_000);
    expect(q.len()).toBe(2);
    expect(clock.pending()).toBe(0);
  });

  it('addAfter with 0 adds at once', () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.addAfter('a', 0);
    expect(q.len()).toBe(1);
  });

  it('backs a failing key off exponentially and forget resets it', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 5, maxDelayMs: 1_000_000 });
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = clock.now();
      q.addRateLimited('a');
      while (q.len() === 0) await clock.advance(1);
      delays.push(clock.now() - start);
      q.done((await q.get())!);
    }
    expect(delays).toEqual([5, 10, 20, 40, 80]);
    expect(q.numRequeues('a')).toBe(5);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
  });

  it('limits retries overall with the token bucket', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 1, qps: 10, burst: 2 });
    for (const k of ['a', 'b', 'c', 'd']) q.addRateLimited(k);
    await clock.advance(1);
    expect(q.len()).toBe(2); // burst
    await clock.advance(99);
    expect(q.len()).toBe(3); // one more per 100 ms
    await clock.advance(100);
    expect(q.len()).toBe(4);
  });

  it('reports depth, wait and work duration', async () => {
    const clock = new FakeClock();
    const seen = { depth: [] as number[], wait: [] as number[], work: [] as number[] };
    const q = new WorkQueue({
      clock,
      metrics: {
        depth: (n) => seen.depth.push(n),
        waitMs: (ms) => seen.wait.push(ms),
        workMs: (ms) => seen.work.push(ms),
      },
    });
    q.add('a');
    await clock.advance(30);
    const k = await q.get();
    await clock.advance(70);
    q.done(k!);
    expect(seen.depth).toEqual([1, 0]);
    expect(seen.wait).toEqual([30]);
    expect(seen.work).toEqual([70]);
  });

  it('shutdown releases waiting workers, drops delayed keys and drains in-flight ones', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.add('a');
    const k = await q.get();
    const waiting = q.get();
    q.addAfter('b', 1000);
    q.shutdown();
    expect(await waiting).toBeUndefined();
    expect(await q.get()).toBeUndefined();
    expect(clock.pending()).toBe(0);
    q.add('c');
    expect(q.len()).toBe(0);
    let drained: boolean | undefined;
    void q.drain().then((d) => {
      drained = d;
    });
    await flush();
    expect(drained).toBeUndefined();
    q.done(k!);
    await flush();
    expect(drained).toBe(true);
  });

  it('drain gives up after its timeout', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.add('a');
    await q.get();
    const p = q.shutdownWithDrain(500);
    await clock.advance(500);
    expect(await p).toBe(false);
  });
});

describe('TokenBucket', () => {
  it.each([
    { qps: 10, burst: 1, calls: [0, 0, 0], delays: [0, 100, 200] },
    { qps: 10, burst: 3, calls: [0, 0, 0, 0], delays: [0, 0, 0, 100] },
    { qps: 1, burst: 1, calls: [0, 1000, 2000], delays: [0, 0, 0] },
    { qps: 2, burst: 1, calls: [0, 100], delays: [0, 400] },
  ])('qps=$qps burst=$burst', ({ qps, burst, calls, delays }) => {
    const b = new TokenBucket(qps, burst, 0);
    expect(calls.map((t) => b.reserve(t))).toEqual(delays);
  });

  it('refuses nonsense settings', () => {
    expect(() => new TokenBucket(0, 1, 0)).toThrow(/qps=0/);
  });
});

describe('backoff', () => {
  it.each([
    [0, 5],
    [1, 10],
    [2, 20],
    [17, 655_360],
    [18, 1_000_000],
    [5000, 1_000_000],
  ])('attempt %i waits %i ms', (attempt, ms) => {
    expect(backoffDelay(attempt, 5, 1_000_000)).toBe(ms);
  });

  it('is monotone and capped (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.nat(200),
        (base, max, n) => {
          const b = new ItemBackoff(base, max);
          let last = 0;
          for (let i = 0; i <= n; i++) {
            const d = b.next('k');
            expect(d).toBeGreaterThanOrEqual(last);
            expect(d).toBeLessThanOrEqual(max);
            last = d;
          }
        },
      ),
    );
  });
});

type Op =
  | { op: 'add'; key: string }
  | { op: 'addAfter'; key: string; ms: number }
  | { op: 'fail'; key: string }
  | { op: 'tick'; ms: number }
  | { op: 'get' }
  | { op: 'done'; index: number };

const keyArb = fc.constantFrom('a', 'b', 'c', 'd');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('add' as const), key: keyArb }),
  fc.record({
    op: fc.constant('addAfter' as const),
    key: keyArb,
    ms: fc.integer({ min: 0, max: 500 }),
  }),
  fc.record({ op: fc.constant('fail' as const), key: keyArb }),
  fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ op: fc.constant('get' as const) }),
  fc.record({ op: fc.constant('done' as const), index: fc.nat(5) }),
);

describe('WorkQueue invariants (property)', () => {
  it('never has one key in flight twice, and every added key is eventually processed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 60 }), async (ops) => {
        const clock = new FakeClock();
        const q = new WorkQueue({ clock, baseDelayMs: 5, maxDelayMs: 1000, qps: 50, burst: 5 });
        const inFlight: string[] = [];
        // Keys owed a processing that starts after their latest add.
        const owed = new Set<string>();
        const take = async () => {
          if (q.len() === 0) return;
          const k = (await q.get())!;
          expect(inFlight).not.toContain(k);
          inFlight.push(k);
          owed.delete(k);
        };
        for (const o of ops) {
          switch (o.op) {
            case 'add':
              q.add(o.key);
              owed.add(o.key);
              break;
            case 'addAfter':
              q.addAfter(o.key, o.ms);
              owed.add(o.key);
              break;
            case 'fail': {
              q.addRateLimited(o.key);
              owed.add(o.key);
              break;
            }
            case 'tick':
              await clock.advance(o.ms);
              break;
            case 'get':
              await take();
              break;
            case 'done': {
              const k = inFlight.splice(o.index % Math.max(1, inFlight.length), 1)[0];
              if (k !== undefined) q.done(k);
              break;
            }
          }
        }
        // Drain: finish everything, let all delays expire, process until quiet.
        for (let round = 0; round < 100; round++) {
          for (const k of inFlight.splice(0)) q.done(k);
          await clock.advance(2000);
          while (q.len() > 0) await take();
          if (owed.size === 0 && inFlight.length === 0 && q.delayedCount() === 0) break;
        }
        for (const k of inFlight.splice(0)) q.done(k);
        expect([...owed]).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});
