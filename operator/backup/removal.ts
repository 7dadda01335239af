// What to do for a TrenchBackup that is being deleted, so that its dump file goes with it. Pure:
// what the operator sees in, the one next step out; the controller does the I/O.
//
// How "no file without an object, no object pointing at a missing file" holds, whenever the
// operator dies:
// - The finalizer is on the TrenchBackup before its dump Job exists, so a file can only be
//   written for an object the API server will keep until the finalizer is gone.
// - A dump is renamed into place before the Job reports success, so `Completed` never points at
//   a file that is not whole.
// - On deletion, a dump Job still running is deleted first, and its pods with it (foreground),
//   so nothing writes while the files are removed. Then a removal Job deletes the dump, its sum
//   and any partial file. Only once that Job has succeeded is the finalizer dropped. Each step
//   is read back from the API server on the next pass, so an operator killed between two of
//   them repeats the step it had not seen done (`rm -f` twice is harmless) and never skips one.
// - A terminating TrenchBackup still exists while its file is removed; restores refuse it.
import { type JobView, jobOutcome } from './progress.js';

/** Holds a TrenchBackup until its dump file is removed from the backups claim. */
export const BACKUP_FILE_FINALIZER = 'playtrenches.xyz/backup-file';

export interface RemovalInput {
  /** status.jobName: set once the dump Job was made. */
  readonly jobName?: string;
  /** The dump Job by its deterministic name, whatever the status says (a lost status write). */
  readonly dumpJob?: JobView;
  readonly removeJob?: JobView;
  /** Whether the backups claim exists; without it there is no file to remove. */
  readonly claimExists: boolean;
}

export type RemovalStep =
  /** Nothing was ever written, or there is nowhere it could be: drop the finalizer now. */
  | { readonly step: 'release'; readonly why: string }
  /** Stop the dump before removing what it writes. */
  | { readonly step: 'stopDump' }
  | { readonly step: 'createRemoveJob' }
  /** A Job (dump being stopped, or removal running) has not finished yet. */
  | { readonly step: 'wait'; readonly on: 'dump' | 'removal' }
  | { readonly step: 'failed'; readonly reason: string; readonly message: string };

export function removalStep(input: RemovalInput): RemovalStep {
  const { dumpJob, removeJob } = input;
  if (dumpJob) {
    if (dumpJob.metadata?.deletionTimestamp) return { step: 'wait', on: 'dump' };
    if (!jobOutcome(dumpJob).done) return { step: 'stopDump' };
  }
  if (!dumpJob && !input.jobName && !removeJob) {
    return { step: 'release', why: 'no dump was started' };
  }
  if (!input.claimExists && !removeJob) {
    return { step: 'release', why: 'the backups claim is gone, and every file with it' };
  }
  if (!removeJob) return { step: 'createRemoveJob' };
  const outcome = jobOutcome(removeJob);
  if (!outcome.done) return { step: 'wait', on: 'removal' };
  if (outcome.succeeded) return { step: 'release', why: 'the dump file was removed' };
  return {
    step: 'failed',
    reason: 'FileRemovalFailed',
    message:
      `The removal Job ${removeJob.metadata?.name ?? ''} failed (${outcome.reason}${outcome.message ? `: ${outcome.message}` : ''}); ` +
      'the TrenchBackup is kept until its file is removed. Delete that Job to try again.',
  };
}

/** The finalizers without ours, or undefined when ours is not there (nothing to write). */
export function withoutFinalizer(finalizers: readonly string[] | undefined): string[] | undefined {
  if (!finalizers?.includes(BACKUP_FILE_FINALIZER)) return undefined;
  return finalizers.filter((f) => f !== BACKUP_FILE_FINALIZER);
}
