import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  DRILL_SCRIPT,
  drillJob,
  drillJobName,
  drillScratchMi,
  parseDrillResult,
} from '../../../operator/backup/drill-job.js';
import {
  type DrillInput,
  drillPending,
  drillProgress,
} from '../../../operator/backup/drill-progress.js';
import { drillRecords, registerBackupMetrics } from '../../../operator/backup/metrics.js';
import { drillPart } from '../../../operator/trench/status.js';

const NOW = Date.parse('2026-12-06T05:00:07Z');
const SUM = `sha256:${'cd'.repeat(32)}`;
const REQUEST = 'scheduled/2026-12-06T05:00:00Z';
const completed = {
  phase: 'Completed' as const,
  path: 'dumps/shop-202612060300.dump',
  checksum: SUM,
  sizeBytes: 4096,
  completionTime: '2026-12-06T03:00:41Z',
};
const RESULT = JSON.stringify({
  verified: completed.path,
  checksum: SUM,
  seconds: 3,
  database: {
    tables: 2,
    rows: 12,
    largeObjects: 1,
    counts: [
      { table: 'public.orders', rows: 10 },
      { table: 'public.users', rows: 2 },
    ],
  },
});
const base: DrillInput = {
  backup: 'shop-202612060300',
  status: completed,
  request: REQUEST,
  now: NOW,
};
const pod = (message: string) => ({
  metadata: { creationTimestamp: '2026-12-06T05:00:01Z' },
  status: {
    containerStatuses: [{ name: 'drill', state: { terminated: { exitCode: 0, message } } }],
  },
});
const done = { status: { conditions: [{ type: 'Complete', status: 'True' }] } };
const jobName = drillJobName('shop-202612060300', REQUEST);

describe('drillProgress', () => {
  it('does nothing without a request, and answers each request once', () => {
    expect(drillProgress({ ...base, request: undefined }).createJob).toBeUndefined();
    const started = drillProgress(base);
    expect(started.createJob).toBe(jobName);
    expect(started.status.verification).toMatchObject({
      request: REQUEST,
      phase: 'Running',
      jobName,
      startTime: '2026-12-06T05:00:07Z',
    });
    expect(started.event?.reason).toBe('DrillStarted');
    // The next pass finds the Job running: nothing to create, nothing to write.
    const again = drillProgress({ ...base, status: started.status, job: { status: {} } });
    expect(again.createJob).toBeUndefined();
    expect(again.status).toBe(started.status);
    // Finished: pods, then the verdict, with the counts from the pod.
    const needs = drillProgress({ ...base, status: started.status, job: done });
    expect(needs.needPods).toBe(true);
    const passed = drillProgress({
      ...base,
      status: started.status,
      job: done,
      pods: [pod(RESULT)],
    });
    expect(passed.status.verified).toBe(true);
    expect(passed.status.verification).toMatchObject({
      phase: 'Passed',
      durationSeconds: 3,
      tables: 2,
      rows: 12,
      largeObjects: 1,
      tableRows: [
        { table: 'public.orders', rows: 10 },
        { table: 'public.users', rows: 2 },
      ],
      completionTime: '2026-12-06T05:00:07Z',
    });
    expect(passed.event).toMatchObject({ type: 'Normal', reason: 'DrillPassed' });
    // Answered: the same request never runs again; a new one does, with another Job.
    expect(drillProgress({ ...base, status: passed.status }).status).toBe(passed.status);
    const next = drillProgress({
      ...base,
      status: passed.status,
      request: 'manual/2026-12-07T10:00:00Z',
    });
    expect(next.createJob).toBeDefined();
    expect(next.createJob).not.toBe(jobName);
    // The old verdict stays until the new one is in.
    expect(next.status.verified).toBe(true);
  });

  it("fails with the pod's words, or when the Job is gone", () => {
    const started = drillProgress(base).status;
    const failedJob = {
      status: {
        conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }],
      },
    };
    const failed = drillProgress({
      ...base,
      status: started,
      job: failedJob,
      pods: [pod('pg_restore of dumps/x.dump into a scratch PostgreSQL failed: bad header')],
    });
    expect(failed.status.verified).toBe(false);
    expect(failed.status.verification).toMatchObject({
      phase: 'Failed',
      failureReason: 'BackoffLimitExceeded',
    });
    expect(failed.status.verification?.message).toContain('bad header');
    expect(failed.event).toMatchObject({ type: 'Warning', reason: 'DrillFailed' });
    const gone = drillProgress({ ...base, status: started });
    expect(gone.status.verification).toMatchObject({
      phase: 'Failed',
      failureReason: 'JobDeleted',
    });
    const unreadable = drillProgress({ ...base, status: started, job: done, pods: [pod('{}')] });
    expect(unreadable.status.verification?.failureReason).toBe('ResultUnreadable');
  });

  it('refuses a backup that failed, and waits for one still running', () => {
    const failed = drillProgress({ ...base, status: { phase: 'Failed' } });
    expect(failed.createJob).toBeUndefined();
    expect(failed.status.verification).toMatchObject({
      phase: 'Failed',
      failureReason: 'NotCompleted',
    });
    const running = drillProgress({ ...base, status: { phase: 'Running' } });
    expect(running.status.verification).toBeUndefined();
  });

  it('holds a backup for retention while a request is unanswered', () => {
    expect(drillPending(undefined, completed)).toBe(false);
    expect(drillPending(REQUEST, completed)).toBe(true);
    const started = drillProgress(base).status;
    expect(drillPending(REQUEST, started)).toBe(true);
    const passed = drillProgress({ ...base, status: started, job: done, pods: [pod(RESULT)] });
    expect(drillPending(REQUEST, passed.status)).toBe(false);
  });
});

describe('the drill Job', () => {
  it('runs the drill script in a restricted pod with a scratch folder sized from the dump', () => {
    const job = drillJob({
      namespace: 'prod',
      trench: 'shop',
      backup: {
        name: 'shop-202612060300',
        uid: 'u1',
        path: completed.path,
        checksum: SUM,
        sizeBytes: 300 * 1024 * 1024,
      },
      request: REQUEST,
      image: 'postgres:16',
      claimName: 'shop-backups',
    }) as {
      metadata: { name: string; ownerReferences: { kind: string; uid: string }[] };
      spec: {
        backoffLimit: number;
        template: {
          spec: {
            containers: {
              command: string[];
              env: { name: string; value?: string }[];
              resources: { limits: Record<string, string> };
            }[];
            volumes: { name: string; emptyDir?: { sizeLimit: string } }[];
          };
        };
      };
    };
    expect(job.metadata.name).toBe(jobName);
    expect(job.metadata.ownerReferences[0]).toMatchObject({ kind: 'TrenchBackup', uid: 'u1' });
    expect(job.spec.backoffLimit).toBe(0);
    const c = job.spec.template.spec.containers[0]!;
    expect(c.command).toEqual(['sh', '-c', DRILL_SCRIPT]);
    const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      BACKUP_PATH: completed.path,
      EXPECTED_CHECKSUM: SUM,
      SCRATCH_DIR: '/scratch',
    });
    expect(
      job.spec.template.spec.volumes.find((v) => v.name === 'scratch')?.emptyDir?.sizeLimit,
    ).toBe('3000Mi');
    expect(c.resources.limits['ephemeral-storage']).toBe('3256Mi');
  });

  it('sizes scratch at ten times the dump, at least 1 GiB', () => {
    expect(drillScratchMi(0)).toBe(1024);
    expect(drillScratchMi(50 * 1024 * 1024)).toBe(1024);
    expect(drillScratchMi(1024 * 1024 * 1024)).toBe(10240);
  });

  it('is named per request, within 63 characters', () => {
    const long = `a${'b'.repeat(61)}`;
    expect(drillJobName(long, REQUEST).length).toBeLessThanOrEqual(63);
    expect(drillJobName('shop-1', 'manual/a')).not.toBe(drillJobName('shop-1', 'manual/b'));
  });

  it('reads a result, and names what a bad one lacks', () => {
    expect(parseDrillResult(RESULT)).toMatchObject({ seconds: 3, tables: 2, rows: 12 });
    expect(() => parseDrillResult('not json')).toThrow(/is not JSON/);
    expect(() => parseDrillResult('{"seconds":1,"database":{"tables":1}}')).toThrow(
      /lacks seconds, tables, rows, largeObjects or counts/,
    );
  });
});

describe('drill metrics and the BackupVerified condition', () => {
  const v = (ns: string, trench: string, phase: string, completionTime: string) => ({
    metadata: { namespace: ns },
    spec: { trench },
    status: {
      phase: 'Completed' as const,
      verification: { request: 'r', phase: phase as 'Passed', completionTime },
    },
  });
  const samples = [
    v('prod', 'shop', 'Passed', '2026-11-01T05:00:00Z'),
    v('prod', 'shop', 'Failed', '2026-12-01T05:00:00Z'),
    v('prod', 'shop', 'Failed', '2026-12-02T05:00:00Z'),
    v('prod', 'shop', 'Running', '2026-12-03T05:00:00Z'),
    v('stage', 'shop', 'Passed', '2026-12-01T05:00:00Z'),
    v('stage', 'web', 'Failed', '2026-12-01T05:00:00Z'),
  ];

  it('counts failures since the newest drill that passed, per Trench', () => {
    const byKey = Object.fromEntries(
      drillRecords(samples).map((r) => [`${r.namespace}/${r.trench}`, r]),
    );
    expect(byKey['prod/shop']).toEqual({
      namespace: 'prod',
      trench: 'shop',
      failuresInARow: 2,
      lastPassedAt: Date.parse('2026-11-01T05:00:00Z') / 1000,
    });
    expect(byKey['stage/shop']?.failuresInARow).toBe(0);
    expect(byKey['stage/web']).toEqual({ namespace: 'stage', trench: 'web', failuresInARow: 1 });
  });

  it('exports them at scrape time', async () => {
    const registry = new Registry();
    registerBackupMetrics(registry, () => samples);
    const text = await registry.metrics();
    expect(text).toContain(
      'trench_backup_drill_failures_in_a_row{namespace="prod",trench="shop"} 2',
    );
    expect(text).toContain(
      'trench_backup_drill_failures_in_a_row{namespace="stage",trench="web"} 1',
    );
    expect(text).not.toContain(
      'trench_backup_last_verified_timestamp_seconds{namespace="stage",trench="web"}',
    );
  });

  it('says BackupVerified and, for a failed drill, Degraded as a warning', () => {
    expect(drillPart(undefined)).toBeUndefined();
    const ok = drillPart({ backup: 'b1', passed: true, time: '2026-12-01T05:00:00Z' });
    expect(ok?.conditions?.[0]).toMatchObject({
      type: 'BackupVerified',
      status: 'True',
      reason: 'DrillPassed',
    });
    expect(ok?.problems).toBeUndefined();
    const bad = drillPart({
      backup: 'b1',
      passed: false,
      time: '2026-12-01T05:00:00Z',
      message: 'pg_restore failed',
    });
    expect(bad?.conditions?.[0]).toMatchObject({
      type: 'BackupVerified',
      status: 'False',
      reason: 'DrillFailed',
    });
    expect(bad?.problems?.[0]).toMatchObject({ severity: 'warning', reason: 'RestoreDrillFailed' });
    expect(bad?.problems?.[0]?.message).toContain('b1');
  });
});
