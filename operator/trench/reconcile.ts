// The Trench reconcile: a fixed list of small idempotent steps sharing one pass. Each step may
// stop the work steps (the status steps still run), contribute a part of the status, and ask
// for the Trench back after some time (a pause's end, the next backup slot): the pass returns
// the earliest such time, so nothing polls and nothing sleeps.
// It reads the Trench and its children from the informer caches, so a converged Trench costs
// no request. Events are sent without waiting: they are best effort (the recorder logs a
// failure), and a round trip per event would lengthen every pass that has one.
import type { Trench } from '../../charts/api/trench.js';
import { LABEL_COMPONENT, LABEL_TRACK } from '../../charts/constructs/common.js';
import { operatorKinds } from '../../charts/operator-kinds.js';
import { InvalidTrenchError, type RenderOptions, renderTrench } from '../../charts/trench-chart.js';
import type { TrenchBackupObject } from '../backup/controller.js';
import { restoreHolding, type TrenchRestoreObject } from '../backup/restore.js';
import { rolloutStep } from '../rollout/step.js';
import { releaseDeployments } from '../rollout/tracks.js';
import { applyIfNeeded, kindOf, prune } from '../runtime/apply.js';
import { ApiError, isConflict, type KubeClient } from '../runtime/client.js';
import type { ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import type { EventRecorder } from '../runtime/events.js';
import type { Informer } from '../runtime/informer.js';
import type { Logger } from '../runtime/log.js';
import { writeStatus } from '../runtime/status.js';
import { type KubeObject, type ObjectRef, refOf, splitKey } from '../runtime/types.js';
import { generatedSecrets } from './credentials.js';
import { SCALER_FIELD_MANAGER, TRENCH } from './kinds.js';
import {
  boundedWorkerReplicas,
  drillPart,
  mergeStatus,
  type StackPart,
  type StatusPart,
  stackStatus,
  type Workload,
} from './status.js';
import { acceptVolumeAnnotation, checkVolume, type DataComponent } from './volumes.js';

export interface TrenchDeps {
  readonly client: KubeClient;
  readonly trenches: Informer<Trench & KubeObject>;
  /** The shared informer of each kind the operator owns, keyed `apiVersion/kind` (kindKey). */
  readonly owned: ReadonlyMap<string, Informer<KubeObject>>;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly render?: RenderOptions;
  /** TrenchRestores: one in Quiescing or Restoring holds the API and workers at 0. */
  readonly restores?: Informer<TrenchRestoreObject>;
  readonly now?: () => number;
  readonly password?: () => string;
  /** Prometheus for canary analysis when spec.rollout.analysis.prometheusUrl is unset. */
  readonly prometheusUrl?: string;
  /** TrenchBackups and Jobs: a release's pre-migration backup and migration Job. */
  readonly backups?: Informer<TrenchBackupObject>;
  readonly jobs?: Informer<KubeObject>;
}

export const kindKey = (o: { apiVersion?: string; kind?: string }) => `${o.apiVersion}/${o.kind}`;

export interface Pass {
  readonly key: string;
  readonly trench: Trench & KubeObject;
  readonly signal: AbortSignal;
  readonly now: number;
  desired: KubeObject[];
  /**
   * What this pass's applies returned, by `kindKey/namespace/name`. Fresher than the cache,
   * whose watch event for our own write may not have arrived: status from the cache would
   * report the old, ready object as already observed at the new generation.
   */
  readonly applied: Map<string, KubeObject>;
  invalid?: string;
  applyError?: string;
  /** The TrenchRestore holding the API and workers at 0, set by holdForRestore. */
  heldBy?: string;
  /**
   * The cache's status with status.rollout as the API server had it when the rollout step read
   * it afresh (mid-release). The status write diffs against it: a merge patch computed from an
   * older rollout status leaves out a key the newer one changed back.
   */
  statusBase?: Trench['status'];
  /** The stack's part of the status, set by reportStack. */
  stack?: StackPart;
  /** The other capabilities' parts, in step order. */
  readonly parts: StatusPart[];
}

export interface StepResult {
  /** Skip the remaining work steps; the status steps still run. */
  readonly stop?: boolean;
  /** Reconcile this Trench again after this long; the pass returns the earliest. */
  readonly requeueAfterMs?: number;
}

export interface Step {
  readonly name: string;
  readonly run: (deps: TrenchDeps, pass: Pass) => Promise<StepResult | undefined>;
  /** Runs even after a step stopped the pass: the status steps. */
  readonly always?: boolean;
}

type Ref = { apiVersion: string; kind: string; name: string; namespace?: string };

function live(deps: TrenchDeps, ref: Ref) {
  return deps.owned.get(kindKey(ref))?.get(ref.name, ref.namespace);
}

const appliedKey = (ref: Ref) => `${kindKey(ref)}/${ref.namespace}/${ref.name}`;

const componentOf = (m: KubeObject) => m.metadata?.labels?.[LABEL_COMPONENT];

/**
 * The desired children. Rendered on every pass (7 ms mean): a cache per generation saved that
 * CPU but held 30 KiB per Trench, a fifth of the live heap.
 */
const render: Step = {
  name: 'render',
  run: async (deps, pass) => {
    const { metadata, spec } = pass.trench;
    try {
      pass.desired = renderTrench(
        {
          metadata: { name: metadata.name, namespace: metadata.namespace, uid: metadata.uid! },
          spec,
        },
        deps.render,
      ) as KubeObject[];
      return undefined;
    } catch (error) {
      if (!(error instanceof InvalidTrenchError)) throw error;
      pass.invalid = error.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
      deps.log.warn('Refused invalid Trench', { trench: pass.key, problems: pass.invalid });
      void deps.events.warning(pass.trench, 'InvalidSpec', 'Render', pass.invalid, pass.signal);
      return { stop: true };
    }
  },
};

/**
 * While a restore holds the Trench, its API Deployments (both tracks) and canary workers are
 * rendered at 0 replicas, so this controller itself stops them and never scales them back
 * mid-restore; the restore controller does the stable workers (restore.ts). When the restore moves on to Resuming, the next pass renders
 * the spec's replicas again.
 */
const holdForRestore: Step = {
  name: 'restore hold',
  run: async (deps, pass) => {
    const holder = deps.restores
      ? restoreHolding(
          deps.restores.list(),
          pass.trench.metadata.namespace,
          pass.trench.metadata.name,
        )
      : undefined;
    if (!holder) return undefined;
    pass.heldBy = holder.metadata?.name ?? '';
    for (const m of pass.desired) {
      const canaryWorker =
        componentOf(m) === 'worker' && m.metadata?.labels?.[LABEL_TRACK] === 'canary';
      if (m.kind === 'Deployment' && (componentOf(m) === 'api' || canaryWorker)) {
        (m as KubeObject & { spec: { replicas?: number } }).spec.replicas = 0;
      }
    }
    return undefined;
  },
};

/** Creates the generated Secrets that do not exist; never updates one. */
const ensureCredentials: Step = {
  name: 'credentials',
  run: async (deps, pass) => {
    const missing = generatedSecrets(pass.trench, deps.password).filter(
      (secret) => !live(deps, refOf(secret)),
    );
    const created: string[] = [];
    await Promise.all(
      missing.map(async (secret) => {
        try {
          await deps.client.create(secret, { signal: pass.signal });
          created.push(secret.metadata!.name!);
          deps.log.info('Created Secret', {
            secret: `${secret.metadata?.namespace}/${secret.metadata?.name}`,
          });
        } catch (error) {
          // Already there (the cache lagged, or it outlived an earlier Trench): keep its value.
          if (!isConflict(error)) throw error;
        }
      }),
    );
    // One event for all of them: events are API writes too.
    if (created.length > 0) {
      void deps.events.normal(
        pass.trench,
        'CreatedSecret',
        'Create',
        `Generated Secret ${created.join(', ')}`,
        pass.signal,
      );
    }
    return undefined;
  },
};

const applyChildren: Step = {
  name: 'apply',
  run: async (deps, pass) => {
    const results = await Promise.allSettled(
      pass.desired.map((m) =>
        applyIfNeeded(deps.client, m, live(deps, refOf(m)), { signal: pass.signal }),
      ),
    );
    const failures: string[] = [];
    const recreate: KubeObject[] = [];
    results.forEach((r, i) => {
      const ref = refOf(pass.desired[i]!);
      if (r.status === 'rejected') {
        const current = live(deps, ref);
        if (isImmutableStatefulSetChange(r.reason) && current?.metadata?.uid)
          recreate.push(current);
        else failures.push(`${ref.kind} ${ref.name}: ${(r.reason as Error).message}`);
      } else if (r.value.applied) {
        pass.applied.set(appliedKey(ref), r.value.object);
        deps.log.info(`Applied ${ref.kind}`, {
          name: ref.name,
          namespace: ref.namespace,
          reason: r.value.reason,
        });
      }
    });
    if (failures.length > 0) {
      pass.applyError = failures.join('; ');
      void deps.events.warning(pass.trench, 'ApplyFailed', 'Apply', pass.applyError, pass.signal);
    }
    if (recreate.length === 0) return undefined;
    // A StatefulSet's serviceName and claim templates cannot change in place (an older
    // release's StatefulSet, say). Deleting it with the Orphan policy keeps its pods and
    // claims; the next pass creates the new one, which adopts the pods by their labels, so
    // the database keeps running on the same volume throughout.
    for (const sts of recreate) {
      const ref = refOf(sts);
      if (sts.metadata?.deletionTimestamp) continue; // going already: wait for it
      await deps.client.delete(ref, {
        uid: sts.metadata!.uid!,
        propagationPolicy: 'Orphan',
        signal: pass.signal,
      });
      deps.log.info('Deleted StatefulSet to recreate it', {
        name: ref.name,
        namespace: ref.namespace,
        reason: 'immutable fields changed',
      });
      void deps.events.normal(
        pass.trench,
        'RecreatingStatefulSet',
        'Apply',
        `StatefulSet ${ref.name} changed fields that cannot be updated: deleted it keeping its pods and claims, to create it anew`,
        pass.signal,
      );
    }
    // The orphaning delete is finished by the garbage collector: come back for the create.
    return { requeueAfterMs: 1000 };
  },
};

/** The API server's refusal of an update to a StatefulSet's immutable spec fields. */
export function isImmutableStatefulSetChange(error: unknown): boolean {
  return (
    error instanceof ApiError &&
    error.statusCode === 422 &&
    /updates to statefulset spec for fields other than/.test(error.message)
  );
}

const pruneChildren: Step = {
  name: 'prune',
  run: async (deps, pass) => {
    if (pass.applyError) return undefined; // never delete on a pass that could not apply
    const uid = pass.trench.metadata.uid!;
    const prunable = new Set(
      operatorKinds(deps.render?.prometheusOperator ?? false)
        .filter((k) => k.role !== 'generated')
        .map(kindOf),
    );
    const existing = [...deps.owned.values()].flatMap((inf) => inf.listByOwner(uid));
    const desired: ObjectRef[] = pass.desired.map((m) => refOf(m));
    const deleted = await prune(deps.client, desired, existing, uid, prunable, {
      signal: pass.signal,
    });
    for (const obj of deleted) {
      const ref = refOf(obj);
      deps.log.info(`Pruned ${ref.kind}`, { name: ref.name, namespace: ref.namespace });
      void deps.events.normal(
        pass.trench,
        'Pruned',
        'Delete',
        `Deleted ${ref.kind} ${ref.name}, no longer desired`,
        pass.signal,
      );
    }
    return undefined;
  },
};

/** Holds the worker replica count within the scaling bounds (the manifests leave it out). */
const boundWorkers: Step = {
  name: 'worker bounds',
  run: async (deps, pass) => {
    const worker = releaseDeployments(pass.desired).worker;
    const scaling = pass.trench.spec.worker?.scaling;
    if (!worker || !scaling || pass.applyError || pass.heldBy !== undefined) return undefined;
    const current = live(deps, refOf(worker)) as Workload | undefined;
    if (!current) return undefined;
    const want = boundedWorkerReplicas(
      current.spec?.replicas,
      scaling.minReplicas ?? 1,
      scaling.maxReplicas ?? 10,
    );
    if (current.spec?.replicas === want) return undefined;
    await deps.client.mergePatch(
      refOf(current),
      { spec: { replicas: want } },
      { signal: pass.signal, fieldManager: SCALER_FIELD_MANAGER },
    );
    deps.log.info('Scaled Deployment', { name: current.metadata?.name, replicas: want });
    return undefined;
  },
};

/** Remembers the data claims of managed Postgres and Redis, and says when one was replaced. */
const checkVolumes: Step = {
  name: 'volumes',
  run: async (deps, pass) => {
    const previous = pass.trench.status?.volumes;
    const backupStatus = pass.trench.status?.backup;
    const volumes: Record<string, unknown> = {};
    const problems = [];
    for (const component of ['postgres', 'redis'] as const satisfies DataComponent[]) {
      const sts = pass.desired.find(
        (m) => m.kind === 'StatefulSet' && componentOf(m) === component,
      );
      if (!sts) {
        volumes[component] = undefined; // external now: nothing of ours to watch
        continue;
      }
      const claim = `data-${sts.metadata!.name}-0`;
      const pvc = live(deps, {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        name: claim,
        namespace: pass.trench.metadata.namespace,
      });
      const verdict = checkVolume({
        component,
        trench: pass.trench.metadata,
        claim,
        recorded: previous?.[component],
        live: pvc?.metadata?.uid
          ? { uid: pvc.metadata.uid, deleting: pvc.metadata.deletionTimestamp !== undefined }
          : undefined,
        accepted: pass.trench.metadata.annotations?.[acceptVolumeAnnotation(component)],
        ...(backupStatus?.lastSuccessfulBackup
          ? {
              newestBackup: {
                name: backupStatus.lastSuccessfulBackup,
                ...(backupStatus.lastSuccessfulTime
                  ? { time: backupStatus.lastSuccessfulTime }
                  : {}),
              },
            }
          : {}),
      });
      volumes[component] = verdict.record;
      if (verdict.problem) problems.push(verdict.problem);
      if (verdict.problem && verdict.newlyReplaced) {
        deps.log.warn('Detected replaced PersistentVolumeClaim', {
          trench: pass.key,
          claim,
          reason: verdict.problem.reason,
        });
        void deps.events.warning(
          pass.trench,
          verdict.problem.reason,
          'CheckVolume',
          verdict.problem.message,
          pass.signal,
        );
      }
    }
    const any = Object.values(volumes).some((v) => v !== undefined);
    pass.parts.push({
      fields: { volumes: any ? (volumes as NonNullable<Trench['status']>['volumes']) : undefined },
      problems,
    });
    return undefined;
  },
};

/**
 * The newest restore drill's verdict (status.backup.lastVerification, written by the backup
 * controller) as the BackupVerified condition; a failed one also makes the Trench Degraded, as
 * a warning: the service runs, but its backups may not restore.
 */
const reportDrill: Step = {
  name: 'drill status',
  always: true,
  run: async (_deps, pass) => {
    const part = drillPart(pass.trench.status?.backup?.lastVerification);
    if (part) pass.parts.push(part);
    return undefined;
  },
};

/** The stack's verdict: workloads from this pass's applies, else from the cache. */
const reportStack: Step = {
  name: 'stack status',
  always: true,
  run: async (deps, pass) => {
    const refs = pass.desired
      .filter((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet')
      .map((m) => refOf(m));
    const workloads = refs.map(
      (r) => (pass.applied.get(appliedKey(r)) ?? live(deps, r)) as Workload | undefined,
    );
    pass.stack = stackStatus({
      trench: pass.trench,
      workloads: workloads.filter((w): w is Workload => w !== undefined),
      missing: refs.filter((_, i) => !workloads[i]).map((r) => `${r.kind} ${r.name}`),
      ...(pass.invalid !== undefined ? { invalid: pass.invalid } : {}),
      ...(pass.applyError !== undefined ? { applyError: pass.applyError } : {}),
      now: pass.now,
    });
    return undefined;
  },
};

/** One status write for the whole pass, and only when something changed. */
const writeTrenchStatus: Step = {
  name: 'write status',
  always: true,
  run: async (deps, pass) => {
    const status = mergeStatus({
      trench: pass.trench,
      stack: pass.stack!,
      parts: pass.parts,
      now: pass.now,
    });
    const wasReady = pass.trench.status?.phase === 'Ready';
    await writeStatus(
      deps.client,
      {
        ...pass.trench,
        apiVersion: TRENCH.apiVersion,
        kind: TRENCH.kind,
        status: pass.statusBase ?? pass.trench.status,
      },
      status,
      { signal: pass.signal },
    );
    if (!wasReady && status.phase === 'Ready') {
      deps.log.info('Converged Trench', { trench: pass.key });
      void deps.events.normal(
        pass.trench,
        'Ready',
        'Reconcile',
        'Every workload is ready',
        pass.signal,
      );
    }
    return undefined;
  },
};

export const STEPS: readonly Step[] = [
  render,
  rolloutStep,
  holdForRestore,
  ensureCredentials,
  applyChildren,
  pruneChildren,
  boundWorkers,
  checkVolumes,
  reportDrill,
  reportStack,
  writeTrenchStatus,
];

/** Runs `steps` in order; returns the earliest requeue any of them asked for. */
export async function runSteps(
  steps: readonly Step[],
  deps: TrenchDeps,
  pass: Pass,
): Promise<number | undefined> {
  let stopped = false;
  let requeueAfterMs: number | undefined;
  for (const step of steps) {
    if (stopped && !step.always) continue;
    const result = await step.run(deps, pass);
    if (result?.stop) stopped = true;
    const after = result?.requeueAfterMs;
    if (after !== undefined && (requeueAfterMs === undefined || after < requeueAfterMs)) {
      requeueAfterMs = after;
    }
  }
  return requeueAfterMs;
}

export async function reconcileTrench(
  deps: TrenchDeps,
  key: string,
  ctx: ReconcileContext,
  steps: readonly Step[] = STEPS,
): Promise<ReconcileResult | undefined> {
  const { namespace, name } = splitKey(key);
  const trench = deps.trenches.get(name, namespace);
  // Gone: the garbage collector removes the children through their ownerReferences.
  if (!trench || trench.metadata.deletionTimestamp || !trench.metadata.uid) return undefined;
  const pass: Pass = {
    key,
    trench,
    signal: ctx.signal,
    now: (deps.now ?? Date.now)(),
    desired: [],
    applied: new Map(),
    parts: [],
  };
  const requeueAfterMs = await runSteps(steps, deps, pass);
  // A failed apply is retried with backoff by the controller; the status says why.
  if (pass.applyError)
    throw new Error(`Failed to apply children of Trench ${key}: ${pass.applyError}`);
  return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
}
