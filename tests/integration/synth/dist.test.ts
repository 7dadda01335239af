// dist/ on a real API server: the `make deploy` sequence applies it (CRDs first, then the
// rest), a second apply changes nothing, and nothing drifts (so Argo CD needs no
// ignoreDifferences). The CRDs serve `kubectl get trenches` with their printer columns.
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, waitFor } from '../support/cluster.js';

const DIST = 'dist';
const CRD_FILE = `${DIST}/0000-crds.k8s.yaml`;
const CRDS = [
  'trenches.playtrenches.xyz',
  'trenchbackups.playtrenches.xyz',
  'trenchrestores.playtrenches.xyz',
];

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return r.stdout;
}

const NAMESPACES = ['trench-system', 'trench-monitoring', 'shop-production', 'shop-staging'];

async function namespacesGone(): Promise<true | undefined> {
  const r = await kubectl(['get', 'namespace', ...NAMESPACES, '--ignore-not-found', '-o', 'name']);
  return r.code === 0 && r.stdout.trim() === '' ? true : undefined;
}

async function noneTerminating(): Promise<true | undefined> {
  const r = await kubectl(['get', 'namespace', ...NAMESPACES, '--ignore-not-found', '-o', 'json']);
  if (r.code !== 0) return undefined;
  const items = r.stdout.trim() ? JSON.parse(r.stdout).items : [];
  return items.some((n: { status?: { phase?: string } }) => n.status?.phase === 'Terminating')
    ? undefined
    : true;
}

beforeAll(async () => {
  // An earlier run against the same cluster may still be deleting dist/'s namespaces.
  await waitFor(noneTerminating, {
    what: "dist/'s namespaces to finish terminating",
    timeoutMs: 180_000,
  });
}, 200_000);

afterAll(async () => {
  // The CRDs stay (other files use them); what dist/ added besides is removed.
  for (const file of readdirSync(DIST).sort().reverse()) {
    if (`${DIST}/${file}` === CRD_FILE) continue;
    await kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', `${DIST}/${file}`]);
  }
  await waitFor(namespacesGone, { what: "dist/'s namespaces to be deleted", timeoutMs: 180_000 });
}, 200_000);

describe('dist/', () => {
  it('applies with the make deploy sequence: CRDs, wait until established, everything', async () => {
    await ok(['apply', '--server-side', '--field-manager=trench-deploy', '-f', CRD_FILE]);
    await ok([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      ...CRDS.map((c) => `crd/${c}`),
    ]);
    const out = await ok([
      'apply',
      '--server-side',
      '--field-manager=trench-deploy',
      '--force-conflicts',
      '-f',
      DIST,
    ]);
    expect(out).toContain('trench.playtrenches.xyz/production serverside-applied');
    expect(out).toContain('deployment.apps/trench-operator serverside-applied');
  });

  it('has nothing left to change on a second apply (no drift for GitOps)', async () => {
    const diff = await kubectl([
      'diff',
      '--server-side',
      '--field-manager=trench-deploy',
      '-f',
      DIST,
    ]);
    expect(diff.stderr).toBe('');
    expect(diff.stdout).toBe('');
    expect(diff.code).toBe(0);
  });

  it('serves Trenches with short name, category and printer columns', async () => {
    const header = (await ok(['get', 'tr', '-A'])).split('\n')[0]!;
    expect(header.split(/\s{2,}/)).toEqual([
      'NAMESPACE',
      'NAME',
      'PHASE',
      'API',
      'WORKERS',
      'BACKLOG',
      'STEP',
      'WEIGHT',
      'LAST BACKUP',
      'AGE',
    ]);
    const names = await ok(['get', 'trench', '-A', '-o', 'name']);
    expect(names).toContain('trench.playtrenches.xyz/production');
    expect(names).toContain('trench.playtrenches.xyz/staging');
  });

  it('brings the operator and monitoring Deployments to Ready under kwok', async () => {
    for (const [ns, name] of [
      ['trench-system', 'trench-operator'],
      ['trench-monitoring', 'prometheus'],
      ['trench-monitoring', 'grafana'],
      ['trench-monitoring', 'kube-state-metrics'],
    ] as const) {
      await waitFor(
        async () => {
          const r = await kubectl(['get', 'deployment', name, '-n', ns, '-o', 'json']);
          if (r.code !== 0) return undefined;
          const d = JSON.parse(r.stdout);
          return d.status?.readyReplicas === d.spec.replicas ? true : undefined;
        },
        { what: `Deployment ${ns}/${name} to be Ready`, timeoutMs: 120_000 },
      );
    }
  });
});
