// The TrenchBackup controller: one dump Job per TrenchBackup, and its outcome in status. The
// decisions are backupProgress's (progress.ts); this file reads what they need and writes what
// they say. Reads come from the shared informers, except two that happen once per backup: a
// direct GET of a Job the cache does not show (it may be too new for the cache), and the list
// of a finished Job's pods for the termination message.

import type { Counter } from 'prom-client';
import type { TrenchBackupSpec, TrenchBackupStatus } from '../../charts/api/backup.js';
import type { Trench } from '../../charts/api/trench.js';
import { DEFAULT_POSTGRES_IMAGE, postgresClientEnv } from '../../charts/constructs/postgres.js';
import type { SharedInformers } from '../runtime/cache.js';
import { isConflict, type KubeClient } from '../runtime/client.js';
import type { ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import { EventRecorder } from '../runtime/events.js';
import type { Informer } from '../runtime/informer.js';
import type { Logger } from '../runtime/log.js';
import type { ControllerSpec } from '../runtime/manager.js';
import type { OperatorMetrics } from '../runtime/metrics.js';
import { writeStatus } from '../runtime/status.js';
import { type KubeObject, splitKey } from '../runtime/types.js';
import { OWNED_SELECTOR, TRENCH } from '../trench/kinds.js';
import { ANNOTATION_VERIFY, drillJob } from './drill-job.js';
import { type DrillProgress, drillProgress } from './drill-progress.js';
import {
  type DumpSource,
  dumpJob,
  dumpJobName,
  LABEL_BACKUP,
  removeJob,
  removeJobName,
} from './dump-job.js';
import { registerBackupMetrics } from './metrics.js';
import { backupProgress, isTerminal, type JobView, type PodView } from './progress.js';
import { BACKUP_FILE_FINALIZER, removalStep, withoutFinalizer } from './removal.js';

export const TRENCH_BACKUP = {
  apiVersion: 'playtrenches.xyz/v1alpha1',
  kind: 'TrenchBackup',
} as const;
export const JOB = { apiVersion: 'batch/v1', kind: 'Job' } as const;
const CLAIM = { apiVersion: 'v1', kind: 'PersistentVolumeClaim' } as const;

export type TrenchBackupObject = KubeObject & {
  spec: TrenchBackupSpec;
  status?: TrenchBackupStatus;
};

export interface BackupDeps {
  readonly client: KubeClient;
  readonly backups: Informer<TrenchBackupObject>;
  readonly trenches: Informer<Trench & KubeObject>;
  readonly jobs: Informer<KubeObject>;
  readonly claims: Informer<KubeObject>;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly now?: () => number;
  readonly failures?: Counter<'namespace' | 'trench' | 'reason'>;
}

/** Where the dump Job reads the database from: the managed Postgres or the external URL. */
export function dumpSource(trench: Trench): DumpSource {
  const external = trench.spec.postgres?.external;
  if (external) {
    return { external: { secretName: external.urlSecretRef.name, key: external.urlSecretRef.key } };
  }
  return {
    managed: {
      env: postgresClientEnv(trench.metadata.name, trench.spec.postgres?.database ?? 'trench'),
    },
  };
}

export async function reconcileBackup(
  deps: BackupDeps,
  key: string,
  ctx: ReconcileContext,
): Promise<ReconcileResult | undefined> {
  const { namespace, name } = splitKey(key);
  const backup = deps.backups.get(name, namespace);
  if (!backup) return undefined;
  const ns = namespace ?? '';
  if (backup.metadata?.deletionTimestamp) {
    await removeFile(deps, backup, ns, ctx.signal);
    return undefined;
  }
  // Before any Job: a file is only ever written for an object that waits for its removal.
  const finalizers = backup.metadata?.finalizers ?? [];
  if (!finalizers.includes(BACKUP_FILE_FINALIZER)) {
    await deps.client.mergePatch(
      { ...TRENCH_BACKUP, namespace: ns, name },
      {
        metadata: {
          finalizers: [...finalizers, BACKUP_FILE_FINALIZER],
          resourceVersion: backup.metadata?.resourceVersion,
        },
      },
      { signal: ctx.signal },
    );
  }
  const trenchName = backup.spec.trench;
  const trench = deps.trenches.get(trenchName, ns);
  const jobName = backup.status?.jobName;
  const job = jobName ? await jobNamed(deps, ns, jobName, ctx.signal) : undefined;
  const input = {
    backup: { name, ...(backup.status ? { status: backup.status } : {}) },
    ...(trench?.metadata?.uid ? { trench: { name: trenchName, uid: trench.metadata.uid } } : {}),
    trenchName,
    ...(job ? { job } : {}),
    now: (deps.now ?? Date.now)(),
  };
  const podsOf = async (job: string) =>
    (
      await deps.client.list<KubeObject & PodView>('v1', 'Pod', {
        namespace: ns,
        labelSelector: `batch.kubernetes.io/job-name=${job}`,
        signal: ctx.signal,
      })
    ).items;
  let progress = backupProgress(input);
  if (progress.needPods && jobName) {
    progress = backupProgress({ ...input, pods: await podsOf(jobName) });
  }
  if (progress.createJob && trench) {
    const manifest = dumpJob({
      namespace: ns,
      trench: trenchName,
      backup: { name, uid: backup.metadata?.uid ?? '' },
      image: backup.spec.image ?? trench.spec.postgres?.image ?? DEFAULT_POSTGRES_IMAGE,
      claimName: `${trenchName}-backups`,
      source: dumpSource(trench),
    });
    const ref = { ...TRENCH_BACKUP, namespace: ns, name };
    if (!(await createJob(deps, manifest, ref, (b) => !!b?.status?.jobName, ctx.signal))) {
      return undefined;
    }
  }
  const drill = trench
    ? await reconcileDrill(deps, backup, trench, progress.status, podsOf, ctx)
    : undefined;
  const status = drill?.status ?? progress.status;
  const written = await writeStatus(
    deps.client,
    { ...backup, ...TRENCH_BACKUP },
    { ...status, observedGeneration: backup.metadata?.generation },
    { signal: ctx.signal },
  );
  if (written && progress.status.phase === 'Failed') {
    deps.failures?.inc({
      namespace: ns,
      trench: trenchName,
      reason: progress.status.failureReason ?? 'Unknown',
    });
  }
  if (trench) await recordOnTrench(deps, trench, name, status, ctx.signal);
  if (written && progress.event) {
    const e = progress.event;
    void deps.events.record(backup, { ...e, action: 'Backup' }, ctx.signal);
    const log = e.type === 'Warning' ? deps.log.warn : deps.log.info;
    log.call(deps.log, `${e.reason === 'Started' ? 'Started' : e.reason} TrenchBackup`, {
      backup: key,
      note: e.note,
    });
  }
  if (written && drill?.event) {
    const e = drill.event;
    void deps.events.record(backup, { ...e, action: 'Verify' }, ctx.signal);
    // A failed drill is the Trench's news too: its backups may not restore.
    if (e.type === 'Warning' && trench) {
      void deps.events.record(trench, { ...e, action: 'Verify' }, ctx.signal);
    }
    const log = e.type === 'Warning' ? deps.log.warn : deps.log.info;
    const verb = e.reason === 'DrillStarted' ? 'Started' : 'Finished';
    log.call(deps.log, `${verb} restore drill of TrenchBackup`, {
      backup: key,
      verdict: status.verification?.phase,
      note: e.note,
    });
  }
  return undefined;
}

/**
 * The restore drill of a finished backup, when its playtrenches.xyz/verify annotation asks for
 * one that status has not answered (drill-progress.ts decides; this reads and creates the Job).
 */
async function reconcileDrill(
  deps: BackupDeps,
  backup: TrenchBackupObject,
  trench: Trench & KubeObject,
  status: TrenchBackupStatus,
  podsOf: (job: string) => Promise<PodView[]>,
  ctx: ReconcileContext,
): Promise<DrillProgress | undefined> {
  const request = backup.metadata?.annotations?.[ANNOTATION_VERIFY];
  if (!request || !isTerminal(status.phase)) return undefined;
  const ns = backup.metadata?.namespace ?? '';
  const name = backup.metadata?.name ?? '';
  const v = status.verification;
  const running = v?.request === request && v.phase === 'Running' ? v.jobName : undefined;
  const job = running ? await jobNamed(deps, ns, running, ctx.signal) : undefined;
  const input = {
    backup: name,
    status,
    request,
    ...(job ? { job } : {}),
    now: (deps.now ?? Date.now)(),
  };
  let drill = drillProgress(input);
  if (drill.needPods && running) drill = drillProgress({ ...input, pods: await podsOf(running) });
  if (drill.createJob) {
    const manifest = drillJob({
      namespace: ns,
      trench: backup.spec.trench,
      backup: {
        name,
        uid: backup.metadata?.uid ?? '',
        path: status.path ?? '',
        checksum: status.checksum ?? '',
        sizeBytes: status.sizeBytes ?? 0,
      },
      request,
      image: backup.spec.image ?? trench.spec.postgres?.image ?? DEFAULT_POSTGRES_IMAGE,
      claimName: `${backup.spec.trench}-backups`,
    });
    const ref = { ...TRENCH_BACKUP, namespace: ns, name };
    const seen = (b?: TrenchBackupObject) => b?.status?.verification?.request === request;
    if (!(await createJob(deps, manifest, ref, seen, ctx.signal))) return undefined;
  }
  return drill;
}

/**
 * Creates one of a TrenchBackup's Jobs; true when this pass should write the status that goes
 * with it. A Job that exists already was made by an earlier pass: either the cache has not
 * shown that pass's status write yet (the Job's own event often comes first), and writing it
 * again would be a second write and a second event; or the write was lost, and this pass
 * makes it. One read of the backup (`written` tells) sets them apart, on this rare path only.
 */
async function createJob(
  deps: BackupDeps,
  manifest: Record<string, unknown>,
  backup: { apiVersion: string; kind: string; namespace: string; name: string },
  written: (fresh: TrenchBackupObject | undefined) => boolean,
  signal: AbortSignal,
): Promise<boolean> {
  try {
    await deps.client.create(manifest as unknown as KubeObject, { signal });
    return true;
  } catch (error) {
    if (!isConflict(error)) throw error;
    return !written(await deps.client.get<TrenchBackupObject>(backup, signal));
  }
}

/** A Job from the cache, else from the API server (it may be too new for the cache). */
async function jobNamed(
  deps: BackupDeps,
  ns: string,
  name: string,
  signal: AbortSignal,
): Promise<JobView | undefined> {
  return (
    (deps.jobs.get(name, ns) as JobView | undefined) ??
    (await deps.client.get({ ...JOB, namespace: ns, name }, signal))
  );
}

/**
 * A deleted TrenchBackup: stop its dump, remove its files with a Job, then let it go
 * (removal.ts says why this order keeps the claim and the objects in step).
 */
async function removeFile(
  deps: BackupDeps,
  backup: TrenchBackupObject,
  ns: string,
  signal: AbortSignal,
): Promise<void> {
  const name = backup.metadata?.name ?? '';
  const rest = withoutFinalizer(backup.metadata?.finalizers);
  if (!rest) return;
  const trenchName = backup.spec.trench;
  const claimName = `${trenchName}-backups`;
  const dumpJobNow = await jobNamed(deps, ns, dumpJobName(name), signal);
  const removeJobNow = await jobNamed(deps, ns, removeJobName(name), signal);
  const claimExists =
    deps.claims.get(claimName, ns) !== undefined ||
    (await deps.client.get({ ...CLAIM, namespace: ns, name: claimName }, signal)) !== undefined;
  const step = removalStep({
    ...(backup.status?.jobName ? { jobName: backup.status.jobName } : {}),
    ...(dumpJobNow ? { dumpJob: dumpJobNow } : {}),
    ...(removeJobNow ? { removeJob: removeJobNow } : {}),
    claimExists,
  });
  const ref = { ...TRENCH_BACKUP, namespace: ns, name };
  switch (step.step) {
    case 'wait':
      return;
    case 'stopDump':
      // Foreground: the Job goes only after its pods, so nothing writes once it is gone.
      await deps.client.delete(
        { ...JOB, namespace: ns, name: dumpJobName(name) },
        { propagationPolicy: 'Foreground', signal },
      );
      deps.log.info('Stopping the dump of a deleted TrenchBackup', { backup: `${ns}/${name}` });
      return;
    case 'createRemoveJob': {
      const trench = deps.trenches.get(trenchName, ns);
      const manifest = removeJob({
        namespace: ns,
        trench: trenchName,
        backup: name,
        image: backup.spec.image ?? trench?.spec.postgres?.image ?? DEFAULT_POSTGRES_IMAGE,
        claimName,
      });
      try {
        await deps.client.create(manifest as unknown as KubeObject, { signal });
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
      deps.log.info('Removing the files of a deleted TrenchBackup', { backup: `${ns}/${name}` });
      return;
    }
    case 'failed': {
      const written = await writeStatus(
        deps.client,
        { ...backup, ...TRENCH_BACKUP },
        { ...backup.status, message: step.message },
        { signal },
      );
      if (written) {
        void deps.events.record(
          backup,
          { type: 'Warning', reason: step.reason, note: step.message, action: 'Delete' },
          signal,
        );
        deps.log.warn('Could not remove the files of a deleted TrenchBackup', {
          backup: `${ns}/${name}`,
          note: step.message,
        });
      }
      return;
    }
    case 'release':
      await deps.client.mergePatch(
        ref,
        { metadata: { finalizers: rest, resourceVersion: backup.metadata?.resourceVersion } },
        { signal },
      );
      deps.log.info('Released a deleted TrenchBackup', { backup: `${ns}/${name}`, why: step.why });
      // The removal Job has no owner; its TTL would remove it within the hour.
      if (removeJobNow) {
        await deps.client.delete(
          { ...JOB, namespace: ns, name: removeJobName(name) },
          { propagationPolicy: 'Background', signal },
        );
      }
      return;
  }
}

/**
 * The Trench's status.backup names its newest completed backup and its newest finished drill.
 * Checked on every pass from the cache, not only when the backup or drill finishes, so a
 * write lost to a crash is made by the next.
 */
async function recordOnTrench(
  deps: BackupDeps,
  trench: Trench & KubeObject,
  backup: string,
  status: TrenchBackupStatus,
  signal: AbortSignal,
): Promise<void> {
  if (status.phase !== 'Completed' || !status.completionTime) return;
  const patch: NonNullable<Trench['status']>['backup'] = {};
  const known = trench.status?.backup?.lastSuccessfulTime;
  if (!known || Date.parse(known) < Date.parse(status.completionTime)) {
    patch.lastSuccessfulBackup = backup;
    patch.lastSuccessfulTime = status.completionTime;
  }
  const v = status.verification;
  const drilled = trench.status?.backup?.lastVerification?.time;
  if (
    v?.completionTime &&
    v.phase !== 'Running' &&
    (!drilled || Date.parse(drilled) < Date.parse(v.completionTime))
  ) {
    patch.lastVerification = {
      backup,
      passed: v.phase === 'Passed',
      time: v.completionTime,
      ...(v.message ? { message: v.message } : {}),
    };
  }
  if (Object.keys(patch).length === 0) return;
  await deps.client.mergePatch(
    { ...TRENCH, namespace: trench.metadata.namespace ?? '', name: trench.metadata.name ?? '' },
    { status: { backup: patch } },
    { subresource: 'status', signal },
  );
}

export interface BackupControllerOptions {
  readonly client: KubeClient;
  readonly informers: SharedInformers;
  readonly log: Logger;
  readonly workers?: number;
  readonly metrics?: OperatorMetrics;
}

export function backupController(o: BackupControllerOptions): {
  spec: ControllerSpec;
  deps: BackupDeps;
} {
  const backups = o.informers.informer<TrenchBackupObject>(TRENCH_BACKUP);
  const trenches = o.informers.informer<Trench & KubeObject>(TRENCH);
  const jobs = o.informers.informer(JOB, { labelSelector: OWNED_SELECTOR });
  const claims = o.informers.informer(CLAIM, { labelSelector: OWNED_SELECTOR });
  const deps: BackupDeps = {
    client: o.client,
    backups,
    trenches,
    jobs,
    claims,
    events: new EventRecorder({ client: o.client, log: o.log }),
    log: o.log,
    ...(o.metrics
      ? { failures: registerBackupMetrics(o.metrics.registry, () => backups.list()) }
      : {}),
  };
  return {
    deps,
    spec: {
      name: 'backup',
      primary: backups as unknown as Informer<KubeObject>,
      watches: [
        {
          // A dump Job routes to its TrenchBackup by label (the removal Job has no owner).
          informer: jobs,
          keys: (obj) => {
            const b = obj.metadata?.labels?.[LABEL_BACKUP];
            return b && obj.metadata?.namespace ? [`${obj.metadata.namespace}/${b}`] : [];
          },
        },
        {
          // A backup waiting for its Trench starts when the Trench appears.
          informer: trenches as unknown as Informer<KubeObject>,
          keys: (obj) =>
            backups
              .list()
              .filter(
                (b) =>
                  b.metadata?.namespace === obj.metadata?.namespace &&
                  b.spec.trench === obj.metadata?.name &&
                  b.status?.phase !== 'Completed' &&
                  b.status?.phase !== 'Failed',
              )
              .map((b) => `${b.metadata?.namespace}/${b.metadata?.name}`),
        },
      ],
      reconcile: (key, ctx) => reconcileBackup(deps, key, ctx),
      workers: o.workers ?? 4,
    },
  };
}
