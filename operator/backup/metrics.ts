// The backup metrics, read from the TrenchBackup cache at scrape time (nothing stored, nothing
// stale when a backup is deleted), and the failures counter the controller counts.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { TrenchBackupStatus } from '../../charts/api/backup.js';
import { BACKUP_DRILL_FAILURES, BACKUP_LAST_SUCCESS } from '../../charts/lib/metrics.js';

export const BACKUP_DURATION = 'trench_backup_duration_seconds';
export const BACKUP_SIZE = 'trench_backup_size_bytes';
export const BACKUP_FAILURES = 'trench_backup_failures_total';
export const BACKUP_LAST_VERIFIED = 'trench_backup_last_verified_timestamp_seconds';

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

export interface DrillRecord {
  readonly namespace: string;
  readonly trench: string;
  /** Finished drills that failed since the newest that passed (all of them if none passed). */
  readonly failuresInARow: number;
  /** Unix seconds of the newest drill that passed, if any. */
  readonly lastPassedAt?: number;
}

/** Each Trench's finished restore drills, newest first, as a failure streak. Pure. */
export function drillRecords(backups: readonly BackupSample[]): DrillRecord[] {
  const byTrench = new Map<
    string,
    { namespace: string; trench: string; drills: { at: number; passed: boolean }[] }
  >();
  for (const b of backups) {
    const v = b.status?.verification;
    if (!v?.completionTime || v.phase === 'Running') continue;
    const at = Date.parse(v.completionTime);
    if (Number.isNaN(at)) continue;
    const namespace = b.metadata?.namespace ?? '';
    const key = `${namespace}/${b.spec.trench}`;
    const entry = byTrench.get(key) ?? { namespace, trench: b.spec.trench, drills: [] };
    entry.drills.push({ at, passed: v.phase === 'Passed' });
    byTrench.set(key, entry);
  }
  return [...byTrench.values()].map(({ namespace, trench, drills }) => {
    drills.sort((a, b) => b.at - a.at);
    const passed = drills.findIndex((d) => d.passed);
    return {
      namespace,
      trench,
      failuresInARow: passed === -1 ? drills.length : passed,
      ...(passed === -1 ? {} : { lastPassedAt: drills[passed]!.at / 1000 }),
    };
  });
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
  const verified = new Gauge({
    name: BACKUP_LAST_VERIFIED,
    help: "Unix time of the Trench's newest restore drill that passed.",
    labelNames,
    registers: [],
  });
  new Gauge({
    name: BACKUP_DRILL_FAILURES,
    help: "The Trench's restore drills that failed since the newest that passed: TrenchRestoreDrillFailed.",
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      verified.reset();
      for (const d of drillRecords(backups())) {
        const labels = { namespace: d.namespace, trench: d.trench };
        this.set(labels, d.failuresInARow);
        if (d.lastPassedAt !== undefined) verified.set(labels, d.lastPassedAt);
      }
    },
  });
  registry.registerMetric(verified);
  return new Counter({
    name: BACKUP_FAILURES,
    help: 'TrenchBackups this operator saw fail, by the failure reason (BackoffLimitExceeded, DeadlineExceeded, JobDeleted, ResultUnreadable).',
    labelNames: ['namespace', 'trench', 'reason'],
    registers: [registry],
  });
}
