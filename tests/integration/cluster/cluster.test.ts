// Proves the local control plane is a real cluster: workload controllers, the scheduler and
// kwok make pods Ready; the garbage collector deletes dependents; Pod Security admission and
// RBAC refuse what a real cluster refuses.
import {
  AppsV1Api,
  AuthorizationV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Deployment,
} from '@kubernetes/client-node';
import { describe, expect, inject, it } from 'vitest';
import { status, up } from '../../../hack/lib/cluster.js';
import { readVersions } from '../../../hack/lib/versions.js';
import { kubectl, testCluster, useNamespace, waitFor } from '../support/cluster.js';

const ns = useNamespace('cluster');

function deployment(name: string, replicas: number): V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] },
      },
    },
  };
}

describe('the local control plane', () => {
  it('runs a Deployment until its pods are Ready on kwok nodes', async () => {
    const { kc } = testCluster();
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    await apps.createNamespacedDeployment({ namespace: ns.name, body: deployment('web', 3) });
    const ready = await waitFor(
      async () => {
        const d = await apps.readNamespacedDeployment({ name: 'web', namespace: ns.name });
        return d.status?.readyReplicas === 3 ? d : undefined;
      },
      { what: 'Deployment web to have 3 ready replicas' },
    );
    expect(ready.status?.availableReplicas).toBe(3);
    const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: 'app=web' });
    expect(pods.items).toHaveLength(3);
    for (const pod of pods.items) {
      expect(pod.spec?.nodeName).toMatch(/^kwok-node-/);
      expect(pod.status?.phase).toBe('Running');
      expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    }
  });

  it('runs a Job to Complete', async () => {
    const { kc } = testCluster();
    const batch = kc.makeApiClient(BatchV1Api);
    await batch.createNamespacedJob({
      namespace: ns.name,
      body: {
        metadata: { name: 'once' },
        spec: {
          template: {
            spec: {
              restartPolicy: 'Never',
              containers: [{ name: 'run', image: 'registry.example/job:1' }],
            },
          },
        },
      },
    });
    const job = await waitFor(
      async () => {
        const j = await batch.readNamespacedJob({ name: 'once', namespace: ns.name });
        return j.status?.succeeded === 1 ? j : undefined;
      },
      { what: 'Job once to succeed' },
    );
    expect(job.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True')).toBe(
      true,
    );
  });

  it('binds a StatefulSet volume claim and makes its pod Ready', async () => {
    const { kc } = testCluster();
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    await apps.createNamespacedStatefulSet({
      namespace: ns.name,
      body: {
        metadata: { name: 'db' },
        spec: {
          serviceName: 'db',
          replicas: 1,
          selector: { matchLabels: { app: 'db' } },
          template: {
            metadata: { labels: { app: 'db' } },
            spec: {
              containers: [
                {
                  name: 'db',
                  image: 'registry.example/db:1',
                  volumeMounts: [{ name: 'data', mountPath: '/data' }],
                },
              ],
            },
          },
          volumeClaimTemplates: [
            {
              metadata: { name: 'data' },
              spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
            },
          ],
        },
      },
    });
    await waitFor(
      async () => {
        const s = await apps.readNamespacedStatefulSet({ name: 'db', namespace: ns.name });
        return s.status?.readyReplicas === 1 ? s : undefined;
      },
      { what: 'StatefulSet db to have 1 ready replica' },
    );
    const claim = await core.readNamespacedPersistentVolumeClaim({
      name: 'data-db-0',
      namespace: ns.name,
    });
    expect(claim.status?.phase).toBe('Bound');
    expect(claim.spec?.storageClassName).toBe('standard');
  });

  it('garbage-collects the children of a deleted owner', async () => {
    const { kc } = testCluster();
    const core = kc.makeApiClient(CoreV1Api);
    const owner = await core.createNamespacedConfigMap({
      namespace: ns.name,
      body: { metadata: { name: 'owner' }, data: { a: '1' } },
    });
    const ownerReferences = [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        name: 'owner',
        uid: owner.metadata!.uid!,
        controller: true,
      },
    ];
    for (const name of ['child-a', 'child-b']) {
      await core.createNamespacedConfigMap({
        namespace: ns.name,
        body: { metadata: { name, ownerReferences }, data: {} },
      });
    }
    await core.createNamespacedConfigMap({
      namespace: ns.name,
      body: { metadata: { name: 'bystander' } },
    });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns.name });
    await waitFor(
      async () => {
        const list = await core.listNamespacedConfigMap({ namespace: ns.name });
        const names = list.items.map((c) => c.metadata?.name);
        return names.includes('child-a') || names.includes('child-b') ? undefined : names;
      },
      { what: 'the garbage collector to delete child-a and child-b' },
    );
    const left = await core.listNamespacedConfigMap({ namespace: ns.name });
    expect(left.items.map((c) => c.metadata?.name)).toContain('bystander');
  });

  it('refuses a privileged pod in a namespace that enforces the restricted standard', async () => {
    const { kc } = testCluster();
    const core = kc.makeApiClient(CoreV1Api);
    const restricted = `${ns.name}-restricted`;
    await core.createNamespace({
      body: {
        metadata: {
          name: restricted,
          labels: { 'pod-security.kubernetes.io/enforce': 'restricted' },
        },
      },
    });
    try {
      const result = await kubectl(
        ['apply', '-n', restricted, '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'root' },
          spec: {
            containers: [
              { name: 'c', image: 'registry.example/app:1', securityContext: { privileged: true } },
            ],
          },
        }),
      );
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain('violates PodSecurity "restricted:latest"');
      expect(result.stderr).toContain('privileged');
      const pods = await core.listNamespacedPod({ namespace: restricted });
      expect(pods.items).toHaveLength(0);
    } finally {
      await core.deleteNamespace({ name: restricted });
    }
  });

  const local = inject('clusterStateDir');

  it.skipIf(!local)('serves the pinned Kubernetes version, stamped into the binaries', async () => {
    const pinned = readVersions().kubernetes;
    const printed = await kubectl(['version', '-o', 'json']);
    const versions = JSON.parse(printed.stdout) as {
      clientVersion: { gitVersion: string };
      serverVersion: { gitVersion: string };
    };
    expect(versions.serverVersion.gitVersion).toBe(pinned);
    expect(versions.clientVersion.gitVersion).toBe(pinned);
  });

  it.skipIf(!local)('takes a second up as a no-op on the running cluster', async () => {
    const before = await status(local);
    expect(before.ready).toBe(true);
    const again = await up({ stateDir: local });
    expect(again.server).toBe(before.state?.server);
    expect(again.processes.map((p) => p.pid)).toEqual(before.state?.processes.map((p) => p.pid));
    const after = await status(local);
    expect(after.ready).toBe(true);
    expect(after.processes.every((p) => p.running)).toBe(true);
  });

  it('answers 403 to a ServiceAccount that RBAC grants nothing', async () => {
    const { kc } = testCluster();
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedServiceAccount({
      namespace: ns.name,
      body: { metadata: { name: 'nobody' } },
    });
    const user = `system:serviceaccount:${ns.name}:nobody`;
    const asNobody = new KubeConfig();
    asNobody.loadFromString(kc.exportConfig());
    // client-node sends the Impersonate-User header for a user entry with impersonateUser.
    asNobody.users = asNobody.users.map((u) => ({ ...u, impersonateUser: user }));
    const error = await asNobody
      .makeApiClient(CoreV1Api)
      .listNamespacedSecret({ namespace: ns.name })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toMatchObject({ code: 403 });
    const status = JSON.parse(String((error as { body?: unknown }).body)) as { message: string };
    expect(status.message).toContain(`User "${user}" cannot list resource "secrets"`);
    const review = await kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
      body: {
        spec: {
          user,
          resourceAttributes: { namespace: ns.name, verb: 'list', resource: 'secrets' },
        },
      },
    });
    expect(review.status?.allowed).toBe(false);
    const viaKubectl = await kubectl([
      'auth',
      'can-i',
      'list',
      'secrets',
      '-n',
      ns.name,
      '--as',
      user,
    ]);
    expect(viaKubectl.stdout.trim()).toBe('no');
  });
});
