// What every Trench construct shares: labels, the restricted security context, resources,
// prop validation, and the escape hatches that keep cdk8s-plus output free of generated
// names and of the labels it adds for its own bookkeeping.
import { ApiObject, type Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct, IConstruct } from 'constructs';
import { isTrenchName, TRENCH_NAME_RULE } from '../api/trench.js';
import { compareQuantities, parseQuantity } from '../lib/quantity.js';

export const PART_OF = 'trench';
export const DEFAULT_MANAGED_BY = 'trench-operator';
export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_PART_OF = 'app.kubernetes.io/part-of';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
/** Separates stable from canary API pods; the Service selects both, each Deployment one. */
export const LABEL_TRACK = 'playtrenches.xyz/track';
/** On a canary's pods: the release revision they run (operator/rollout/revision.ts). */
export const LABEL_REVISION = 'playtrenches.xyz/revision';
/**
 * `keep` on a child: it gets no ownerReference, so deleting the Trench (or dropping the part of
 * the spec that made it) leaves it in place, as `helm.sh/resource-policy: keep` does for Helm.
 * The backups claim carries it: a Trench deleted by mistake must not take its backups with it.
 */
export const ANNOTATION_RESOURCE_POLICY = 'playtrenches.xyz/resource-policy';

export type Component =
  | 'api'
  | 'worker'
  | 'redis'
  | 'postgres'
  | 'backup'
  | 'migration'
  | 'monitoring'
  | 'network';
export type Labels = Record<string, string>;

/** Props every Trench construct takes. */
export interface TrenchComponentProps {
  /** Name of the Trench; children are named `<trench>-<component>`. */
  readonly trench: string;
  /** Value of app.kubernetes.io/managed-by. @default 'trench-operator' */
  readonly managedBy?: string;
}

/**
 * Selector labels: app.kubernetes.io/name is per component (`trench-api`, `trench-worker`...)
 * so that name + instance never selects pods of another component of the same Trench.
 */
export function selectorLabels(component: Component, trench: string): Labels {
  return { [LABEL_NAME]: `trench-${component}`, [LABEL_INSTANCE]: trench };
}

export function componentLabels(
  component: Component,
  trench: string,
  managedBy: string = DEFAULT_MANAGED_BY,
): Labels {
  return {
    ...selectorLabels(component, trench),
    [LABEL_COMPONENT]: component,
    [LABEL_PART_OF]: PART_OF,
    [LABEL_MANAGED_BY]: managedBy,
  };
}

// ---------------------------------------------------------------------------------------------
// Validation

/** Throws an error naming the construct, the prop and the bad value. */
/** A construct's prop refused: renderTrench names the spec field it came from. */
export class PropError extends Error {
  constructor(
    readonly construct: string,
    readonly prop: string,
    readonly problem: string,
  ) {
    super(`${construct}: prop ${prop} ${problem}`);
    this.name = 'PropError';
  }
}

export function check(
  ok: boolean,
  construct: string,
  prop: string,
  value: unknown,
  expected: string,
): void {
  if (!ok) throw new PropError(construct, prop, `${expected} (got ${JSON.stringify(value)})`);
}

/** A DNS-1123 label, as namespace names are. */
export const NAMESPACE_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const namespaceRe = new RegExp(NAMESPACE_PATTERN);

export function checkNamespace(construct: string, prop: string, value: unknown): void {
  check(
    typeof value === 'string' && value.length <= 63 && namespaceRe.test(value),
    construct,
    prop,
    value,
    'must be a namespace name',
  );
}

export function checkTrenchName(construct: string, trench: string): void {
  check(isTrenchName(trench), construct, 'trench', trench, `must be ${TRENCH_NAME_RULE}`);
}

export function checkInt(
  construct: string,
  prop: string,
  value: number,
  min: number,
  max: number,
): void {
  check(
    Number.isInteger(value) && value >= min && value <= max,
    construct,
    prop,
    value,
    `must be an integer from ${min} to ${max}`,
  );
}

export function checkPorts(construct: string, prop: string, value: readonly number[]): void {
  check(
    Array.isArray(value) &&
      value.length > 0 &&
      value.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535),
    construct,
    prop,
    value,
    'must list at least one port from 1 to 65535',
  );
}

export function checkPath(construct: string, prop: string, value: string): void {
  check(
    typeof value === 'string' && value.startsWith('/'),
    construct,
    prop,
    value,
    "must start with '/'",
  );
}

export function checkImage(construct: string, prop: string, value: string): void {
  check(
    typeof value === 'string' && value.length > 0 && !/\s/.test(value),
    construct,
    prop,
    value,
    'must be a non-empty image reference without spaces',
  );
}

export function checkQuantity(construct: string, prop: string, value: string | number): void {
  const n = parseQuantity(value);
  check(
    n !== undefined && n.num > 0n,
    construct,
    prop,
    value,
    'must be a positive quantity such as 1Gi',
  );
}

// ---------------------------------------------------------------------------------------------
// Resources

export type Quantity = string | number;
export interface ResourceRequirements {
  readonly requests?: Readonly<Record<string, Quantity>>;
  readonly limits?: Readonly<Record<string, Quantity>>;
}

/**
 * Per-key merge over the defaults, so that setting only `requests.memory` keeps the default
 * CPU request and both limits; a request above its limit is refused here rather than by the
 * API server, with the prop named.
 */
export function mergeResources(
  construct: string,
  prop: string,
  defaults: Required<ResourceRequirements>,
  given: ResourceRequirements | undefined,
): { requests: Record<string, Quantity>; limits: Record<string, Quantity> } {
  const requests = { ...defaults.requests, ...given?.requests };
  const limits = { ...defaults.limits, ...given?.limits };
  for (const [key, q] of Object.entries({ ...requests, ...limits })) {
    check(parseQuantity(q) !== undefined, construct, `${prop}.${key}`, q, 'must be a quantity');
  }
  for (const [key, req] of Object.entries(requests)) {
    const limit = limits[key];
    if (limit === undefined) continue;
    check(
      (compareQuantities(req, limit) ?? 1) <= 0,
      construct,
      `${prop}.requests.${key}`,
      req,
      `must not exceed limits.${key} ${JSON.stringify(limit)}`,
    );
  }
  return { requests: sortKeys(requests), limits: sortKeys(limits) };
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

// ---------------------------------------------------------------------------------------------
// Pods

/** The container security context the `restricted` Pod Security Standard asks for. */
export function restrictedContainer(user: number): kplus.ContainerSecurityContextProps {
  return {
    ensureNonRoot: true,
    user,
    group: user,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: [kplus.Capability.ALL] },
    seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
  };
}

export function restrictedPod(user: number): kplus.PodSecurityContextProps {
  return {
    ensureNonRoot: true,
    user,
    group: user,
    fsGroup: user,
    fsGroupChangePolicy: kplus.FsGroupChangePolicy.ON_ROOT_MISMATCH,
  };
}

/**
 * The prometheus.io/* pod annotations that annotation-based Kubernetes discovery (such as
 * the MonitoringChart's Prometheus) reads to find a pod's metrics endpoint.
 */
export function scrapeAnnotations(port: number, path = '/metrics'): Record<string, string> {
  return {
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': String(port),
    'prometheus.io/path': path,
  };
}

/** A core/v1 EnvVar as plain JSON. */
export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: Record<string, unknown>;
}

export interface EnvFromSource {
  readonly prefix?: string;
  readonly configMapRef?: { readonly name: string };
  readonly secretRef?: { readonly name: string };
}

export function secretEnv(name: string, secret: string, key: string): EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

/**
 * Later entries win; the order of first appearance is kept, which matters for `$(VAR)`
 * references such as DATABASE_URL using PGPASSWORD.
 */
export function mergeEnv(...lists: (readonly EnvVar[] | undefined)[]): EnvVar[] {
  const byName = new Map<string, EnvVar>();
  for (const list of lists) for (const e of list ?? []) byName.set(e.name, e);
  return [...byName.values()];
}

/** `{ env }` when there is any env, else nothing: an empty list is noise in the output. */
export function envFields(...lists: (readonly EnvVar[] | undefined)[]): { env?: EnvVar[] } {
  const env = mergeEnv(...lists);
  return env.length > 0 ? { env } : {};
}

export interface PodTemplatePatch {
  /** Fields of containers[0] written as plain JSON (env, resources, lifecycle...). */
  readonly container?: Record<string, unknown>;
  /** Fields of the pod spec written as plain JSON. */
  readonly pod?: Record<string, unknown>;
}

/** A synthesized Kubernetes object as plain JSON. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: unknown[];
  };
  // biome-ignore lint/suspicious/noExplicitAny: manifests are arbitrary Kubernetes JSON
  [key: string]: any;
}

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
]);

type Finisher = (manifest: Manifest) => void;
const finishers = new WeakMap<ApiObject, Finisher[]>();

/**
 * Registers a change to an object's final JSON. cdk8s-plus maps its objects through the
 * typed Kubernetes 1.28 model after JSON patches run, which drops what that model does not
 * know (quantities given as strings, the preStop `sleep` action); changes registered here
 * run on the final JSON instead, in `manifestsOf`.
 */
export function finish(construct: IConstruct, fn: Finisher): void {
  const obj = ApiObject.of(construct);
  const list = finishers.get(obj) ?? [];
  list.push(fn);
  finishers.set(obj, list);
}

const keyOf = (kind: string, namespace: string | undefined, name: string) =>
  `${kind}/${namespace ?? ''}/${name}`;

/** A chart's objects as plain JSON, with every registered finisher applied. */
export function manifestsOf(chart: Chart): Manifest[] {
  const byKey = new Map<string, Finisher[]>();
  for (const node of chart.node.findAll()) {
    if (!ApiObject.isApiObject(node)) continue;
    const list = finishers.get(node);
    if (list) byKey.set(keyOf(node.kind, node.metadata.namespace, node.name), list);
  }
  const out = chart.toJson() as Manifest[];
  for (const m of out) {
    // A chart's namespace lands on every object; cluster-scoped ones must not carry it.
    if (CLUSTER_SCOPED.has(m.kind)) delete m.metadata.namespace;
  }
  if (byKey.size === 0) return out;
  for (const m of out) {
    const list = byKey.get(keyOf(m.kind, m.metadata.namespace, m.metadata.name));
    if (list) for (const fn of list) fn(m);
  }
  return out;
}

/**
 * Writes the fields cdk8s-plus cannot express (quantities as given, EnvVar JSON, preStop
 * sleep, topology spread, pod-level seccomp) and drops the cdk8s.io/metadata.addr label
 * that cdk8s-plus always adds to pod templates: it is not ours and must not reach clusters.
 */
export function finishWorkload(workload: IConstruct, patch: PodTemplatePatch): void {
  finish(workload, (m) => {
    const template = m.spec.template;
    delete template.metadata.labels['cdk8s.io/metadata.addr'];
    const pod = template.spec;
    pod.securityContext = { ...pod.securityContext, seccompProfile: { type: 'RuntimeDefault' } };
    Object.assign(pod, structuredClone(patch.pod ?? {}));
    Object.assign(pod.containers[0], structuredClone(patch.container ?? {}));
  });
}

/** A Service's selector, set explicitly (cdk8s-plus would select by its own address label). */
export function setServiceSelector(service: kplus.Service, selector: Labels): void {
  finish(service, (m) => {
    m.spec.selector = { ...selector };
    // An empty `externalIPs: []` would be a field server-side apply then owns for nothing.
    if (Array.isArray(m.spec.externalIPs) && m.spec.externalIPs.length === 0) {
      delete m.spec.externalIPs;
    }
  });
}

/**
 * The headless Service (clusterIP None) a StatefulSet names as its serviceName, named
 * `<name>-headless`: it gives each pod the stable DNS name `<pod>.<name>-headless`. It lists
 * pods before they are ready, so that a pod's own name resolves while it starts; clients use
 * the component's other Service, which lists only ready pods.
 */
export function governingService(
  scope: Construct,
  name: string,
  labels: Labels,
  selector: Labels,
  port: { readonly name: string; readonly port: number },
): kplus.Service {
  const service = new kplus.Service(scope, 'HeadlessService', {
    metadata: { name: `${name}-headless`, labels },
    clusterIP: 'None',
    publishNotReadyAddresses: true,
    ports: [{ name: port.name, port: port.port, targetPort: port.port }],
  });
  setServiceSelector(service, selector);
  return service;
}

/**
 * Adds the `data` volume claim template, which cdk8s-plus-28 cannot express. Claims are kept
 * when the StatefulSet is deleted or scaled down: queue and database data must outlive a
 * mistaken delete; deleting a Trench's data is the operator's decision, not a side effect.
 */
export function finishVolumeClaim(
  sts: IConstruct,
  labels: Labels,
  storage: Quantity,
  storageClassName: string | undefined,
): void {
  finish(sts, (m) => {
    m.spec.volumeClaimTemplates = [
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'data', labels: { ...labels } },
        spec: {
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage } },
          ...(storageClassName ? { storageClassName } : {}),
        },
      },
    ];
    m.spec.persistentVolumeClaimRetentionPolicy = { whenDeleted: 'Retain', whenScaled: 'Retain' };
  });
}
