import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addToWindow,
  decideReplicas,
  type Recommendation,
  recommend,
  type ScalingInput,
} from '../../../operator/scaling/decision.js';

const base: ScalingInput = {
  backlog: 0,
  active: 0,
  concurrency: 5,
  targetBacklogPerReplica: 100,
  minReplicas: 1,
  maxReplicas: 10,
  scaleDownStabilizationSeconds: 300,
  currentReplicas: 1,
};
const T0 = Date.parse('2026-12-03T10:00:00Z');
const s = (seconds: number) => T0 + seconds * 1000;

describe('recommend', () => {
  it.each([
    // backlog, active, min, max, expected
    [0, 0, 1, 10, 1],
    [1, 0, 1, 10, 1],
    [100, 0, 1, 10, 1],
    [101, 0, 1, 10, 2],
    [250, 3, 1, 10, 3],
    [0, 12, 1, 10, 3], // running jobs keep their workers: ceil(12 / 5)
    [150, 12, 1, 10, 3], // the higher of backlog (2) and active (3)
    [5000, 0, 1, 10, 10], // clamped to max
    [0, 0, 0, 10, 0], // minReplicas 0: nothing waits or runs, zero workers
    [1, 0, 0, 10, 1], // ... and the first job wakes one
    [0, 1, 0, 10, 1],
    [0, 0, 3, 10, 3], // never below min
    [0, 80, 1, 10, 10], // the active floor cannot exceed max
  ])('backlog %i, active %i, min %i, max %i -> %i', (backlog, active, min, max, expected) => {
    expect(recommend({ ...base, backlog, active, minReplicas: min, maxReplicas: max })).toBe(
      expected,
    );
  });
});

describe('decideReplicas', () => {
  it('scales up at once', () => {
    const d = decideReplicas({ ...base, backlog: 720, currentReplicas: 2 }, [], s(0));
    expect(d).toMatchObject({ desiredReplicas: 8, recommendation: 8, reason: 'ScaledUp' });
  });

  it('holds a scale-down for the window after the higher recommendation stopped', () => {
    // 5 recommended at 0 s and still at 60 s (a quiet queue: no check between), then it drains.
    let d = decideReplicas({ ...base, backlog: 500, currentReplicas: 1 }, [], s(0));
    expect(d.desiredReplicas).toBe(5);
    d = decideReplicas({ ...base, currentReplicas: 5 }, d.history, s(60));
    expect(d).toMatchObject({ desiredReplicas: 5, recommendation: 1, reason: 'Stabilizing' });
    // The 5 held until 60 s: the hold ends 300 s after that, the time to check again.
    expect(d.holdUntil).toBe(s(360));
    d = decideReplicas({ ...base, currentReplicas: 5 }, d.history, s(359));
    expect(d.desiredReplicas).toBe(5);
    d = decideReplicas({ ...base, currentReplicas: 5 }, d.history, s(360));
    expect(d).toMatchObject({ desiredReplicas: 1, reason: 'ScaledDown' });
  });

  it('scales down at once with no window', () => {
    const d0 = decideReplicas(
      { ...base, scaleDownStabilizationSeconds: 0, backlog: 500 },
      [],
      s(0),
    );
    const d1 = decideReplicas(
      { ...base, scaleDownStabilizationSeconds: 0, currentReplicas: 5 },
      d0.history,
      s(1),
    );
    expect(d1).toMatchObject({ desiredReplicas: 1, reason: 'ScaledDown' });
  });

  it('steps down to the highest recommendation still in the window', () => {
    const history: Recommendation[] = [
      { at: s(0), replicas: 8 },
      { at: s(200), replicas: 4 },
    ];
    // At 310 s the 8 is gone, the 4 of 200 s remains: down to 4, not to 1.
    const d = decideReplicas({ ...base, currentReplicas: 8 }, history, s(310));
    expect(d).toMatchObject({ desiredReplicas: 4, reason: 'ScaledDown' });
  });

  it('never scales up to an old recommendation: only down to it', () => {
    const history: Recommendation[] = [{ at: s(0), replicas: 9 }];
    const d = decideReplicas({ ...base, currentReplicas: 3 }, history, s(10));
    expect(d).toMatchObject({ desiredReplicas: 3, reason: 'Stabilizing' });
  });

  it('puts a count set by hand back: above the window at once, outside the bounds at once', () => {
    const history: Recommendation[] = [{ at: s(0), replicas: 2 }];
    expect(decideReplicas({ ...base, currentReplicas: 9 }, history, s(10)).desiredReplicas).toBe(2);
    expect(decideReplicas({ ...base, currentReplicas: 40 }, [], s(0)).desiredReplicas).toBe(1);
    expect(
      decideReplicas({ ...base, minReplicas: 2, currentReplicas: 0 }, [], s(0)).desiredReplicas,
    ).toBe(2);
  });

  it('goes 0 -> N -> 0 with minReplicas 0', () => {
    const zero = { ...base, minReplicas: 0, scaleDownStabilizationSeconds: 60 };
    let d = decideReplicas({ ...zero, currentReplicas: 0 }, [], s(0));
    expect(d).toMatchObject({ desiredReplicas: 0, reason: 'Unchanged' });
    d = decideReplicas({ ...zero, backlog: 1, currentReplicas: 0 }, d.history, s(1));
    expect(d).toMatchObject({ desiredReplicas: 1, reason: 'ScaledUp' });
    d = decideReplicas({ ...zero, backlog: 0, active: 1, currentReplicas: 1 }, d.history, s(2));
    expect(d.desiredReplicas).toBe(1);
    d = decideReplicas({ ...zero, currentReplicas: 1 }, d.history, s(30));
    expect(d.reason).toBe('Stabilizing');
    // 1 was in force until 30 s: held until 90 s.
    d = decideReplicas({ ...zero, currentReplicas: 1 }, d.history, s(89));
    expect(d.desiredReplicas).toBe(1);
    d = decideReplicas({ ...zero, currentReplicas: 1 }, d.history, s(90));
    expect(d).toMatchObject({ desiredReplicas: 0, reason: 'ScaledDown' });
  });

  it('keeps the window short: one entry per distinct value, strictly decreasing', () => {
    let history: Recommendation[] = [];
    for (const [t, r] of [
      [0, 3],
      [10, 5],
      [20, 2],
      [30, 4],
      [40, 1],
    ] as const) {
      history = addToWindow(history, { at: s(t), replicas: r }, 300_000);
    }
    expect(history.map((h) => h.replicas)).toEqual([5, 4, 1]);
  });
});

describe('decideReplicas properties', () => {
  const inputs = fc.record({
    backlog: fc.nat(100_000),
    active: fc.nat(5_000),
    concurrency: fc.integer({ min: 1, max: 100 }),
    targetBacklogPerReplica: fc.integer({ min: 1, max: 1_000 }),
    minReplicas: fc.nat(5),
    span: fc.nat(50),
    scaleDownStabilizationSeconds: fc.nat(3_600),
    currentReplicas: fc.nat(80),
  });
  const steps = fc.array(fc.tuple(inputs, fc.nat(120_000)), { minLength: 1, maxLength: 40 });

  it('never leaves min..max, never drops below the active floor, never scales down inside the window', () => {
    fc.assert(
      fc.property(steps, (seq) => {
        let history: readonly Recommendation[] = [];
        let now = T0;
        const seen: Recommendation[] = [];
        for (const [raw, gap] of seq) {
          now += gap;
          // One Trench: its settings stay, the counts and the live replica count move.
          const first = seq[0]![0];
          const input: ScalingInput = {
            ...raw,
            concurrency: first.concurrency,
            targetBacklogPerReplica: first.targetBacklogPerReplica,
            minReplicas: first.minReplicas,
            maxReplicas: first.minReplicas + first.span,
            scaleDownStabilizationSeconds: first.scaleDownStabilizationSeconds,
          };
          const d = decideReplicas(input, history, now);
          expect(d.desiredReplicas).toBeGreaterThanOrEqual(input.minReplicas);
          expect(d.desiredReplicas).toBeLessThanOrEqual(input.maxReplicas);
          const floor = Math.min(input.maxReplicas, Math.ceil(input.active / input.concurrency));
          expect(d.desiredReplicas).toBeGreaterThanOrEqual(floor);
          // A scale-down stops at the highest recommendation made within the window (those
          // younger than the window, and this one).
          const windowMs = input.scaleDownStabilizationSeconds * 1000;
          const current = Math.min(
            input.maxReplicas,
            Math.max(input.minReplicas, input.currentReplicas),
          );
          if (d.desiredReplicas < current) {
            // A recommendation is in force until the next check: it counts while that end
            // is inside the window.
            const highest = Math.max(
              d.recommendation,
              ...seen
                .filter((_, k) => (seen[k + 1]?.at ?? now) > now - windowMs)
                .map((r) => r.replicas),
            );
            expect(d.desiredReplicas).toBe(highest);
          }
          seen.push({ at: now, replicas: d.recommendation });
          history = d.history;
        }
      }),
      { numRuns: 300 },
    );
  });
});
