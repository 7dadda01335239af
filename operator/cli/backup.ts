// `kubectl trench backup`: the TrenchBackup it creates and the lines it prints while waiting.
// Pure: names, objects and text from the Trench, the time and the backup's status.
import type { TrenchBackupStatus, TrenchRestoreStatus } from '../../charts/api/backup.js';

/** `<trench>-manual-<yyyymmddhhmmss>` in UTC: two requests in one second collide, visibly. */
export function manualBackupName(trench: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${trench}-manual-${stamp}`;
}

export function manualBackup(namespace: string, trench: string, now: Date) {
  return {
    apiVersion: 'playtrenches.xyz/v1alpha1',
    kind: 'TrenchBackup',
    metadata: { name: manualBackupName(trench, now), namespace },
    spec: { trench, reason: 'manual' },
  };
}

/** `<trench>-restore-<yyyymmddhhmmss>` in UTC, like manualBackupName. */
export function restoreName(trench: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${trench}-restore-${stamp}`;
}

export function restoreRequest(
  namespace: string,
  trench: string,
  backup: string,
  force: boolean,
  now: Date,
) {
  return {
    apiVersion: 'playtrenches.xyz/v1alpha1',
    kind: 'TrenchRestore',
    metadata: { name: restoreName(trench, now), namespace },
    spec: { trench, backup, force },
  };
}

/**
 * Why a restore from this backup would be refused, said before anything is created; undefined
 * when it can go ahead. The operator checks the same again (restore-progress.ts).
 */
export function restoreRefusal(
  backup: { spec: { trench: string }; status?: TrenchBackupStatus },
  trench: { name: string; uid?: string },
  force: boolean,
): string | undefined {
  const name = JSON.stringify(trench.name);
  const phase = backup.status?.phase ?? 'Pending';
  if (phase === 'Failed') return 'the backup failed: it has no dump to restore';
  if (phase !== 'Completed') {
    return `the backup is ${phase}; wait for it to complete (kubectl trench backups ${trench.name})`;
  }
  const other =
    backup.spec.trench !== trench.name ||
    (backup.status?.trenchUID !== undefined && backup.status.trenchUID !== trench.uid);
  if (other && !force) {
    return `the backup was taken from ${backup.spec.trench === trench.name ? `an earlier Trench named ${name}` : `Trench ${JSON.stringify(backup.spec.trench)}`}, not this one; add --force to restore it anyway`;
  }
  return undefined;
}

/** One progress line, printed when it changes. */
export function progressLine(
  name: string,
  status: TrenchBackupStatus | TrenchRestoreStatus | undefined,
): string {
  const phase = status?.phase ?? 'Pending';
  const message = status?.message ? `: ${status.message}` : '';
  return `${name} ${phase}${message}`;
}

/** Whether waiting is over, and with what exit code (0 Completed, 1 Failed). */
export function finished(
  status: TrenchBackupStatus | TrenchRestoreStatus | undefined,
): number | undefined {
  if (status?.phase === 'Completed') return 0;
  if (status?.phase === 'Failed') return 1;
  return undefined;
}

/** The request `kubectl trench verify` puts on a backup: `manual/<time>`, unique per second. */
export function manualDrillRequest(now: Date): string {
  return `manual/${now.toISOString().replace(/\.\d+Z$/, 'Z')}`;
}

interface DrillCandidate {
  readonly metadata: { readonly name: string; readonly deletionTimestamp?: string };
  readonly spec: { readonly trench: string };
  readonly status?: TrenchBackupStatus;
}

/**
 * The backup `kubectl trench verify NAME [BACKUP]` drills: the named one, which must have
 * completed, or the Trench's newest completed one. A string says why there is none.
 */
export function drillTarget<B extends DrillCandidate>(
  backups: readonly B[],
  trench: string,
  named: string | undefined,
): B | string {
  if (named !== undefined) {
    const b = backups.find((x) => x.metadata.name === named);
    if (!b) return `TrenchBackup ${JSON.stringify(named)} not found`;
    if (b.status?.phase !== 'Completed') {
      return `TrenchBackup ${JSON.stringify(named)} is ${b.status?.phase ?? 'Pending'}: only a Completed backup can be drilled`;
    }
    return b;
  }
  const done = backups.filter(
    (b) =>
      b.spec.trench === trench && b.status?.phase === 'Completed' && !b.metadata.deletionTimestamp,
  );
  done.sort((a, b) =>
    (b.status?.completionTime ?? '').localeCompare(a.status?.completionTime ?? ''),
  );
  return (
    done[0] ??
    `Trench ${JSON.stringify(trench)} has no completed backup to drill (kubectl trench backup ${trench} takes one)`
  );
}

/** One line of a drill's progress, and its exit code once it has answered `request`. */
export function drillProgressLine(
  backup: string,
  status: TrenchBackupStatus | undefined,
  request: string,
): { line: string; code?: number } {
  const v = status?.verification;
  if (v?.request !== request) return { line: `${backup} drill Pending: waiting for the operator` };
  const line = `${backup} drill ${v.phase}${v.message ? `: ${v.message}` : ''}`;
  if (v.phase === 'Passed') return { line, code: 0 };
  if (v.phase === 'Failed') return { line, code: 1 };
  return { line };
}
