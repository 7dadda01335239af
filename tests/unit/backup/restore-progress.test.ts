import { describe, expect, it } from 'vitest';
import type { TrenchRestoreStatus } from '../../../charts/api/backup.js';
import {
  isHolding,
  type RestoreInput,
  type RestoreProgress,
  restoreProgress,
} from '../../../operator/backup/restore-progress.js';

const NOW = Date.parse('2026-12-04T08:00:00Z');
const SUM = `sha256:${'cd'.repeat(32)}`;
const complete = { status: { conditions: [{ type: 'Complete', status: 'True' }] } };
const failedJob = {
  status: { conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] },
};
const pod = (container: string, message: string) => ({
  metadata: { creationTimestamp: '2026-12-04T07:59:00Z' },
  status: { containerStatuses: [{ name: container, state: { terminated: { message } } }] },
});
const deployment = (spec: number, pods: number, available = pods) => ({
  metadata: { generation: 3 },
  spec: { replicas: spec },
  status: { observedGeneration: 3, replicas: pods, availableReplicas: available },
});

const base: RestoreInput = {
  restore: {
    name: 'shop-restore-1',
    creationTimestamp: '2026-12-04T07:58:00Z',
    spec: { trench: 'shop', backup: 'shop-202612040300' },
  },
  trench: { name: 'shop', uid: 'uid-shop', deleting: false },
  backup: {
    name: 'shop-202612040300',
    trench: 'shop',
    deleting: false,
    status: {
      phase: 'Completed',
      path: 'dumps/shop-202612040300.dump',
      checksum: SUM,
      trenchUID: 'uid-shop',
    },
  },
  others: [],
  api: deployment(3, 3),
  worker: deployment(2, 2),
  now: NOW,
};

/** One pass with the restore's status as the previous pass left it. */
const at = (status: TrenchRestoreStatus, more: Partial<RestoreInput> = {}): RestoreProgress =>
  restoreProgress({ ...base, restore: { ...base.restore, status }, ...more });

describe('restoreProgress', () => {
  it('walks Pending → Verifying → Quiescing → Restoring → Resuming → Completed', () => {
    const p1 = restoreProgress(base);
    expect(p1.status).toMatchObject({ phase: 'Verifying', jobName: 'shop-restore-1-verify' });
    expect(p1.action).toEqual({ kind: 'createVerifyJob' });

    // The verify Job runs: nothing changes, nothing is made again.
    expect(at(p1.status, { job: {} })).toEqual({ status: p1.status, needPods: false });
    // It succeeded: the pods are read, then the replicas are remembered before any scaling.
    expect(at(p1.status, { job: complete }).needPods).toBe(true);
    const p2 = at(p1.status, { job: complete, pods: [pod('verify', '{"verified":"x"}')] });
    expect(p2.status).toMatchObject({
      phase: 'Quiescing',
      previousReplicas: { api: 3, worker: 2 },
    });
    expect(p2.action).toBeUndefined();
    expect(isHolding(p2.status.phase)).toBe(true);

    // Quiescing: the workers are set to 0 here; the API by the Trench controller.
    expect(at(p2.status).action).toEqual({ kind: 'scaleWorker', replicas: 0 });
    const stopping = at(p2.status, { api: deployment(0, 1), worker: deployment(0, 0) });
    expect(stopping.status.phase).toBe('Quiescing');
    expect(stopping.status.message).toBe('Waiting for 1 API and 0 worker pod(s) to stop');
    const p3 = at(p2.status, { api: deployment(0, 0), worker: deployment(0, 0) });
    expect(p3.status).toMatchObject({ phase: 'Restoring', jobName: 'shop-restore-1-restore' });
    expect(p3.action).toEqual({ kind: 'createRestoreJob' });

    const held = { api: deployment(0, 0), worker: deployment(0, 0) };
    const p4 = at(p3.status, { ...held, job: complete, pods: [pod('restore', '{}')] });
    expect(p4.status.phase).toBe('Resuming');
    expect(isHolding(p4.status.phase)).toBe(false);

    // Resuming: the workers get their 2 back; done once both are available again.
    expect(at(p4.status, held).action).toEqual({ kind: 'scaleWorker', replicas: 2 });
    const back = at(p4.status, { api: deployment(3, 3, 1), worker: deployment(2, 2) });
    expect(back.status.phase).toBe('Resuming');
    expect(back.status.message).toMatch(/1\/3 API and 2\/2 worker/);
    const p5 = at(p4.status, { api: deployment(3, 3), worker: deployment(2, 2) });
    expect(p5.status).toMatchObject({ phase: 'Completed', completionTime: '2026-12-04T08:00:00Z' });
    expect(p5.event).toMatchObject({ type: 'Normal', reason: 'Completed' });
    // Finished is final.
    expect(at(p5.status, { api: deployment(0, 0) })).toEqual({
      status: p5.status,
      needPods: false,
    });
  });

  it('keeps the replicas first remembered when Verifying is decided again after a crash', () => {
    const status = {
      phase: 'Verifying' as const,
      jobName: 'shop-restore-1-verify',
      previousReplicas: { api: 4, worker: 1 },
    };
    const p = at(status, { job: complete, pods: [pod('verify', '{}')], api: deployment(0, 0) });
    expect(p.status.previousReplicas).toEqual({ api: 4, worker: 1 });
  });

  it('makes a lost verify Job again, but never a lost restore Job: that fails, after resuming', () => {
    expect(at({ phase: 'Verifying', jobName: 'shop-restore-1-verify' }).action).toEqual({
      kind: 'createVerifyJob',
    });
    const p = at({
      phase: 'Restoring',
      jobName: 'shop-restore-1-restore',
      previousReplicas: { api: 3, worker: 2 },
    });
    expect(p.action).toBeUndefined();
    expect(p.status).toMatchObject({ phase: 'Resuming', failureReason: 'JobDeleted' });
  });

  it('fails at Verifying on a checksum mismatch, and stops nothing', () => {
    const p = at(
      { phase: 'Verifying', jobName: 'shop-restore-1-verify' },
      {
        job: failedJob,
        pods: [
          pod(
            'verify',
            `checksum mismatch: dumps/x.dump has sha256:00, the TrenchBackup recorded ${SUM}`,
          ),
        ],
      },
    );
    expect(p.status).toMatchObject({ phase: 'Failed', failureReason: 'ChecksumMismatch' });
    expect(p.status.message).toMatch(/checksum mismatch.*nothing was stopped$/);
    expect(p.status.previousReplicas).toBeUndefined();
    expect(p.action).toBeUndefined();
  });

  it('resumes after a failed pg_restore, then fails saying the database is as it was', () => {
    const restoring = {
      phase: 'Restoring' as const,
      jobName: 'shop-restore-1-restore',
      previousReplicas: { api: 3, worker: 2 },
    };
    const message = 'pg_restore failed and rolled back, the database is as it was: ERROR: x';
    const p = at(restoring, { job: failedJob, pods: [pod('restore', message)] });
    expect(p.status).toMatchObject({ phase: 'Resuming', failureReason: 'RestoreFailed' });
    expect(p.event?.type).toBe('Warning');
    const end = at(p.status, { api: deployment(3, 3), worker: deployment(2, 2) });
    expect(end.status.phase).toBe('Failed');
    expect(end.status.message).toMatch(/rolled back.*back on the database as it was/s);
  });

  it.each([
    [
      'another Trench',
      {
        ...base.backup!,
        trench: 'blog',
        status: { ...base.backup!.status, trenchUID: 'uid-blog' },
      },
      /taken from Trench blog, not shop; .*spec.force: true/,
    ],
    [
      'an earlier Trench of the same name',
      { ...base.backup!, status: { ...base.backup!.status, trenchUID: 'uid-old' } },
      /an earlier Trench named shop \(uid uid-old\), not this one \(uid uid-shop\)/,
    ],
  ])('refuses a backup of %s unless forced', (_what, backup, message) => {
    const p = restoreProgress({ ...base, backup });
    expect(p.status).toMatchObject({ phase: 'Failed', failureReason: 'OtherTrench' });
    expect(p.status.message).toMatch(message);
    const forced = restoreProgress({
      ...base,
      backup,
      restore: { ...base.restore, spec: { ...base.restore.spec, force: true } },
    });
    expect(forced.status.phase).toBe('Verifying');
  });

  it.each([
    ['missing', { backup: undefined }, 'Failed', /does not exist/],
    ['being deleted', { backup: { ...base.backup!, deleting: true } }, 'Failed', /being deleted/],
    [
      'failed',
      { backup: { ...base.backup!, status: { phase: 'Failed' as const } } },
      'Failed',
      /no dump/,
    ],
    [
      'still running',
      { backup: { ...base.backup!, status: { phase: 'Running' as const } } },
      'Pending',
      /Waiting for TrenchBackup .* Running/,
    ],
    ['of a Trench not there yet', { trench: undefined }, 'Pending', /Trench shop does not exist/],
  ])('with a backup %s: %s', (_what, more, phase, message) => {
    const p = restoreProgress({ ...base, ...more });
    expect(p.status.phase).toBe(phase);
    expect(p.status.message).toMatch(message);
    expect(p.action).toBeUndefined();
  });

  it('runs one restore per Trench at a time: the one under way, else the oldest', () => {
    const other = (name: string, created: string, status?: TrenchRestoreStatus) => ({
      name,
      creationTimestamp: created,
      spec: base.restore.spec,
      ...(status ? { status } : {}),
    });
    const newer = other('shop-restore-2', '2026-12-04T07:59:00Z', { phase: 'Restoring' });
    const waits = restoreProgress({ ...base, others: [newer] });
    expect(waits.status.phase).toBe('Pending');
    expect(waits.status.message).toMatch(
      /Waiting for TrenchRestore shop-restore-2: one restore at a time per Trench \(it is Restoring\)/,
    );
    const older = other('shop-restore-0', '2026-12-04T07:00:00Z');
    expect(restoreProgress({ ...base, others: [older] }).status.phase).toBe('Pending');
    const younger = other('shop-restore-9', '2026-12-04T07:59:30Z');
    expect(restoreProgress({ ...base, others: [younger] }).status.phase).toBe('Verifying');
    const done = other('shop-restore-0', '2026-12-04T07:00:00Z', { phase: 'Failed' });
    expect(restoreProgress({ ...base, others: [done] }).status.phase).toBe('Verifying');
  });

  it('fails when the Trench is deleted mid-restore', () => {
    const p = at(
      { phase: 'Quiescing', previousReplicas: { api: 1, worker: 1 } },
      { trench: { name: 'shop', uid: 'uid-shop', deleting: true } },
    );
    expect(p.status).toMatchObject({ phase: 'Failed', failureReason: 'TrenchDeleted' });
  });
});
