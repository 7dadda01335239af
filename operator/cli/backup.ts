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
