import { describe, expect, it } from 'vitest';
import type { LiveTrench } from '../../../operator/cli/format.js';
import { requestOutcome, rolloutAction, rolloutRefusal } from '../../../operator/cli/rollout.js';

const trench = (
  rollout?: NonNullable<LiveTrench['status']>['rollout'],
  generation = 3,
): LiveTrench => ({
  metadata: { name: 'shop', namespace: 'prod', generation },
  status: { observedGeneration: 3, ...(rollout ? { rollout } : {}) },
});

describe('rollout actions in the plugin', () => {
  it('maps promote --full', () => {
    expect(rolloutAction('promote', true)).toBe('promote-full');
    expect(rolloutAction('promote', false)).toBe('promote');
    expect(rolloutAction('abort', true)).toBe('abort');
  });

  it('refuses what status says makes no sense, naming the Trench and why', () => {
    expect(rolloutRefusal(trench({ phase: 'Stable', stableRevision: 'abc' }), 'promote')).toBe(
      'no rollout is running for Trench shop (revision abc is stable): promote applies to a canary',
    );
    expect(rolloutRefusal(trench(), 'abort')).toContain('no rollout is running for Trench shop');
    expect(rolloutRefusal(trench({ phase: 'Paused' }), 'retry')).toBe(
      'the rollout of Trench shop is Paused, not Aborted: retry restarts an aborted canary',
    );
    expect(
      rolloutRefusal(trench({ phase: 'Aborted', reason: 'AnalysisFailed' }), 'promote'),
    ).toContain('is aborted (AnalysisFailed): only retry or a new revision starts it again');
    expect(rolloutRefusal(trench({ phase: 'Progressing' }), 'resume')).toContain(
      'nothing to resume',
    );
    expect(
      rolloutRefusal(trench({ phase: 'Paused', pausedByUser: true }), 'resume'),
    ).toBeUndefined();
    expect(rolloutRefusal(trench({ phase: 'Paused' }), 'promote')).toBeUndefined();
    expect(rolloutRefusal(trench({ phase: 'Aborted' }), 'retry')).toBeUndefined();
    // A spec the operator has not seen yet may start a rollout: its call, not ours.
    expect(rolloutRefusal(trench({ phase: 'Stable' }, 4), 'promote')).toBeUndefined();
  });

  it('reads the operator answer to its own request only', () => {
    const request = { id: 'r1', action: 'promote' as const, by: 'alice' };
    expect(requestOutcome(trench({ phase: 'Paused', lastRequest: 'r0' }), request)).toBeUndefined();
    expect(
      requestOutcome(
        trench({
          phase: 'Progressing',
          step: '3/4',
          message: 'Step 3 of 4: weight 50',
          lastRequest: 'r1',
          lastRequestResult: 'promote by alice done',
        }),
        request,
      ),
    ).toEqual({
      code: 0,
      line: 'shop: promote done; Progressing, step 3/4: Step 3 of 4: weight 50',
    });
    expect(
      requestOutcome(
        trench({
          phase: 'Paused',
          lastRequest: 'r1',
          lastRequestResult: 'promote by alice refused: analysis is inconclusive (no data)',
        }),
        request,
      ),
    ).toEqual({
      code: 1,
      line: 'shop: promote by alice refused: analysis is inconclusive (no data)',
    });
  });
});
