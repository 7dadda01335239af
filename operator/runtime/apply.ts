// Server-side apply of children, drift detection without writes, and pruning.
//
// Steady state must cost zero API writes, so we apply only when needed:
//   needsApply(desired, live) = no live object, or desired (including the applied-hash
//   annotation) is not a structural subset of live.
// - Any change of the desired object changes its hash, and so its annotation: we apply.
//   That also catches fields we stopped setting, which a subset test alone cannot see.
// - A field of ours edited by hand makes desired ⊄ live: we apply and put it back.
// - Fields only other managers (or defaulting) set are not in desired: left alone.
// isSubset knows the API server's normalisations (quantities, omitempty zero values, empty
// objects/lists, list-maps keyed by name) so a converged object really compares equal.

import { createHash } from 'node:crypto';
import { canonicalJson, isObject } from '../../charts/lib/json.js';
import { quantitiesEqual } from '../../charts/lib/quantity.js';
import type { KubeClient } from './client.js';
import { FIELD_MANAGER, isConflict } from './client.js';
import type { KubeObject, ObjectRef } from './types.js';
import { controllerOf, groupOf, identityKey, refOf } from './types.js';

export const APPLIED_HASH_ANNOTATION = 'playtrenches.xyz/applied-hash';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Hash of the desired object (without its own hash annotation); 16 hex digits. */
export function desiredHash(obj: KubeObject): string {
  const copy = structuredClone(obj) as KubeObject;
  const ann = copy.metadata?.annotations;
  if (ann) {
    delete ann[APPLIED_HASH_ANNOTATION];
    if (Object.keys(ann).length === 0 && copy.metadata) delete copy.metadata.annotations;
  }
  return createHash('sha256').update(canonicalJson(copy)).digest('hex').slice(0, 16);
}

/** A copy of `obj` carrying the applied-hash annotation. */
export function withAppliedHash<T extends KubeObject>(obj: T): T {
  const hash = desiredHash(obj);
  const copy = structuredClone(obj);
  copy.metadata ??= {};
  copy.metadata.annotations = { ...copy.metadata.annotations, [APPLIED_HASH_ANNOTATION]: hash };
  return copy;
}

// Keys that identify elements of the list-maps we write (Kubernetes merge keys), in order of
// preference: containers/env/volumes/ports by name, ownerReferences by uid, and so on.
const LIST_KEYS = [
  'name',
  'uid',
  'mountPath',
  'devicePath',
  'containerPort',
  'port',
  'ip',
  'type',
  'topologyKey',
];

// Under these parents every value is a resource quantity.
const QUANTITY_PARENTS = new Set([
  'limits',
  'requests',
  'capacity',
  'hard',
  'allocatable',
  'overhead',
]);
const QUANTITY_KEYS = new Set(['sizeLimit', 'storage']);

function isEmpty(v: unknown): boolean {
  // Zero values that omitempty drops on the server; an absent field means the same thing.
  return (
    v === undefined ||
    v === null ||
    v === false ||
    v === 0 ||
    v === '' ||
    (Array.isArray(v) && v.length === 0) ||
    (isObject(v) && Object.values(v).every((x) => x === undefined))
  );
}

function listKeyFor(desired: unknown[]): string | undefined {
  if (desired.length === 0 || !desired.every(isObject)) return undefined;
  // The key must be present and unique in every desired element: volumeMounts share a
  // volume `name` across mount paths, so there `name` is not a key but `mountPath` is.
  return LIST_KEYS.find((k) => {
    const seen = new Set<unknown>();
    for (const d of desired as Record<string, unknown>[]) {
      const v = d[k];
      if ((typeof v !== 'string' && typeof v !== 'number') || seen.has(v)) return false;
      seen.add(v);
    }
    return true;
  });
}

/**
 * The path of the first place where `desired` is not contained in `live`, or undefined when
 * desired ⊆ live. Objects: every desired key must match. Lists of keyed objects (by name, uid,
 * ...): every desired element must match the live element with the same key (others may add
 * elements). Other lists are atomic: same length, element-wise. Scalars: equal, quantities by
 * value, and a desired zero value (false, 0, "", {}, []) matches an absent live field.
 * A desired null is ignored.
 */
export function diffPath(
  desired: unknown,
  live: unknown,
  path = '',
  parentKey = '',
): string | undefined {
  // null in an apply configuration means "not set by us" (e.g. creationTimestamp: null).
  if (desired === undefined || desired === null) return undefined;
  if (live === undefined || live === null) return isEmptyDeep(desired) ? undefined : path || '.';
  if (Array.isArray(desired)) {
    if (!Array.isArray(live)) return path || '.';
    const key = listKeyFor(desired);
    if (key !== undefined) {
      for (const d of desired as Record<string, unknown>[]) {
        const id = d[key];
        const match = live.find((l) => isObject(l) && l[key] === id);
        const where = `${path}[${key}=${String(id)}]`;
        if (match === undefined) return where;
        const sub = diffPath(d, match, where);
        if (sub !== undefined) return sub;
      }
      return undefined;
    }
    if (desired.length !== live.length) return path || '.';
    for (let i = 0; i < desired.length; i++) {
      const sub = diffPath(desired[i], live[i], `${path}[${i}]`);
      if (sub !== undefined) return sub;
    }
    return undefined;
  }
  if (isObject(desired)) {
    if (!isObject(live)) return path || '.';
    for (const [k, v] of Object.entries(desired)) {
      const sub = diffPath(v, live[k], `${path}.${k}`, k);
      if (sub !== undefined) return sub;
    }
    return undefined;
  }
  if (desired === live) return undefined;
  if ((QUANTITY_KEYS.has(parentKey) || isQuantityPath(path)) && quantitiesEqual(desired, live)) {
    return undefined;
  }
  return path || '.';
}

function isQuantityPath(path: string): boolean {
  // path ends in .limits.cpu / .requests.memory / ...: the parent is a quantity map.
  const parts = path.split('.');
  const parent = parts[parts.length - 2];
  return parent !== undefined && QUANTITY_PARENTS.has(parent);
}

function isEmptyDeep(v: unknown): boolean {
  if (isEmpty(v)) return true;
  if (Array.isArray(v)) return false;
  if (isObject(v)) return Object.values(v).every(isEmptyDeep);
  return false;
}

/** desired ⊆ live, with the normalisations described at diffPath. */
export function isSubset(desired: unknown, live: unknown): boolean {
  return diffPath(desired, live) === undefined;
}

/**
 * What a Secret's stringData becomes on the server: base64 in data. Without this a desired
 * Secret with stringData would look drifted forever (stringData is write-only).
 */
export function normalizeForCompare(obj: KubeObject): KubeObject {
  const o = obj as KubeObject & {
    stringData?: Record<string, string>;
    data?: Record<string, string>;
  };
  if (o.kind !== 'Secret' || !o.stringData) return obj;
  const { stringData, ...rest } = o;
  const data = { ...rest.data };
  for (const [k, v] of Object.entries(stringData))
    data[k] = Buffer.from(v, 'utf8').toString('base64');
  return { ...rest, data } as KubeObject;
}

/**
 * Why `desired` (already carrying its applied-hash) must be applied, or undefined if `live`
 * already matches. The reason names the first differing path, for a debug log.
 */
export function needsApply(desired: KubeObject, live: KubeObject | undefined): string | undefined {
  if (!live) return 'missing';
  if (live.metadata?.deletionTimestamp) return 'deleting';
  const d = normalizeForCompare(desired) as unknown as Json;
  const where = diffPath(d, live);
  return where === undefined ? undefined : `drift at ${where}`;
}

export interface ApplyResult<T> {
  readonly object: T;
  /** False when the live object already matched and no request was sent. */
  readonly applied: boolean;
  readonly reason?: string;
}

/**
 * Adds the applied-hash annotation to `desired` and server-side applies it under field manager
 * `trench-operator` with force, unless `live` (from an informer cache) already matches.
 */
export async function applyIfNeeded<T extends KubeObject>(
  client: KubeClient,
  desired: T,
  live: T | undefined,
  options: { signal?: AbortSignal; fieldManager?: string } = {},
): Promise<ApplyResult<T>> {
  const withHash = withAppliedHash(desired);
  const reason = needsApply(withHash, live);
  if (reason === undefined && live) return { object: live, applied: false };
  const object = await client.apply(withHash, {
    fieldManager: options.fieldManager ?? FIELD_MANAGER,
    force: true,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return reason === undefined ? { object, applied: true } : { object, applied: true, reason };
}

/** `group/Kind`: the key of a kind in a prunable set, whatever its version. */
export const kindOf = (o: { readonly apiVersion: string; readonly kind: string }) =>
  `${groupOf(o.apiVersion)}/${o.kind}`;

/**
 * The objects to delete: of a kind in `prunable`, controlled by `ownerUid` (controller
 * ownerReference) and not among `desired`. Anything else is never returned, whatever its labels
 * say: a kind the operator does not know it owns is not its to delete.
 */
export function planPrune<T extends KubeObject>(
  desired: readonly ObjectRef[],
  existing: readonly T[],
  ownerUid: string,
  prunable: ReadonlySet<string>,
): T[] {
  if (!ownerUid) return [];
  const want = new Set(desired.map(identityKey));
  return existing.filter((obj) => {
    if (controllerOf(obj)?.uid !== ownerUid) return false;
    if (obj.metadata?.deletionTimestamp) return false; // already going
    if (!obj.apiVersion || !obj.kind || !obj.metadata?.name) return false;
    if (!prunable.has(kindOf({ apiVersion: obj.apiVersion, kind: obj.kind }))) return false;
    return !want.has(identityKey(refOf(obj)));
  });
}

/**
 * Deletes what planPrune returns and returns what was really deleted. Each delete carries a
 * UID precondition, so an object that was deleted and recreated by someone else in the
 * meantime is left alone (409), and one already gone (404) is not reported.
 */
export async function prune<T extends KubeObject>(
  client: KubeClient,
  desired: readonly ObjectRef[],
  existing: readonly T[],
  ownerUid: string,
  prunable: ReadonlySet<string>,
  options: { signal?: AbortSignal } = {},
): Promise<T[]> {
  const doomed = planPrune(desired, existing, ownerUid, prunable);
  const deleted: T[] = [];
  for (const obj of doomed) {
    const gone = await client
      .delete(refOf(obj), {
        ...(obj.metadata?.uid ? { uid: obj.metadata.uid } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      })
      .catch((e: unknown) => {
        if (!isConflict(e)) throw e;
        return false;
      });
    if (gone) deleted.push(obj);
  }
  return deleted;
}
