import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CanaryInput,
  decideCanary,
  type RolloutState,
  type RolloutStep,
} from '../../../operator/rollout/canary.js';

const T0 = Date.parse('2026-12-07T10:00:00Z');
const s = (seconds: number) => T0 + seconds * 1000;
const STEPS: RolloutStep[] = [
  { setWeight: 20 },
  { pause: { durationSeconds: 60 } },
  { setWeight: 50 },
  { pause: {} },
];
const stableR1: RolloutState = { phase: 'Stable', stableRevision: 'r1' };

const input = (over: Partial<CanaryInput>): CanaryInput => ({
  steps: STEPS,
  desiredRevision: 'r2',
  state: stableR1,
  canaryReady: false,
  stableAtCanary: false,
  failureLimit: 1,
  progressDeadlineSeconds: 600,
  now: T0,
  ...over,
});

/** Runs a pass on the state of the one before, as the operator does from status. */
function walk(first: CanaryInput, ...next: Partial<CanaryInput>[]) {
  const out = [decideCanary(first)];
  for (const n of next) out.push(decideCanary({ ...first, ...n, state: out.at(-1)!.state }));
  return out;
}

describe('decideCanary', () => {
  it('makes the first revision of a new Trench stable, with no canary', () => {
    const d = decideCanary(input({ state: undefined, desiredRevision: 'r1' }));
    expect(d).toMatchObject({ stable: 'r1', weight: 0, state: { phase: 'Stable' } });
    expect(d.canary).toBeUndefined();
  });

  it('takes a good release through every step and promotes it', () => {
    const [start, ready, half, paused, weight50, ready50, promote, again, done] = walk(
      input({}),
      { now: s(5), canaryReady: true },
      { now: s(35), canaryReady: true },
      { now: s(65), canaryReady: true },
      { now: s(66), canaryReady: false },
      { now: s(80), canaryReady: true },
      { now: s(90), canaryReady: true, request: { id: 'p1', action: 'promote', by: 'alice' } },
      { now: s(91), canaryReady: true, request: { id: 'p1', action: 'promote', by: 'alice' } },
      { now: s(120), stableAtCanary: true, request: { id: 'p1', action: 'promote' } },
    );
    expect(start).toMatchObject({ canary: 'r2', stable: 'r1', weight: 20 });
    expect(start?.state).toMatchObject({
      phase: 'Progressing',
      stepIndex: 0,
      canaryRevision: 'r2',
    });
    expect(start?.events.map((e) => e.reason)).toEqual(['CanaryStarted']);
    // Ready at 20 %: the timed pause begins and the Trench is requeued at its end.
    expect(ready?.state).toMatchObject({ stepIndex: 1, stepStartedAt: '2026-12-07T10:00:05Z' });
    expect(ready?.requeueAfterMs).toBe(60_000);
    expect(half?.requeueAfterMs).toBe(30_000);
    expect(half?.state.stepIndex).toBe(1);
    // The pause is over: weight 50, and readiness at 20 % does not count for it.
    expect(paused).toMatchObject({ weight: 50, state: { stepIndex: 2 } });
    expect(weight50?.state.stepIndex).toBe(2);
    expect(ready50?.state).toMatchObject({
      phase: 'Paused',
      stepIndex: 3,
      reason: 'WaitingForPromote',
    });
    // Promote: one step, the last, so stable rolls to r2 while the canary keeps serving.
    expect(promote).toMatchObject({ stable: 'r2', canary: 'r2', state: { phase: 'Promoting' } });
    expect(promote?.events.map((e) => e.reason)).toEqual(['StepCompleted', 'Promoting']);
    expect(promote?.events[0]?.note).toContain('promoted (alice)');
    // The same request again is not a second promote.
    expect(again?.events).toEqual([]);
    expect(again?.refusal).toBeUndefined();
    expect(done).toMatchObject({ stable: 'r2', weight: 0, state: { phase: 'Stable' } });
    expect(done?.canary).toBeUndefined();
  });

  it('aborts in the same pass as the failing measurement, and stays aborted until retry', () => {
    const [, aborted, still, retried] = walk(
      input({}),
      { now: s(40), measurement: { at: 't1', verdict: 'fail', detail: 'error rate 0.31 > 0.05' } },
      { now: s(50), measurement: { at: 't1', verdict: 'fail' } },
      { now: s(60), request: { id: 'r', action: 'retry', by: 'bob' } },
    );
    expect(aborted).toMatchObject({
      weight: 0,
      stable: 'r1',
      state: { phase: 'Aborted', reason: 'AnalysisFailed' },
    });
    expect(aborted?.canary).toBeUndefined();
    expect(aborted?.state.message).toBe(
      'Canary r2 failed analysis 1 time(s) in a row: error rate 0.31 > 0.05; stable r1 serves everything',
    );
    expect(aborted?.events).toContainEqual(
      expect.objectContaining({ type: 'Warning', reason: 'Aborted' }),
    );
    expect(still).toMatchObject({ weight: 0, state: { phase: 'Aborted' } });
    expect(retried).toMatchObject({
      canary: 'r2',
      weight: 20,
      state: { phase: 'Progressing', stepIndex: 0 },
    });
  });

  it('aborts after failureLimit failures in a row; a pass in between starts the count again', () => {
    const m = (at: string, verdict: 'pass' | 'fail') => ({ measurement: { at, verdict } });
    const runs = walk(
      input({ failureLimit: 3 }),
      m('a', 'fail'),
      m('b', 'fail'),
      m('c', 'pass'),
      m('d', 'fail'),
      m('e', 'fail'),
    );
    expect(runs.map((r) => r.state.phase)).toEqual([
      'Progressing',
      'Progressing',
      'Progressing',
      'Progressing',
      'Progressing',
      'Progressing',
    ]);
    expect(runs.at(-1)?.state.consecutiveFailures).toBe(2);
    const aborted = decideCanary({
      ...input({ failureLimit: 3 }),
      state: runs.at(-1)!.state,
      ...m('f', 'fail'),
    });
    expect(aborted.state.phase).toBe('Aborted');
  });

  it('holds on an inconclusive measurement, refuses a blind promote, and goes on once one passes', () => {
    const [, held, refused, going] = walk(
      input({ steps: [{ setWeight: 20 }, { pause: {} }] }),
      {
        now: s(10),
        canaryReady: true,
        measurement: { at: 'a', verdict: 'inconclusive', detail: 'Prometheus unreachable' },
      },
      { now: s(20), canaryReady: true, request: { id: 'p', action: 'promote' } },
      { now: s(30), canaryReady: true, measurement: { at: 'b', verdict: 'pass' } },
    );
    expect(held?.state).toMatchObject({ phase: 'Paused', reason: 'Inconclusive', stepIndex: 0 });
    expect(held?.state.message).toBe('Analysis is inconclusive: Prometheus unreachable');
    expect(refused?.refusal).toBe(
      'analysis is inconclusive (Prometheus unreachable): a promote would be blind',
    );
    expect(refused?.state.phase).toBe('Paused');
    expect(going?.state).toMatchObject({
      phase: 'Paused',
      reason: 'WaitingForPromote',
      stepIndex: 1,
    });
  });

  it('aborts a canary not ready within progressDeadlineSeconds', () => {
    const [, waiting, late] = walk(
      input({ progressDeadlineSeconds: 120 }),
      { now: s(100) },
      { now: s(121) },
    );
    expect(waiting?.state.phase).toBe('Progressing');
    expect(late?.state).toMatchObject({ phase: 'Aborted', reason: 'ProgressDeadlineExceeded' });
  });

  it('restarts steps and analysis on a newer revision mid-canary, and drops the canary when the spec goes back', () => {
    const [, mid, newer, back] = walk(
      input({}),
      { now: s(10), canaryReady: true },
      { now: s(20), desiredRevision: 'r3', measurement: { at: 'old', verdict: 'fail' } },
      { now: s(30), desiredRevision: 'r1' },
    );
    expect(mid?.state.stepIndex).toBe(1);
    // The old canary's failing measurement is not counted against the new one.
    expect(newer).toMatchObject({
      canary: 'r3',
      state: { phase: 'Progressing', stepIndex: 0, canaryRevision: 'r3' },
    });
    expect(newer?.events.map((e) => e.reason)).toEqual(['CanaryRestarted']);
    expect(back).toMatchObject({ stable: 'r1', state: { phase: 'Stable' } });
    expect(back?.canary).toBeUndefined();
    expect(back?.events.map((e) => e.reason)).toEqual(['CanaryDiscarded']);
  });

  it('rolls out at once without steps, and refuses manual actions with no rollout', () => {
    expect(decideCanary(input({ steps: [] }))).toMatchObject({
      stable: 'r2',
      state: { phase: 'Stable' },
    });
    const none = decideCanary(
      input({ desiredRevision: 'r1', request: { id: 'x', action: 'promote' } }),
    );
    expect(none.refusal).toBe('no rollout is running: promote applies to a canary');
    expect(none.state.lastRequest).toBe('x');
  });

  it('pauses and resumes on request, and promotes to the end with promote --full', () => {
    const [, paused, resumed] = walk(
      input({}),
      { now: s(5), canaryReady: true, request: { id: 'a', action: 'pause' } },
      { now: s(6), canaryReady: true, request: { id: 'b', action: 'resume' } },
    );
    expect(paused?.state).toMatchObject({
      phase: 'Paused',
      reason: 'PausedByRequest',
      stepIndex: 0,
    });
    expect(resumed?.state).toMatchObject({ phase: 'Progressing', stepIndex: 1 });
    const full = decideCanary({
      ...input({}),
      state: resumed!.state,
      now: s(7),
      request: { id: 'c', action: 'promote-full' },
    });
    expect(full.state.phase).toBe('Promoting');
    const abort = decideCanary({
      ...input({}),
      state: resumed!.state,
      now: s(7),
      request: { id: 'd', action: 'abort', by: 'carol' },
    });
    expect(abort.state).toMatchObject({ phase: 'Aborted', reason: 'AbortedByUser' });
  });

  it('property: a pass decided again on its own result, with nothing new seen, changes nothing and says nothing', () => {
    const step = fc.oneof(
      fc.integer({ min: 0, max: 100 }).map((w): RolloutStep => ({ setWeight: w })),
      fc
        .option(fc.integer({ min: 1, max: 600 }), { nil: undefined })
        .map((d): RolloutStep => ({ pause: d === undefined ? {} : { durationSeconds: d } })),
    );
    const pass = fc.record({
      now: fc.integer({ min: 0, max: 3600 }),
      canaryReady: fc.boolean(),
      stableAtCanary: fc.boolean(),
      revision: fc.constantFrom('r1', 'r2', 'r3'),
      // The request on the Trench: a new one, or the one handled before (it stays annotated).
      newRequest: fc.boolean(),
      verdict: fc.constantFrom(
        'pass' as const,
        'fail' as const,
        'inconclusive' as const,
        undefined,
      ),
      action: fc.constantFrom(
        'promote' as const,
        'abort' as const,
        'retry' as const,
        'pause' as const,
        'resume' as const,
        undefined,
      ),
    });
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 5 }),
        fc.array(pass, { maxLength: 8 }),
        (steps, passes) => {
          let state: RolloutState | undefined = stableR1;
          let now = T0;
          let annotated: { id: string; action: NonNullable<(typeof p)['action']> } | undefined;
          let p = passes[0]!;
          passes.forEach((next, i) => {
            p = next;
            now += p.now * 1000;
            if (p.action && (p.newRequest || !annotated))
              annotated = { id: `q${i}`, action: p.action };
            const base: CanaryInput = {
              ...input({
                steps,
                state,
                now,
                desiredRevision: p.revision,
                canaryReady: p.canaryReady,
                stableAtCanary: p.stableAtCanary,
                failureLimit: 2,
              }),
              ...(p.verdict ? { measurement: { at: `m${i}`, verdict: p.verdict } } : {}),
              ...(annotated ? { request: annotated } : {}),
            };
            const d = decideCanary(base);
            // A request once handled stays handled, whatever the pass decides.
            if (
              annotated &&
              (state?.lastRequest !== undefined || d.state.lastRequest !== undefined)
            ) {
              expect(d.state.lastRequest).toBe(annotated.id);
            }
            // Nothing new seen: the same measurement and request, no readiness at a new weight,
            // no stable track rolled since.
            const again = decideCanary({
              ...base,
              state: d.state,
              canaryReady: false,
              stableAtCanary: false,
            });
            expect(again.state).toEqual(d.state);
            expect(again.events).toEqual([]);
            // Never a canary with no traffic share asked while progressing, never one when aborted.
            if (d.state.phase === 'Aborted') expect(d.canary).toBeUndefined();
            state = d.state;
          });
        },
      ),
    );
  });
});
