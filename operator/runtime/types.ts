// Kubernetes objects as plain JSON, the way the API server sends them (timestamps are strings).
// The runtime never uses client-node's generated model classes: watch events arrive as raw
// JSON, and mixing the two shapes in one cache (Date vs string) would break comparisons.

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: unknown[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

export interface KubeList<T extends KubeObject = KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** Where an object lives; the identity used for apply, prune and events. */
export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** `namespace/name`, or `name` for cluster-scoped objects: the work queue key. */
export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? '';
  return ns ? `${ns}/${name}` : name;
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  if (slash < 0) return { name: key };
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export function refOf(obj: KubeObject): ObjectRef {
  const name = obj.metadata?.name;
  if (!obj.apiVersion || !obj.kind || !name) {
    throw new Error(
      `Object needs apiVersion, kind and metadata.name, got ${JSON.stringify({ apiVersion: obj.apiVersion, kind: obj.kind, name })}`,
    );
  }
  const namespace = obj.metadata?.namespace;
  return namespace
    ? { apiVersion: obj.apiVersion, kind: obj.kind, namespace, name }
    : { apiVersion: obj.apiVersion, kind: obj.kind, name };
}

/**
 * Identity string that ignores the version: the same Deployment read as apps/v1 or apps/v1beta2
 * is one object, so prune must not mistake one for the other.
 */
export function identityKey(ref: ObjectRef): string {
  return `${groupOf(ref.apiVersion)}/${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

/** The ownerReference marked controller: true, if any. */
export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller === true);
}

/** The controller ownerReference pointing at `owner`'s UID: what makes `owner` our parent. */
export function controllerOwnerRef(owner: KubeObject): OwnerReference {
  const ref = refOf(owner);
  const uid = owner.metadata?.uid;
  if (!uid)
    throw new Error(`Owner ${ref.kind} ${ref.name} has no uid (read it from the API first)`);
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    name: ref.name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** RFC 3339 with seconds precision, as metav1.Time serializes. */
export function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/**
 * RFC 3339 with exactly six fractional digits, as metav1.MicroTime requires: the API server's
 * parser rejects JavaScript's three-digit milliseconds for MicroTime fields.
 */
export function formatMicroTime(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2024-01-02T03:04:05.678Z
  return `${iso.slice(0, 23)}000Z`;
}
