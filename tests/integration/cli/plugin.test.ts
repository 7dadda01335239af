// The `kubectl trench` plugin as users run it: the operator/cli/kubectl-trench executable as a
// child process (and through kubectl's own plugin lookup), against the real API server, with a
// Trench the real operator made Ready. Assertions are on what a script sees: stdout, stderr
// and the exit code.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../../hack/lib/cluster.js';
import type { LiveTrench } from '../../../operator/cli/format.js';
import { kubectl, testCluster, useNamespace, waitFor } from '../support/cluster.js';
import { installCrdsAndRbac, type RunningOperator, startOperator } from '../support/operator.js';

const PLUGIN = join(REPO_ROOT, 'operator', 'cli', 'kubectl-trench');
const ns = useNamespace('cli');
// The operator watches `ns` only, so a Trench here never gets a status: the not-Ready case
// without racing the operator.
const idle = useNamespace('cli-idle');
const NAME = 'demo';
let operator: RunningOperator | undefined;
let tmp = '';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function exec(file: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    // The user's environment minus KUBECONFIG, so only what a test passes picks the cluster.
    const { KUBECONFIG: _, ...base } = process.env;
    execFile(
      file,
      args,
      { env: { ...base, ...env }, cwd: tmp, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The plugin on the test cluster; `--kubeconfig` goes last, as a user would type it. */
const trench = (...args: string[]) =>
  exec(PLUGIN, [...args, '--kubeconfig', testCluster().kubeconfigPath]);

const getTrench = async (namespace: string, name: string) =>
  (await testCluster().kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
    group: 'playtrenches.xyz',
    version: 'v1alpha1',
    namespace,
    plural: 'trenches',
    name,
  })) as LiveTrench;

/** manifests/samples/trench-minimal.yaml, moved into `namespace`. */
function minimalTrench(namespace: string, name = NAME): string {
  const t = parse(
    readFileSync(join(REPO_ROOT, 'manifests', 'samples', 'trench-minimal.yaml'), 'utf8'),
  ) as { metadata: { name: string; namespace: string } };
  t.metadata = { name, namespace };
  return JSON.stringify(t);
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'trench-cli-'));
  await installCrdsAndRbac();
  // No leader election: a Lease in trench-system would be contended by any other operator on
  // this shared cluster, and this one must reconcile at once.
  operator = await startOperator({
    TRENCH_WATCH_NAMESPACE: ns.name,
    TRENCH_LEADER_ELECTION: 'false',
  });
  const applied = await kubectl(['apply', '-f', '-'], minimalTrench(ns.name));
  if (applied.code !== 0) throw new Error(`Applying the Trench failed: ${applied.stderr}`);
  await waitFor(
    async () => {
      const t = await getTrench(ns.name, NAME);
      const ready = t.status?.conditions?.find((c) => c.type === 'Ready');
      return t.status?.observedGeneration === t.metadata.generation && ready?.status === 'True'
        ? t
        : undefined;
    },
    { what: `Trench ${NAME} to become Ready`, timeoutMs: 120_000 },
  );
});

afterAll(async () => {
  await operator?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('kubectl trench status', () => {
  it('exits 0 for a Ready Trench and prints its conditions, replicas and sections', async () => {
    const r = await trench('status', NAME, '-n', ns.name);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Trench:      ${ns.name}/${NAME}`);
    expect(r.stdout).toMatch(/^Phase: +Ready$/m);
    expect(r.stdout).toMatch(/^Generation: +1 \(observed 1\)$/m);
    expect(r.stdout).toMatch(/^ {2}Ready +True +\S+ +\d+s +/m);
    expect(r.stdout).toMatch(/^API: +2\/2 ready$/m);
    expect(r.stdout).toMatch(/^Workers: +\d+ running, \d+ desired, backlog /m);
    expect(r.stdout).toMatch(/^Rollout:\n/m);
    expect(r.stdout).toMatch(/^Backups:\n/m);
  });

  it('prints the object as JSON with -o json, with the same exit code', async () => {
    const r = await trench('status', NAME, '-n', ns.name, '-o', 'json');
    expect(r.code).toBe(0);
    const t = JSON.parse(r.stdout) as LiveTrench;
    expect(t.metadata.name).toBe(NAME);
    expect(t.metadata.namespace).toBe(ns.name);
    expect(t.status?.phase).toBe('Ready');
  });

  it('prints the object as YAML with -o yaml', async () => {
    const r = await trench('status', NAME, '--namespace', ns.name, '--output=yaml');
    expect(r.code).toBe(0);
    expect((parse(r.stdout) as LiveTrench).metadata.name).toBe(NAME);
  });

  it('takes the namespace from the kubeconfig context when -n is not given', async () => {
    const cfg = JSON.parse(testCluster().kc.exportConfig()) as {
      'current-context': string;
      contexts: { name: string; context: Record<string, string> }[];
    };
    for (const c of cfg.contexts) c.context.namespace = ns.name;
    const file = join(tmp, 'kubeconfig-ns');
    writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
    const r = await exec(PLUGIN, ['status', NAME, '--kubeconfig', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Trench:      ${ns.name}/${NAME}`);
    // Relative to the caller's directory, like kubectl: the wrapper must not change it.
    const relative = await exec(PLUGIN, ['status', NAME, '--kubeconfig', 'kubeconfig-ns']);
    expect(relative.code).toBe(0);
    // And KUBECONFIG when there is no --kubeconfig, as KubeConfig.loadFromDefault reads it.
    const fromEnv = await exec(PLUGIN, ['status', NAME, '--context', cfg['current-context']], {
      KUBECONFIG: file,
    });
    expect(fromEnv.code).toBe(0);
  });

  it('exits 1 for a Trench that has no status yet, and says why', async () => {
    const applied = await kubectl(['apply', '-f', '-'], minimalTrench(idle.name));
    expect(applied.code).toBe(0);
    const r = await trench('status', NAME, '-n', idle.name);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^Phase: +<unset>$/m);
    expect(r.stdout).toContain('no status yet: the operator has not observed this Trench');
    expect(r.stdout).toMatch(/^Conditions:\n {2}none$/m);
  });

  it('exits 3 and names the Trench and namespace when it does not exist', async () => {
    const r = await trench('status', 'missing', '-n', ns.name);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`kubectl-trench: Trench "missing" not found in namespace "${ns.name}"\n`);
  });

  it('exits 2 and names the flag for an unknown flag, without calling the server', async () => {
    const r = await exec(PLUGIN, ['status', NAME, '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^kubectl-trench: unknown flag "--bogus"\n/);
    const missing = await trench('status');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^kubectl-trench: status needs a Trench NAME/);
  });

  it('exits 2 for a context the kubeconfig does not have', async () => {
    const r = await trench('status', NAME, '--context', 'nope');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^kubectl-trench: context "nope" not found in kubeconfig/);
  });

  it('exits 4 and names the server when it cannot be reached', async () => {
    const cfg = JSON.parse(testCluster().kc.exportConfig()) as {
      clusters: { cluster: { server: string } }[];
    };
    for (const c of cfg.clusters) c.cluster.server = 'https://127.0.0.1:1';
    const file = join(tmp, 'kubeconfig-unreachable');
    writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
    for (const args of [
      ['status', NAME],
      ['list', '-A'],
    ]) {
      const r = await exec(PLUGIN, [...args, '--kubeconfig', file]);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(
        /^kubectl-trench: cannot reach the API server https:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/,
      );
    }
  });

  it('exits 4 when the server refuses the credentials', async () => {
    const cfg = JSON.parse(testCluster().kc.exportConfig()) as {
      users: { user: Record<string, unknown> }[];
    };
    for (const u of cfg.users) u.user = { token: 'not-a-valid-token' };
    const file = join(tmp, 'kubeconfig-badtoken');
    writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
    const r = await exec(PLUGIN, ['status', NAME, '-n', ns.name, '--kubeconfig', file]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(
      /^kubectl-trench: the API server https:\/\/\S+ refused the credentials \(401/,
    );
  });
});

describe('kubectl trench list', () => {
  it('prints a table of the namespace with the Ready Trench', async () => {
    const r = await trench('list', '-n', ns.name);
    expect(r.code).toBe(0);
    const [header, ...rows] = r.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^NAME +PHASE +API +WORKERS +BACKLOG +READY +AGE$/);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(new RegExp(`^${NAME} +Ready +2/2 +\\d+/\\d+ +\\S+ +\\S+ +\\d+[smh]`));
  });

  it('adds NAMESPACE with -A and lists Trenches of every namespace', async () => {
    const r = await trench('list', '-A');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^NAMESPACE +NAME +PHASE/);
    expect(r.stdout).toMatch(new RegExp(`^${ns.name} +${NAME} +Ready `, 'm'));
  });

  it('prints {items:[...]} with -o json, and exits 0 for an empty namespace', async () => {
    const r = await trench('list', '-n', ns.name, '-o', 'json');
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as { items: LiveTrench[] };
    expect(list.items.map((t) => t.metadata.name)).toEqual([NAME]);
    const empty = await trench('list', '-n', `${ns.name}-none`);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toBe('');
    expect(empty.stderr).toBe(`No Trenches found in namespace "${ns.name}-none"\n`);
  });
});

describe('through kubectl', () => {
  it('is found by kubectl plugin list and runs as kubectl trench', async () => {
    const bin = join(tmp, 'bin');
    mkdirSync(bin);
    symlinkSync(PLUGIN, join(bin, 'kubectl-trench'));
    const env = { PATH: `${bin}:${process.env.PATH ?? ''}` };
    const { kubectlPath, kubeconfigPath } = testCluster();

    const plugins = await exec(kubectlPath, ['plugin', 'list'], env);
    expect(plugins.stdout).toContain(join(bin, 'kubectl-trench'));
    expect(plugins.stderr).not.toContain('kubectl-trench');

    // kubectl refuses flags before a plugin's name, so everything goes after it.
    const r = await exec(kubectlPath, ['trench', 'status', NAME, '-n', ns.name], {
      ...env,
      KUBECONFIG: kubeconfigPath,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}Ready +True /m);

    const missing = await exec(kubectlPath, ['trench', 'status', 'missing', '-n', ns.name], {
      ...env,
      KUBECONFIG: kubeconfigPath,
    });
    expect(missing.code).toBe(3);
  });
});
