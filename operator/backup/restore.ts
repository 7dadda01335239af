// The TrenchRestore controller: a restore in place, guided through restoreProgress's phases
// (restore-progress.ts decides; this file reads what it needs and writes what it says). It reads
// from the shared informers, except a Job the cache does not show yet (a direct GET) and a
// finished Job's pods (the termination message).
//
// It never touches the API Deployment: the Trench controller renders it at 0 replicas while a
// restore holds the Trench (restoreHolding below), so a Trench reconcile can never scale it back
// up in the middle. The worker's replicas have no owner in the manifest; the scaler stands still
// while the Trench is held, and this controller sets them to 0 and back.
import type { TrenchRestoreSpec, TrenchRestoreStatus } from '../../charts/api/backup.js';
import type { Trench } from '../../charts/api/trench.js';
import { LABEL_INSTANCE } from '../../charts/constructs/common.js';
import { DEFAULT_POSTGRES_IMAGE } from '../../charts/constructs/postgres.js';
import type { SharedInformers } from '../runtime/cache.js';
import { isConflict, type KubeClient } from '../runtime/client.js';
import type { ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import { EventRecorder } from '../runtime/events.js';
import type { Informer } from '../runtime/informer.js';
import type { Logger } from '../runtime/log.js';
import type { ControllerSpec } from '../runtime/manager.js';
import { writeStatus } from '../runtime/status.js';
import { type KubeObject, splitKey } from '../runtime/types.js';
import { OWNED_SELECTOR, SCALER_FIELD_MANAGER, TRENCH } from '../trench/kinds.js';
import { dumpSource, JOB, TRENCH_BACKUP, type TrenchBackupObject } from './controller.js';
import type { JobView, PodView } from './progress.js';
import { LABEL_RESTORE, restoreJob, verifyJob } from './restore-job.js';
import {
  type DeploymentView,
  isHolding,
  type RestoreView,
  restoreProgress,
} from './restore-progress.js';

export const TRENCH_RESTORE = {
  apiVersion: 'playtrenches.xyz/v1alpha1',
  kind: 'TrenchRestore',
} as const;
const DEPLOYMENT = { apiVersion: 'apps/v1', kind: 'Deployment' } as const;

export type TrenchRestoreObject = KubeObject & {
  spec: TrenchRestoreSpec;
  status?: TrenchRestoreStatus;
};

/** The restore that holds the Trench `ns/name` at 0 replicas, if one does. */
export function restoreHolding(
  restores: readonly TrenchRestoreObject[],
  ns: string | undefined,
  trench: string,
): TrenchRestoreObject | undefined {
  return restores.find(
    (r) => r.metadata?.namespace === ns && r.spec.trench === trench && isHolding(r.status?.phase),
  );
}

export interface RestoreDeps {
  readonly client: KubeClient;
  readonly restores: Informer<TrenchRestoreObject>;
  readonly backups: Informer<TrenchBackupObject>;
  readonly trenches: Informer<Trench & KubeObject>;
  readonly deployments: Informer<KubeObject>;
  readonly jobs: Informer<KubeObject>;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly now?: () => number;
}

const viewOf = (r: TrenchRestoreObject): RestoreView => ({
  name: r.metadata?.name ?? '',
  creationTimestamp: r.metadata?.creationTimestamp ?? '',
  spec: r.spec,
  ...(r.status ? { status: r.status } : {}),
});

export async function reconcileRestore(
  deps: RestoreDeps,
  key: string,
  ctx: ReconcileContext,
): Promise<ReconcileResult | undefined> {
  const { namespace, name } = splitKey(key);
  const ns = namespace ?? '';
  const restore = deps.restores.get(name, ns);
  if (!restore || restore.metadata?.deletionTimestamp) return undefined;
  const trenchName = restore.spec.trench;
  const trench = deps.trenches.get(trenchName, ns);
  const backup = deps.backups.get(restore.spec.backup, ns);
  const jobName = restore.status?.jobName;
  const job = jobName
    ? ((deps.jobs.get(jobName, ns) as JobView | undefined) ??
      (await deps.client.get<KubeObject & JobView>(
        { ...JOB, namespace: ns, name: jobName },
        ctx.signal,
      )))
    : undefined;
  const deployment = (suffix: string) =>
    deps.deployments.get(`${trenchName}-${suffix}`, ns) as
      | (KubeObject & DeploymentView)
      | undefined;
  const api = deployment('api');
  const worker = deployment('worker');
  const input = {
    restore: viewOf(restore),
    ...(trench?.metadata?.uid
      ? {
          trench: {
            name: trenchName,
            uid: trench.metadata.uid,
            deleting: trench.metadata.deletionTimestamp !== undefined,
          },
        }
      : {}),
    ...(backup
      ? {
          backup: {
            name: restore.spec.backup,
            trench: backup.spec.trench,
            deleting: backup.metadata?.deletionTimestamp !== undefined,
            ...(backup.status ? { status: backup.status } : {}),
          },
        }
      : {}),
    others: deps.restores
      .list()
      .filter((r) => r.metadata?.namespace === ns && r.spec.trench === trenchName)
      .map(viewOf),
    ...(api ? { api } : {}),
    ...(worker ? { worker } : {}),
    ...(job ? { job } : {}),
    now: (deps.now ?? Date.now)(),
  };
  let progress = restoreProgress(input);
  if (progress.needPods) {
    const pods = await deps.client.list<KubeObject & PodView>('v1', 'Pod', {
      namespace: ns,
      labelSelector: `batch.kubernetes.io/job-name=${jobName}`,
      signal: ctx.signal,
    });
    progress = restoreProgress({ ...input, pods: pods.items });
  }
  const action = progress.action;
  if (action && trench && backup) {
    if (action.kind === 'scaleWorker') {
      if (worker) {
        await deps.client.mergePatch(
          { ...DEPLOYMENT, namespace: ns, name: `${trenchName}-worker` },
          { spec: { replicas: action.replicas } },
          { signal: ctx.signal, fieldManager: SCALER_FIELD_MANAGER },
        );
        deps.log.info('Scaled workers for a restore', { restore: key, replicas: action.replicas });
      }
    } else {
      const jobInput = {
        namespace: ns,
        trench: trenchName,
        restore: { name, uid: restore.metadata?.uid ?? '' },
        backup: {
          name: restore.spec.backup,
          path: backup.status?.path ?? '',
          checksum: backup.status?.checksum ?? '',
        },
        image: backup.spec.image ?? trench.spec.postgres?.image ?? DEFAULT_POSTGRES_IMAGE,
        // The file is on the claim of the Trench the backup was taken from.
        claimName: `${backup.spec.trench}-backups`,
      };
      const manifest =
        action.kind === 'createVerifyJob'
          ? verifyJob(jobInput)
          : restoreJob({ ...jobInput, source: dumpSource(trench) });
      try {
        await deps.client.create(manifest as unknown as KubeObject, { signal: ctx.signal });
      } catch (error) {
        // Made by a pass whose status write was lost: the same Job, found instead of made twice.
        if (!isConflict(error)) throw error;
      }
    }
  }
  const written = await writeStatus(
    deps.client,
    { ...restore, ...TRENCH_RESTORE },
    { ...progress.status, observedGeneration: restore.metadata?.generation },
    { signal: ctx.signal },
  );
  if (written && progress.event) {
    const e = progress.event;
    void deps.events.record(restore, { ...e, action: 'Restore' }, ctx.signal);
    if (trench) void deps.events.record(trench, { ...e, action: 'Restore' }, ctx.signal);
    const log = e.type === 'Warning' ? deps.log.warn : deps.log.info;
    log.call(deps.log, `TrenchRestore ${e.reason}`, { restore: key, note: e.note });
  }
  return undefined;
}

export interface RestoreControllerOptions {
  readonly client: KubeClient;
  readonly informers: SharedInformers;
  readonly log: Logger;
  readonly workers?: number;
}

export function restoreController(o: RestoreControllerOptions): {
  spec: ControllerSpec;
  deps: RestoreDeps;
} {
  const owned = { labelSelector: OWNED_SELECTOR };
  const restores = o.informers.informer<TrenchRestoreObject>(TRENCH_RESTORE);
  const deps: RestoreDeps = {
    client: o.client,
    restores,
    backups: o.informers.informer<TrenchBackupObject>(TRENCH_BACKUP),
    trenches: o.informers.informer<Trench & KubeObject>(TRENCH),
    deployments: o.informers.informer(DEPLOYMENT, owned),
    jobs: o.informers.informer(JOB, owned),
    events: new EventRecorder({ client: o.client, log: o.log }),
    log: o.log,
  };
  /** The keys of the unfinished restores of Trench `ns/trench`. */
  const ofTrench = (ns: string | undefined, trench: string | undefined) =>
    restores
      .list()
      .filter(
        (r) =>
          r.metadata?.namespace === ns &&
          r.spec.trench === trench &&
          r.status?.phase !== 'Completed' &&
          r.status?.phase !== 'Failed',
      )
      .map((r) => `${r.metadata?.namespace}/${r.metadata?.name}`);
  return {
    deps,
    spec: {
      name: 'restore',
      primary: restores as unknown as Informer<KubeObject>,
      watches: [
        {
          // A verify or restore Job routes to its TrenchRestore by label.
          informer: deps.jobs,
          keys: (obj) => {
            const r = obj.metadata?.labels?.[LABEL_RESTORE];
            return r && obj.metadata?.namespace ? [`${obj.metadata.namespace}/${r}`] : [];
          },
        },
        {
          // The API and worker stopping and coming back move Quiescing and Resuming on.
          informer: deps.deployments,
          keys: (obj) => ofTrench(obj.metadata?.namespace, obj.metadata?.labels?.[LABEL_INSTANCE]),
        },
        {
          // A restore waiting for its backup to complete.
          informer: deps.backups as unknown as Informer<KubeObject>,
          keys: (obj) =>
            restores
              .list()
              .filter(
                (r) =>
                  r.metadata?.namespace === obj.metadata?.namespace &&
                  r.spec.backup === obj.metadata?.name &&
                  r.status?.phase !== 'Completed' &&
                  r.status?.phase !== 'Failed',
              )
              .map((r) => `${r.metadata?.namespace}/${r.metadata?.name}`),
        },
        {
          // A restore waiting for its Trench, or for another restore of it to finish.
          informer: deps.trenches as unknown as Informer<KubeObject>,
          keys: (obj) => ofTrench(obj.metadata?.namespace, obj.metadata?.name),
        },
        {
          informer: restores as unknown as Informer<KubeObject>,
          keys: (obj) =>
            ofTrench(obj.metadata?.namespace, (obj as TrenchRestoreObject).spec?.trench),
        },
      ],
      reconcile: (key, ctx) => reconcileRestore(deps, key, ctx),
      workers: o.workers ?? 2,
    },
  };
}
