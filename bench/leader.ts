// Leader handover times on a fresh local cluster, at the real timings (15 s lease, 10 s renew
// deadline, 2 s retry). Prints figures (no assertions); the tests assert only that handovers
// happen and that there is never more than one leader. For each of --rounds rounds:
//   electors   two LeaderElectors in this process on one Lease.
//              crash:    the leader's loop stops without releasing (it stops renewing); time
//                        from then until the standby's onStartedLeading. Expected: the lease
//                        duration plus up to one retry period.
//              graceful: the leader stops with release; time from stop() until the standby's
//                        onStartedLeading. Expected: up to one retry period.
//   processes  two operator processes (TRENCH_LEADER_ELECTION=true) on one Lease.
//              SIGKILL:  time from the kill until the standby's /metrics says trench_leader 1.
//              SIGTERM:  time from the signal until the same (the leader drains and releases).
//   node --import tsx bench/leader.ts [--rounds 3] [--no-processes]
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { $, argv } from 'zx';
import { down, REPO_ROOT, up } from '../hack/lib/cluster.js';
import { freePorts } from '../hack/lib/processes.js';
import { KubeClient } from '../operator/runtime/client.js';
import { LeaderElector } from '../operator/runtime/leader.js';

const rounds = Number(argv.rounds ?? 3);
const processes = argv.processes !== false;
const stateDir = join(REPO_ROOT, '.trench', 'bench-leader');
const logDir = join(REPO_ROOT, '.trench', 'bench-leader-logs');
const NAMESPACE = 'bench-leader';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => (ms / 1000).toFixed(2);
const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface Elector {
  readonly elector: LeaderElector;
  /** When onStartedLeading last ran (performance.now()), or undefined. */
  startedAt?: number;
}

function elector(client: KubeClient, lease: string, identity: string): Elector {
  const e: { elector?: LeaderElector; startedAt?: number } = {};
  e.elector = new LeaderElector({
    client,
    namespace: NAMESPACE,
    name: lease,
    identity,
    onStartedLeading: () => {
      e.startedAt = performance.now();
    },
    onStoppedLeading: () => {},
  });
  return e as Elector;
}

/** One round with two electors: the handover after `stop`, from stop() to the standby leading. */
async function electorHandover(client: KubeClient, lease: string, release: boolean) {
  const a = elector(client, lease, 'a');
  const b = elector(client, lease, 'b');
  try {
    a.elector.start();
    b.elector.start();
    const leader = await until('a leader', 30_000, async () =>
      a.elector.isLeader() ? a : b.elector.isLeader() ? b : undefined,
    );
    const standby = leader === a ? b : a;
    // A few renews first, so the standby has seen the lease being kept alive.
    await sleep(5_000);
    const t0 = performance.now();
    await leader.elector.stop({ release });
    await until('the standby to lead', 60_000, async () =>
      standby.startedAt !== undefined ? true : undefined,
    );
    return standby.startedAt! - t0;
  } finally {
    await a.elector.stop({ release: false });
    await b.elector.stop({ release: false });
  }
}

interface OperatorProcess {
  readonly child: ChildProcess;
  readonly port: number;
  isLeader(): Promise<boolean>;
  /** Sends `signal` and waits for the exit; SIGKILL after 30 s. */
  stop(signal: NodeJS.Signals): Promise<void>;
}

async function startOperator(kubeconfig: string, name: string): Promise<OperatorProcess> {
  const [port] = await freePorts(1);
  mkdirSync(logDir, { recursive: true });
  const out = openSync(join(logDir, `${name}.log`), 'w');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'operator', 'main.ts')],
    {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        KUBECONFIG: kubeconfig,
        TRENCH_LEADER_ELECTION: 'true',
        TRENCH_LEASE_NAMESPACE: NAMESPACE,
        TRENCH_WATCH_NAMESPACE: NAMESPACE,
        TRENCH_METRICS_PORT: String(port),
        POD_NAME: name,
      },
      stdio: ['ignore', out, out],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const op: OperatorProcess = {
    child,
    port: port!,
    isLeader: async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /^trench_leader 1$/m.test(text);
    },
    stop: async (signal) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(killer);
    },
  };
  await until(`${name} to report /readyz`, 60_000, async () => {
    if (child.exitCode !== null) throw new Error(`${name} exited; see ${logDir}/${name}.log`);
    return (await fetch(`http://127.0.0.1:${port}/readyz`)).ok ? true : undefined;
  }).catch(async (error) => {
    await op.stop('SIGKILL');
    throw error;
  });
  return op;
}

function report(what: string, xs: readonly number[]) {
  console.log(
    `${what.padEnd(44)} median ${seconds(median(xs))} s, min ${seconds(Math.min(...xs))} s, ` +
      `max ${seconds(Math.max(...xs))} s (runs: ${xs.map(seconds).join(', ')} s)`,
  );
}

await down(stateDir);
const operators: OperatorProcess[] = [];
try {
  const state = await up({ stateDir, nodes: 1, log });
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  const client = new KubeClient(kc);
  await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });

  const crash: number[] = [];
  const graceful: number[] = [];
  for (let i = 0; i < rounds; i++) {
    log(`Electors, round ${i + 1}/${rounds}`);
    crash.push(await electorHandover(client, `crash-${i}`, false));
    graceful.push(await electorHandover(client, `release-${i}`, true));
  }
  console.log(`\nLeader handover, ${rounds} rounds (15 s lease, 10 s renew deadline, 2 s retry)`);
  report('electors, crash (stops renewing)', crash);
  report('electors, graceful (releases the Lease)', graceful);

  if (processes) {
    const k = [state.kubectl, `--kubeconfig=${state.kubeconfig}`];
    await $({
      quiet: true,
    })`${k} apply --server-side --force-conflicts -f ${join(REPO_ROOT, 'crds')}`;
    await $({
      quiet: true,
    })`${k} wait --for=condition=Established --timeout=60s crd/trenches.playtrenches.xyz`;
    const killed: number[] = [];
    const terminated: number[] = [];
    let n = 0;
    const spare = () => startOperator(state.kubeconfig, `operator-${n++}`);
    operators.push(await spare(), await spare());
    for (let i = 0; i < rounds; i++) {
      for (const [signal, figures] of [
        ['SIGKILL', killed],
        ['SIGTERM', terminated],
      ] as const) {
        log(`Operator processes, round ${i + 1}/${rounds}, ${signal}`);
        const leader = await until('an operator to lead', 60_000, async () => {
          for (const op of operators) if (await op.isLeader()) return op;
          return undefined;
        });
        const standby = operators.find((o) => o !== leader)!;
        await sleep(5_000);
        const t0 = performance.now();
        const stopped = leader.stop(signal);
        await until('the standby process to lead', 60_000, async () =>
          (await standby.isLeader()) ? true : undefined,
        );
        figures.push(performance.now() - t0);
        await stopped;
        operators.splice(operators.indexOf(leader), 1);
        operators.push(await spare());
      }
    }
    report('operator processes, SIGKILL of the leader', killed);
    report('operator processes, SIGTERM of the leader', terminated);
  }
  client.close();
} finally {
  for (const op of operators) await op.stop('SIGKILL');
  await down(stateDir);
}
