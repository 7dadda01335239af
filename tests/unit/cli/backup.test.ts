import { describe, expect, it } from 'vitest';
import {
  drillProgressLine,
  drillTarget,
  finished,
  manualBackup,
  manualBackupName,
  manualDrillRequest,
  progressLine,
  restoreRefusal,
  restoreRequest,
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

  it('makes a TrenchRestore request named from the Trench and the second', () => {
    const at = new Date('2026-12-04T08:01:02Z');
    expect(restoreRequest('prod', 'shop', 'shop-202612040300', false, at)).toEqual({
      apiVersion: 'playtrenches.xyz/v1alpha1',
      kind: 'TrenchRestore',
      metadata: { name: 'shop-restore-20261204080102', namespace: 'prod' },
      spec: { trench: 'shop', backup: 'shop-202612040300', force: false },
    });
  });

  it('says before creating anything why a restore would be refused', () => {
    const trench = { name: 'shop', uid: 'u1' };
    const done = { phase: 'Completed' as const, trenchUID: 'u1' };
    expect(restoreRefusal({ spec: { trench: 'shop' }, status: done }, trench, false)).toBe(
      undefined,
    );
    expect(
      restoreRefusal({ spec: { trench: 'shop' }, status: { phase: 'Running' } }, trench, false),
    ).toBe('the backup is Running; wait for it to complete (kubectl trench backups shop)');
    expect(
      restoreRefusal({ spec: { trench: 'shop' }, status: { phase: 'Failed' } }, trench, false),
    ).toBe('the backup failed: it has no dump to restore');
    const blog = { spec: { trench: 'blog' }, status: { ...done, trenchUID: 'u2' } };
    expect(restoreRefusal(blog, trench, false)).toBe(
      'the backup was taken from Trench "blog", not this one; add --force to restore it anyway',
    );
    expect(restoreRefusal(blog, trench, true)).toBeUndefined();
    const earlier = { spec: { trench: 'shop' }, status: { ...done, trenchUID: 'u0' } };
    expect(restoreRefusal(earlier, trench, false)).toMatch(/an earlier Trench named "shop"/);
  });
});

describe('kubectl trench verify', () => {
  const b = (name: string, trench: string, phase: string | undefined, completionTime?: string) => ({
    metadata: { name },
    spec: { trench },
    ...(phase
      ? { status: { phase: phase as 'Completed', ...(completionTime ? { completionTime } : {}) } }
      : {}),
  });

  it('drills the newest completed backup of the Trench, or the one named if it completed', () => {
    const all = [
      b('shop-1', 'shop', 'Completed', '2026-12-01T03:00:40Z'),
      b('shop-2', 'shop', 'Completed', '2026-12-02T03:00:40Z'),
      b('shop-3', 'shop', 'Failed', '2026-12-03T03:00:40Z'),
      b('other-9', 'other', 'Completed', '2026-12-04T03:00:40Z'),
    ];
    expect(drillTarget(all, 'shop', undefined)).toBe(all[1]);
    expect(drillTarget(all, 'shop', 'shop-1')).toBe(all[0]);
    expect(drillTarget(all, 'shop', 'shop-3')).toBe(
      'TrenchBackup "shop-3" is Failed: only a Completed backup can be drilled',
    );
    expect(drillTarget([b('shop-4', 'shop', undefined)], 'shop', 'shop-4')).toMatch(/is Pending/);
    expect(drillTarget(all, 'none', undefined)).toBe(
      'Trench "none" has no completed backup to drill (kubectl trench backup none takes one)',
    );
  });

  it('names the request from the UTC second and ends only on the answer to it', () => {
    const request = manualDrillRequest(new Date('2026-12-06T10:11:12.345Z'));
    expect(request).toBe('manual/2026-12-06T10:11:12Z');
    const older = {
      phase: 'Completed' as const,
      verification: { request: 'scheduled/x', phase: 'Passed' as const },
    };
    expect(drillProgressLine('shop-2', older, request)).toEqual({
      line: 'shop-2 drill Pending: waiting for the operator',
    });
    const running = { verification: { request, phase: 'Running' as const, message: 'Job j runs' } };
    expect(drillProgressLine('shop-2', running, request)).toEqual({
      line: 'shop-2 drill Running: Job j runs',
    });
    expect(
      drillProgressLine('shop-2', { verification: { request, phase: 'Passed' } }, request).code,
    ).toBe(0);
    expect(
      drillProgressLine('shop-2', { verification: { request, phase: 'Failed' } }, request).code,
    ).toBe(1);
  });
});
