// dist/ on a real API server: the `make deploy` sequence applies it (CRDs first, then the
// rest), a second apply changes nothing, and nothing drifts (so Argo CD needs no
// ignoreDifferences). The CRDs serve `kubectl get trenches` with their printer columns.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../hack/lib/cluster.js';
import { trenchesInDir, waitForTrenches } from '../../../hack/lib/ready.js';
import { kubectl, testCluster, waitFor } from '../support/cluster.js';
import { type RunningOperator, startOperator } from '../support/operator.js';

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

let operator: RunningOperator | undefined;

afterAll(async () => {
  await operator?.stop();
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

// What Argo CD's server-side sync of dist/ would see once the operator has done its work: a
// dry-run apply under Argo CD's own field manager that changes nothing. The operator writes
// only status and the children it owns, and the worker replica count is in no manifest of
// dist/, so scaling the workers must not show either.
describe('dist/ under GitOps', () => {
  const ARGOCD = '--field-manager=argocd-controller';

  it('shows no diff once the operator has converged and the workers were scaled', async () => {
    await ok(['apply', '--server-side', ARGOCD, '--force-conflicts', '-f', DIST]);
    operator = await startOperator({ TRENCH_LEADER_ELECTION: 'false' });
    const { kubeconfigPath, kubectlPath } = testCluster();
    const target = { kubectl: kubectlPath, kubeconfig: kubeconfigPath };
    const refs = trenchesInDir(DIST);
    expect(refs.map((r) => `${r.namespace}/${r.name}`)).toEqual([
      'shop-production/production',
      'shop-staging/staging',
    ]);
    await waitForTrenches(target, refs, { timeoutMs: 180_000 });

    // Scaled as the scaler or a person would, through the scale subresource: 2..20 allows 5.
    await ok(['scale', 'deployment', 'production-worker', '-n', 'shop-production', '--replicas=5']);
    await waitFor(
      async () => {
        const t = JSON.parse(
          await ok(['get', 'trench', 'production', '-n', 'shop-production', '-o', 'json']),
        );
        return t.status?.worker?.replicas === 5 ? true : undefined;
      },
      { what: 'Trench production to report 5 workers', timeoutMs: 60_000 },
    );

    const diff = await kubectl(['diff', '--server-side', ARGOCD, '-f', DIST]);
    expect(diff.stderr).toBe('');
    expect(diff.stdout).toBe('');
    expect(diff.code).toBe(0);
    const replicas = await ok([
      'get',
      'deployment',
      'production-worker',
      '-n',
      'shop-production',
      '-o',
      'jsonpath={.spec.replicas}',
    ]);
    expect(replicas).toBe('5');
  });

  it('shows both Trenches Ready in kubectl trench list', async () => {
    const { kubeconfigPath } = testCluster();
    const run = promisify(execFile);
    const plugin = join(REPO_ROOT, 'operator', 'cli', 'kubectl-trench');
    const { stdout } = await run(plugin, [
      'list',
      '-A',
      '-o',
      'json',
      '--kubeconfig',
      kubeconfigPath,
    ]);
    const items = (
      JSON.parse(stdout) as {
        items: { metadata: { namespace: string; name: string }; status?: { phase?: string } }[];
      }
    ).items
      .filter((t) => t.metadata.namespace.startsWith('shop-'))
      .map((t) => `${t.metadata.namespace}/${t.metadata.name}=${t.status?.phase}`)
      .sort();
    expect(items).toEqual(['shop-production/production=Ready', 'shop-staging/staging=Ready']);
    const status = await run(plugin, [
      'status',
      'production',
      '-n',
      'shop-production',
      '--kubeconfig',
      kubeconfigPath,
    ]);
    expect(status.stdout).toMatch(/Ready/);
  });
});
