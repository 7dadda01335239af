import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { newestCompleted, registerBackupMetrics } from '../../../operator/backup/metrics.js';

const b = (ns: string, trench: string, status: Record<string, unknown>) => ({
  metadata: { namespace: ns },
  spec: { trench },
  status,
});

const samples = [
  b('prod', 'shop', {
    phase: 'Completed',
    startTime: '2026-12-01T03:00:00Z',
    completionTime: '2026-12-01T03:00:30Z',
    sizeBytes: 100,
  }),
  b('prod', 'shop', {
    phase: 'Completed',
    startTime: '2026-12-02T03:00:00Z',
    completionTime: '2026-12-02T03:01:10Z',
    sizeBytes: 200,
  }),
  // Newer, but not completed: not the newest completed.
  b('prod', 'shop', { phase: 'Failed', completionTime: '2026-12-03T03:00:05Z' }),
  b('prod', 'shop', { phase: 'Running', startTime: '2026-12-03T04:00:00Z' }),
  b('stage', 'shop', {
    phase: 'Completed',
    startTime: '2026-12-02T05:00:00Z',
    completionTime: '2026-12-02T05:00:01Z',
    sizeBytes: 7,
  }),
];

describe('backup metrics', () => {
  it('take the newest completed backup of each Trench, apart by namespace', () => {
    expect(newestCompleted(samples)).toEqual([
      {
        namespace: 'prod',
        trench: 'shop',
        completedAt: Date.parse('2026-12-02T03:01:10Z') / 1000,
        durationSeconds: 70,
        sizeBytes: 200,
      },
      {
        namespace: 'stage',
        trench: 'shop',
        completedAt: Date.parse('2026-12-02T05:00:01Z') / 1000,
        durationSeconds: 1,
        sizeBytes: 7,
      },
    ]);
    expect(newestCompleted([...samples].reverse())).toHaveLength(2);
    expect(newestCompleted([...samples].reverse())[1]).toMatchObject({ sizeBytes: 200 });
  });

  it('are exported from the cache at scrape time, with failures counted by reason', async () => {
    const registry = new Registry();
    let cache = samples;
    const failures = registerBackupMetrics(registry, () => cache);
    failures.inc({ namespace: 'prod', trench: 'shop', reason: 'DeadlineExceeded' });
    const text = await registry.metrics();
    expect(text).toContain(
      `trench_backup_last_success_timestamp_seconds{namespace="prod",trench="shop"} ${Date.parse('2026-12-02T03:01:10Z') / 1000}`,
    );
    expect(text).toContain('trench_backup_duration_seconds{namespace="prod",trench="shop"} 70');
    expect(text).toContain('trench_backup_size_bytes{namespace="stage",trench="shop"} 7');
    expect(text).toContain(
      'trench_backup_failures_total{namespace="prod",trench="shop",reason="DeadlineExceeded"} 1',
    );
    cache = [];
    expect(await registry.metrics()).not.toContain('trench_backup_size_bytes{');
  });
});
