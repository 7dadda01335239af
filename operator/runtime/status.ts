// Status per the Kubernetes API conventions: conditions {type, status, reason, message,
// lastTransitionTime, observedGeneration}; lastTransitionTime moves only when status changes.
// The status writer compares the whole computed status with the live one and sends a merge
// patch to the status subresource only when they differ: no write at steady state.

import { isObject } from '../../charts/lib/json.js';
import type { KubeClient } from './client.js';
import type { KubeObject } from './types.js';
import { formatTime, refOf } from './types.js';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  readonly type: string;
  readonly status: ConditionStatus;
  /** CamelCase, machine-readable. */
  readonly reason: string;
  readonly message: string;
  /** RFC 3339, seconds precision. */
  readonly lastTransitionTime: string;
  readonly observedGeneration?: number;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

const REASON = /^[A-Z][A-Za-z0-9]*$/;

/**
 * Returns a new list with `cond` set: an existing condition of the same type keeps its
 * lastTransitionTime unless the status changes. Order is kept; new types go last.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  cond: ConditionInput,
  now: number,
): Condition[] {
  if (!REASON.test(cond.reason)) {
    throw new Error(`Condition reason must be CamelCase, got ${JSON.stringify(cond.reason)}`);
  }
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === cond.type);
  const existing = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    type: cond.type,
    status: cond.status,
    reason: cond.reason,
    message: cond.message,
    lastTransitionTime:
      existing && existing.status === cond.status ? existing.lastTransitionTime : formatTime(now),
    ...(cond.observedGeneration !== undefined
      ? { observedGeneration: cond.observedGeneration }
      : {}),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(
  conditions: readonly Condition[] | undefined,
  type: string,
): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

export function removeCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** A list of objects that all have a string `type`: compared as a set keyed by type. */
function isConditionList(v: unknown[]): v is { type: string }[] {
  return v.length > 0 && v.every((x) => isObject(x) && typeof x.type === 'string');
}

/**
 * Deep equality with JSON semantics (absent == undefined == null); lists of conditions (objects with a
 * `type`) compare regardless of order, every other list in order.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // Merge-patch semantics: null and absent are the same (the server drops null keys), and
  // telling them apart would patch the same null forever.
  const aNil = a === undefined || a === null;
  const bNil = b === undefined || b === null;
  if (aNil || bNil) return aNil && bNil;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    if (isConditionList(a) && isConditionList(b)) {
      const byType = new Map(b.map((x) => [x.type, x]));
      if (byType.size !== b.length) return false;
      return a.every((x) => jsonEqual(x, byType.get(x.type)));
    }
    return a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) if (!jsonEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

/**
 * JSON merge patch (RFC 7386) turning `live` into `desired`: changed keys, null for removed
 * keys, lists replaced whole. undefined when they are already equal.
 */
export function mergePatch(live: unknown, desired: unknown): unknown {
  if (jsonEqual(live, desired)) return undefined;
  if (!isObject(live) || !isObject(desired)) return desired === undefined ? null : desired;
  const patch: Record<string, unknown> = {};
  for (const k of new Set([...Object.keys(live), ...Object.keys(desired)])) {
    const lv = live[k];
    const dv = desired[k];
    if (dv === undefined || dv === null) {
      if (lv !== undefined && lv !== null) patch[k] = null;
      continue;
    }
    const sub = mergePatch(lv, dv);
    if (sub !== undefined) patch[k] = sub;
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/**
 * Patches `obj`'s status subresource to `status` if it differs from `obj.status` (the live
 * object, e.g. from the informer cache). Returns true if a request was sent.
 * Why a computed merge patch rather than sending the whole status: a merge patch cannot remove
 * keys it does not mention; the diff adds the nulls that do.
 */
export async function writeStatus<S>(
  client: KubeClient,
  obj: KubeObject & { status?: S },
  status: S,
  options: { signal?: AbortSignal } = {},
): Promise<boolean> {
  const patch = mergePatch(obj.status ?? {}, status);
  if (patch === undefined) return false;
  await client.mergePatch(
    refOf(obj),
    { status: patch },
    {
      subresource: 'status',
      ...(options.signal ? { signal: options.signal } : {}),
    },
  );
  return true;
}
