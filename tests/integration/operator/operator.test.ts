// The operator against the real control plane, as a separate process under exactly the RBAC
// OperatorChart grants. Tests run in order and share one Trench: each asserts the state of
// the world (the objects in the API server, the audit log), never the calls that were made.
import { AppsV1Api, CoreV1Api, CustomObjectsApi, Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Trench } from '../../../charts/api/trench.js';
import { renderTrench } from '../../../charts/trench-chart.js';
import { kubectl, testCluster, useNamespace, waitFor } from '../support/cluster.js';
import {
  installCrdsAndRbac,
  isRbacRefusal,
  metricValue,
  OPERATOR_USER,
  plantRetiredConfigMap,
  type RunningOperator,
  startOperator,
  writesBy,
} from '../support/operator.js';

const ns = useNamespace('op');
const NAME = 'shop';
const operators: RunningOperator[] = [];
const spec = {
  api: { image: 'registry.example/api:1.0.0', replicas: 2 },
  worker: {
    image: 'registry.example/worker:1.0.0',
    queues: ['default'],
    scaling: { minReplicas: 2, maxReplicas: 4 },
  },
};

type LiveTrench = Trench & {
  metadata: { uid: string; generation: number; resourceVersion: string };
};

const api = () => testCluster().kc.makeApiClient(CustomObjectsApi);
const apps = () => testCluster().kc.makeApiClient(AppsV1Api);
const core = () => testCluster().kc.makeApiClient(CoreV1Api);

async function getTrench(): Promise<LiveTrench> {
  return (await api().getNamespacedCustomObject({
    group: 'playtrenches.xyz',
    version: 'v1alpha1',
    namespace: ns.name,
    plural: 'trenches',
    name: NAME,
  })) as LiveTrench;
}

async function patchTrench(patch: unknown): Promise<void> {
  const r = await kubectl([
    'patch',
    'trenches',
    NAME,
    '-n',
    ns.name,
    '--type=merge',
    '-p',
    JSON.stringify(patch),
  ]);
  if (r.code !== 0) throw new Error(r.stderr);
}

/** Waits until the operator has observed the current generation and reports Ready. */
async function waitReady(what: string) {
  return waitFor(
    async () => {
      const t = await getTrench();
      const ready = t.status?.conditions?.find((c) => c.type === 'Ready');
      return t.status?.observedGeneration === t.metadata.generation && ready?.status === 'True'
        ? t
        : undefined;
    },
    { what, timeoutMs: 90_000 },
  );
}

async function childJson(
  kind: string,
  name: string,
): Promise<{ metadata: { uid?: string; ownerReferences?: unknown[] } } | undefined> {
  const r = await kubectl(['get', kind, name, '-n', ns.name, '-o', 'json']);
  return r.code === 0 ? JSON.parse(r.stdout) : undefined;
}

beforeAll(async () => {
  await installCrdsAndRbac();
  operators.push(await startOperator());
});

afterAll(async () => {
  for (const op of operators) await op.stop();
  for (const op of operators) {
    // Under the chart's RBAC the operator must never have been refused anything.
    expect(op.logs()).not.toMatch(/\b403\b|forbidden/i);
  }
});

describe('the Trench operator', () => {
  it('creates every child with a controller ownerReference and reports Ready', async () => {
    const created = await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'playtrenches.xyz/v1alpha1',
        kind: 'Trench',
        metadata: { name: NAME, namespace: ns.name },
        spec,
      }),
    );
    expect(created.code).toBe(0);
    const trench = await waitReady('the new Trench to become Ready');
    const expected = renderTrench({
      metadata: { name: NAME, namespace: ns.name, uid: trench.metadata.uid },
      spec,
    });
    expect(expected.length).toBeGreaterThan(10);
    for (const m of expected) {
      const live = await childJson(m.kind!, m.metadata!.name!);
      expect(live, `${m.kind} ${m.metadata!.name}`).toBeDefined();
      if (m.metadata?.name === `${NAME}-backups`) {
        // The backups claim outlives its Trench: no owner, so no garbage collection.
        expect(live!.metadata.ownerReferences).toBeUndefined();
        continue;
      }
      expect(live!.metadata.ownerReferences).toEqual([
        expect.objectContaining({
          kind: 'Trench',
          name: NAME,
          uid: trench.metadata.uid,
          controller: true,
        }),
      ]);
    }
    expect(trench.status?.api).toEqual({ replicas: 2, readyReplicas: 2, summary: '2/2' });
    expect(trench.status?.worker).toMatchObject({ replicas: 2, desiredReplicas: 2 });
    const worker = await apps().readNamespacedDeployment({
      name: `${NAME}-worker`,
      namespace: ns.name,
    });
    expect(worker.spec?.replicas).toBe(2);
    const printed = await kubectl(['get', 'trenches', '-n', ns.name]);
    expect(printed.stdout).toMatch(/NAME\s+PHASE\s+API\s+WORKERS/);
    expect(printed.stdout).toMatch(new RegExp(`${NAME}\\s+Ready\\s+2/2\\s+2`));
    const short = await kubectl(['get', 'tr', '-n', ns.name, '-o', 'name']);
    expect(short.stdout.trim()).toBe(`trench.playtrenches.xyz/${NAME}`);
  });

  it('generates the Postgres and Redis passwords once, outside garbage collection', async () => {
    const passwords = new Set<string>();
    for (const name of [`${NAME}-postgres`, `${NAME}-redis`]) {
      const secret = await core().readNamespacedSecret({ name, namespace: ns.name });
      const password = Buffer.from(secret.data?.password ?? '', 'base64').toString();
      expect(password, name).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(secret.metadata?.ownerReferences ?? [], name).toEqual([]);
      passwords.add(password);
    }
    expect(passwords.size).toBe(2);
  });

  it('carries image, replica and env changes to the children', async () => {
    // Every status the Trench passes through, to check that Ready at the new generation is
    // never reported before the children have it (and then taken back).
    const seen: { generation?: number; observed?: number; ready?: string; api?: string }[] = [];
    const before = await getTrench();
    const watch = await new Watch(testCluster().kc).watch(
      `/apis/playtrenches.xyz/v1alpha1/namespaces/${ns.name}/trenches`,
      { resourceVersion: before.metadata.resourceVersion },
      (_type: string, t: Trench & { metadata: { generation: number } }) => {
        seen.push({
          generation: t.metadata.generation,
          observed: t.status?.observedGeneration,
          ready: t.status?.conditions?.find((c) => c.type === 'Ready')?.status,
          api: t.status?.api?.summary,
        });
      },
      () => {},
    );
    try {
      await patchTrench({
        spec: {
          api: {
            image: 'registry.example/api:1.1.0',
            replicas: 3,
            env: [{ name: 'FEATURE_X', value: 'on' }],
          },
        },
      });
      await waitReady('the changed Trench to become Ready');
      const d = await apps().readNamespacedDeployment({ name: `${NAME}-api`, namespace: ns.name });
      expect(d.spec?.replicas).toBe(3);
      const container = d.spec?.template.spec?.containers[0];
      expect(container?.image).toBe('registry.example/api:1.1.0');
      expect(container?.env).toEqual(expect.arrayContaining([{ name: 'FEATURE_X', value: 'on' }]));
      expect((await getTrench()).status?.api?.summary).toBe('3/3');
    } finally {
      watch.abort();
    }
    // At the patch's generation: a late status write of the one before may come first.
    const atNew = seen.filter((e) => e.observed === before.metadata.generation + 1);
    const firstReady = atNew.findIndex((e) => e.ready === 'True');
    expect(firstReady, JSON.stringify(seen)).toBeGreaterThanOrEqual(0);
    // Ready at the new generation only with the new replica count, and never taken back.
    expect(atNew.slice(firstReady), JSON.stringify(seen)).toEqual(
      atNew.slice(firstReady).map(() => expect.objectContaining({ ready: 'True', api: '3/3' })),
    );
  });

  it('recreates a child deleted by hand', async () => {
    const before = await core().readNamespacedService({ name: `${NAME}-api`, namespace: ns.name });
    await core().deleteNamespacedService({ name: `${NAME}-api`, namespace: ns.name });
    const after = await waitFor(
      async () => {
        const s = await core().readNamespacedService({ name: `${NAME}-api`, namespace: ns.name });
        return s.metadata?.uid !== before.metadata?.uid ? s : undefined;
      },
      { what: 'Service shop-api to come back' },
    );
    expect(after.spec?.ports?.map((p) => p.name)).toEqual(before.spec?.ports?.map((p) => p.name));
  });

  it('puts back a field of ours edited by hand and leaves fields of other managers alone', async () => {
    const edit = await kubectl([
      'patch',
      'deployment',
      `${NAME}-api`,
      '-n',
      ns.name,
      '--type=json',
      '-p',
      JSON.stringify([
        {
          op: 'replace',
          path: '/spec/template/spec/containers/0/image',
          value: 'registry.example/evil:6.6.6',
        },
        { op: 'add', path: '/metadata/annotations/team.example~1owner', value: 'payments' },
      ]),
    ]);
    expect(edit.code).toBe(0);
    await waitFor(
      async () => {
        const d = await apps().readNamespacedDeployment({
          name: `${NAME}-api`,
          namespace: ns.name,
        });
        return d.spec?.template.spec?.containers[0]?.image === 'registry.example/api:1.1.0'
          ? d
          : undefined;
      },
      { what: 'the hand-edited image to be put back' },
    );
    // Another pass of the whole Trench, then the foreign annotation must still be there.
    await patchTrench({ metadata: { labels: { touched: 'yes' } } });
    await patchTrench({ spec: { api: { env: [{ name: 'FEATURE_X', value: 'off' }] } } });
    await waitReady('the Trench to converge after the hand edits');
    const d = await apps().readNamespacedDeployment({ name: `${NAME}-api`, namespace: ns.name });
    expect(d.metadata?.annotations?.['team.example/owner']).toBe('payments');
  });

  it('makes no API writes in an idle half-minute once converged', async () => {
    await waitReady('the Trench to be converged before the idle half-minute');
    // Let the last status write and informer events settle, then watch 30 s: six of the
    // scaler's 5 s polls and fifteen lease renewals. (make bench-scale and bench-backup-operator
    // watch a full idle minute, at scale.)
    await new Promise((r) => setTimeout(r, 3000));
    const since = Date.now();
    await new Promise((r) => setTimeout(r, 30_000));
    const writes = writesBy(OPERATOR_USER, since).filter((e) => e.objectRef?.resource !== 'leases');
    expect(writes.map((e) => `${e.verb} ${e.objectRef?.resource}/${e.objectRef?.name}`)).toEqual(
      [],
    );
    // Lease renewals are the only writes, and there were some: the audit log was read right.
    expect(writesBy(OPERATOR_USER, since).length).toBeGreaterThan(0);
  }, 60_000);

  it('prunes the per-Trench monitoring ConfigMaps an older version rendered', async () => {
    const trench = await getTrench();
    const at = { name: NAME, namespace: ns.name, uid: trench.metadata.uid! };
    await plantRetiredConfigMap(at, `${NAME}-monitoring`);
    await plantRetiredConfigMap(at, `${NAME}-dashboard`);
    await waitFor(
      async () =>
        (await childJson('configmap', `${NAME}-monitoring`)) ||
        (await childJson('configmap', `${NAME}-dashboard`))
          ? undefined
          : true,
      { what: 'the retired monitoring ConfigMaps to be pruned' },
    );
    expect(await childJson('deployment', `${NAME}-api`)).toBeDefined();
  });

  it('exports the Trench’s thresholds until monitoring is turned off', async () => {
    const metrics = () => operators.at(-1)!.metrics();
    const mine = `trench_monitoring_enabled{namespace="${ns.name}",trench="${NAME}"} 1`;
    expect(await metrics()).toContain(mine);
    expect(await metrics()).toContain(
      `trench_alert_threshold{namespace="${ns.name}",trench="${NAME}",alert="errorRate",severity="critical"} 0.05`,
    );
    await patchTrench({ spec: { monitoring: { enabled: false } } });
    await waitFor(async () => ((await metrics()).includes(mine) ? undefined : true), {
      what: 'the thresholds to leave /metrics',
    });
    expect(await metrics()).not.toContain(`trench="${NAME}",alert=`);
    await patchTrench({ spec: { monitoring: { enabled: true } } });
  });

  it('keeps the generated Secrets across an operator restart and spec changes', async () => {
    const read = (component: string) =>
      core().readNamespacedSecret({ name: `${NAME}-${component}`, namespace: ns.name });
    const before = [await read('postgres'), await read('redis')];
    await operators[0]!.stop();
    operators.push(await startOperator());
    await patchTrench({ spec: { api: { replicas: 2 } } });
    await waitReady('the Trench to converge under the restarted operator');
    const after = [await read('postgres'), await read('redis')];
    expect(after.map((s) => s.data)).toEqual(before.map((s) => s.data));
    expect(after.map((s) => s.metadata?.resourceVersion)).toEqual(
      before.map((s) => s.metadata?.resourceVersion),
    );
  });

  it('runs one leader of two; when the leader is killed the standby takes over and converges', async () => {
    const first = operators[operators.length - 1]!;
    const second = await startOperator();
    operators.push(second);
    expect(metricValue(await first.metrics(), 'trench_leader')).toBe(1);
    expect(metricValue(await second.metrics(), 'trench_leader')).toBe(0);
    await patchTrench({ spec: { api: { replicas: 3 } } });
    await waitReady('the Trench to converge with a standby running');
    const reconciles = (text: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith('trench_reconcile_total{'))
        .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    expect(reconciles(await first.metrics())).toBeGreaterThan(0);
    expect(reconciles(await second.metrics())).toBe(0);

    await first.stop('SIGKILL');
    await waitFor(
      async () => (metricValue(await second.metrics(), 'trench_leader') === 1 ? true : undefined),
      {
        what: 'the standby to take the lease',
        timeoutMs: 30_000,
        intervalMs: 100,
      },
    );
    // How long that takes is bench/leader.ts's figure; here: the standby leads, and converges.
    await patchTrench({ spec: { api: { replicas: 1 } } });
    await waitReady('the new leader to converge a change');
    expect(reconciles(await second.metrics())).toBeGreaterThan(0);
  }, 120_000);

  it('garbage-collects every child when the Trench is deleted, and keeps the password and backups', async () => {
    const trench = await getTrench();
    const owned = renderTrench({
      metadata: { name: NAME, namespace: ns.name, uid: trench.metadata.uid },
      spec: trench.spec,
    }).filter((m) => m.metadata?.ownerReferences);
    const backups = await childJson('persistentvolumeclaim', `${NAME}-backups`);
    expect(backups).toBeDefined();
    await kubectl(['delete', 'trenches', NAME, '-n', ns.name, '--wait=false']);
    await waitFor(
      async () => {
        for (const m of owned) if (await childJson(m.kind!, m.metadata!.name!)) return undefined;
        return true;
      },
      { what: 'every child to be garbage-collected', timeoutMs: 90_000 },
    );
    expect(await childJson('secret', `${NAME}-postgres`)).toBeDefined();
    expect(await childJson('secret', `${NAME}-redis`)).toBeDefined();
    const kept = await childJson('persistentvolumeclaim', `${NAME}-backups`);
    expect(kept?.metadata.uid).toBe(backups?.metadata.uid);
    const refused = writesBy(OPERATOR_USER, 0).filter(isRbacRefusal);
    expect(refused).toEqual([]);
  });
});
