// What a TrenchBackup's status should be, from what the operator sees: its Trench, its dump
// Job and, once the Job finished, the termination message of the Job's pod. Pure: objects and
// the time in, the next status and the one thing to do out. The controller does the I/O.
import type { BackupPhase, TrenchBackupStatus } from '../../charts/api/backup.js';
import { formatBytes } from '../runtime/bytes.js';
import { formatTime } from '../runtime/types.js';
import { dumpJobName, dumpPath, parseDumpResult } from './dump-job.js';

/** The parts of a batch/v1 Job this reads. */
export interface JobView {
  readonly metadata?: { readonly name?: string; readonly deletionTimestamp?: string };
  readonly status?: {
    readonly conditions?: readonly {
      readonly type: string;
      readonly status: string;
      readonly reason?: string;
      readonly message?: string;
    }[];
  };
}

/** The parts of a Pod this reads. */
export interface PodView {
  readonly metadata?: { readonly creationTimestamp?: string };
  readonly status?: {
    readonly containerStatuses?: readonly {
      readonly name: string;
      readonly state?: {
        readonly terminated?: { readonly exitCode?: number; readonly message?: string };
      };
    }[];
  };
}

export type JobOutcome =
  | { readonly done: false }
  | { readonly done: true; readonly succeeded: true }
  | {
      readonly done: true;
      readonly succeeded: false;
      readonly reason: string;
      readonly message: string;
    };

/** Complete or Failed, from the Job controller's conditions; running otherwise. */
export function jobOutcome(job: JobView): JobOutcome {
  const conditions = job.status?.conditions ?? [];
  const found = (type: string) => conditions.find((c) => c.type === type && c.status === 'True');
  if (found('Complete')) return { done: true, succeeded: true };
  const failed = found('Failed');
  if (failed) {
    return {
      done: true,
      succeeded: false,
      reason: failed.reason ?? 'Failed',
      message: failed.message ?? '',
    };
  }
  return { done: false };
}

/** The newest pod's termination message for `container`; '' when there is none. */
export function terminationMessage(pods: readonly PodView[], container: string): string {
  const newest = [...pods].sort((a, b) =>
    (b.metadata?.creationTimestamp ?? '').localeCompare(a.metadata?.creationTimestamp ?? ''),
  );
  for (const pod of newest) {
    const s = pod.status?.containerStatuses?.find((c) => c.name === container);
    const message = s?.state?.terminated?.message;
    if (message !== undefined && message.trim() !== '') return message.trim();
  }
  return '';
}

export interface BackupView {
  readonly name: string;
  readonly status?: TrenchBackupStatus;
}

export interface ProgressInput {
  readonly backup: BackupView;
  /** The Trench's uid; undefined when the Trench does not exist. */
  readonly trench?: { readonly name: string; readonly uid: string };
  readonly trenchName: string;
  /** The dump Job as the API server has it (after a direct read when the cache had none). */
  readonly job?: JobView;
  /** The Job's pods; read only once the Job has finished. */
  readonly pods?: readonly PodView[];
  readonly now: number;
}

export interface Progress {
  readonly status: TrenchBackupStatus;
  /** Create the dump Job now. */
  readonly createJob: boolean;
  /** Read the Job's pods, then decide again (the Job finished). */
  readonly needPods: boolean;
  /** Set when the phase changed: Normal for Running and Completed, Warning for Failed. */
  readonly event?: {
    readonly type: 'Normal' | 'Warning';
    readonly reason: string;
    readonly note: string;
  };
}

const TERMINAL: readonly BackupPhase[] = ['Completed', 'Failed'];

export function isTerminal(phase: BackupPhase | undefined): boolean {
  return phase !== undefined && TERMINAL.includes(phase);
}

/**
 * The next step of one TrenchBackup. The rules that keep one backup one dump:
 * - a finished backup never changes again;
 * - the Job is created only while status names no Job, and its name is the backup's, so a
 *   retried or doubled reconcile finds the Job instead of making a second one;
 * - a Job that status names but the API server no longer has fails the backup (someone deleted
 *   it): a second dump is a new TrenchBackup.
 */
export function backupProgress(input: ProgressInput): Progress {
  const status = input.backup.status ?? {};
  const keep = { status, createJob: false, needPods: false } as const;
  if (isTerminal(status.phase)) return keep;
  const now = formatTime(input.now);
  const jobName = dumpJobName(input.backup.name);
  if (!status.jobName) {
    if (!input.trench) {
      const message = `Trench ${input.trenchName} does not exist: the backup waits for it`;
      return { ...keep, status: { ...status, phase: 'Pending', message } };
    }
    return {
      status: {
        ...status,
        phase: 'Running',
        startTime: status.startTime ?? now,
        jobName,
        path: dumpPath(input.backup.name),
        trenchUID: input.trench.uid,
        message: `The dump Job ${jobName} is running`,
      },
      createJob: true,
      needPods: false,
      event: { type: 'Normal', reason: 'Started', note: `Started the dump Job ${jobName}` },
    };
  }
  if (!input.job) {
    return failed(
      status,
      now,
      'JobDeleted',
      `The dump Job ${status.jobName} was deleted before it finished`,
    );
  }
  const outcome = jobOutcome(input.job);
  if (!outcome.done) {
    return { ...keep, status: { ...status, phase: 'Running' } };
  }
  if (input.pods === undefined) return { ...keep, needPods: true };
  const message = terminationMessage(input.pods, 'dump');
  if (!outcome.succeeded) {
    const why = message || outcome.message || 'the pod left no message';
    return failed(status, now, outcome.reason, `The dump Job ${status.jobName} failed: ${why}`);
  }
  try {
    const result = parseDumpResult(message);
    const size = formatBytes(result.sizeBytes);
    return {
      status: {
        ...status,
        phase: 'Completed',
        completionTime: now,
        path: result.path,
        checksum: result.checksum,
        sizeBytes: result.sizeBytes,
        size,
        serverVersion: result.serverVersion,
        message: `Dumped ${size} to ${result.path}`,
      },
      createJob: false,
      needPods: false,
      event: {
        type: 'Normal',
        reason: 'Completed',
        note: `Dumped ${size} (PostgreSQL ${result.serverVersion}) to ${result.path}`,
      },
    };
  } catch (error) {
    return failed(
      status,
      now,
      'ResultUnreadable',
      `The dump Job ${status.jobName} succeeded but ${(error as Error).message}`,
    );
  }
}

function failed(
  status: TrenchBackupStatus,
  now: string,
  reason: string,
  message: string,
): Progress {
  return {
    status: { ...status, phase: 'Failed', completionTime: now, failureReason: reason, message },
    createJob: false,
    needPods: false,
    event: { type: 'Warning', reason: 'Failed', note: message.slice(0, 1000) },
  };
}
