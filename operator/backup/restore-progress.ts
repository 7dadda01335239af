// What a TrenchRestore's status should be and the one thing to do next, from what the operator
// sees: the restore, its Trench and TrenchBackup, the other restores of that Trench, the API and
// worker Deployments and the restore's two Jobs. Pure; restore.ts does the I/O.
//
//   Pending → Verifying → Quiescing → Restoring → Resuming → Completed
//                 ↓                       ↓ (failed: the database is as it was)
//               Failed                Resuming → Failed
//
// Everything a restarted operator needs is in status: the phase, the replicas to give back
// (previousReplicas, written in the same write that starts Quiescing, before anything is scaled
// down) and a failure already known (failureReason, kept through Resuming). Each phase's exit is
// read from the API server, never remembered, so a killed operator repeats a step it had not
// seen done (every step is idempotent: deterministic Job names, scale-to-a-number) and never
// skips one. The API Deployment is held at 0 by the Trench controller while isHolding(phase);
// the worker's replicas belong to the scaler, which holds still, so this controller sets them.
import type {
  RestorePhase,
  TrenchBackupStatus,
  TrenchRestoreStatus,
} from '../../charts/api/backup.js';
import { formatTime } from '../runtime/types.js';
import { type JobView, jobOutcome, type PodView, terminationMessage } from './progress.js';
import { restoreJobName, verifyJobName } from './restore-job.js';

/** The phases in which the Trench's API and workers stay at 0 replicas. */
export function isHolding(phase: RestorePhase | undefined): boolean {
  return phase === 'Quiescing' || phase === 'Restoring';
}

export function isRestoreFinished(phase: RestorePhase | undefined): boolean {
  return phase === 'Completed' || phase === 'Failed';
}

export interface DeploymentView {
  readonly metadata?: { readonly generation?: number };
  readonly spec?: { readonly replicas?: number };
  readonly status?: {
    readonly observedGeneration?: number;
    readonly replicas?: number;
    readonly availableReplicas?: number;
  };
}

export interface RestoreView {
  readonly name: string;
  readonly creationTimestamp: string;
  readonly spec: { readonly trench: string; readonly backup: string; readonly force?: boolean };
  readonly status?: TrenchRestoreStatus;
}

export interface RestoreInput {
  readonly restore: RestoreView;
  readonly trench?: { readonly name: string; readonly uid: string; readonly deleting: boolean };
  readonly backup?: {
    readonly name: string;
    readonly trench: string;
    readonly deleting: boolean;
    readonly status?: TrenchBackupStatus;
  };
  /** The other TrenchRestores of the same Trench (any phase). */
  readonly others: readonly RestoreView[];
  readonly api?: DeploymentView;
  readonly worker?: DeploymentView;
  /** The Job status.jobName names, as the API server has it. */
  readonly job?: JobView;
  /** That Job's pods; read only once it has finished. */
  readonly pods?: readonly PodView[];
  readonly now: number;
}

export type RestoreAction =
  | { readonly kind: 'createVerifyJob' }
  | { readonly kind: 'createRestoreJob' }
  /** Set the worker Deployment's replicas (under the scaler's field manager). */
  | { readonly kind: 'scaleWorker'; readonly replicas: number };

export interface RestoreProgress {
  readonly status: TrenchRestoreStatus;
  readonly action?: RestoreAction;
  /** Read the finished Job's pods, then decide again. */
  readonly needPods: boolean;
  /** Set when the phase changed. */
  readonly event?: {
    readonly type: 'Normal' | 'Warning';
    readonly reason: string;
    readonly note: string;
  };
}

/** Restores go one at a time per Trench: the one under way, else the oldest (then by name). */
function ahead(restore: RestoreView, others: readonly RestoreView[]): RestoreView | undefined {
  const waiting = others.filter(
    (o) => o.name !== restore.name && !isRestoreFinished(o.status?.phase),
  );
  const started = waiting.find(
    (o) => o.status?.phase !== undefined && o.status.phase !== 'Pending',
  );
  if (started) return started;
  return waiting.find(
    (o) =>
      o.creationTimestamp < restore.creationTimestamp ||
      (o.creationTimestamp === restore.creationTimestamp && o.name < restore.name),
  );
}

const pods = (d: DeploymentView | undefined) => d?.status?.replicas ?? 0;
const stopped = (d: DeploymentView | undefined) =>
  d === undefined ||
  ((d.spec?.replicas ?? 1) === 0 &&
    pods(d) === 0 &&
    (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0));
/** Back: asked for replicas again and at least as many available as before (or as asked). */
const resumed = (d: DeploymentView | undefined, previous: number) =>
  d === undefined ||
  previous === 0 ||
  ((d.spec?.replicas ?? 0) > 0 &&
    (d.status?.availableReplicas ?? 0) >= Math.min(previous, d.spec?.replicas ?? 0));

export function restoreProgress(input: RestoreInput): RestoreProgress {
  const status = input.restore.status ?? {};
  const phase = status.phase;
  const keep: RestoreProgress = { status, needPods: false };
  if (isRestoreFinished(phase)) return keep;
  const now = formatTime(input.now);
  const { trench, backup } = input;
  const spec = input.restore.spec;
  const fail = (reason: string, message: string): RestoreProgress => ({
    status: { ...status, phase: 'Failed', completionTime: now, failureReason: reason, message },
    needPods: false,
    event: { type: 'Warning', reason: 'RestoreFailed', note: message.slice(0, 1000) },
  });

  if (phase === undefined || phase === 'Pending') {
    const wait = (message: string): RestoreProgress => ({
      status: { ...status, phase: 'Pending', message },
      needPods: false,
    });
    if (!trench) return wait(`Trench ${spec.trench} does not exist: the restore waits for it`);
    if (!backup) return fail('BackupNotFound', `TrenchBackup ${spec.backup} does not exist`);
    if (backup.deleting) {
      return fail('BackupDeleted', `TrenchBackup ${spec.backup} is being deleted, with its file`);
    }
    const bs = backup.status;
    if (bs?.phase === 'Failed') {
      return fail('BackupFailed', `TrenchBackup ${spec.backup} failed: it has no dump to restore`);
    }
    if (bs?.phase !== 'Completed' || !bs.path || !bs.checksum) {
      return wait(
        `Waiting for TrenchBackup ${spec.backup} to complete (it is ${bs?.phase ?? 'Pending'})`,
      );
    }
    const sameTrench = backup.trench === trench.name && bs.trenchUID === trench.uid;
    if (!sameTrench && !spec.force) {
      const from =
        backup.trench === trench.name
          ? `an earlier Trench named ${trench.name} (uid ${bs.trenchUID ?? 'unknown'}), not this one (uid ${trench.uid})`
          : `Trench ${backup.trench}, not ${trench.name}`;
      return fail(
        'OtherTrench',
        `TrenchBackup ${spec.backup} was taken from ${from}; create a TrenchRestore with spec.force: true (kubectl trench restore --force) to restore it anyway`,
      );
    }
    const first = ahead(input.restore, input.others);
    if (first) {
      return wait(
        `Waiting for TrenchRestore ${first.name}: one restore at a time per Trench (it is ${first.status?.phase ?? 'Pending'})`,
      );
    }
    const job = verifyJobName(input.restore.name);
    return {
      status: {
        ...status,
        phase: 'Verifying',
        startTime: status.startTime ?? now,
        jobName: job,
        message: `Checking the sum of ${bs.path} (Job ${job}); nothing is stopped yet`,
      },
      action: { kind: 'createVerifyJob' },
      needPods: false,
      event: {
        type: 'Normal',
        reason: 'Verifying',
        note: `Restoring TrenchBackup ${spec.backup} into Trench ${trench.name}: verifying ${bs.path}`,
      },
    };
  }

  if (!trench || trench.deleting) {
    // Nothing left to resume: the Trench and its workloads are gone or going.
    return fail('TrenchDeleted', `Trench ${spec.trench} was deleted during the restore`);
  }

  if (phase === 'Verifying') {
    // A Job the API server does not have was lost with a crash or deleted; checking a sum
    // again is harmless.
    if (!input.job) return { ...keep, action: { kind: 'createVerifyJob' } };
    const outcome = jobOutcome(input.job);
    if (!outcome.done) return keep;
    if (input.pods === undefined) return { ...keep, needPods: true };
    const message = terminationMessage(input.pods, 'verify');
    if (!outcome.succeeded) {
      const reason = /checksum mismatch/.test(message)
        ? 'ChecksumMismatch'
        : /not on the backups claim/.test(message)
          ? 'FileMissing'
          : 'VerifyFailed';
      return fail(
        reason,
        `The verify Job ${status.jobName} failed: ${message || outcome.message || outcome.reason}; nothing was stopped`,
      );
    }
    const previousReplicas = status.previousReplicas ?? {
      api: input.api?.spec?.replicas ?? 0,
      worker: input.worker?.spec?.replicas ?? 0,
    };
    return {
      status: {
        ...status,
        phase: 'Quiescing',
        previousReplicas,
        message: `Verified; scaling the API (${previousReplicas.api}) and workers (${previousReplicas.worker}) to 0`,
      },
      needPods: false,
      event: {
        type: 'Normal',
        reason: 'Quiescing',
        note: `Verified ${backup?.status?.path ?? spec.backup}; scaling the API and workers to 0 (queued jobs stay in Redis)`,
      },
    };
  }

  if (phase === 'Quiescing') {
    if ((input.worker?.spec?.replicas ?? 0) !== 0) {
      return { ...keep, action: { kind: 'scaleWorker', replicas: 0 } };
    }
    if (!stopped(input.api) || !stopped(input.worker)) {
      const message = `Waiting for ${pods(input.api)} API and ${pods(input.worker)} worker pod(s) to stop`;
      return { status: { ...status, message }, needPods: false };
    }
    if (!backup?.status?.path || !backup.status.checksum) {
      return resuming(status, 'BackupDeleted', `TrenchBackup ${spec.backup} is gone`);
    }
    const job = restoreJobName(input.restore.name);
    return {
      status: {
        ...status,
        phase: 'Restoring',
        jobName: job,
        message: `Running pg_restore in one transaction (Job ${job})`,
      },
      action: { kind: 'createRestoreJob' },
      needPods: false,
      event: { type: 'Normal', reason: 'Restoring', note: `Started the restore Job ${job}` },
    };
  }

  if (phase === 'Restoring') {
    if (!input.job) {
      return resuming(
        status,
        'JobDeleted',
        `The restore Job ${status.jobName} was deleted before it finished; the restore is one transaction, so the database is as it was or wholly restored`,
      );
    }
    const outcome = jobOutcome(input.job);
    if (!outcome.done) return keep;
    if (input.pods === undefined) return { ...keep, needPods: true };
    const message = terminationMessage(input.pods, 'restore');
    if (!outcome.succeeded) {
      return resuming(
        status,
        /checksum mismatch/.test(message) ? 'ChecksumMismatch' : 'RestoreFailed',
        `The restore Job ${status.jobName} failed: ${message || outcome.message || outcome.reason}`,
      );
    }
    return {
      status: {
        ...status,
        phase: 'Resuming',
        message: `Restored ${backup?.status?.path ?? spec.backup}; scaling the API and workers back`,
      },
      needPods: false,
      event: {
        type: 'Normal',
        reason: 'Resuming',
        note: `Restored TrenchBackup ${spec.backup}; scaling the API and workers back`,
      },
    };
  }

  // Resuming: the Trench controller gives the API its replicas back once the phase is written.
  const previous = status.previousReplicas ?? { api: 0, worker: 0 };
  if (previous.worker > 0 && (input.worker?.spec?.replicas ?? 0) === 0) {
    return { ...keep, action: { kind: 'scaleWorker', replicas: previous.worker } };
  }
  if (!resumed(input.api, previous.api) || !resumed(input.worker, previous.worker)) {
    const what = status.failureReason ? 'The restore failed; resuming' : 'Restored; resuming';
    const message = `${what}: ${input.api?.status?.availableReplicas ?? 0}/${previous.api} API and ${input.worker?.status?.availableReplicas ?? 0}/${previous.worker} worker pod(s) available`;
    return {
      status: { ...status, message: status.failureReason ? (status.message ?? message) : message },
      needPods: false,
    };
  }
  if (status.failureReason) {
    const message = `${status.message ?? status.failureReason}. The API and workers are back on the database as it was before the restore.`;
    return {
      status: { ...status, phase: 'Failed', completionTime: now, message },
      needPods: false,
      event: { type: 'Warning', reason: 'RestoreFailed', note: message.slice(0, 1000) },
    };
  }
  const message = `Restored TrenchBackup ${spec.backup}; the API and workers are back`;
  return {
    status: { ...status, phase: 'Completed', completionTime: now, message },
    needPods: false,
    event: { type: 'Normal', reason: 'Completed', note: message },
  };
}

/** A restore that went wrong once the workloads were stopped: bring them back, then fail. */
function resuming(status: TrenchRestoreStatus, reason: string, message: string): RestoreProgress {
  return {
    status: { ...status, phase: 'Resuming', failureReason: reason, message },
    needPods: false,
    event: { type: 'Warning', reason, note: `${message.slice(0, 900)}; resuming the workloads` },
  };
}
