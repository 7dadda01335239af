import { describe, expect, it } from 'vitest';
import {
  BACKUP_FILE_FINALIZER,
  type RemovalInput,
  removalStep,
  withoutFinalizer,
} from '../../../operator/backup/removal.js';

const done = (type: 'Complete' | 'Failed', reason?: string) => ({
  metadata: { name: 'shop-1-remove' },
  status: { conditions: [{ type, status: 'True', ...(reason ? { reason } : {}) }] },
});
const active = { metadata: { name: 'shop-1-dump' }, status: {} };
const base: RemovalInput = { jobName: 'shop-1-dump', claimExists: true };

describe('removalStep', () => {
  it.each<[string, RemovalInput, string]>([
    ['no dump ever made', { claimExists: true }, 'release'],
    [
      'a dump Job whose status write was lost',
      { dumpJob: done('Complete'), claimExists: true },
      'createRemoveJob',
    ],
    ['a dump still running', { ...base, dumpJob: active }, 'stopDump'],
    [
      'a dump being stopped',
      { ...base, dumpJob: { ...active, metadata: { deletionTimestamp: '2026-12-03T00:00:00Z' } } },
      'wait',
    ],
    ['a finished dump', { ...base, dumpJob: done('Complete') }, 'createRemoveJob'],
    [
      'a failed dump (may have left a partial file)',
      { ...base, dumpJob: done('Failed') },
      'createRemoveJob',
    ],
    ['a dump Job removed by its TTL', base, 'createRemoveJob'],
    ['the claim gone', { ...base, claimExists: false }, 'release'],
    ['removal running', { ...base, removeJob: { status: {} } }, 'wait'],
    ['removal done', { ...base, removeJob: done('Complete') }, 'release'],
    [
      'removal done though the claim went since',
      { ...base, claimExists: false, removeJob: done('Complete') },
      'release',
    ],
    ['removal failed', { ...base, removeJob: done('Failed', 'BackoffLimitExceeded') }, 'failed'],
  ])('%s: %s', (_, input, step) => {
    expect(removalStep(input).step).toBe(step);
  });

  it('never starts removing while the dump may still write', () => {
    for (const removeJob of [undefined, { status: {} }, done('Complete')]) {
      const step = removalStep({ ...base, dumpJob: active, ...(removeJob ? { removeJob } : {}) });
      expect(step.step).toBe('stopDump');
    }
  });

  it('says which Job failed, why, and how to retry', () => {
    const step = removalStep({ ...base, removeJob: done('Failed', 'BackoffLimitExceeded') });
    expect(step).toMatchObject({ step: 'failed', reason: 'FileRemovalFailed' });
    if (step.step !== 'failed') throw new Error('unreachable');
    expect(step.message).toContain('shop-1-remove');
    expect(step.message).toContain('BackoffLimitExceeded');
    expect(step.message).toContain('Delete that Job to try again');
  });
});

describe('withoutFinalizer', () => {
  it('drops only ours, and says when there is nothing to drop', () => {
    expect(withoutFinalizer(['a', BACKUP_FILE_FINALIZER, 'b'])).toEqual(['a', 'b']);
    expect(withoutFinalizer([BACKUP_FILE_FINALIZER])).toEqual([]);
    expect(withoutFinalizer(['a'])).toBeUndefined();
    expect(withoutFinalizer(undefined)).toBeUndefined();
  });
});
