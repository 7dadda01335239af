import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Condition } from '../../../operator/runtime/status.js';
import {
  findCondition,
  isConditionTrue,
  jsonEqual,
  mergePatch,
  removeCondition,
  setCondition,
} from '../../../operator/runtime/status.js';

const T0 = Date.parse('2024-05-01T10:00:00.123Z');
const T1 = T0 + 60_000;

describe('setCondition', () => {
  it('adds a new condition stamped with now (seconds precision)', () => {
    const c = setCondition(
      undefined,
      {
        type: 'Ready',
        status: 'False',
        reason: 'Progressing',
        message: 'm',
        observedGeneration: 1,
      },
      T0,
    );
    expect(c).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'Progressing',
        message: 'm',
        lastTransitionTime: '2024-05-01T10:00:00Z',
        observedGeneration: 1,
      },
    ]);
  });

  it.each([
    ['same status keeps the time', 'False', '2024-05-01T10:00:00Z'],
    ['new status moves the time', 'True', '2024-05-01T10:01:00Z'],
  ] as const)('%s', (_name, status, time) => {
    const before = setCondition(
      [],
      { type: 'Ready', status: 'False', reason: 'A', message: 'a' },
      T0,
    );
    const after = setCondition(
      before,
      { type: 'Ready', status, reason: 'B', message: 'b', observedGeneration: 2 },
      T1,
    );
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({
      status,
      reason: 'B',
      message: 'b',
      lastTransitionTime: time,
      observedGeneration: 2,
    });
  });

  it('keeps other conditions and their order', () => {
    let c: Condition[] = [];
    for (const type of ['Ready', 'Progressing', 'Degraded'])
      c = setCondition(c, { type, status: 'Unknown', reason: 'Init', message: '' }, T0);
    c = setCondition(
      c,
      { type: 'Progressing', status: 'True', reason: 'Rolling', message: '' },
      T1,
    );
    expect(c.map((x) => x.type)).toEqual(['Ready', 'Progressing', 'Degraded']);
    expect(isConditionTrue(c, 'Progressing')).toBe(true);
    expect(findCondition(c, 'Ready')?.status).toBe('Unknown');
    expect(removeCondition(c, 'Ready').map((x) => x.type)).toEqual(['Progressing', 'Degraded']);
  });

  it('refuses a reason that is not CamelCase', () => {
    expect(() =>
      setCondition([], { type: 'Ready', status: 'True', reason: 'not ok', message: '' }, T0),
    ).toThrow(/"not ok"/);
  });

  it('never moves lastTransitionTime while status stays (property)', () => {
    const step = fc.record({
      status: fc.constantFrom('True', 'False', 'Unknown' as const),
      dt: fc.nat(100_000),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1 }), (steps) => {
        let c: Condition[] = [];
        let now = T0;
        let prev: Condition | undefined;
        for (const s of steps) {
          now += s.dt;
          c = setCondition(c, { type: 'Ready', status: s.status, reason: 'R', message: '' }, now);
          const cur = c[0]!;
          if (prev && prev.status === cur.status)
            expect(cur.lastTransitionTime).toBe(prev.lastTransitionTime);
          prev = cur;
        }
      }),
    );
  });
});

describe('jsonEqual', () => {
  it.each([
    [{ a: 1, b: undefined }, { a: 1 }, true],
    [{ a: null }, {}, true],
    [[1, 2], [2, 1], false],
    [
      {
        conditions: [
          { type: 'A', status: 'True' },
          { type: 'B', status: 'False' },
        ],
      },
      {
        conditions: [
          { type: 'B', status: 'False' },
          { type: 'A', status: 'True' },
        ],
      },
      true,
    ],
    [
      { conditions: [{ type: 'A', status: 'True' }] },
      { conditions: [{ type: 'A', status: 'False' }] },
      false,
    ],
    [{ a: { b: [1, { c: 2 }] } }, { a: { b: [1, { c: 2 }] } }, true],
    [{ a: 0 }, { a: '0' }, false],
  ])('%j vs %j -> %s', (a, b, eq) => {
    expect(jsonEqual(a, b)).toBe(eq);
  });
});

describe('mergePatch', () => {
  it.each([
    ['nothing changed', { a: 1, c: [{ type: 'X' }] }, { a: 1, c: [{ type: 'X' }] }, undefined],
    ['changed scalar', { a: 1, b: 2 }, { a: 1, b: 3 }, { b: 3 }],
    ['removed key becomes null', { a: 1, b: 2 }, { a: 1 }, { b: null }],
    [
      'nested',
      { api: { replicas: 2, ready: 1 } },
      { api: { replicas: 2, ready: 2 } },
      { api: { ready: 2 } },
    ],
    ['lists replaced whole', { l: [1, 2] }, { l: [1] }, { l: [1] }],
    ['new object', {}, { rollout: { phase: 'Idle' } }, { rollout: { phase: 'Idle' } }],
  ])('%s', (_n, live, desired, patch) => {
    expect(mergePatch(live, desired)).toEqual(patch);
  });

  it('applying the patch yields the desired value (property)', () => {
    const apply = (target: unknown, patch: unknown): unknown => {
      if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
      const out: Record<string, unknown> =
        typeof target === 'object' && target !== null && !Array.isArray(target)
          ? { ...(target as Record<string, unknown>) }
          : {};
      for (const [k, v] of Object.entries(patch)) {
        if (v === null) delete out[k];
        else out[k] = apply(out[k], v);
      }
      return out;
    };
    const obj = fc.dictionary(
      fc.constantFrom('a', 'b', 'c'),
      fc.oneof(fc.integer(), fc.dictionary(fc.constantFrom('x', 'y'), fc.integer())),
    );
    fc.assert(
      fc.property(obj, obj, (live, desired) => {
        const p = mergePatch(live, desired);
        expect(jsonEqual(p === undefined ? live : apply(live, p), desired)).toBe(true);
      }),
    );
  });
});
