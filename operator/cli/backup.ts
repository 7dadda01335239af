// `kubectl trench backup`: the TrenchBackup it creates and the lines it prints while waiting.
// Pure: names, objects and text from the Trench, the time and the backup's status.
import type { TrenchBackupStatus } from '../../charts/api/backup.js';

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

/** One progress line, printed when it changes. */
export function progressLine(name: string, status: TrenchBackupStatus | undefined): string {
  const phase = status?.phase ?? 'Pending';
  const message = status?.message ? `: ${status.message}` : '';
  return `${name} ${phase}${message}`;
}

/** Whether waiting is over, and with what exit code (0 Completed, 1 Failed). */
export function finished(status: TrenchBackupStatus | undefined): number | undefined {
  if (status?.phase === 'Completed') return 0;
  if (status?.phase === 'Failed') return 1;
  return undefined;
}
