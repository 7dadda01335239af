// What a TrenchBackup's restore drill should do next, from its request annotation, its status,
// the drill Job and, once that finished, its pod's termination message. Pure, like
// backupProgress (progress.ts); the backup controller does the I/O.
import type { TrenchBackupStatus } from '../../charts/api/backup.js';
import { formatTime } from '../runtime/types.js';
import { drillJobName, parseDrillResult } from './drill-job.js';
import { type JobView, jobOutcome, type PodView, terminationMessage } from './progress.js';

export type Verification = NonNullable<TrenchBackupStatus['verification']>;

export interface DrillInput {
  readonly backup: string;
  readonly status: TrenchBackupStatus;
  /** The playtrenches.xyz/verify annotation, if any. */
  readonly request?: string;
  /** The drill Job status names, as the API server has it. */
  readonly job?: JobView;
  /** Its pods; read only once the Job has finished. */
  readonly pods?: readonly PodView[];
  readonly now: number;
}

export interface DrillProgress {
  /** The status with the drill's part; the same object when nothing changed. */
  readonly status: TrenchBackupStatus;
  readonly createJob?: string;
  readonly needPods?: boolean;
  readonly event?: {
    readonly type: 'Normal' | 'Warning';
    readonly reason: string;
    readonly note: string;
  };
}

/**
 * The rules that keep one request one drill:
 * - a request is answered once: a finished verification of the same request never changes;
 * - the Job's name is derived from the request, and it is created only in the pass that first
 *   records the request, so a retried pass finds the Job instead of making a second one;
 * - only a Completed backup is drilled; a request on any other is refused in status.
 */
export function drillProgress(input: DrillInput): DrillProgress {
  const { status, request } = input;
  const keep = { status };
  const v = status.verification;
  if (!request || (v?.request === request && v.phase !== 'Running')) return keep;
  const now = formatTime(input.now);
  if (status.phase !== 'Completed' || !status.path || !status.checksum) {
    if (status.phase !== 'Failed' && status.phase !== 'Completed') return keep; // not yet
    return finish(input, {
      request,
      phase: 'Failed',
      completionTime: now,
      failureReason: 'NotCompleted',
      message: `A restore drill needs a Completed backup; this one is ${status.phase}`,
    });
  }
  if (v?.request !== request) {
    const jobName = drillJobName(input.backup, request);
    return {
      status: {
        ...status,
        verification: {
          request,
          phase: 'Running',
          jobName,
          startTime: now,
          message: `The restore drill Job ${jobName} is running`,
        },
      },
      createJob: jobName,
      event: {
        type: 'Normal',
        reason: 'DrillStarted',
        note: `Started the restore drill Job ${jobName} (${request})`,
      },
    };
  }
  const failed = (reason: string, message: string) =>
    finish(input, { ...v, phase: 'Failed', completionTime: now, failureReason: reason, message });
  if (!input.job)
    return failed('JobDeleted', `The drill Job ${v.jobName} was deleted before it finished`);
  const outcome = jobOutcome(input.job);
  if (!outcome.done) return keep;
  if (input.pods === undefined) return { status, needPods: true };
  const message = terminationMessage(input.pods, 'drill');
  if (!outcome.succeeded) {
    const why = message || outcome.message || 'the pod left no message';
    return failed(outcome.reason, `The restore drill of ${status.path} failed: ${why}`);
  }
  try {
    const r = parseDrillResult(message);
    return finish(input, {
      ...v,
      phase: 'Passed',
      completionTime: now,
      durationSeconds: r.seconds,
      tables: r.tables,
      rows: r.rows,
      largeObjects: r.largeObjects,
      tableRows: r.counts.slice(0, 200).map((c) => ({ table: c.table, rows: c.rows })),
      message: `Restored ${status.path} into a throwaway PostgreSQL in ${r.seconds} s and read ${r.tables} table(s), ${r.rows} row(s) and ${r.largeObjects} large object(s)`,
    });
  } catch (error) {
    return failed(
      'ResultUnreadable',
      `The drill Job ${v.jobName} succeeded but ${(error as Error).message}`,
    );
  }
}

function finish(input: DrillInput, verification: Verification): DrillProgress {
  const passed = verification.phase === 'Passed';
  return {
    status: { ...input.status, verified: passed, verification },
    event: {
      type: passed ? 'Normal' : 'Warning',
      reason: passed ? 'DrillPassed' : 'DrillFailed',
      note: (verification.message ?? '').slice(0, 1000),
    },
  };
}

/** True while a drill of this backup is requested and not yet answered: retention keeps it. */
export function drillPending(request: string | undefined, status: TrenchBackupStatus | undefined) {
  const v = status?.verification;
  return request !== undefined && (v?.request !== request || v.phase === 'Running');
}
