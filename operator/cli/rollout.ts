// `kubectl trench promote|abort|retry|pause|resume`: which request to send, which to refuse
// before sending (the operator refuses the rest, and says why in status), and what the
// operator's answer means. Pure; run.ts does the I/O.
import type { RolloutAction } from '../rollout/canary.js';
import type { RolloutRequest } from '../rollout/request.js';
import type { RolloutVerb } from './args.js';
import { EXIT, type LiveTrench } from './format.js';

export function rolloutAction(verb: RolloutVerb, full: boolean): RolloutAction {
  return verb === 'promote' && full ? 'promote-full' : verb;
}

/**
 * Why the request makes no sense for the rollout as status shows it, or undefined. Only what
 * status says for certain is refused here: a request the operator has yet to see through a
 * newer spec is its to judge.
 */
export function rolloutRefusal(trench: LiveTrench, verb: RolloutVerb): string | undefined {
  const rollout = trench.status?.rollout;
  const name = trench.metadata.name;
  const specMoved =
    trench.metadata.generation !== undefined &&
    trench.status?.observedGeneration !== trench.metadata.generation;
  if (specMoved) return undefined;
  if (!rollout?.phase || rollout.phase === 'Stable') {
    const stable = rollout?.stableRevision ? ` (revision ${rollout.stableRevision} is stable)` : '';
    return `no rollout is running for Trench ${name}${stable}: ${verb} applies to a canary`;
  }
  if (verb === 'retry' && rollout.phase !== 'Aborted') {
    return `the rollout of Trench ${name} is ${rollout.phase}, not Aborted: retry restarts an aborted canary`;
  }
  if (verb !== 'retry' && rollout.phase === 'Aborted') {
    return `the rollout of Trench ${name} is aborted (${rollout.reason ?? 'no reason'}): only retry or a new revision starts it again`;
  }
  if (verb === 'resume' && !rollout.pausedByUser) {
    return `the rollout of Trench ${name} is not paused by a request: nothing to resume`;
  }
  return undefined;
}

export interface Outcome {
  readonly code: number;
  readonly line: string;
}

/** The operator's answer to request `request`, or undefined while it has not answered. */
export function requestOutcome(trench: LiveTrench, request: RolloutRequest): Outcome | undefined {
  const rollout = trench.status?.rollout;
  if (rollout?.lastRequest !== request.id) return undefined;
  const result = rollout.lastRequestResult ?? 'done';
  const where = [rollout.phase, rollout.step ? `step ${rollout.step}` : undefined]
    .filter(Boolean)
    .join(', ');
  const state = `${where}${rollout.message ? `: ${rollout.message}` : ''}`;
  if (/ refused: /.test(result) || result.startsWith('refused: ')) {
    return { code: EXIT.notReady, line: `${trench.metadata.name}: ${result}` };
  }
  return { code: EXIT.ok, line: `${trench.metadata.name}: ${request.action} done; ${state}` };
}
