import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitReplicas } from '../../../operator/rollout/split.js';

describe('splitReplicas', () => {
  it.each([
    // stable, weight, canary, achieved: the worked examples of the function's comment
    [3, 20, 1, 25],
    [5, 20, 1, 16.7],
    [10, 20, 3, 23.1],
    [4, 50, 4, 50],
    [1, 10, 1, 50],
    [10, 0, 0, 0],
    [10, 100, 10, 50],
    [2, 80, 2, 50],
    [0, 20, 1, 100],
    [0, 0, 0, 0],
  ])('stable %i at weight %i runs %i canary pods (%f %%)', (stable, weight, canary, achieved) => {
    expect(splitReplicas(stable, weight)).toEqual({ canary, stable, achievedWeight: achieved });
  });

  it('refuses counts and weights out of range, naming the value', () => {
    expect(() => splitReplicas(-1, 20)).toThrow('stable replicas must be an integer >= 0, got -1');
    expect(() => splitReplicas(2.5, 20)).toThrow('got 2.5');
    expect(() => splitReplicas(3, 120)).toThrow('weight must be within 0 and 100, got 120');
    expect(() => splitReplicas(3, Number.NaN)).toThrow('got NaN');
  });

  it('property: stable keeps its count; the canary is the nearest share between 1 and stable', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 100 }), (s, w) => {
        const { canary, stable } = splitReplicas(s, w);
        expect(stable).toBe(s);
        expect(canary).toBeGreaterThanOrEqual(1);
        expect(canary).toBeLessThanOrEqual(s);
        const off = (c: number) => Math.abs((100 * c) / (s + c) - w);
        for (let c = 1; c <= s; c++) expect(off(canary)).toBeLessThanOrEqual(off(c) + 1e-9);
      }),
    );
  });

  it('property: a higher weight never runs fewer canary pods', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100 }),
        (s, a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(splitReplicas(s, hi).canary).toBeGreaterThanOrEqual(splitReplicas(s, lo).canary);
        },
      ),
    );
  });
});
