// The two Jobs of a TrenchRestore, built like the dump Job (dump-job.ts: same image, claim,
// restricted pod, result as the termination message). Pure: inputs in, Job manifests out.
//
// - The verify Job reads the dump file and compares its sha256 with the one the TrenchBackup
//   recorded, then lists the archive's table of contents (pg_restore --list), which fails on a
//   truncated or foreign file. It runs before anything is scaled down, so a bad file costs no
//   downtime.
// - The restore Job checks the sum again (the file could have changed while the workloads
//   stopped) and runs pg_restore --clean --if-exists --single-transaction --exit-on-error: the
//   whole restore is one transaction, so a restore that fails part-way leaves the database as it
//   was. --no-owner and --no-acl leave ownership and grants to the role the Job signs in as, so a
//   forced restore of another Trench's backup does not depend on its role names.
import { claimJob, type DumpSource, jobName, sourceEnv } from './dump-job.js';

/** The label that ties a Job to its TrenchRestore, for the operator's Job informer. */
export const LABEL_RESTORE = 'playtrenches.xyz/restore';

// POSIX sh, like the dump script (the drill uses CHECK_SUM too); BACKUP_PATH and EXPECTED_CHECKSUM come from the TrenchBackup's
// status. A failure writes its reason to the result file, so the Job's termination message says
// what is wrong rather than the last lines of a log.
export const CHECK_SUM = `file="$BACKUP_DIR/$BACKUP_PATH"
if [ ! -f "$file" ]; then
  printf 'the dump file %s is not on the backups claim\\n' "$BACKUP_PATH" > "$RESULT_FILE"
  exit 2
fi
sum="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
if [ "$sum" != "$EXPECTED_CHECKSUM" ]; then
  printf 'checksum mismatch: %s has %s, the TrenchBackup recorded %s\\n' "$BACKUP_PATH" "$sum" "$EXPECTED_CHECKSUM" > "$RESULT_FILE"
  exit 3
fi
`;

export const VERIFY_SCRIPT = `set -eu
${CHECK_SUM}if ! pg_restore --list "$file" > /dev/null 2> /tmp/list.err; then
  printf '%s is not a readable pg_dump archive: %s\\n' "$BACKUP_PATH" "$(tail -c 1000 /tmp/list.err)" > "$RESULT_FILE"
  exit 4
fi
printf '{"verified":"%s","checksum":"%s"}\\n' "$BACKUP_PATH" "$sum" > "$RESULT_FILE"
`;

export const RESTORE_SCRIPT = `set -eu
${CHECK_SUM}if ! pg_restore --clean --if-exists --single-transaction --exit-on-error --no-owner --no-acl --no-password --dbname="$DATABASE_URL" "$file" 2> /tmp/restore.err; then
  printf 'pg_restore failed and rolled back, the database is as it was: %s\\n' "$(tail -c 2000 /tmp/restore.err)" > "$RESULT_FILE"
  exit 5
fi
printf '{"restored":"%s","checksum":"%s"}\\n' "$BACKUP_PATH" "$sum" > "$RESULT_FILE"
`;

export function verifyJobName(restore: string): string {
  return jobName(restore, 'verify');
}

export function restoreJobName(restore: string): string {
  return jobName(restore, 'restore');
}

export interface RestoreJobInput {
  readonly namespace: string;
  readonly trench: string;
  /** The TrenchRestore's name and uid: its Jobs are its children. */
  readonly restore: { readonly name: string; readonly uid: string };
  /** The TrenchBackup, and what its status recorded of the file. */
  readonly backup: { readonly name: string; readonly path: string; readonly checksum: string };
  readonly image: string;
  /** The backups claim holding the file: the backup's Trench's. */
  readonly claimName: string;
}

function restoreClaimJob(
  input: RestoreJobInput,
  step: 'verify' | 'restore',
  script: string,
  extraEnv: Parameters<typeof claimJob>[0]['env'],
  activeDeadlineSeconds: number,
): Record<string, unknown> {
  return claimJob({
    name:
      step === 'verify' ? verifyJobName(input.restore.name) : restoreJobName(input.restore.name),
    namespace: input.namespace,
    trench: input.trench,
    backup: input.backup.name,
    route: { [LABEL_RESTORE]: input.restore.name },
    owner: { kind: 'TrenchRestore', ...input.restore },
    image: input.image,
    claimName: input.claimName,
    container: step,
    script,
    env: [
      { name: 'BACKUP_PATH', value: input.backup.path },
      { name: 'EXPECTED_CHECKSUM', value: input.backup.checksum },
      ...extraEnv,
    ],
    // One attempt each: a verdict is a verdict, and a failed restore already rolled back.
    backoffLimit: 0,
    activeDeadlineSeconds,
    ttlSecondsAfterFinished: 7 * 86400,
  });
}

/** The Job that checks the dump file before anything is stopped. */
export function verifyJob(input: RestoreJobInput): Record<string, unknown> {
  return restoreClaimJob(input, 'verify', VERIFY_SCRIPT, [], 3600);
}

/** The Job that loads the dump into the Trench's database, in one transaction. */
export function restoreJob(
  input: RestoreJobInput & { readonly source: DumpSource },
): Record<string, unknown> {
  return restoreClaimJob(input, 'restore', RESTORE_SCRIPT, sourceEnv(input.source), 6 * 3600);
}
