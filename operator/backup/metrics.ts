// The backup metrics, read from the TrenchBackup cache at scrape time (nothing stored, nothing
// stale when a backup is deleted), and the failures counter the controller counts.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { TrenchBackupStatus } from '../../charts/api/backup.js';
import { BACKUP_LAST_SUCCESS } from '../../charts/lib/metrics.js';

export const BACKUP_DURATION = 'trench_backup_duration_seconds';
export const BACKUP_SIZE = 'trench_backup_size_bytes';
export const BACKUP_FAILURES = 'trench_backup_failures_total';

export interface BackupSample {
  readonly metadata?: { readonly namespace?: string };
  readonly spec: { readonly trench: string };
  readonly status?: TrenchBackupStatus;
}

export interface NewestBackup {
  readonly namespace: string;
  readonly trench: string;
  /** Unix seconds of its completion. */
  readonly completedAt: number;
  readonly durationSeconds: number;
  readonly sizeBytes: number;
}

/** The newest completed backup of each Trench. Pure. */
export function newestCompleted(backups: readonly BackupSample[]): NewestBackup[] {
  const newest = new Map<string, NewestBackup>();
  for (const b of backups) {
    const s = b.status;
    if (s?.phase !== 'Completed' || !s.completionTime) continue;
    const completed = Date.parse(s.completionTime);
    if (Number.isNaN(completed)) continue;
    const namespace = b.metadata?.namespace ?? '';
    const key = `${namespace}/${b.spec.trench}`;
    if ((newest.get(key)?.completedAt ?? -1) * 1000 >= completed) continue;
    const started = s.startTime ? Date.parse(s.startTime) : completed;
    newest.set(key, {
      namespace,
      trench: b.spec.trench,
      completedAt: completed / 1000,
      durationSeconds: Math.max(0, (completed - started) / 1000),
      sizeBytes: s.sizeBytes ?? 0,
    });
  }
  return [...newest.values()];
}

/** Registers the gauges over `backups` and returns the failures counter. */
export function registerBackupMetrics(
  registry: Registry,
  backups: () => readonly BackupSample[],
): Counter<'namespace' | 'trench' | 'reason'> {
  const labelNames = ['namespace', 'trench'] as const;
  const duration = new Gauge({
    name: BACKUP_DURATION,
    help: "How long the Trench's newest completed backup took, start to completion.",
    labelNames,
    registers: [],
  });
  const size = new Gauge({
    name: BACKUP_SIZE,
    help: "Size of the Trench's newest completed dump.",
    labelNames,
    registers: [],
  });
  // The first gauge fills all three, so they come from one read of the cache.
  new Gauge({
    name: BACKUP_LAST_SUCCESS,
    help: "Unix time of the Trench's newest completed backup.",
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      duration.reset();
      size.reset();
      for (const n of newestCompleted(backups())) {
        const labels = { namespace: n.namespace, trench: n.trench };
        this.set(labels, n.completedAt);
        duration.set(labels, n.durationSeconds);
        size.set(labels, n.sizeBytes);
      }
    },
  });
  registry.registerMetric(duration);
  registry.registerMetric(size);
  return new Counter({
    name: BACKUP_FAILURES,
    help: 'TrenchBackups this operator saw fail, by the failure reason (BackoffLimitExceeded, DeadlineExceeded, JobDeleted, ResultUnreadable).',
    labelNames: ['namespace', 'trench', 'reason'],
    registers: [registry],
  });
}
