// The Argo CD health scripts on objects as the API server returns them, with statuses written
// by the real operator (under the chart's RBAC): just created, Ready, Failed on a spec the
// renderer refuses, Degraded on an apply the API server refuses, and edited while no operator
// runs. Each object is read back with
// `kubectl get -o json` and given to the committed script on Lua 5.1, as Argo CD would.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  HEALTH_KINDS,
  HEALTH_PATCH_FILE,
  type HealthKind,
  healthKey,
} from '../../../charts/argocd-health.js';
import { REPO_ROOT } from '../../../hack/lib/cluster.js';
import { type Health, health, healthScript } from '../../support/argocd/health.js';
import { denyImagesTagged, type ImageDenial } from '../support/admission.js';
import { kubectl, mustKubectl, useNamespace, waitFor } from '../support/cluster.js';
import { installCrdsAndRbac, type RunningOperator, startOperator } from '../support/operator.js';

const ns = useNamespace('argocd-health');
let operator: RunningOperator | undefined;

interface Live {
  metadata: { generation: number };
  status?: {
    observedGeneration?: number;
    phase?: string;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

const resource: Record<HealthKind, string> = {
  Trench: 'trenches.playtrenches.xyz',
  TrenchBackup: 'trenchbackups.playtrenches.xyz',
  TrenchRestore: 'trenchrestores.playtrenches.xyz',
};

/** The object exactly as Argo CD's informer would hand it over: the API server's JSON. */
async function getJson(kind: HealthKind, name: string): Promise<Live> {
  return JSON.parse(await mustKubectl(['get', resource[kind], name, '-n', ns.name, '-o', 'json']));
}

async function healthOf(kind: HealthKind, name: string): Promise<Health & { obj: Live }> {
  const obj = await getJson(kind, name);
  return { ...health(kind, obj), obj };
}

async function createTrench(name: string, spec: Record<string, unknown> = {}) {
  const trench = {
    apiVersion: 'playtrenches.xyz/v1alpha1',
    kind: 'Trench',
    metadata: { name, namespace: ns.name },
    spec: {
      api: { image: 'registry.example/api:1.0.0', replicas: 1 },
      worker: { image: 'registry.example/worker:1.0.0', queues: ['default'] },
      ...spec,
    },
  };
  await mustKubectl(['create', '-f', '-'], JSON.stringify(trench));
}

/** Waits until the operator has written a status for the current generation that satisfies `ok`. */
function waitTrench(name: string, what: string, ok: (t: Live) => boolean, timeoutMs = 90_000) {
  return waitFor(
    async () => {
      const t = await getJson('Trench', name);
      return t.status?.observedGeneration === t.metadata.generation && ok(t) ? t : undefined;
    },
    { what, timeoutMs },
  );
}

const isReady = (t: Live) =>
  t.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

beforeAll(async () => {
  await installCrdsAndRbac();
});

afterAll(async () => {
  await operator?.stop();
});

describe('Trench health from the real operator', () => {
  it('is Progressing before the operator has seen a new Trench, Healthy once it is Ready', async () => {
    // Created before any operator runs, so the status is certainly still absent.
    await createTrench('fresh');
    const before = await healthOf('Trench', 'fresh');
    expect(before.obj.status).toBeUndefined();
    expect(before).toMatchObject({
      status: 'Progressing',
      message: 'Waiting for the operator to observe generation 1',
    });

    operator = await startOperator({ TRENCH_WATCH_NAMESPACE: ns.name });
    // Every health Argo CD would have shown on the way up: how fast the fake nodes make pods
    // Ready decides which Progressing states are caught, so only their kinds are asserted.
    const seen = new Set<string>();
    const after = await waitFor(
      async () => {
        const h = await healthOf('Trench', 'fresh');
        seen.add(h.status);
        return h.status === 'Healthy' ? h : undefined;
      },
      { what: 'the Trench to turn Healthy', timeoutMs: 90_000 },
    );
    expect([...seen].filter((s) => s !== 'Progressing' && s !== 'Healthy')).toEqual([]);
    expect(isReady(after.obj)).toBe(true);
    expect(after.obj.status?.observedGeneration).toBe(1);
    expect(after.message).toMatch(/^Ready \(AllWorkloadsReady\): \d+ workloads ready$/);
  });

  it('is Degraded when the operator fails the Trench, with the Ready reason and message', async () => {
    // The CRD checks each cron field's range; that 31 February never comes takes the renderer.
    await createTrench('never', { backup: { schedule: '0 3 31 2 *' } });
    await waitTrench('never', 'the Trench to fail', (t) => t.status?.phase === 'Failed');
    const h = await healthOf('Trench', 'never');
    expect(h.status).toBe('Degraded');
    expect(h.message).toMatch(/^Failed \(InvalidSpec\): .*spec\.backup\.schedule/);
    const ready = h.obj.status?.conditions?.find((c) => c.type === 'Ready');
    expect(h.message).toBe(`Failed (InvalidSpec): ${ready?.message}`);
  });

  describe('an apply the API server refuses', () => {
    const policy = 'trench-test-argocd-deny-refused';
    let denial: ImageDenial | undefined;
    afterAll(async () => {
      await denial?.remove();
    });

    it('is Degraded with the ApplyFailed reason, and Healthy again once it applies', async () => {
      await createTrench('refused');
      await waitTrench('refused', 'the Trench to be Ready', isReady);
      // A real admission policy, bound to this file's namespace only, refuses the new image.
      denial = await denyImagesTagged(policy, ns.name, 'refused');
      await mustKubectl([
        'patch',
        resource.Trench,
        'refused',
        '-n',
        ns.name,
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { api: { image: 'registry.example/api:refused' } } }),
      ]);
      await waitTrench('refused', 'the refused apply', (t) => t.status?.phase === 'Degraded');
      const degraded = await healthOf('Trench', 'refused');
      expect(degraded.status).toBe('Degraded');
      expect(degraded.message).toMatch(
        /^Degraded \(ApplyFailed\): .*Deployment refused-api: .*refused/s,
      );

      await denial.allow();
      await waitTrench('refused', 'the retry to apply', isReady, 120_000);
      expect((await healthOf('Trench', 'refused')).status).toBe('Healthy');
    }, 240_000);
  });

  it('is Progressing when the spec changed while no operator ran, until it catches up', async () => {
    const ready = await waitTrench('fresh', 'the Trench to be Ready', isReady);
    await operator!.stop();
    operator = undefined;
    await mustKubectl([
      'patch',
      resource.Trench,
      'fresh',
      '-n',
      ns.name,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { api: { replicas: 2 } } }),
    ]);
    const stale = await healthOf('Trench', 'fresh');
    const generation = ready.metadata.generation + 1;
    expect(stale.obj.metadata.generation).toBe(generation);
    // The status still says Ready: without the generation check Argo CD would call it Healthy.
    expect(stale.obj.status?.phase).toBe('Ready');
    expect(stale).toMatchObject({
      status: 'Progressing',
      message: `Waiting for the operator to observe generation ${generation} (status is of generation ${ready.metadata.generation})`,
    });

    operator = await startOperator({ TRENCH_WATCH_NAMESPACE: ns.name });
    await waitTrench('fresh', 'the edited Trench to be Ready', isReady);
    expect((await healthOf('Trench', 'fresh')).status).toBe('Healthy');
  });
});

describe('TrenchBackup and TrenchRestore health on statuses set through the API', () => {
  // The test plays the controllers, with the operator stopped so that none races it: it writes
  // each phase on the status subresource, as a controller does, and reads the object back.
  beforeAll(async () => {
    await operator?.stop();
    operator = undefined;
  });
  async function setStatus(kind: HealthKind, name: string, status: Record<string, unknown>) {
    await mustKubectl([
      'patch',
      resource[kind],
      name,
      '-n',
      ns.name,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status }),
    ]);
  }

  it('follows the phases of a backup', async () => {
    const name = 'fresh-202612030300';
    await mustKubectl(
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'playtrenches.xyz/v1alpha1',
        kind: 'TrenchBackup',
        metadata: { name, namespace: ns.name },
        spec: { trench: 'fresh', reason: 'manual' },
      }),
    );
    expect(await healthOf('TrenchBackup', name)).toMatchObject({
      status: 'Progressing',
      message: 'Waiting for the operator to start the backup',
    });
    await setStatus('TrenchBackup', name, { observedGeneration: 1, phase: 'Running' });
    expect((await healthOf('TrenchBackup', name)).status).toBe('Progressing');
    await setStatus('TrenchBackup', name, {
      phase: 'Completed',
      path: `fresh/${name}.dump`,
      sizeBytes: 10737418240,
      completionTime: '2026-12-03T03:00:42Z',
    });
    const done = await healthOf('TrenchBackup', name);
    // The int64 comes back from the API server as a JSON number and prints in full.
    expect(done).toMatchObject({
      status: 'Healthy',
      message: `Backup completed: fresh/${name}.dump (10737418240 bytes)`,
    });
    await setStatus('TrenchBackup', name, { phase: 'Failed', message: 'pg_dump: server closed' });
    expect(await healthOf('TrenchBackup', name)).toMatchObject({
      status: 'Degraded',
      message: 'Backup failed: pg_dump: server closed',
    });
    // The CRD keeps the phase to BACKUP_PHASES, so the scripts never see a misspelt one from here.
    const refused = await kubectl([
      'patch',
      resource.TrenchBackup,
      name,
      '-n',
      ns.name,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { phase: 'Exploding' } }),
    ]);
    expect(refused.code).not.toBe(0);
  });

  it('follows the phases of a restore', async () => {
    const name = 'fresh-restore';
    await mustKubectl(
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'playtrenches.xyz/v1alpha1',
        kind: 'TrenchRestore',
        metadata: { name, namespace: ns.name },
        spec: { trench: 'fresh', backup: 'fresh-202612030300' },
      }),
    );
    const from = 'from fresh-202612030300';
    expect((await healthOf('TrenchRestore', name)).message).toBe(
      `Waiting for the operator to start the restore ${from}`,
    );
    const seen: [string, string][] = [];
    for (const phase of ['Pending', 'Verifying', 'Restoring', 'Completed', 'Failed']) {
      await setStatus('TrenchRestore', name, { observedGeneration: 1, phase });
      seen.push([phase, (await healthOf('TrenchRestore', name)).status]);
    }
    expect(seen).toEqual([
      ['Pending', 'Progressing'],
      ['Verifying', 'Progressing'],
      ['Restoring', 'Progressing'],
      ['Completed', 'Healthy'],
      ['Failed', 'Degraded'],
    ]);
  });
});

describe('the argocd-cm patch', () => {
  it('merges the three scripts into an existing argocd-cm with kubectl patch', async () => {
    await mustKubectl([
      'create',
      'configmap',
      'argocd-cm',
      '-n',
      ns.name,
      '--from-literal=url=https://argocd.example',
    ]);
    // The README's command, in this file's namespace: the API server refuses a patch whose
    // namespace differs from the request's, so the copy names this one instead of argocd.
    const patch = parse(readFileSync(join(REPO_ROOT, HEALTH_PATCH_FILE), 'utf8'), {
      version: '1.1',
    }) as { metadata: { namespace: string } };
    patch.metadata.namespace = ns.name;
    const file = join(mkdtempSync(join(tmpdir(), 'trench-argocd-')), 'patch.yaml');
    writeFileSync(file, stringify(patch, { version: '1.1' }));
    await mustKubectl(['patch', 'configmap', 'argocd-cm', '-n', ns.name, '--patch-file', file]);
    rmSync(dirname(file), { recursive: true, force: true });
    const cm = JSON.parse(
      await mustKubectl(['get', 'configmap', 'argocd-cm', '-n', ns.name, '-o', 'json']),
    ) as { data: Record<string, string> };
    expect(cm.data.url).toBe('https://argocd.example');
    for (const kind of HEALTH_KINDS) {
      expect(cm.data[healthKey(kind)], kind).toBe(healthScript(kind));
    }
  });
});
