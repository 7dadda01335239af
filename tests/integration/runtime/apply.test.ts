// Server-side apply, drift detection and pruning against the real API server: the subset test
// must agree with what the server actually stores (defaults, quantity canonicalisation).
import { describe, expect, it } from 'vitest';
import {
  applyIfNeeded,
  needsApply,
  planPrune,
  prune,
  withAppliedHash,
} from '../../../operator/runtime/apply.js';
import { KubeClient } from '../../../operator/runtime/client.js';
import type { KubeObject } from '../../../operator/runtime/types.js';
import { controllerOwnerRef, refOf } from '../../../operator/runtime/types.js';
import { kubectl, testCluster, useNamespace, waitFor } from '../support/cluster.js';

const ns = useNamespace('rt-apply');
const CONFIGMAPS: ReadonlySet<string> = new Set(['/ConfigMap']);
const LABELS = {
  'app.kubernetes.io/managed-by': 'trench-operator',
  'playtrenches.xyz/trench': 'shop',
};

interface Deployment extends KubeObject {
  spec: {
    replicas?: number;
    template: {
      metadata?: { labels?: Record<string, string> };
      spec: { containers: Record<string, unknown>[] };
    };
    [k: string]: unknown;
  };
}

function deployment(
  name: string,
  image: string,
  env: { name: string; value: string }[] = [{ name: 'MODE', value: 'web' }],
): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns.name, labels: { ...LABELS, app: name } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'api',
              image,
              ports: [{ containerPort: 3000, name: 'http' }],
              env,
              // Written in forms the server canonicalises: 0.5 -> 500m, 1.5Gi -> 1536Mi.
              resources: {
                limits: { cpu: '0.5', memory: '1.5Gi' },
                requests: { cpu: 0.25, memory: '1024Mi' },
              },
            },
          ],
        },
      },
    },
  };
}

const ref = (name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  namespace: ns.name,
  name,
});

describe('server-side apply', () => {
  it('creates, then finds the live object converged and re-applies without a resourceVersion change', async () => {
    const client = new KubeClient(testCluster().kc);
    const desired = deployment('create', 'registry.example/app:1');
    const first = await applyIfNeeded(client, desired, undefined);
    expect(first.applied).toBe(true);
    const live = await client.get<Deployment>(ref('create'));
    expect(
      live?.metadata?.managedFields?.some(
        (m) => (m as { manager?: string }).manager === 'trench-operator',
      ),
    ).toBe(true);
    // Defaults and canonical quantities do not count as drift: steady state writes nothing.
    expect(needsApply(withAppliedHash(desired), live)).toBeUndefined();
    const second = await applyIfNeeded(client, desired, live);
    expect(second.applied).toBe(false);
    // Even an unconditional SSA of the same object is a no-op on the server. The Deployment
    // controller writes status meanwhile, so compare with a read taken just before the apply
    // and retry when a status write slipped in between.
    await waitFor(
      async () => {
        const before = await client.get<Deployment>(ref('create'));
        const again = await client.apply(withAppliedHash(desired));
        expect(again.metadata?.generation).toBe(live?.metadata?.generation);
        return again.metadata?.resourceVersion === before?.metadata?.resourceVersion
          ? true
          : undefined;
      },
      { what: 'a no-op re-apply', timeoutMs: 20_000, intervalMs: 500 },
    );
  });

  it.each([
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'svc' },
      spec: {
        selector: { app: 'api' },
        ports: [
          { name: 'http', port: 80, targetPort: 'http' },
          { name: 'metrics', port: 9090 },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'sec' },
      type: 'Opaque',
      stringData: { password: 'hunter2' },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'pg' },
      spec: {
        serviceName: 'pg',
        replicas: 1,
        selector: { matchLabels: { app: 'pg' } },
        template: {
          metadata: { labels: { app: 'pg' } },
          spec: {
            securityContext: { runAsNonRoot: true, fsGroup: 999 },
            containers: [
              {
                name: 'pg',
                image: 'postgres:17',
                args: ['-c', 'max_connections=200'],
                readinessProbe: { exec: { command: ['pg_isready'] }, periodSeconds: 5 },
                volumeMounts: [{ name: 'data', mountPath: '/var/lib/postgresql/data' }],
                resources: { requests: { memory: '0.5Gi', cpu: '100m' } },
              },
            ],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data' },
            spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } },
          },
        ],
      },
    },
    {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'backup' },
      spec: {
        schedule: '0 3 * * *',
        concurrencyPolicy: 'Forbid',
        jobTemplate: {
          spec: {
            backoffLimit: 2,
            template: {
              spec: {
                restartPolicy: 'Never',
                containers: [{ name: 'b', image: 'postgres:17', command: ['pg_dump'] }],
              },
            },
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'pvc' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1.5Gi' } } },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'pdb' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'api' } } },
    },
  ])(
    'finds a freshly applied $kind converged (server defaults and normalisation are no drift)',
    async (obj) => {
      const client = new KubeClient(testCluster().kc);
      const desired = {
        ...obj,
        metadata: { ...obj.metadata, namespace: ns.name, labels: LABELS },
      } as KubeObject;
      await applyIfNeeded(client, desired, undefined);
      const live = await client.get(refOf(desired));
      expect(needsApply(withAppliedHash(desired), live)).toBeUndefined();
    },
  );

  it('detects a field of ours edited by hand and puts it back', async () => {
    const client = new KubeClient(testCluster().kc);
    const desired = deployment('drift', 'registry.example/app:1');
    await applyIfNeeded(client, desired, undefined);
    const patch = JSON.stringify({
      spec: { replicas: 5, template: { spec: { containers: [{ name: 'api', image: 'evil:6' }] } } },
    });
    const r = await kubectl([
      '-n',
      ns.name,
      'patch',
      'deployment',
      'drift',
      '--type=strategic',
      '-p',
      patch,
    ]);
    expect(r.stderr).toBe('');
    const edited = await client.get<Deployment>(ref('drift'));
    expect(needsApply(withAppliedHash(desired), edited)).toMatch(
      /^drift at \.spec\.(replicas|template)/,
    );
    const result = await applyIfNeeded(client, desired, edited);
    expect(result.applied).toBe(true);
    const fixed = await client.get<Deployment>(ref('drift'));
    expect(fixed?.spec.replicas).toBe(2);
    expect(fixed?.spec.template.spec.containers[0]?.image).toBe('registry.example/app:1');
    expect(needsApply(withAppliedHash(desired), fixed)).toBeUndefined();
  });

  it('leaves alone a field that another manager owns', async () => {
    const client = new KubeClient(testCluster().kc);
    const desired = deployment('shared', 'registry.example/app:1');
    await applyIfNeeded(client, desired, undefined);
    // Someone else (a sidecar injector, an admin) applies their own label, annotation and env var.
    await client.apply(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: {
          name: 'shared',
          namespace: ns.name,
          labels: { team: 'payments' },
          annotations: { 'example.com/owner': 'ops' },
        },
        spec: {
          selector: { matchLabels: { app: 'shared' } },
          template: {
            metadata: { labels: { app: 'shared' } },
            spec: { containers: [{ name: 'api', env: [{ name: 'INJECTED', value: 'yes' }] }] },
          },
        },
      } as KubeObject,
      { fieldManager: 'someone-else', force: false },
    );
    const live = await client.get<Deployment>(ref('shared'));
    // Not our fields: no drift, no write.
    expect(needsApply(withAppliedHash(desired), live)).toBeUndefined();
    // A real change of ours is applied and keeps their fields.
    const changed = deployment('shared', 'registry.example/app:2');
    expect((await applyIfNeeded(client, changed, live)).applied).toBe(true);
    const after = await client.get<Deployment>(ref('shared'));
    expect(after?.metadata?.labels?.team).toBe('payments');
    expect(after?.metadata?.annotations?.['example.com/owner']).toBe('ops');
    const env = (after?.spec.template.spec.containers[0]?.env ?? []) as { name: string }[];
    expect(env.map((e) => e.name).sort()).toEqual(['INJECTED', 'MODE']);
    expect(after?.spec.template.spec.containers[0]?.image).toBe('registry.example/app:2');
  });

  it('removes a field we stop setting (the applied hash notices what a subset test cannot)', async () => {
    const client = new KubeClient(testCluster().kc);
    const two = [
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
    ];
    await applyIfNeeded(client, deployment('shrink', 'registry.example/app:1', two), undefined);
    const live = await client.get<Deployment>(ref('shrink'));
    const one = deployment('shrink', 'registry.example/app:1', [{ name: 'A', value: '1' }]);
    expect((await applyIfNeeded(client, one, live)).applied).toBe(true);
    const after = await client.get<Deployment>(ref('shrink'));
    expect(
      ((after?.spec.template.spec.containers[0]?.env ?? []) as { name: string }[]).map(
        (e) => e.name,
      ),
    ).toEqual(['A']);
  });
});

describe('prune', () => {
  it('deletes only objects controlled by the owner and no longer desired', async () => {
    const client = new KubeClient(testCluster().kc);
    const configMap = (
      name: string,
      owner?: KubeObject,
      labels: Record<string, string> = LABELS,
    ): KubeObject =>
      ({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name,
          namespace: ns.name,
          labels,
          ...(owner ? { ownerReferences: [controllerOwnerRef(owner)] } : {}),
        },
        data: { k: 'v' },
      }) as KubeObject;
    // Owners: ConfigMaps stand in for Trenches; only the UID matters.
    const owner = await client.apply(configMap('owner', undefined, {}));
    const other = await client.apply(configMap('other-owner', undefined, {}));
    await client.apply(configMap('keep', owner));
    await client.apply(configMap('stale', owner));
    await client.apply(configMap('unowned-same-labels'));
    await client.apply(configMap('other-owners-child', other));
    const desired = [{ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, name: 'keep' }];
    const existing = await client.list('v1', 'ConfigMap', {
      namespace: ns.name,
      labelSelector: 'app.kubernetes.io/managed-by=trench-operator,playtrenches.xyz/trench=shop',
    });
    expect(existing.items.map((o) => o.metadata?.name).sort()).toEqual([
      'keep',
      'other-owners-child',
      'stale',
      'unowned-same-labels',
    ]);
    const ownerUid = owner.metadata?.uid ?? '';
    expect(
      planPrune(desired, existing.items, ownerUid, CONFIGMAPS).map((o) => o.metadata?.name),
    ).toEqual(['stale']);
    const deleted = await prune(client, desired, existing.items, ownerUid, CONFIGMAPS);
    expect(deleted.map((o) => o.metadata?.name)).toEqual(['stale']);
    await waitFor(
      async () =>
        (await client.get(
          ref('x') && { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, name: 'stale' },
        ))
          ? undefined
          : true,
      {
        what: 'stale ConfigMap to be gone',
        timeoutMs: 10_000,
      },
    );
    const left = await client.list('v1', 'ConfigMap', {
      namespace: ns.name,
      labelSelector: 'playtrenches.xyz/trench=shop',
    });
    expect(left.items.map((o) => o.metadata?.name).sort()).toEqual([
      'keep',
      'other-owners-child',
      'unowned-same-labels',
    ]);
  });

  it('leaves a recreated namesake alone (UID precondition)', async () => {
    const client = new KubeClient(testCluster().kc);
    const owner = await client.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'owner2', namespace: ns.name },
    } as KubeObject);
    const cm = (): KubeObject =>
      ({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: 'reborn',
          namespace: ns.name,
          labels: LABELS,
          ownerReferences: [controllerOwnerRef(owner)],
        },
      }) as KubeObject;
    const first = await client.apply(cm());
    await client.delete({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: ns.name,
      name: 'reborn',
    });
    const second = await client.apply(cm());
    expect(second.metadata?.uid).not.toBe(first.metadata?.uid);
    // A prune working from a stale view (the first object) must not delete the new one.
    expect(await prune(client, [], [first], owner.metadata?.uid ?? '', CONFIGMAPS)).toEqual([]);
    expect(
      (
        await client.get({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          namespace: ns.name,
          name: 'reborn',
        })
      )?.metadata?.uid,
    ).toBe(second.metadata?.uid);
  });
});
