// Manual rollout actions (`kubectl trench promote|abort|retry|pause|resume`) travel as one
// annotation on the Trench, never as a spec change: Argo CD would undo a spec edit at its next
// sync, and a request is not part of what the user declared. The value is JSON with an id the
// operator acknowledges in status.rollout.lastRequest, so a request is handled once however
// many passes see it, and a newer one replaces an older one not yet handled. Pure.
import { createHash } from 'node:crypto';
import type { RolloutAction } from './canary.js';

export const ANNOTATION_ROLLOUT_REQUEST = 'playtrenches.xyz/rollout-request';

export const ROLLOUT_ACTIONS: readonly RolloutAction[] = [
  'promote',
  'promote-full',
  'abort',
  'retry',
  'pause',
  'resume',
];

export interface RolloutRequest {
  readonly id: string;
  readonly action: RolloutAction;
  /** Who asked, as the plugin knew them: recorded in the event. */
  readonly by?: string;
}

export type ParsedRequest =
  | { readonly ok: true; readonly request: RolloutRequest }
  | { readonly ok: false; readonly id: string; readonly error: string };

/** The annotation's value for a request. */
export function formatRequest(request: RolloutRequest): string {
  return JSON.stringify(request);
}

/** A fresh request id: the time and some randomness, so two users' requests differ. */
export function requestId(now: Date, random: string): string {
  return `${now.toISOString()}-${random}`;
}

/**
 * The request in the annotation. One that cannot be read gets an id from its text, so that
 * it too is answered (refused, with the reason) once and not on every pass.
 */
export function parseRequest(value: string): ParsedRequest {
  const id = `invalid-${createHash('sha256').update(value).digest('hex').slice(0, 12)}`;
  const fail = (error: string): ParsedRequest => ({
    ok: false,
    id,
    error: `annotation ${ANNOTATION_ROLLOUT_REQUEST} ${error}`,
  });
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch {
    return fail(`is not JSON: ${JSON.stringify(value.slice(0, 100))}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return fail('must be a JSON object with id and action');
  }
  const { id: rid, action, by } = doc as Record<string, unknown>;
  if (typeof rid !== 'string' || rid === '' || rid.length > 128) {
    return fail('needs an id: a string of 1 to 128 characters');
  }
  if (typeof action !== 'string' || !(ROLLOUT_ACTIONS as readonly string[]).includes(action)) {
    return fail(
      `action must be one of ${ROLLOUT_ACTIONS.join(', ')}, got ${JSON.stringify(action)}`,
    );
  }
  if (by !== undefined && (typeof by !== 'string' || by.length > 256)) {
    return fail('by must be a string of at most 256 characters');
  }
  return {
    ok: true,
    request: { id: rid, action: action as RolloutAction, ...(by ? { by } : {}) },
  };
}
