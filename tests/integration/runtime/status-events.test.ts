// The status writer and the event recorder against the real API server: status is patched on
// the subresource only when it differs, keys dropped from the computed status are removed, and
// identical events are not repeated.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../../operator/runtime/client.js';
import { EventRecorder, REPORTING_CONTROLLER } from '../../../operator/runtime/events.js';
import type { Condition } from '../../../operator/runtime/status.js';
import { setCondition, writeStatus } from '../../../operator/runtime/status.js';
import type { KubeObject } from '../../../operator/runtime/types.js';
import { testCluster, useNamespace, waitFor } from '../support/cluster.js';

const ns = useNamespace('rt-status');
// A CRD of this suite's own (crds/ belongs to the Trench API), cluster-wide, so it is
// created once and removed afterwards.
const GROUP = 'runtime-test.playtrenches.xyz';
const CRD_NAME = `widgets.${GROUP}`;

interface Widget extends KubeObject {
  spec?: { size?: number };
  status?: {
    observedGeneration?: number;
    phase?: string;
    conditions?: Condition[];
    extra?: string;
  };
}

beforeAll(async () => {
  const client = new KubeClient(testCluster().kc);
  await client.apply({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME },
    spec: {
      group: GROUP,
      names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
          },
        },
      ],
    },
  } as KubeObject);
  await waitFor(
    async () => {
      const crd = await client.get<
        KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
      >({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        name: CRD_NAME,
      });
      return crd?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
        ? true
        : undefined;
    },
    { what: 'the Widget CRD to be established', timeoutMs: 30_000 },
  );
});

afterAll(async () => {
  const client = new KubeClient(testCluster().kc);
  await client
    .delete({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      name: CRD_NAME,
    })
    .catch(() => false);
});

describe('writeStatus', () => {
  it('patches the status subresource only when the computed status differs', async () => {
    const client = new KubeClient(testCluster().kc);
    const ref = { apiVersion: `${GROUP}/v1`, kind: 'Widget', namespace: ns.name, name: 'w' };
    // Discovery of a CRD can lag its Established condition by a moment.
    const created = await waitFor(
      () =>
        client.create<Widget>({
          ...ref,
          metadata: { name: 'w', namespace: ns.name },
          spec: { size: 1 },
        } as Widget),
      {
        what: 'Widget to be created',
        timeoutMs: 20_000,
      },
    );
    const now = Date.parse('2024-05-01T10:00:00Z');
    const status = {
      observedGeneration: created.metadata?.generation ?? 0,
      phase: 'Ready',
      extra: 'x',
      conditions: setCondition(
        [],
        { type: 'Ready', status: 'True', reason: 'AllReady', message: 'ok' },
        now,
      ),
    };
    expect(await writeStatus(client, created, status)).toBe(true);
    const live = (await client.get<Widget>(ref))!;
    expect(live.status).toEqual(status);
    expect(live.spec).toEqual({ size: 1 }); // the status subresource cannot touch spec
    // Same status again (conditions in another order would also do): no request.
    expect(await writeStatus(client, live, structuredClone(status))).toBe(false);
    // A key dropped from the computed status is removed on the server.
    const { extra: _extra, ...smaller } = status;
    expect(await writeStatus(client, live, smaller)).toBe(true);
    const after = (await client.get<Widget>(ref))!;
    expect(after.status).toEqual(smaller);
    expect(await writeStatus(client, after, smaller)).toBe(false);
  });
});

describe('EventRecorder', () => {
  it('records an events.k8s.io/v1 Event and drops identical repeats', async () => {
    const client = new KubeClient(testCluster().kc);
    const target = await client.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'target', namespace: ns.name },
    } as KubeObject);
    const recorder = new EventRecorder({ client, reportingInstance: 'test-pod' });
    expect(await recorder.normal(target, 'Applied', 'Apply', 'Applied ConfigMap target')).toBe(
      true,
    );
    expect(await recorder.normal(target, 'Applied', 'Apply', 'Applied ConfigMap target')).toBe(
      false,
    );
    expect(
      await recorder.warning(target, 'ApplyFailed', 'Apply', 'Failed to apply ConfigMap target'),
    ).toBe(true);
    const events = await client.list<KubeObject & Record<string, unknown>>(
      'events.k8s.io/v1',
      'Event',
      { namespace: ns.name },
    );
    const ours = events.items.filter(
      (e) => (e.regarding as { uid?: string }).uid === target.metadata?.uid,
    );
    expect(
      ours.map((e) => [e.type, e.reason, e.reportingController, e.reportingInstance]).sort(),
    ).toEqual([
      ['Normal', 'Applied', REPORTING_CONTROLLER, 'test-pod'],
      ['Warning', 'ApplyFailed', REPORTING_CONTROLLER, 'test-pod'],
    ]);
  });
});
