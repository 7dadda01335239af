// What bench/scale.ts and bench/restart.ts share: a fresh cluster with the CRDs and the
// namespaces, N minimal Trenches spread over them, the operator as a child process (under tsx
// or compiled as in its pod) with its RSS sampled, and small helpers.
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { KubeConfig } from '@kubernetes/client-node';
import { $ } from 'zx';
import type { Trench } from '../../charts/api/trench.js';
import { OPERATOR_NODE_OPTIONS } from '../../charts/operator-chart.js';
import { type ClusterState, down, REPO_ROOT, up } from '../../hack/lib/cluster.js';
import { freePorts } from '../../hack/lib/processes.js';
import { KubeClient } from '../../operator/runtime/client.js';
import type { KubeObject } from '../../operator/runtime/types.js';

export type TrenchObject = Trench & KubeObject;

export const NAMESPACES = 10;
export const CREATE_CONCURRENCY = 16;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const seconds = (ms: number, digits = 1) =>
  Number.isFinite(ms) ? (ms / 1000).toFixed(digits) : 'n/a';
export const mb = (kb: number) => (kb / 1024).toFixed(0);
export const log = (line: string) =>
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

/** The median (mean of the middle two for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The q-quantile of `xs` (nearest rank), NaN for none. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]! : Number.NaN;
}

/** `p50 … ms, p95 … ms, max … ms` of latencies in milliseconds. */
export const latencySummary = (xs: readonly number[]) =>
  `p50 ${Math.round(quantile(xs, 0.5))} ms, p95 ${Math.round(quantile(xs, 0.95))} ms, max ${Math.round(Math.max(...xs))} ms`;

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight. */
export async function pool(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<unknown>,
) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

export async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
  intervalMs = 200,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export const namespaceOf = (i: number) => `scale-${i % NAMESPACES}`;
export const trenchOf = (i: number): TrenchObject => ({
  apiVersion: 'playtrenches.xyz/v1alpha1',
  kind: 'Trench',
  metadata: { name: `t${i}`, namespace: namespaceOf(i) },
  spec: {
    api: { image: 'ghcr.io/playtrenches/shop-api:1.0.0' },
    worker: { image: 'ghcr.io/playtrenches/shop-worker:1.0.0', queues: ['default'] },
  } as Trench['spec'], // the API server applies the defaults
});

/** Enough fake nodes (250 pods, 32 CPUs each) for 5 pods and 0.65 CPU per Trench. */
export const nodesFor = (n: number) => Math.max(3, Math.ceil(n / 40));

export function clientFor(state: ClusterState, userAgent: string): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  return new KubeClient(kc, { userAgent });
}

/** A fresh cluster in `stateDir` with the CRDs and the namespaces; always torn down. */
export async function withCluster<T>(
  stateDir: string,
  n: number,
  run: (state: ClusterState) => Promise<T>,
  userAgent = 'trench-bench',
): Promise<T> {
  await down(stateDir);
  try {
    const state = await up({ stateDir, nodes: nodesFor(n), log });
    const kubectl = $({ quiet: true });
    const k = [state.kubectl, `--kubeconfig=${state.kubeconfig}`];
    await kubectl`${k} apply --server-side --force-conflicts -f ${join(REPO_ROOT, 'crds')}`;
    // kubectl wait fails outright while the CRD has no conditions yet: retry it.
    await waitFor('the Trench CRD to be Established', 60_000, async () => {
      await kubectl`${k} wait --for=condition=Established --timeout=10s crd/trenches.playtrenches.xyz`;
      return true;
    });
    const client = clientFor(state, userAgent);
    for (let i = 0; i < NAMESPACES; i++) {
      const ns = namespaceOf(i);
      await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      // Pods are refused until the namespace has its default ServiceAccount.
      await waitFor(`the default ServiceAccount in ${ns}`, 60_000, async () =>
        Boolean(
          await client.get({
            apiVersion: 'v1',
            kind: 'ServiceAccount',
            namespace: ns,
            name: 'default',
          }),
        ),
      );
    }
    client.close();
    return await run(state);
  } finally {
    await down(stateDir);
  }
}

/** Creates the N Trenches, CREATE_CONCURRENCY at a time; resolves each as it is created. */
export function createTrenches(client: KubeClient, n: number): Promise<TrenchObject>[] {
  const resolvers: ((t: TrenchObject) => void)[] = [];
  const rejecters: ((e: unknown) => void)[] = [];
  const created = Array.from(
    { length: n },
    (_, i) =>
      new Promise<TrenchObject>((resolve, reject) => {
        resolvers[i] = resolve;
        rejecters[i] = reject;
      }),
  );
  void pool(n, CREATE_CONCURRENCY, (i) =>
    client.create(trenchOf(i)).then(resolvers[i], rejecters[i]),
  );
  return created;
}

/** How many Trenches are Ready at their generation, and how many have a first status. */
export async function convergence(client: KubeClient) {
  const list = await client.list<TrenchObject>('playtrenches.xyz/v1alpha1', 'Trench');
  const current = list.items.filter((t) => t.status?.observedGeneration === t.metadata.generation);
  return {
    total: list.items.length,
    observed: current.length,
    ready: current.filter((t) => t.status?.phase === 'Ready').length,
  };
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number {
  // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

/** kB values of VmRSS and VmHWM from /proc/<pid>/status. */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)?.[1] ?? 0);
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Compiles the operator with tsconfig.build.json into `buildDir` (inside the repository, so
 * the compiled operator finds node_modules). */
export async function compileOperator(buildDir: string) {
  log(`Compiling the operator into ${buildDir}`);
  await $`npx tsc -p ${join(REPO_ROOT, 'tsconfig.build.json')} --outDir ${buildDir}`;
}

export interface OperatorOptions {
  readonly logFile: string;
  /** Run tsc output with plain node and the pod's NODE_OPTIONS; else operator/main.ts under tsx. */
  readonly buildDir?: string;
  readonly workers: number;
  /** Default 60 s. */
  readonly readyTimeoutMs?: number;
  /** /readyz poll interval. Default 200 ms. */
  readonly pollMs?: number;
}

export interface Operator {
  readonly child: ChildProcess;
  readonly port: number;
  /** performance.now() when the process was spawned, and when /readyz first answered 200. */
  readonly spawnedAt: number;
  /** Date.now() when the process was spawned, to compare with the times in its log. */
  readonly spawnedAtMs: number;
  readyAt: number;
  rssKb: number;
  peakRssKb: number;
  stop(): Promise<void>;
}

/** Starts the operator (no leader election) and resolves once /readyz answers 200. */
export async function startOperator(state: ClusterState, o: OperatorOptions): Promise<Operator> {
  const [port] = await freePorts(1);
  const out = openSync(o.logFile, 'w');
  const spawnedAtMs = Date.now();
  const spawnedAt = performance.now();
  // process.execPath with --import tsx: the child is node itself, so its pid is the one to watch.
  const child = spawn(
    process.execPath,
    o.buildDir
      ? [join(o.buildDir, 'operator', 'main.js')]
      : ['--import', 'tsx', join(REPO_ROOT, 'operator', 'main.ts')],
    {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        KUBECONFIG: state.kubeconfig,
        TRENCH_LEADER_ELECTION: 'false',
        TRENCH_METRICS_PORT: String(port),
        // TRENCH_PORT was the variable's earlier name: older commits can be measured too.
        TRENCH_PORT: String(port),
        TRENCH_WORKERS: String(o.workers),
        // Compiled, it runs as in its pod: with the Node flags OperatorChart sets there.
        ...(o.buildDir ? { NODE_OPTIONS: OPERATOR_NODE_OPTIONS } : {}),
      },
      stdio: ['ignore', out, out],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const op: Operator = {
    child,
    port: port!,
    spawnedAt,
    spawnedAtMs,
    readyAt: Number.NaN,
    rssKb: 0,
    peakRssKb: 0,
    stop: async () => {
      clearInterval(sampler);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
  const sampler = setInterval(() => {
    try {
      const { rss, hwm } = memoryOf(child.pid!);
      op.rssKb = rss;
      op.peakRssKb = Math.max(op.peakRssKb, rss, hwm);
    } catch {
      // exited between samples
    }
  }, 200);
  try {
    const deadline = Date.now() + (o.readyTimeoutMs ?? 60_000);
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`Operator exited early; see ${o.logFile}`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline)
        throw new Error('Timed out waiting for the operator to report /readyz');
      await sleep(o.pollMs ?? 200);
    }
    op.readyAt = performance.now();
  } catch (error) {
    await op.stop();
    throw error;
  }
  return op;
}

export interface AuditEvent {
  verb: string;
  userAgent?: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
  responseStatus?: { code?: number };
  stageTimestamp: string;
}

/** The audit log's write events by `userAgent` in [fromMs, toMs], each with its time. */
export async function writesBy(
  state: ClusterState,
  userAgent: string,
  fromMs: number,
  toMs = Infinity,
) {
  const out: (AuditEvent & { at: number })[] = [];
  const lines = createInterface({ input: createReadStream(state.auditLog), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.includes(`"userAgent":"${userAgent}"`)) continue;
    const e = JSON.parse(line) as AuditEvent;
    const at = Date.parse(e.stageTimestamp);
    if (
      e.userAgent === userAgent &&
      at >= fromMs &&
      at <= toMs &&
      e.objectRef?.resource !== 'leases'
    )
      out.push({ ...e, at });
  }
  return out;
}
