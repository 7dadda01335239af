// `make up`'s wait for the Trenches of dist/, against the real API server: a broken Trench that
// is not ours does not make it fail, and on timeout it names our Trench that is not Ready with
// the reason and message of its Ready condition as the API server holds them.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../../hack/lib/cluster.js';
import { type KubectlTarget, waitForTrenches } from '../../../hack/lib/ready.js';
import { kubectl, testCluster, useNamespace } from '../support/cluster.js';

const ns = useNamespace('ready');

const target = (): KubectlTarget => ({
  kubectl: testCluster().kubectlPath,
  kubeconfig: testCluster().kubeconfigPath,
});

async function must(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function createTrench(name: string): Promise<number> {
  const out = await must(
    ['create', '-o', 'json', '-f', '-'],
    JSON.stringify({
      apiVersion: 'playtrenches.xyz/v1alpha1',
      kind: 'Trench',
      metadata: { name, namespace: ns.name },
      spec: {
        api: { image: 'ghcr.io/playtrenches/shop-api:1.0.0' },
        worker: { image: 'ghcr.io/playtrenches/shop-worker:1.0.0', queues: ['default'] },
      },
    }),
  );
  return (JSON.parse(out) as { metadata: { generation: number } }).metadata.generation;
}

/** Writes the status an operator would: a Ready condition for `generation`. */
async function setReady(
  name: string,
  generation: number,
  ready: { status: 'True' | 'False'; reason: string; message: string },
) {
  await must([
    'patch',
    'trenches.playtrenches.xyz',
    name,
    '-n',
    ns.name,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({
      status: {
        observedGeneration: generation,
        conditions: [
          {
            type: 'Ready',
            ...ready,
            observedGeneration: generation,
            lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          },
        ],
      },
    }),
  ]);
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the wait to fail');
    },
    (e: unknown) => e as Error,
  );

beforeAll(async () => {
  await must([
    'apply',
    '--server-side',
    '--force-conflicts',
    '-f',
    join(REPO_ROOT, 'crds', 'trenches.playtrenches.xyz.yaml'),
  ]);
  await must([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/trenches.playtrenches.xyz',
  ]);
});

describe('waitForTrenches', () => {
  it('waits for its own Trenches only, and names the one that is not Ready', async () => {
    const mine = await createTrench('mine');
    const foreign = await createTrench('foreign');
    await setReady('mine', mine, { status: 'True', reason: 'Converged', message: 'All ready' });
    await setReady('foreign', foreign, {
      status: 'False',
      reason: 'ImagePullBackOff',
      message: 'Deployment foreign-api has 0/2 ready replicas',
    });
    // What `make up` used to run fails on the foreign Trench.
    const all = await kubectl([
      'wait',
      '--for=condition=Ready',
      '--timeout=2s',
      'trenches.playtrenches.xyz',
      '--all',
      '--all-namespaces',
    ]);
    expect(all.code).not.toBe(0);

    await waitForTrenches(target(), [{ namespace: ns.name, name: 'mine' }], { timeoutMs: 20_000 });

    const error = await failure(
      waitForTrenches(
        target(),
        [
          { namespace: ns.name, name: 'mine' },
          { namespace: ns.name, name: 'foreign' },
        ],
        { timeoutMs: 1_000, intervalMs: 200 },
      ),
    );
    expect(error.message).toContain(
      `Trench ${ns.name}/foreign is not Ready: Ready=False ImagePullBackOff: Deployment foreign-api has 0/2 ready replicas`,
    );
    expect(error.message).not.toContain(`${ns.name}/mine`);
  });

  it('does not take the Ready of an older generation, nor a Trench that is not there', async () => {
    const log: string[] = [];
    const generation = await createTrench('changed');
    await setReady('changed', generation, { status: 'True', reason: 'Converged', message: '' });
    await must([
      'patch',
      'trenches.playtrenches.xyz',
      'changed',
      '-n',
      ns.name,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { api: { replicas: 3 } } }),
    ]);
    const error = await failure(
      waitForTrenches(
        target(),
        [
          { namespace: ns.name, name: 'changed' },
          { namespace: ns.name, name: 'absent' },
        ],
        { timeoutMs: 1_000, intervalMs: 200, log: (l) => log.push(l) },
      ),
    );
    expect(error.message).toContain(
      `Trench ${ns.name}/changed is not Ready: status is of generation 1, the spec is at generation 2`,
    );
    expect(error.message).toContain(`Trench ${ns.name}/absent is not Ready: not found`);
    // The progress log says it once, not once per poll.
    expect(log).toHaveLength(1);

    // The operator catches up: the wait now succeeds.
    await setReady('changed', 2, { status: 'True', reason: 'Converged', message: '' });
    await waitForTrenches(target(), [{ namespace: ns.name, name: 'changed' }], {
      timeoutMs: 20_000,
    });
  });
});
