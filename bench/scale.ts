// The operator at scale, against a bare server-side-apply client writing the same objects.
// Prints figures (no assertions). For each size N, on a fresh cluster each time:
//   operator  create N Trenches over 10 namespaces (16 creates in flight) with the operator
//             running; time (a) until every child and a first status are written (from the audit
//             log) and (b) until every Trench is Ready at its generation; then the operator's
//             writes in an idle minute, its peak and steady RSS, and its writes by kind.
//   baseline  the same N Trench creates, and a pool of TRENCH_WORKERS workers that each take one
//             created Trench at a time and write its children (rendered before the clock starts,
//             the real uid filled in) and the generated Secret in parallel, then one status merge
//             patch: what the operator writes on its first pass, with the same HTTP client.
// --compiled runs the operator as its pod does (tsc output, plain node, OperatorChart's
// NODE_OPTIONS) rather than under tsx, whose TypeScript loader alone adds about 100 MB of RSS.
//   node --import tsx bench/scale.ts [--sizes 100,500,1000 | --quick] [--workers 8] [--compiled]
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { KubeConfig } from '@kubernetes/client-node';
import { $, argv } from 'zx';
import type { Trench } from '../charts/api/trench.js';
import { OPERATOR_NODE_OPTIONS } from '../charts/operator-chart.js';
import { renderTrench } from '../charts/trench-chart.js';
import { type ClusterState, down, REPO_ROOT, up } from '../hack/lib/cluster.js';
import { freePorts } from '../hack/lib/processes.js';
import { withAppliedHash } from '../operator/runtime/apply.js';
import { KubeClient } from '../operator/runtime/client.js';
import type { KubeObject } from '../operator/runtime/types.js';
import { generatedSecrets } from '../operator/trench/credentials.js';
import { computeStatus } from '../operator/trench/status.js';

const sizes = argv.quick
  ? [100]
  : String(argv.sizes ?? '100,500,1000')
      .split(',')
      .map(Number);
const workers = Number(argv.workers ?? 8);
const compiled = Boolean(argv.compiled);
const CREATE_CONCURRENCY = 16;
const NAMESPACES = 10;
const stateDir = join(REPO_ROOT, '.trench', 'bench-scale');
const logDir = join(REPO_ROOT, '.trench', 'bench-scale-logs');
// Inside the repository, so the compiled operator finds node_modules.
const buildDir = join(REPO_ROOT, '.trench', 'bench-scale-build');
// Every writer has its own User-Agent, and the audit log records it: that is how writes are told
// apart (all of them use the admin kubeconfig here).
const UA = { operator: 'trench-operator', bench: 'trench-bench', baseline: 'trench-bench-ssa' };

type TrenchObject = Trench & KubeObject;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(1) : 'n/a');
const mb = (kb: number) => (kb / 1024).toFixed(0);
const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight. */
async function pool(count: number, concurrency: number, task: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(200);
  }
}

const namespaceOf = (i: number) => `scale-${i % NAMESPACES}`;
const trenchOf = (i: number): TrenchObject => ({
  apiVersion: 'playtrenches.xyz/v1alpha1',
  kind: 'Trench',
  metadata: { name: `t${i}`, namespace: namespaceOf(i) },
  spec: {
    api: { image: 'ghcr.io/playtrenches/demo-api:1.0.0' },
    worker: { image: 'ghcr.io/playtrenches/demo-worker:1.0.0', queues: ['default'] },
  } as Trench['spec'], // the API server applies the defaults
});

/** Enough fake nodes (250 pods, 32 CPUs each) for 5 pods and 0.65 CPU per Trench. */
const nodesFor = (n: number) => Math.max(3, Math.ceil(n / 40));

/** A fresh cluster with the CRDs and the namespaces; always torn down. */
async function withCluster<T>(n: number, run: (state: ClusterState) => Promise<T>): Promise<T> {
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
    const client = clientFor(state, UA.bench);
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
    return await run(state);
  } finally {
    await down(stateDir);
  }
}

function clientFor(state: ClusterState, userAgent: string): KubeClient {
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  return new KubeClient(kc, { userAgent });
}

/** Creates the N Trenches, CREATE_CONCURRENCY at a time; resolves each as it is created. */
function createTrenches(client: KubeClient, n: number): Promise<TrenchObject>[] {
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

interface AuditEvent {
  verb: string;
  userAgent?: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
  responseStatus?: { code?: number };
  stageTimestamp: string;
}

/** The audit log's write events by `userAgent` in [fromMs, toMs], each with its time. */
async function writesBy(state: ClusterState, userAgent: string, fromMs: number, toMs = Infinity) {
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

interface WriteCounts {
  applies: number;
  creates: number;
  status: number;
  events: number;
  other: number;
  failed: number;
  /** Milliseconds from `fromMs` until every object had its first successful write. */
  writtenMs: number;
  /** When half and 90% of the objects had their first write (ms from `fromMs`). */
  halfMs: number;
  p90Ms: number;
  /** Distinct objects written (status counted apart), and Trenches with a status write. */
  objects: number;
  statusOf: number;
}

/** Writes by kind, and when the last object got its first write (status included). */
function countWrites(events: readonly (AuditEvent & { at: number })[], fromMs: number) {
  const c: WriteCounts = {
    applies: 0,
    creates: 0,
    status: 0,
    events: 0,
    other: 0,
    failed: 0,
    writtenMs: Number.NaN,
    halfMs: Number.NaN,
    p90Ms: Number.NaN,
    objects: 0,
    statusOf: 0,
  };
  const first = new Map<string, number>();
  for (const e of events) {
    const r = e.objectRef ?? {};
    const ok = (e.responseStatus?.code ?? 0) < 300;
    if (!ok) c.failed++;
    if (r.resource === 'events') c.events++;
    else if (r.subresource === 'status') c.status++;
    else if (e.verb === 'patch') c.applies++;
    else if (e.verb === 'create') c.creates++;
    else c.other++;
    const key = `${r.resource}/${r.subresource ?? ''}/${r.namespace}/${r.name}`;
    if (ok && r.resource !== 'events' && !first.has(key)) first.set(key, e.at);
  }
  c.statusOf = [...first.keys()].filter((k) => k.startsWith('trenches/status/')).length;
  c.objects = first.size - c.statusOf;
  const times = [...first.values()].sort((a, b) => a - b).map((t) => t - fromMs);
  c.writtenMs = times.at(-1) ?? Number.NaN;
  c.halfMs = times[Math.floor(times.length * 0.5)] ?? Number.NaN;
  c.p90Ms = times[Math.floor(times.length * 0.9)] ?? Number.NaN;
  return c;
}

interface Operator {
  child: ChildProcess;
  port: number;
  rssKb: number;
  peakRssKb: number;
  stop(): Promise<void>;
}

/** kB values of VmRSS and VmHWM from /proc/<pid>/status. */
/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
function cpuSecondsOf(pid: number): number {
  // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

function memoryOf(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)?.[1] ?? 0);
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function startOperator(state: ClusterState, logFile: string): Promise<Operator> {
  const [port] = await freePorts(1);
  const out = openSync(logFile, 'w');
  // process.execPath with --import tsx: the child is node itself, so its pid is the one to watch.
  const child = spawn(
    process.execPath,
    compiled
      ? [join(buildDir, 'operator', 'main.js')]
      : ['--import', 'tsx', join(REPO_ROOT, 'operator', 'main.ts')],
    {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        KUBECONFIG: state.kubeconfig,
        TRENCH_LEADER_ELECTION: 'false',
        // TRENCH_PORT was the variable's earlier name.
        TRENCH_METRICS_PORT: String(port),
        TRENCH_PORT: String(port),
        TRENCH_WORKERS: String(workers),
        // Compiled, it runs as in its pod: with the Node flags OperatorChart sets there.
        ...(compiled ? { NODE_OPTIONS: OPERATOR_NODE_OPTIONS } : {}),
      },
      stdio: ['ignore', out, out],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const op: Operator = {
    child,
    port: port!,
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
    await waitFor('the operator to report /readyz', 60_000, async () => {
      if (child.exitCode !== null) throw new Error(`Operator exited early; see ${logFile}`);
      return (await fetch(`http://127.0.0.1:${port}/readyz`)).ok;
    });
  } catch (error) {
    await op.stop();
    throw error;
  }
  return op;
}

interface OperatorFigures {
  writes: WriteCounts;
  readyMs: number;
  ready: number;
  idleWrites: number;
  idleDetail: string;
  startRssMb: string;
  /** CPU the operator used from its start until every Trench was Ready. */
  cpuSeconds: number;
  peakRssMb: string;
  steadyRssMb: string;
  metrics: string;
}

async function measureOperator(n: number): Promise<OperatorFigures> {
  return withCluster(n, async (state) => {
    mkdirSync(logDir, { recursive: true });
    const logFile = join(logDir, `operator-${n}.log`);
    const op = await startOperator(state, logFile);
    try {
      const bench = clientFor(state, UA.bench);
      await sleep(1000); // a few RSS samples of the idle process
      const startRssMb = mb(op.rssKb);
      log(`Operator ready (pid ${op.child.pid}); creating ${n} Trenches`);
      const t0 = Date.now();
      const created = createTrenches(bench, n);
      await Promise.all(created);
      log(`Created ${n} Trenches in ${seconds(Date.now() - t0)} s`);
      let ready = 0;
      const deadline = t0 + 120_000 + n * 900;
      while (Date.now() < deadline) {
        const list = await bench.list<TrenchObject>('playtrenches.xyz/v1alpha1', 'Trench');
        ready = list.items.filter(
          (t) =>
            t.status?.phase === 'Ready' && t.status.observedGeneration === t.metadata.generation,
        ).length;
        if (ready === n) break;
        await sleep(500);
      }
      const readyMs = ready === n ? Date.now() - t0 : Number.NaN;
      const cpuSeconds = cpuSecondsOf(op.child.pid!);
      log(`${ready}/${n} Ready after ${seconds(Date.now() - t0)} s; settling 10 s, then idle 60 s`);
      await sleep(10_000);
      const idleFrom = Date.now();
      await sleep(60_000);
      const idleTo = Date.now();
      const steadyRssMb = mb(op.rssKb);
      const metrics = await (await fetch(`http://127.0.0.1:${op.port}/metrics`)).text();
      await op.stop();
      // The audit log is flushed in batches; give it a moment before reading it.
      await sleep(2000);
      const all = await writesBy(state, UA.operator, t0);
      const idle = all.filter((e) => e.at >= idleFrom && e.at <= idleTo);
      const converging = all.filter((e) => e.at < idleFrom);
      return {
        writes: countWrites(converging, t0),
        readyMs,
        ready,
        idleWrites: idle.length,
        idleDetail: summarize(idle),
        startRssMb,
        cpuSeconds,
        peakRssMb: mb(op.peakRssKb),
        steadyRssMb,
        metrics: metrics
          .split('\n')
          .filter((l) =>
            /^trench_(reconcile_total|(reconcile_duration|workqueue_wait)_seconds_(sum|count)|workqueue_retries_total)/.test(
              l,
            ),
          )
          .join('\n'),
      };
    } finally {
      await op.stop();
    }
  });
}

/** "verb resource/subresource: count" for a handful of events. */
function summarize(events: readonly AuditEvent[]): string {
  const by = new Map<string, number>();
  for (const e of events) {
    const r = e.objectRef ?? {};
    const k = `${e.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ''}`;
    by.set(k, (by.get(k) ?? 0) + 1);
  }
  return [...by].map(([k, v]) => `${k}: ${v}`).join(', ');
}

const UID_PLACEHOLDER = '00000000-0000-4000-8000-0000000000ff';

async function measureBaseline(
  n: number,
): Promise<{ writes: WriteCounts; ms: number; cpuSeconds: number }> {
  return withCluster(n, async (state) => {
    const bench = clientFor(state, UA.bench);
    const bare = clientFor(state, UA.baseline);
    // Rendered before the clock starts: the baseline is the writing alone.
    const rendered = Array.from({ length: n }, (_, i) => {
      const t = trenchOf(i);
      const metadata = { ...t.metadata, uid: UID_PLACEHOLDER };
      return JSON.stringify(
        renderTrench({ metadata, spec: t.spec }).map((m) => withAppliedHash(m as KubeObject)),
      );
    });
    log(`Baseline: writing ${n} Trenches with ${workers} workers`);
    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    const created = createTrenches(bench, n);
    await pool(n, workers, async (i) => {
      const trench = await created[i]!;
      const children = JSON.parse(
        rendered[i]!.replaceAll(UID_PLACEHOLDER, trench.metadata.uid!),
      ) as KubeObject[];
      await Promise.all([
        ...children.map((c) => bare.apply(c)),
        ...generatedSecrets(trench).map((s) => bare.create(s)),
      ]);
      const workloads = children.filter((c) => c.kind === 'Deployment' || c.kind === 'StatefulSet');
      const status = computeStatus({
        trench,
        workloads: [],
        missing: workloads.map((w) => `${w.kind} ${w.metadata?.name}`),
        now: Date.now(),
      });
      await bare.mergePatch(
        {
          apiVersion: trench.apiVersion,
          kind: 'Trench',
          namespace: trench.metadata.namespace,
          name: trench.metadata.name,
        },
        { status },
        { subresource: 'status' },
      );
    });
    const ms = Date.now() - t0;
    const { user, system } = process.cpuUsage(cpu0);
    const cpuSeconds = (user + system) / 1e6;
    log(`Baseline wrote everything in ${seconds(ms)} s`);
    await sleep(2000);
    return { writes: countWrites(await writesBy(state, UA.baseline, t0), t0), ms, cpuSeconds };
  });
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ')).join('\n');
}

const summary: string[][] = [
  [
    'N',
    'op written (a)',
    'baseline',
    'ratio (a)',
    'op all Ready (b)',
    'idle writes/min',
    'peak RSS',
    'steady RSS',
  ],
];
if (compiled) {
  log(`Compiling the operator into ${buildDir}`);
  await $`npx tsc -p ${join(REPO_ROOT, 'tsconfig.build.json')} --outDir ${buildDir}`;
}
for (const n of sizes) {
  log(`=== ${n} Trenches ===`);
  const op = await measureOperator(n);
  const base = await measureBaseline(n);
  const ratio = (op.writes.writtenMs / base.writes.writtenMs).toFixed(2);
  const w = op.writes;
  const b = base.writes;
  const writes = (x: WriteCounts) => [
    `${x.applies}`,
    `${x.creates}`,
    `${x.status}`,
    `${x.events}`,
    `${x.other}`,
    `${x.failed}`,
    `${x.objects}`,
    `${x.applies + x.creates + x.status + x.events + x.other}`,
  ];
  console.log(
    `\n${n} Trenches (${NAMESPACES} namespaces, ${workers} workers, ${nodesFor(n)} kwok nodes, ` +
      `operator ${compiled ? 'compiled' : 'under tsx'})`,
  );
  console.log(
    table([
      ['', 'operator', 'baseline'],
      [
        '(a) every child + first status written',
        `${seconds(w.writtenMs)} s`,
        `${seconds(b.writtenMs)} s`,
      ],
      ['    ratio operator/baseline', ratio, ''],
      [
        '    50% / 90% of objects written',
        `${seconds(w.halfMs)} / ${seconds(w.p90Ms)} s`,
        `${seconds(b.halfMs)} / ${seconds(b.p90Ms)} s`,
      ],
      [
        'CPU of the writing process',
        `${op.cpuSeconds.toFixed(0)} s (until Ready)`,
        `${base.cpuSeconds.toFixed(0)} s (incl. creates)`,
      ],
      [
        '(b) every Trench Ready at its generation',
        `${seconds(op.readyMs)} s (${op.ready}/${n})`,
        '',
      ],
      ['baseline wall time (in-process)', '', `${seconds(base.ms)} s`],
      ['idle minute: writes', `${op.idleWrites}${op.idleDetail ? ` (${op.idleDetail})` : ''}`, ''],
      [
        'RSS: started (no Trenches) / peak / steady',
        `${op.startRssMb} / ${op.peakRssMb} / ${op.steadyRssMb} MB`,
        '',
      ],
    ]),
  );
  console.log(
    table([
      [
        'writes until idle',
        'applies',
        'creates',
        'status',
        'events',
        'other',
        'failed',
        'objects',
        'total',
      ],
      ['operator', ...writes(w)],
      ['baseline', ...writes(b)],
    ]),
  );
  console.log(`Trenches with a status write: operator ${w.statusOf}, baseline ${b.statusOf}`);
  console.log(op.metrics);
  summary.push([
    `${n}`,
    `${seconds(w.writtenMs)} s`,
    `${seconds(b.writtenMs)} s`,
    ratio,
    `${seconds(op.readyMs)} s`,
    `${op.idleWrites}`,
    `${op.peakRssMb} MB`,
    `${op.steadyRssMb} MB`,
  ]);
}
console.log(
  `\nSummary (targets at 1000: ratio <= 1.15, 0 idle writes, RSS < 300 MB)\n${table(summary)}`,
);
