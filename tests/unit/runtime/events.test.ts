import { describe, expect, it } from 'vitest';
import { ApiError, isNamespaceTerminating } from '../../../operator/runtime/client.js';
import {
  buildEvent,
  EventDeduper,
  eventKey,
  REPORTING_CONTROLLER,
} from '../../../operator/runtime/events.js';

const trench = {
  apiVersion: 'playtrenches.xyz/v1alpha1',
  kind: 'Trench',
  metadata: { name: 'shop', namespace: 'prod', uid: 'uid-1', resourceVersion: '7' },
};
const e = {
  type: 'Warning' as const,
  reason: 'ApplyFailed',
  action: 'Apply',
  note: 'Failed to apply Deployment shop-api',
};

describe('EventDeduper', () => {
  it.each([
    ['identical within the window is dropped', [0, 1000], [true, false]],
    ['identical after the window is sent', [0, 60_000], [true, true]],
    [
      'the window counts from the last sent event',
      [0, 30_000, 60_000, 90_000],
      [true, false, true, false],
    ],
  ])('%s', (_n, times, expected) => {
    const d = new EventDeduper(60_000);
    expect(times.map((t) => d.shouldSend('k', t))).toEqual(expected);
  });

  it('treats different notes as different events', () => {
    const d = new EventDeduper(60_000);
    expect(d.shouldSend(eventKey(trench, e), 0)).toBe(true);
    expect(d.shouldSend(eventKey(trench, { ...e, note: 'other' }), 1)).toBe(true);
    expect(d.shouldSend(eventKey(trench, e), 2)).toBe(false);
  });

  it('stays bounded', () => {
    const d = new EventDeduper(1_000_000, 100);
    for (let i = 0; i < 1000; i++) d.shouldSend(`k${i}`, i);
    expect(d.size).toBeLessThanOrEqual(100);
  });
});

describe('buildEvent', () => {
  it('builds an events.k8s.io/v1 Event regarding the object', () => {
    const now = Date.parse('2024-05-01T10:00:00.123Z');
    const ev = buildEvent(trench, e, now, 'op-pod-1', 1);
    expect(ev).toEqual({
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `shop.${(BigInt(now) * 1_000_000n + 1n).toString(16)}`, namespace: 'prod' },
      eventTime: '2024-05-01T10:00:00.123000Z',
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: 'op-pod-1',
      action: 'Apply',
      reason: 'ApplyFailed',
      note: 'Failed to apply Deployment shop-api',
      type: 'Warning',
      regarding: {
        apiVersion: 'playtrenches.xyz/v1alpha1',
        kind: 'Trench',
        name: 'shop',
        namespace: 'prod',
        uid: 'uid-1',
        resourceVersion: '7',
      },
    });
  });

  it('cuts the note to 1 kB', () => {
    const ev = buildEvent(trench, { ...e, note: 'x'.repeat(5000) }, 0, 'p');
    expect((ev.note as string).length).toBe(1024);
  });
});

describe('isNamespaceTerminating', () => {
  it("tells a namespace being deleted from an RBAC refusal, by the API server's cause", () => {
    const terminating = new ApiError(
      403,
      'Forbidden',
      'POST /apis/events.k8s.io/v1/namespaces/n/events: 403 events "x" is forbidden: unable to create new content in namespace n because it is being terminated',
      { details: { causes: [{ reason: 'NamespaceTerminating', field: 'metadata.namespace' }] } },
    );
    expect(isNamespaceTerminating(terminating)).toBe(true);
    const rbac = new ApiError(403, 'Forbidden', 'POST /x: 403 forbidden: User "u" cannot create', {
      reason: 'Forbidden',
    });
    expect(isNamespaceTerminating(rbac)).toBe(false);
    expect(isNamespaceTerminating(new ApiError(404, 'NotFound', 'gone'))).toBe(false);
    expect(isNamespaceTerminating(new Error('because it is being terminated'))).toBe(false);
  });
});
