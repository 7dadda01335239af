import { describe, expect, it } from 'vitest';
import {
  backupProgress,
  jobOutcome,
  type ProgressInput,
  terminationMessage,
} from '../../../operator/backup/progress.js';

const NOW = Date.parse('2026-12-03T03:00:05Z');
const SUM = `sha256:${'ab'.repeat(32)}`;
const RESULT = JSON.stringify({
  path: 'dumps/shop-202612030300.dump',
  checksum: SUM,
  sizeBytes: 1536,
  serverVersion: '16.6',
});
const complete = { status: { conditions: [{ type: 'Complete', status: 'True' }] } };
const failedJob = (reason: string) => ({
  status: { conditions: [{ type: 'Failed', status: 'True', reason, message: 'Job failed' }] },
});
const pod = (message: string, at = '2026-12-03T03:00:01Z') => ({
  metadata: { creationTimestamp: at },
  status: {
    containerStatuses: [{ name: 'dump', state: { terminated: { exitCode: 0, message } } }],
  },
});
const base: ProgressInput = {
  backup: { name: 'shop-202612030300' },
  trench: { name: 'shop', uid: 'uid-1' },
  trenchName: 'shop',
  now: NOW,
};
const running = {
  phase: 'Running' as const,
  jobName: 'shop-202612030300-dump',
  startTime: '2026-12-03T03:00:00Z',
};

describe('backupProgress', () => {
  it('creates the Job once, naming it, the path and the Trench in status', () => {
    const p = backupProgress(base);
    expect(p.createJob).toBe(true);
    expect(p.status).toMatchObject({
      phase: 'Running',
      jobName: 'shop-202612030300-dump',
      path: 'dumps/shop-202612030300.dump',
      trenchUID: 'uid-1',
      startTime: '2026-12-03T03:00:05Z',
    });
    // The next pass, with the Job not yet in the cache's view or running: never a second one.
    const again = backupProgress({
      ...base,
      backup: { ...base.backup, status: p.status },
      job: {},
    });
    expect(again.createJob).toBe(false);
    expect(again.status.phase).toBe('Running');
    expect(again.event).toBeUndefined();
  });

  it('waits, Pending, while its Trench does not exist', () => {
    const { trench: _, ...noTrench } = base;
    const p = backupProgress(noTrench);
    expect(p.createJob).toBe(false);
    expect(p.status).toMatchObject({ phase: 'Pending' });
    expect(p.status.message).toMatch(/Trench shop does not exist/);
  });

  it('asks for the pods once the Job finished, then completes with the dump result', () => {
    const withJob = { ...base, backup: { ...base.backup, status: running }, job: complete };
    expect(backupProgress(withJob).needPods).toBe(true);
    const p = backupProgress({ ...withJob, pods: [pod(RESULT)] });
    expect(p.status).toMatchObject({
      phase: 'Completed',
      completionTime: '2026-12-03T03:00:05Z',
      checksum: SUM,
      sizeBytes: 1536,
      size: '1.5 KiB',
      serverVersion: '16.6',
      path: 'dumps/shop-202612030300.dump',
    });
    expect(p.event).toMatchObject({ type: 'Normal', reason: 'Completed' });
  });

  it.each([
    [
      'DeadlineExceeded',
      'pg_dump: error: connection to server failed',
      /connection to server failed/,
    ],
    ['BackoffLimitExceeded', '', /Job failed/],
  ])('fails with the Job reason %s and the pod message', (reason, message, shown) => {
    const p = backupProgress({
      ...base,
      backup: { ...base.backup, status: running },
      job: failedJob(reason),
      pods: message ? [pod(message)] : [],
    });
    expect(p.status).toMatchObject({ phase: 'Failed', failureReason: reason });
    expect(p.status.message).toMatch(shown);
    expect(p.event?.type).toBe('Warning');
  });

  it('fails a succeeded Job whose result it cannot read', () => {
    const p = backupProgress({
      ...base,
      backup: { ...base.backup, status: running },
      job: complete,
      pods: [pod('done')],
    });
    expect(p.status).toMatchObject({ phase: 'Failed', failureReason: 'ResultUnreadable' });
  });

  it('fails, never re-creating, when the Job it started is gone', () => {
    const p = backupProgress({ ...base, backup: { ...base.backup, status: running } });
    expect(p.createJob).toBe(false);
    expect(p.status).toMatchObject({ phase: 'Failed', failureReason: 'JobDeleted' });
  });

  it('never changes a finished backup', () => {
    for (const phase of ['Completed', 'Failed'] as const) {
      const status = { ...running, phase };
      const p = backupProgress({
        ...base,
        backup: { ...base.backup, status },
        job: failedJob('X'),
      });
      expect(p).toEqual({ status, createJob: false, needPods: false });
    }
  });
});

describe('jobOutcome and terminationMessage', () => {
  it('reads Complete and Failed only when True', () => {
    expect(jobOutcome({})).toEqual({ done: false });
    expect(jobOutcome({ status: { conditions: [{ type: 'Complete', status: 'False' }] } })).toEqual(
      { done: false },
    );
    expect(jobOutcome(complete)).toEqual({ done: true, succeeded: true });
    expect(jobOutcome(failedJob('DeadlineExceeded'))).toMatchObject({
      succeeded: false,
      reason: 'DeadlineExceeded',
    });
  });

  it("takes the newest pod's message", () => {
    expect(
      terminationMessage(
        [pod('old', '2026-12-03T01:00:00Z'), pod(' new\n', '2026-12-03T02:00:00Z')],
        'dump',
      ),
    ).toBe('new');
    expect(terminationMessage([], 'dump')).toBe('');
  });
});
