// The operator through the things that go wrong: a data claim replaced by an empty one, an
// apply the API server refuses, a spec the CRD accepts but the renderer cannot build, and a
// Trench deleted and created again under the same name. One operator process, under the
// chart's RBAC, for the whole file; each test has its own Trench and asserts the state of the
// cluster (status, events, children), not the calls made.
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Trench } from '../../../charts/api/trench.js';
import { KubeClient } from '../../../operator/runtime/client.js';
import type { KubeObject } from '../../../operator/runtime/types.js';
import { acceptVolumeAnnotation } from '../../../operator/trench/volumes.js';
import { denyImagesTagged, type ImageDenial } from '../support/admission.js';
import { kubectl, mustKubectl, testCluster, useNamespace, waitFor } from '../support/cluster.js';
import {
  installCrdsAndRbac,
  metricValue,
  plantRetiredConfigMap,
  type RunningOperator,
  startOperator,
} from '../support/operator.js';

const ns = useNamespace('op-life');
let operator: RunningOperator | undefined;

type LiveTrench = Trench &
  KubeObject & { metadata: { uid: string; generation: number; name: string; namespace: string } };

const client = () => new KubeClient(testCluster().kc);
const core = () => testCluster().kc.makeApiClient(CoreV1Api);
const trenchRef = (name: string) => ({
  apiVersion: 'playtrenches.xyz/v1alpha1',
  kind: 'Trench',
  namespace: ns.name,
  name,
});
const getTrench = (name: string) => client().get<LiveTrench>(trenchRef(name));
const condition = (t: LiveTrench | undefined, type: string) =>
  t?.status?.conditions?.find((c) => c.type === type);

async function createTrench(name: string, spec: Record<string, unknown> = {}) {
  await client().create({
    ...trenchRef(name),
    metadata: { name, namespace: ns.name },
    spec: {
      api: { image: 'registry.example/api:1.0.0', replicas: 1 },
      worker: { image: 'registry.example/worker:1.0.0', queues: ['default'] },
      ...spec,
    },
  } as KubeObject);
}

async function patchTrench(name: string, patch: unknown) {
  await mustKubectl([
    'patch',
    'trenches',
    name,
    '-n',
    ns.name,
    '--type=merge',
    '-p',
    JSON.stringify(patch),
  ]);
}

/** Waits until the Trench's status satisfies `ok` at its current generation. */
function waitTrench(
  name: string,
  what: string,
  ok: (t: LiveTrench) => boolean,
  timeoutMs = 90_000,
) {
  return waitFor(
    async () => {
      const t = await getTrench(name);
      return t && t.status?.observedGeneration === t.metadata.generation && ok(t) ? t : undefined;
    },
    { what, timeoutMs },
  );
}

const isReady = (t: LiveTrench) => condition(t, 'Ready')?.status === 'True';

async function eventsOf(name: string) {
  const list = await client().list<KubeObject & Record<string, unknown>>(
    'events.k8s.io/v1',
    'Event',
    { namespace: ns.name },
  );
  return list.items.filter(
    (e) =>
      (e.regarding as { kind?: string; name?: string }).kind === 'Trench' &&
      (e.regarding as { name?: string }).name === name,
  ) as unknown as { type: string; reason: string; note: string }[];
}

beforeAll(async () => {
  await installCrdsAndRbac();
  operator = await startOperator({ TRENCH_WATCH_NAMESPACE: ns.name });
});

afterAll(async () => {
  await operator?.stop();
  // Under the chart's RBAC the operator must never have been refused anything (the admission
  // policy's refusals below are 422s that also say "forbidden", so look for RBAC's wording).
  expect(operator?.logs() ?? '').not.toMatch(/\b403\b|forbidden: User/);
});

describe('a replaced data volume', () => {
  it('turns the Trench Degraded with PostgresVolumeReplaced until acknowledged', async () => {
    const name = 'vol';
    const claim = `data-${name}-postgres-0`;
    await createTrench(name);
    const first = await waitTrench(
      name,
      'the Trench to be Ready with its Postgres claim recorded',
      (t) => isReady(t) && t.status?.volumes?.postgres !== undefined,
    );
    const original = await core().readNamespacedPersistentVolumeClaim({
      name: claim,
      namespace: ns.name,
    });
    expect(first.status?.volumes?.postgres).toEqual({ claim, uid: original.metadata?.uid });
    expect(first.status?.volumes?.redis?.claim).toBe(`data-${name}-redis-0`);

    // What a person (or a bad script) does: delete the claim and its pod. The StatefulSet
    // makes a new, empty claim and the pod comes back Ready on it.
    await mustKubectl(['delete', 'pvc', claim, '-n', ns.name, '--wait=false']);
    await mustKubectl(['delete', 'pod', `${name}-postgres-0`, '-n', ns.name, '--wait=false']);
    const degraded = await waitTrench(
      name,
      'the Trench to report the replaced claim',
      (t) => condition(t, 'Degraded')?.reason === 'PostgresVolumeReplaced',
      120_000,
    );
    const replacement = await core().readNamespacedPersistentVolumeClaim({
      name: claim,
      namespace: ns.name,
    });
    const newUid = replacement.metadata!.uid!;
    expect(newUid).not.toBe(original.metadata?.uid);
    expect(degraded.status?.phase).toBe('Degraded');
    expect(condition(degraded, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'PostgresVolumeReplaced',
    });
    expect(condition(degraded, 'Degraded')?.message).toContain(
      `${claim} (uid ${original.metadata?.uid})`,
    );
    expect(degraded.status?.volumes?.postgres).toEqual({
      claim,
      uid: original.metadata?.uid,
      replacedBy: newUid,
    });
    const warnings = await waitFor(
      async () => {
        const e = (await eventsOf(name)).filter((x) => x.reason === 'PostgresVolumeReplaced');
        return e.length > 0 ? e : undefined;
      },
      { what: 'the Warning event', timeoutMs: 10_000 },
    );
    expect(warnings.map((w) => w.type)).toEqual(['Warning']);
    expect(warnings[0]!.note).toContain(acceptVolumeAnnotation('postgres'));

    // Still Degraded on later passes (the pod is Ready again, nothing else changes).
    await patchTrench(name, { spec: { api: { replicas: 2 } } });
    const later = await waitTrench(name, 'a later pass', (t) => t.status?.api?.replicas === 2);
    expect(condition(later, 'Ready')?.reason).toBe('PostgresVolumeReplaced');

    await mustKubectl([
      'annotate',
      'trenches',
      name,
      '-n',
      ns.name,
      `${acceptVolumeAnnotation('postgres')}=${newUid}`,
    ]);
    const accepted = await waitTrench(name, 'the Trench to be Ready once acknowledged', isReady);
    expect(accepted.status?.volumes?.postgres).toEqual({ claim, uid: newUid });
    expect(condition(accepted, 'Degraded')?.status).toBe('False');
    await client().delete(trenchRef(name));
  });
});

describe('an apply the API server refuses', () => {
  const policy = 'trench-test-deny-bad-image';
  let denial: ImageDenial | undefined;
  afterAll(async () => {
    await denial?.remove();
  });

  it('reports Degraded, prunes nothing in that pass, and retries until it applies', async () => {
    const name = 'refused';
    await createTrench(name);
    const ready = await waitTrench(name, 'the Trench to be Ready', isReady);

    // A real admission policy refuses the API Deployment's new image in this namespace.
    denial = await denyImagesTagged(policy, ns.name, 'refused');

    // One change that cannot apply (the image), and an object a good pass would prune: a
    // ConfigMap an older version rendered for this Trench.
    const monitoring = `${name}-monitoring`;
    await plantRetiredConfigMap({ name, namespace: ns.name, uid: ready.metadata.uid! }, monitoring);
    await patchTrench(name, { spec: { api: { image: 'registry.example/api:refused' } } });
    const failed = await waitTrench(
      name,
      'the Trench to report the refused apply',
      (t) => t.status?.phase === 'Degraded',
    );
    expect(condition(failed, 'Ready')).toMatchObject({ status: 'False', reason: 'ApplyFailed' });
    expect(condition(failed, 'Degraded')?.message).toMatch(/Deployment refused-api: .*refused/);
    const applyWarnings = (await eventsOf(name)).filter((e) => e.reason === 'ApplyFailed');
    expect(applyWarnings.length).toBeGreaterThan(0);
    // Nothing was pruned on a pass that could not apply.
    const still = await core().readNamespacedConfigMap({ name: monitoring, namespace: ns.name });
    expect(still.metadata?.name).toBe(monitoring);
    const retriesBefore = metricValue(await operator!.metrics(), 'trench_workqueue_retries_total');

    // Lift the policy. No spec change follows: only the controller's retry can converge it.
    await denial.allow();
    const healed = await waitTrench(name, 'the retry to apply and converge', isReady, 120_000);
    expect(healed.status?.phase).toBe('Ready');
    const gone = await kubectl(['get', 'configmap', monitoring, '-n', ns.name]);
    expect(gone.code).not.toBe(0);
    const retriesAfter = metricValue(await operator!.metrics(), 'trench_workqueue_retries_total');
    expect(retriesAfter).toBeGreaterThan(retriesBefore);
    await client().delete(trenchRef(name));
  }, 240_000);
});

describe('a spec the renderer refuses', () => {
  it('fails the Trench with InvalidSpec and an event, and applies nothing', async () => {
    const name = 'never';
    // The CRD checks each cron field's range; that 31 February never comes takes the renderer.
    await createTrench(name, { backup: { schedule: '0 3 31 2 *' } });
    const failed = await waitTrench(
      name,
      'the Trench to fail',
      (t) => t.status?.phase === 'Failed',
    );
    expect(condition(failed, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(condition(failed, 'Degraded')?.message).toContain('spec.backup.schedule');
    const invalid = await waitFor(
      async () => {
        const e = (await eventsOf(name)).filter((x) => x.reason === 'InvalidSpec');
        return e.length > 0 ? e : undefined;
      },
      { what: 'the InvalidSpec event', timeoutMs: 10_000 },
    );
    expect(invalid[0]!.type).toBe('Warning');
    const deployments = await kubectl(['get', 'deployment', `${name}-api`, '-n', ns.name]);
    expect(deployments.code).not.toBe(0);

    // Fixing the spec is all it takes.
    await patchTrench(name, { spec: { backup: { schedule: '0 3 * * *' } } });
    await waitTrench(name, 'the fixed Trench to be Ready', isReady);
    await client().delete(trenchRef(name));
  });
});

describe('a Trench deleted and created again under the same name', () => {
  it('reuses the kept Secrets, so the kept volumes still open', async () => {
    const name = 'again';
    await createTrench(name);
    await waitTrench(name, 'the Trench to be Ready', isReady);
    const read = (c: string) =>
      core().readNamespacedSecret({ name: `${name}-${c}`, namespace: ns.name });
    const before = [await read('postgres'), await read('redis')];
    const claimBefore = (await getTrench(name))!.status?.volumes?.postgres;

    await client().delete(trenchRef(name));
    await waitFor(async () => ((await getTrench(name)) ? undefined : true), {
      what: 'the Trench to be gone',
      timeoutMs: 30_000,
    });
    await waitFor(
      async () => {
        const r = await kubectl(['get', 'statefulset', `${name}-postgres`, '-n', ns.name]);
        return r.code !== 0 ? true : undefined;
      },
      { what: 'the children to be garbage-collected', timeoutMs: 90_000 },
    );
    await createTrench(name);
    const reborn = await waitTrench(name, 'the new Trench to be Ready', isReady);
    const after = [await read('postgres'), await read('redis')];
    expect(after.map((s) => s.metadata?.uid)).toEqual(before.map((s) => s.metadata?.uid));
    expect(after.map((s) => s.data)).toEqual(before.map((s) => s.data));
    // The kept claim is the one the new StatefulSet mounts, and it is not reported replaced.
    expect(reborn.status?.volumes?.postgres).toEqual({
      claim: claimBefore?.claim,
      uid: claimBefore?.uid,
    });
    expect(condition(reborn, 'Degraded')?.status).toBe('False');
    await client().delete(trenchRef(name));
  });
});

describe('a StatefulSet whose immutable fields changed', () => {
  it('is recreated keeping its pod and claim, so the data stays where it was', async () => {
    const name = 'legacy';
    await createTrench(name);
    const ready = await waitTrench(name, 'the Trench to be Ready', isReady);
    const sts = `${name}-postgres`;
    const readSts = () =>
      client().get<KubeObject & { spec: { serviceName: string } }>({
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        namespace: ns.name,
        name: sts,
      });
    const pod = await core().readNamespacedPod({ name: `${sts}-0`, namespace: ns.name });
    // What an older release left behind: the same StatefulSet governed by another Service.
    // serviceName cannot be updated, so the operator's apply is refused with a 422.
    await operator!.stop();
    const current = (await readSts())!;
    const legacy = structuredClone(current) as KubeObject & {
      spec: { serviceName: string };
      status?: unknown;
    };
    legacy.spec.serviceName = `${name}-postgres`;
    delete legacy.status;
    delete legacy.metadata?.annotations;
    for (const k of ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields'])
      delete (legacy.metadata as Record<string, unknown>)[k];
    await mustKubectl(['delete', 'statefulset', sts, '-n', ns.name, '--cascade=orphan']);
    await waitFor(async () => ((await readSts()) ? undefined : true), {
      what: 'the StatefulSet to be gone',
      timeoutMs: 30_000,
    });
    await mustKubectl(['create', '-f', '-'], JSON.stringify(legacy));
    const planted = (await readSts())!;
    expect(planted.spec.serviceName).toBe(`${name}-postgres`);

    operator = await startOperator({ TRENCH_WATCH_NAMESPACE: ns.name });
    const recreated = await waitFor(
      async () => {
        const s = await readSts();
        return s &&
          s.metadata?.uid !== planted.metadata?.uid &&
          s.spec.serviceName === `${sts}-headless`
          ? s
          : undefined;
      },
      { what: 'the StatefulSet to be recreated with its headless Service', timeoutMs: 60_000 },
    );
    expect(recreated.spec.serviceName).toBe(`${sts}-headless`);
    const after = await waitTrench(name, 'the Trench to be Ready again', isReady);
    // The pod was adopted, not replaced, and the data claim is the one recorded at the start.
    const podAfter = await core().readNamespacedPod({ name: `${sts}-0`, namespace: ns.name });
    expect(podAfter.metadata?.uid).toBe(pod.metadata?.uid);
    expect(podAfter.metadata?.ownerReferences?.[0]?.uid).toBe(recreated.metadata?.uid);
    expect(after.status?.volumes?.postgres).toEqual(ready.status?.volumes?.postgres);
    const events = (await eventsOf(name)).filter((e) => e.reason === 'RecreatingStatefulSet');
    expect(events.length).toBeGreaterThan(0);
    await client().delete(trenchRef(name));
  }, 180_000);
});
