import { describe, expect, it } from 'vitest';
import {
  finished,
  manualBackup,
  manualBackupName,
  progressLine,
} from '../../../operator/cli/backup.js';

describe('kubectl trench backup', () => {
  it('names a manual backup from the Trench and the UTC second', () => {
    const at = new Date('2026-12-03T20:05:09.999Z');
    expect(manualBackupName('shop', at)).toBe('shop-manual-20261203200509');
    expect(manualBackup('prod', 'shop', at)).toEqual({
      apiVersion: 'playtrenches.xyz/v1alpha1',
      kind: 'TrenchBackup',
      metadata: { name: 'shop-manual-20261203200509', namespace: 'prod' },
      spec: { trench: 'shop', reason: 'manual' },
    });
  });

  it('prints the phase and message, and ends on Completed (0) or Failed (1) only', () => {
    expect(progressLine('b', undefined)).toBe('b Pending');
    expect(progressLine('b', { phase: 'Running', message: 'The dump Job b-dump is running' })).toBe(
      'b Running: The dump Job b-dump is running',
    );
    expect(finished(undefined)).toBeUndefined();
    expect(finished({ phase: 'Running' })).toBeUndefined();
    expect(finished({ phase: 'Completed' })).toBe(0);
    expect(finished({ phase: 'Failed' })).toBe(1);
  });
});
