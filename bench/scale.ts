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
// --runs N measures each size N times (operator and baseline each on fresh clusters) and
// reports the median ratio with its spread: one run on two shared cores varies by a tenth.
//   node --import tsx bench/scale.ts [--sizes 100,500,1000 | --quick] [--runs 1] [--workers 8]
//                                    [--idle-seconds 60] [--compiled]
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { argv } from 'zx';
import { renderTrench } from '../charts/trench-chart.js';
import { type ClusterState, REPO_ROOT } from '../hack/lib/cluster.js';
import { withAppliedHash } from '../operator/runtime/apply.js';
import type { KubeObject } from '../operator/runtime/types.js';
import { generatedSecrets } from '../operator/trench/credentials.js';
import { computeStatus } from '../operator/trench/status.js';
import {
  type AuditEvent,
  clientFor,
  compileOperator,
  cpuSecondsOf,
  createTrenches,
  log,
  mb,
  median,
  NAMESPACES,
  nodesFor,
  pool,
  seconds,
  sleep,
  startOperator,
  type TrenchObject,
  trenchOf,
  withCluster as withFreshCluster,
  writesBy,
} from './lib/trenches.js';

const sizes = argv.quick
  ? [100]
  : String(argv.sizes ?? '100,500,1000')
      .split(',')
      .map(Number);
const runs = Number(argv.runs ?? 1);
const workers = Number(argv.workers ?? 8);
const idleSeconds = Number(argv['idle-seconds'] ?? 60);
const compiled = Boolean(argv.compiled);
for (const [name, v] of [
  ['--runs', runs],
  ['--workers', workers],
  ['--idle-seconds', idleSeconds],
  ...sizes.map((n) => ['--sizes', n] as const),
] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be an integer >= 1, got ${v}`);
}
const stateDir = join(REPO_ROOT, '.trench', 'bench-scale');
const logDir = join(REPO_ROOT, '.trench', 'bench-scale-logs');
// Inside the repository, so the compiled operator finds node_modules.
const buildDir = join(REPO_ROOT, '.trench', 'bench-scale-build');
// Every writer has its own User-Agent, and the audit log records it: that is how writes are told
// apart (all of them use the admin kubeconfig here).
const UA = { operator: 'trench-operator', bench: 'trench-bench', baseline: 'trench-bench-ssa' };

const withCluster = <T>(n: number, run: (state: ClusterState) => Promise<T>) =>
  withFreshCluster(stateDir, n, run, UA.bench);

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

async function measureOperator(n: number, run: number): Promise<OperatorFigures> {
  return withCluster(n, async (state) => {
    mkdirSync(logDir, { recursive: true });
    const logFile = join(logDir, `operator-${n}-run${run}.log`);
    const op = await startOperator(state, {
      logFile,
      workers,
      ...(compiled ? { buildDir } : {}),
    });
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
      log(
        `${ready}/${n} Ready after ${seconds(Date.now() - t0)} s; settling 10 s, then idle ${idleSeconds} s`,
      );
      await sleep(10_000);
      const idleFrom = Date.now();
      await sleep(idleSeconds * 1000);
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
    'run',
    'op written (a)',
    'baseline',
    'ratio (a)',
    'op all Ready (b)',
    `idle writes/${idleSeconds} s`,
    'peak RSS',
    'steady RSS',
  ],
];
/** The ratio (a) of every run, by size. */
const ratios = new Map<number, number[]>();
if (compiled) await compileOperator(buildDir);
for (const n of sizes) {
  for (let run = 1; run <= runs; run++) {
    log(`=== ${n} Trenches, run ${run}/${runs} ===`);
    const op = await measureOperator(n, run);
    const base = await measureBaseline(n);
    const ratioValue = op.writes.writtenMs / base.writes.writtenMs;
    ratios.set(n, [...(ratios.get(n) ?? []), ratioValue]);
    const ratio = ratioValue.toFixed(2);
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
      `\n${n} Trenches, run ${run}/${runs} (${NAMESPACES} namespaces, ${workers} workers, ${nodesFor(n)} kwok nodes, ` +
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
        [
          `idle ${idleSeconds} s: writes`,
          `${op.idleWrites}${op.idleDetail ? ` (${op.idleDetail})` : ''}`,
          '',
        ],
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
      `${run}`,
      `${seconds(w.writtenMs)} s`,
      `${seconds(b.writtenMs)} s`,
      ratio,
      `${seconds(op.readyMs)} s`,
      `${op.idleWrites}`,
      `${op.peakRssMb} MB`,
      `${op.steadyRssMb} MB`,
    ]);
  }
}
const spread = (xs: readonly number[]) =>
  xs.length > 1
    ? `median ${median(xs).toFixed(2)}, spread ${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)} (runs: ${xs.map((x) => x.toFixed(2)).join(', ')})`
    : xs.map((x) => x.toFixed(2)).join('');
console.log(
  `\nSummary (targets at 1000: ratio <= 1.15, 0 idle writes, RSS < 300 MB)\n${table(summary)}`,
);
console.log(`\nRatio (a) operator/baseline over ${runs} run(s) per size`);
for (const [n, xs] of ratios) console.log(`  ${String(n).padStart(5)} Trenches: ${spread(xs)}`);
