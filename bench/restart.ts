// Operator restart to caches synced, with N converged Trenches (target at 1000: under 5 s).
// Prints figures (no assertions). On a fresh local cluster:
//   1. the operator (compiled, as in its pod) converges N Trenches created as bench/scale.ts
//      creates them: every child (~18 per Trench) and both generated Secrets written, a status
//      at each Trench's generation, and as many Ready as kwok makes Ready within --ready-wait;
//      then it is stopped;
//   2. --restarts times (median reported) a new operator process is started and timed from
//      spawn to the first 200 from /readyz, which answers 200 once every informer has listed
//      (operatorReadiness in operator/runtime/server.ts); /readyz is polled every 20 ms. Its log
//      gives the split: spawn to its first line, "Started HTTP server" (the code is loaded and
//      the informers have sent their lists), then to the last "Synced ... cache" line. What
//      remains until /readyz answers is the event loop busy with the first reconciles, which
//      start at once on sync. Once compiled with the pod's NODE_OPTIONS, once under tsx
//      (`make run`'s way, with TypeScript compiled on load).
//   node --import tsx bench/restart.ts [--trenches 1000] [--restarts 3] [--workers 8]
//                                      [--ready-wait 300] [--no-tsx]
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { argv } from 'zx';
import type { ClusterState } from '../hack/lib/cluster.js';
import { REPO_ROOT } from '../hack/lib/cluster.js';
import {
  clientFor,
  compileOperator,
  convergence,
  createTrenches,
  log,
  median,
  nodesFor,
  type Operator,
  seconds,
  sleep,
  startOperator,
  withCluster,
} from './lib/trenches.js';

const n = Number(argv.trenches ?? 1000);
const restarts = Number(argv.restarts ?? 3);
const workers = Number(argv.workers ?? 8);
const readyWaitSeconds = Number(argv['ready-wait'] ?? 300);
const withTsx = argv.tsx !== false;
for (const [name, v] of [
  ['--trenches', n],
  ['--restarts', restarts],
  ['--workers', workers],
  ['--ready-wait', readyWaitSeconds],
] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be an integer >= 1, got ${v}`);
}
const stateDir = join(REPO_ROOT, '.trench', 'bench-restart');
const logDir = join(REPO_ROOT, '.trench', 'bench-restart-logs');
// Inside the repository, so the compiled operator finds node_modules.
const buildDir = join(REPO_ROOT, '.trench', 'bench-restart-build');

interface LogLine {
  time: string;
  msg: string;
  objects?: number;
}

const readLog = (file: string): LogLine[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

interface Restart {
  /** Spawn to /readyz 200, ms. */
  readyMs: number;
  /** Spawn to the first log line (HTTP server listening) and to the last cache synced, ms
   * (from the log's clock). */
  firstLogMs: number;
  syncedMs: number;
  /** Objects each informer listed, by kind. */
  cached: Map<string, number>;
}

async function restart(state: ClusterState, mode: 'compiled' | 'tsx', i: number) {
  const logFile = join(logDir, `restart-${mode}-${i}.log`);
  const op: Operator = await startOperator(state, {
    logFile,
    workers,
    pollMs: 20,
    readyTimeoutMs: 120_000,
    ...(mode === 'compiled' ? { buildDir } : {}),
  });
  try {
    const lines = readLog(logFile);
    const at = (l: LogLine) => Date.parse(l.time) - op.spawnedAtMs;
    const synced = lines.filter((l) => /^Synced \S+ cache$/.test(l.msg));
    const figures: Restart = {
      readyMs: op.readyAt - op.spawnedAt,
      firstLogMs: lines[0] ? at(lines[0]) : Number.NaN,
      syncedMs: synced.length ? Math.max(...synced.map(at)) : Number.NaN,
      cached: new Map(synced.map((l) => [l.msg.split(' ')[1]!, l.objects ?? 0])),
    };
    log(
      `Restart ${mode} ${i}: /readyz 200 after ${seconds(figures.readyMs, 2)} s ` +
        `(HTTP server ${seconds(figures.firstLogMs, 2)} s, caches synced ${seconds(figures.syncedMs, 2)} s)`,
    );
    return figures;
  } finally {
    await op.stop();
  }
}

mkdirSync(logDir, { recursive: true });
await compileOperator(buildDir);
await withCluster(stateDir, n, async (state) => {
  const bench = clientFor(state, 'trench-bench');
  // 1. Converge with the operator itself, as in a real cluster.
  const op = await startOperator(state, {
    logFile: join(logDir, 'converge.log'),
    workers,
    buildDir,
  });
  let observed = 0;
  let ready = 0;
  let convergedMs = Number.NaN;
  let readyMs = Number.NaN;
  const t0 = Date.now();
  try {
    log(`Creating ${n} Trenches; the operator converges them`);
    await Promise.all(createTrenches(bench, n));
    log(`Created ${n} Trenches in ${seconds(Date.now() - t0)} s`);
    const deadline = t0 + 300_000 + n * 900;
    let readyDeadline = Number.POSITIVE_INFINITY;
    for (;;) {
      ({ observed, ready } = await convergence(bench));
      if (observed === n && Number.isNaN(convergedMs)) {
        convergedMs = Date.now() - t0;
        readyDeadline = Date.now() + readyWaitSeconds * 1000;
        log(`Every Trench has a status at its generation after ${seconds(convergedMs)} s`);
      }
      if (ready === n) {
        readyMs = Date.now() - t0;
        break;
      }
      if (Date.now() > Math.min(deadline, readyDeadline)) break;
      await sleep(2000);
    }
    log(`${ready}/${n} Ready after ${seconds(Date.now() - t0)} s`);
    if (observed < n) throw new Error(`Only ${observed}/${n} Trenches converged; see converge.log`);
  } finally {
    await op.stop();
  }
  bench.close();
  // Let the API server and kwok settle before timing anything.
  await sleep(10_000);

  // 2. Restarts.
  const modes = withTsx ? (['compiled', 'tsx'] as const) : (['compiled'] as const);
  const results = new Map<string, Restart[]>();
  for (const mode of modes) {
    const runs: Restart[] = [];
    for (let i = 1; i <= restarts; i++) {
      runs.push(await restart(state, mode, i));
      await sleep(3000);
    }
    results.set(mode, runs);
  }

  const cached = results.get('compiled')![0]!.cached;
  const total = [...cached.values()].reduce((a, b) => a + b, 0);
  console.log(
    `\nOperator restart to caches synced, ${n} Trenches (${nodesFor(n)} kwok nodes, ${workers} workers)`,
  );
  console.log(
    `Converged by the operator before the restarts: ${observed}/${n} with a status at their ` +
      `generation after ${seconds(convergedMs)} s, ${ready}/${n} Ready` +
      (Number.isNaN(readyMs)
        ? ` (stopped waiting after ${readyWaitSeconds} s more)`
        : ` after ${seconds(readyMs)} s`),
  );
  console.log(
    `Caches on restart: ${total} objects (${[...cached].map(([k, v]) => `${k} ${v}`).join(', ')})`,
  );
  for (const [mode, runs] of results) {
    const f = (pick: (r: Restart) => number) =>
      `${seconds(median(runs.map(pick)), 2)} s (runs: ${runs.map((r) => seconds(pick(r), 2)).join(', ')})`;
    console.log(
      `\n${mode === 'compiled' ? 'compiled, pod NODE_OPTIONS' : 'under tsx'}: median of ${runs.length} restarts`,
    );
    console.log(`  spawn to /readyz 200 (target < 5 s)  ${f((r) => r.readyMs)}`);
    console.log(`  spawn to HTTP server listening       ${f((r) => r.firstLogMs)}`);
    console.log(`  spawn to last cache synced           ${f((r) => r.syncedMs)}`);
  }
});
