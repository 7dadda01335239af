import { describe, expect, it } from 'vitest';
import type { LeaseSpec } from '../../../operator/runtime/leader.js';
import { decideLease, releasedSpec } from '../../../operator/runtime/leader.js';

const NOW = Date.parse('2024-05-01T10:00:00.000Z');
const STAMP = '2024-05-01T10:00:00.000000Z';
const held = (holder: string, extra: Partial<LeaseSpec> = {}): LeaseSpec => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  acquireTime: '2024-05-01T09:00:00.000000Z',
  renewTime: '2024-05-01T09:59:59.000000Z',
  leaseTransitions: 3,
  ...extra,
});

describe('decideLease', () => {
  it.each([
    ['no lease: create it', undefined, NOW, 'create'],
    ['we hold it: renew', held('me'), NOW, 'renew'],
    ['we hold it, long unseen: still renew', held('me'), NOW - 3_600_000, 'renew'],
    ['other holder, fresh: wait', held('other'), NOW - 1000, 'wait'],
    ['other holder, observed just under 15 s ago: wait', held('other'), NOW - 14_999, 'wait'],
    ['other holder, observed 15 s ago: acquire', held('other'), NOW - 15_000, 'acquire'],
    ['released (empty holder): acquire at once', held(''), NOW, 'acquire'],
    ['no holder field: acquire at once', { leaseTransitions: 1 }, NOW, 'acquire'],
    [
      'other holder with a short lease, observed 2 s ago',
      held('other', { leaseDurationSeconds: 1 }),
      NOW - 2000,
      'acquire',
    ],
  ])('%s', (_n, spec, observedAt, action) => {
    expect(
      decideLease({ spec, identity: 'me', now: NOW, observedAt, leaseDurationSeconds: 15 }).action,
    ).toBe(action);
  });

  it('renewing keeps acquireTime and transitions, moves renewTime', () => {
    const d = decideLease({
      spec: held('me'),
      identity: 'me',
      now: NOW,
      observedAt: NOW,
      leaseDurationSeconds: 15,
    });
    expect(d).toEqual({
      action: 'renew',
      spec: {
        holderIdentity: 'me',
        leaseDurationSeconds: 15,
        acquireTime: '2024-05-01T09:00:00.000000Z',
        renewTime: STAMP,
        leaseTransitions: 3,
      },
    });
  });

  it('acquiring counts a transition', () => {
    const d = decideLease({
      spec: held('other'),
      identity: 'me',
      now: NOW,
      observedAt: NOW - 20_000,
      leaseDurationSeconds: 15,
    });
    expect(d).toEqual({
      action: 'acquire',
      spec: {
        holderIdentity: 'me',
        leaseDurationSeconds: 15,
        acquireTime: STAMP,
        renewTime: STAMP,
        leaseTransitions: 4,
      },
    });
  });

  it('waiting says until when', () => {
    expect(
      decideLease({
        spec: held('other'),
        identity: 'me',
        now: NOW,
        observedAt: NOW - 5000,
        leaseDurationSeconds: 15,
      }),
    ).toEqual({
      action: 'wait',
      holder: 'other',
      expiresAt: NOW + 10_000,
    });
  });

  it('release empties the holder and shortens the lease', () => {
    expect(releasedSpec(held('me'), NOW)).toEqual({
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: STAMP,
      renewTime: STAMP,
      leaseTransitions: 3,
    });
  });
});
