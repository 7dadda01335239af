// The `kubectl trench` plugin as users run it: the operator/cli/kubectl-trench executable as a
// child process (and through kubectl's own plugin lookup), against the real API server, with a
// Trench the real operator made Ready. Assertions are on what a script sees: stdout, stderr
// and the exit code.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../../hack/lib/cluster.js';
import type { LiveTrench } from '../../../operator/cli/format.js';
import { kubectl, mustKubectl, testCluster, useNamespace, waitFor } from '../support/cluster.js';
import { installCrdsAndRbac, type RunningOperator, startOperator } from '../support/operator.js';
import { type PrometheusServer, startPrometheus } from '../support/services.js';

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
  await demoReady();
});

/** The demo Trench Ready with its current spec observed: `status` exits 0 again. */
function demoReady(): Promise<LiveTrench> {
  return waitFor(
    async () => {
      const t = await getTrench(ns.name, NAME);
      const ready = t.status?.conditions?.find((c) => c.type === 'Ready');
      return t.status?.observedGeneration === t.metadata.generation && ready?.status === 'True'
        ? t
        : undefined;
    },
    { what: `Trench ${NAME} to become Ready`, timeoutMs: 120_000 },
  );
}

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

// Last but one: each test changes the demo Trench's spec (its generation) and waits for the
// operator to make it Ready again, so that the exit code it checks is the Ready one, 0.
describe('kubectl trench status: Alerts', () => {
  let prometheus: PrometheusServer | undefined;
  // Endpoints may not name a loopback address, so the test Prometheus listens on the
  // host's own address, where the API server (a host process) reaches it.
  const hostIp = Object.values(networkInterfaces())
    .flat()
    .find((a) => a?.family === 'IPv4' && !a.internal)?.address;
  const rule = (alert: string, trench: string, severity: string, forDuration: string) => ({
    alert,
    expr: 'vector(1)',
    for: forDuration,
    labels: { namespace: ns.name, trench, severity },
    annotations: {
      summary: `${alert} for the plugin test`,
      description: 'Always true',
      runbook_url: 'https://example.com/runbook',
    },
  });

  beforeAll(async () => {
    if (!hostIp) throw new Error('The service proxy test needs a non-loopback IPv4 address');
    prometheus = await startPrometheus([], {
      host: hostIp,
      rules: JSON.stringify({
        groups: [
          {
            name: 'cli-test',
            rules: [
              rule('TrenchCliAlwaysFiring', NAME, 'critical', '0s'),
              rule('TrenchCliPendingForAnHour', NAME, 'warning', '1h'),
              rule('TrenchCliOtherTrench', 'other', 'critical', '0s'),
            ],
          },
        ],
      }),
    });
    const url = prometheus.url;
    await waitFor(
      async () => {
        const res = (await (await fetch(`${url}/api/v1/alerts`)).json()) as {
          data: { alerts: unknown[] };
        };
        return res.data.alerts.length === 3 ? true : undefined;
      },
      { what: 'the three test alerts to be active', timeoutMs: 30_000 },
    );
  });

  afterAll(async () => {
    await prometheus?.stop();
  });

  async function setPrometheusUrl(url: string): Promise<void> {
    await mustKubectl([
      'patch',
      'trench',
      NAME,
      '-n',
      ns.name,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { rollout: { analysis: { prometheusUrl: url } } } }),
    ]);
    await demoReady();
  }

  const alertRows = new RegExp(
    [
      '^Alerts:',
      ' {2}SEVERITY +ALERT +STATE +FOR +SUMMARY',
      ' {2}critical +TrenchCliAlwaysFiring +firing +\\d+[smh]\\S* +TrenchCliAlwaysFiring for the plugin test',
      ' {2}warning +TrenchCliPendingForAnHour +pending +\\d+[smh]\\S* +TrenchCliPendingForAnHour for the plugin test',
      '$',
    ].join('\n'),
    'm',
  );

  it('says so when the Trench names no Prometheus', async () => {
    const r = await trench('status', NAME, '-n', ns.name);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^Alerts:\n {2}\(no spec\.rollout\.analysis\.prometheusUrl: no Prometheus to ask\)\n$/m,
    );
  });

  it("lists the Trench's firing and pending alerts from a Prometheus it reaches directly", async () => {
    await setPrometheusUrl(prometheus!.url);
    const r = await trench('status', NAME, '-n', ns.name);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(alertRows);
    // Labelled with another Trench of the same namespace: not this one's.
    expect(r.stdout).not.toContain('TrenchCliOtherTrench');
    // JSON stays the Trench object, as kubectl prints it; alerts are not part of it.
    const json = await trench('status', NAME, '-n', ns.name, '-o', 'json');
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as LiveTrench).spec?.rollout?.analysis?.prometheusUrl).toBe(
      prometheus!.url,
    );
  });

  it('asks an in-cluster Prometheus through the API server, with the kubeconfig credentials', async () => {
    const service = 'prometheus';
    const url = `http://${service}.${ns.name}.svc:9090`;
    await setPrometheusUrl(url);
    const missing = await trench('status', NAME, '-n', ns.name);
    expect(missing.code).toBe(0);
    expect(missing.stdout).toMatch(
      new RegExp(
        `^Alerts:\\n {2}\\(Prometheus ${url.replaceAll('.', '\\.')} not reachable: through the service proxy of https://\\S+: HTTP 404: services "${service}" not found\\)\\n$`,
        'm',
      ),
    );

    // The proxy only forwards to an endpoint whose Pod has that IP (it checks the targetRef),
    // so the host Prometheus gets a stand-in Pod: bound to a node that does not exist, so that
    // neither the scheduler nor kwok writes its status, and given the host's address as its IP.
    // Then a Service without a selector and Endpoints naming that Pod.
    const { port, hostname } = new URL(prometheus!.url);
    const pod = 'prometheus-0';
    await mustKubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: pod, namespace: ns.name },
        spec: {
          nodeName: 'cli-test-no-such-node',
          containers: [{ name: 'prometheus', image: 'prom/prometheus' }],
        },
      }),
    );
    await mustKubectl([
      'patch',
      'pod',
      pod,
      '-n',
      ns.name,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: { phase: 'Running', podIP: hostname, podIPs: [{ ip: hostname }] },
      }),
    ]);
    await mustKubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: service, namespace: ns.name },
            spec: { ports: [{ port: 9090, protocol: 'TCP' }] },
          },
          {
            apiVersion: 'v1',
            kind: 'Endpoints',
            metadata: { name: service, namespace: ns.name },
            subsets: [
              {
                addresses: [
                  { ip: hostname, targetRef: { kind: 'Pod', name: pod, namespace: ns.name } },
                ],
                ports: [{ port: Number(port), protocol: 'TCP' }],
              },
            ],
          },
        ],
      }),
    );
    const proxied = await waitFor(
      async () => {
        const r = await trench('status', NAME, '-n', ns.name);
        // The Endpoints reach the proxy a moment after the apply; until then, say what it said.
        if (!alertRows.test(r.stdout)) throw new Error(r.stdout.slice(r.stdout.indexOf('Alerts:')));
        return r;
      },
      { what: 'the alerts through the service proxy', timeoutMs: 30_000 },
    );
    expect(proxied.code).toBe(0);
    expect(proxied.stderr).toBe('');
  });

  it('prints why an unreachable Prometheus was not asked, and keeps the exit code', async () => {
    await setPrometheusUrl('http://127.0.0.1:1');
    const r = await trench('status', NAME, '-n', ns.name);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^Alerts:\n {2}\(Prometheus http:\/\/127\.0\.0\.1:1 not reachable: connect ECONNREFUSED 127\.0\.0\.1:1\)\n$/m,
    );
    // The same for a Trench that is not Ready: still 1, not a failure of the plugin.
    const idleTrench = JSON.parse(minimalTrench(idle.name, 'unreachable')) as {
      spec: Record<string, unknown>;
    };
    idleTrench.spec.rollout = { analysis: { prometheusUrl: 'http://127.0.0.1:1' } };
    await mustKubectl(['apply', '-f', '-'], JSON.stringify(idleTrench));
    const notReady = await trench('status', 'unreachable', '-n', idle.name);
    expect(notReady.code).toBe(1);
    expect(notReady.stdout).toContain('(Prometheus http://127.0.0.1:1 not reachable: ');
  });

  it('gives up on a Prometheus that accepts the connection and never answers', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      await setPrometheusUrl(url);
      const r = await trench('status', NAME, '-n', ns.name);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(
        `Alerts:\n  (Prometheus ${url} not reachable: no answer within 3 s)\n`,
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
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
