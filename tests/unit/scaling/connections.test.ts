import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { reconnectDelayMs } from '../../../operator/scaling/connections.js';

describe('reconnectDelayMs', () => {
  it('doubles from 1 s to 30 s, the full delay at the top of the jitter', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((t) => reconnectDelayMs(t, 1))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });

  it('property: between half and all of the delay, never above 30 s', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (t, r) => {
          const full = reconnectDelayMs(t, 1);
          const d = reconnectDelayMs(t, r);
          expect(d).toBeGreaterThanOrEqual(Math.round(full / 2));
          expect(d).toBeLessThanOrEqual(full);
          expect(d).toBeLessThanOrEqual(30_000);
        },
      ),
    );
  });
});
