// Queue backlog to worker replicas, at 100 and 500 Trenches (target: p95 under 2 s at 500).
// Prints figures, asserts nothing. On a fresh local cluster, per size N:
//   - R real Redis servers (Debian's redis-server), each serving N/R Trenches through an
//     external-Redis Secret; every Trench has its own queue, minReplicas 0, 10 jobs per
//     replica, a 30 s poll (so what scales faster was woken by BullMQ's events stream) and a
//     5 s scale-down window;
//   - the operator, compiled as in its pod, brings every worker Deployment to 0 replicas;
//   - idle: Redis commands per second over all servers for 60 s (two poll intervals);
//   - enqueue: for --samples Trenches, one after another, 25 jobs added with the real BullMQ
//     client; time from the add to the worker Deployment's spec.replicas of 3, seen by a watch
//     on the API server (p50/p95/max), and Redis commands per second meanwhile;
//   - steady: every sampled backlog held, the operator's API writes in the next minute
//     (audit log; Lease renewals left out; target 0);
//   - drain: an in-process BullMQ Worker runs each sampled queue's jobs; time from the last
//     job completed to spec.replicas of 0 (p50/p95/max), which includes the 5 s window (it
//     starts at the last recommendation above 0, a little before the last completion);
//   - the operator's CPU seconds over the run and its RSS.
//   node --import tsx bench/scaling.ts [--sizes 100,500] [--samples 40] [--redis 4]
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { Queue, Worker } from 'bullmq5';
import { argv } from 'zx';
import type { ClusterState } from '../hack/lib/cluster.js';
import { REPO_ROOT } from '../hack/lib/cluster.js';
import type { KubeObject } from '../operator/runtime/types.js';
import { type RedisServer, startRedis } from '../tests/integration/support/services.js';
import {
  clientFor,
  compileOperator,
  convergence,
  cpuSecondsOf,
  log,
  mb,
  NAMESPACES,
  namespaceOf,
  pool,
  quantile,
  sleep,
  startOperator,
  trenchOf,
  waitFor,
  withCluster,
  writesBy,
} from './lib/trenches.js';

const sizes = String(argv.sizes ?? '100,500')
  .split(',')
  .map(Number);
const samples = Number(argv.samples ?? 40);
const servers = Number(argv.redis ?? 4);
for (const [name, v] of [
  ['--samples', samples],
  ['--redis', servers],
  ...sizes.map((s) => ['--sizes', s] as const),
] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be integers >= 1, got ${v}`);
}
const WINDOW_S = 5;
const JOBS = 25; // 25 jobs at 10 per replica: 3 replicas
const stateDir = join(REPO_ROOT, '.trench', 'bench-scaling');
const logDir = join(REPO_ROOT, '.trench', 'bench-scaling-logs');
const buildDir = join(REPO_ROOT, '.trench', 'bench-scaling-build');

const ms = (x: number) => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');

interface RedisCounts {
  /** Every command, those run inside BullMQ's Lua scripts included. */
  all: number;
  /** The scaler's: 7 per queue per check (ZCOUNT is one of them and nothing else here sends
   * it), plus its XREAD and XREVRANGE. */
  scaler: number;
}

async function commandCounts(redis: readonly RedisServer[]): Promise<RedisCounts> {
  const out = { all: 0, scaler: 0 };
  for (const r of redis) {
    const info = await r.cli('INFO', 'all');
    out.all += Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
    const calls = (cmd: string) =>
      Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
    out.scaler += 7 * calls('zcount') + calls('xread') + calls('xrevrange');
  }
  return out;
}

async function commandsPerSecond(redis: readonly RedisServer[], run: () => Promise<unknown>) {
  const before = await commandCounts(redis);
  const t0 = Date.now();
  await run();
  const after = await commandCounts(redis);
  const s = (Date.now() - t0) / 1000;
  // Each INFO through redis-cli is an AUTH and an INFO per server.
  return {
    all: (after.all - before.all - 2 * redis.length) / s,
    scaler: (after.scaler - before.scaler) / s,
  };
}

interface SizeResult {
  n: number;
  enqueue: number[];
  drain: number[];
  idleCmds: { all: number; scaler: number };
  busyCmds: { all: number; scaler: number };
  steadyWrites: number;
  cpuSeconds: number;
  rssMb: string;
  peakRssMb: string;
}

async function runSize(n: number, state: ClusterState): Promise<SizeResult> {
  const redis = await Promise.all(Array.from({ length: servers }, () => startRedis()));
  const opened: { close(): Promise<unknown> }[] = [];
  let stopWatch: (() => void) | undefined;
  let operator: Awaited<ReturnType<typeof startOperator>> | undefined;
  try {
    const client = clientFor(state, 'trench-bench');
    for (let ns = 0; ns < NAMESPACES; ns++) {
      for (let r = 0; r < servers; r++) {
        await client.create({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: `redis-${r}`, namespace: namespaceOf(ns) },
          stringData: { url: redis[r]!.url },
        } as KubeObject);
      }
    }
    await pool(n, 16, async (i) => {
      const t = trenchOf(i);
      t.spec = {
        ...t.spec,
        worker: {
          ...t.spec.worker!,
          queues: [`q${i}`],
          scaling: {
            minReplicas: 0,
            maxReplicas: 20,
            targetBacklogPerReplica: 10,
            pollIntervalSeconds: 30,
            scaleDownStabilizationSeconds: WINDOW_S,
          },
        },
        redis: { external: { urlSecretRef: { name: `redis-${i % servers}`, key: 'url' } } },
      } as typeof t.spec;
      await client.create(t);
    });
    log(`Created ${n} Trenches on ${servers} Redis servers`);
    mkdirSync(logDir, { recursive: true });
    operator = await startOperator(state, {
      logFile: join(logDir, `operator-${n}.log`),
      buildDir,
      workers: 8,
    });
    const cpu0 = cpuSecondsOf(operator.child.pid!);

    // Every worker Deployment's spec.replicas, as a watch sees it change.
    const replicas = new Map<string, { value: number; at: number }[]>();
    const kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfig);
    const abort = await new Watch(kc).watch(
      '/apis/apps/v1/deployments',
      { labelSelector: 'app.kubernetes.io/component=worker' },
      (_type, obj: KubeObject & { spec?: { replicas?: number } }) => {
        const key = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
        const list = replicas.get(key) ?? [];
        const value = obj.spec?.replicas ?? -1;
        if (list.at(-1)?.value !== value) list.push({ value, at: Date.now() });
        replicas.set(key, list);
      },
      () => undefined,
    );
    stopWatch = () => abort.abort();
    const current = (i: number) => replicas.get(`${namespaceOf(i)}/t${i}-worker`)?.at(-1)?.value;
    await waitFor(
      `${n} worker Deployments at 0 replicas`,
      900_000,
      async () => {
        let zero = 0;
        for (let i = 0; i < n; i++) if (current(i) === 0) zero++;
        return zero === n;
      },
      1_000,
    );
    log(`Every worker Deployment is at 0 replicas`);
    // Steady means the Trench controller is done too: its status writes are not the scaler's.
    await waitFor(
      `${n} Trenches Ready`,
      900_000,
      async () => {
        const c = await convergence(client);
        return c.ready === n;
      },
      5_000,
    );
    log(`Every Trench is Ready`);

    // Two poll intervals: the Trenches created together poll together, so a shorter span could
    // fall between two bursts.
    const idleCmds = await commandsPerSecond(redis, () => sleep(60_000));
    const picked = Array.from({ length: Math.min(samples, n) }, (_, k) =>
      Math.floor((k * n) / Math.min(samples, n)),
    );
    const queues = new Map<number, Queue>();
    for (const i of picked) {
      const r = redis[i % servers]!;
      const q = new Queue(`q${i}`, {
        connection: { host: '127.0.0.1', port: r.port, password: r.password },
      });
      opened.push(q);
      queues.set(i, q);
    }
    const enqueue: number[] = [];
    const busyCmds = await commandsPerSecond(redis, async () => {
      for (const i of picked) {
        const t0 = Date.now();
        await queues
          .get(i)!
          .addBulk(Array.from({ length: JOBS }, (_, j) => ({ name: 'job', data: { j } })));
        await waitFor(`t${i} at 3 replicas`, 60_000, async () => current(i) === 3, 10);
        const seen = replicas.get(`${namespaceOf(i)}/t${i}-worker`)!.find((e) => e.value === 3)!.at;
        enqueue.push(seen - t0);
      }
    });
    log(`Enqueue to replicas measured on ${enqueue.length} Trenches`);

    await sleep(10_000);
    const steadyFrom = Date.now();
    await sleep(60_000);
    await sleep(2_000); // the audit log is written in batches
    const steadyWrites = (await writesBy(state, 'trench-operator', steadyFrom, steadyFrom + 60_000))
      .length;

    const drain: number[] = [];
    await pool(picked.length, 8, async (k) => {
      const i = picked[k]!;
      const r = redis[i % servers]!;
      const q = queues.get(i)!;
      const worker = new Worker(`q${i}`, async () => undefined, {
        connection: { host: '127.0.0.1', port: r.port, password: r.password },
        concurrency: 25,
      });
      opened.push(worker);
      let done = 0;
      await waitFor(
        `q${i} drained`,
        60_000,
        async () => {
          const counts = await q.getJobCounts('waiting', 'active', 'completed');
          if (counts.waiting === 0 && counts.active === 0 && counts.completed === JOBS) {
            done ||= Date.now();
            return true;
          }
          return false;
        },
        20,
      );
      await worker.close();
      await waitFor(`t${i} back at 0`, 60_000, async () => current(i) === 0, 20);
      const seen = replicas.get(`${namespaceOf(i)}/t${i}-worker`)!.at(-1)!.at;
      drain.push(seen - done);
    });
    const cpuSeconds = cpuSecondsOf(operator.child.pid!) - cpu0;
    client.close();
    return {
      n,
      enqueue,
      drain,
      idleCmds,
      busyCmds,
      steadyWrites,
      cpuSeconds,
      rssMb: mb(operator.rssKb),
      peakRssMb: mb(operator.peakRssKb),
    };
  } finally {
    stopWatch?.();
    for (const o of opened) await o.close().catch(() => undefined);
    await operator?.stop();
    for (const r of redis) await r.stop();
  }
}

async function main() {
  await compileOperator(buildDir);
  const results: SizeResult[] = [];
  for (const n of sizes) results.push(await withCluster(stateDir, n, (state) => runSize(n, state)));
  console.log('');
  console.log(
    `| Trenches | enqueue → replicas p50 / p95 / max | drain → 0 (window ${WINDOW_S} s) p50 / p95 / max | Redis cmd/s idle / busy: the scaler's (all) | operator writes in a steady minute | operator CPU s | RSS / peak MB |`,
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    console.log(
      `| ${r.n} | ${ms(quantile(r.enqueue, 0.5))} / ${ms(quantile(r.enqueue, 0.95))} / ${ms(Math.max(...r.enqueue))} | ${ms(quantile(r.drain, 0.5))} / ${ms(quantile(r.drain, 0.95))} / ${ms(Math.max(...r.drain))} | ${r.idleCmds.scaler.toFixed(0)} (${r.idleCmds.all.toFixed(0)}) / ${r.busyCmds.scaler.toFixed(0)} (${r.busyCmds.all.toFixed(0)}) | ${r.steadyWrites} | ${r.cpuSeconds.toFixed(1)} | ${r.rssMb} / ${r.peakRssMb} |`,
    );
  }
  console.log(
    `(${samples} sampled Trenches per size, ${servers} Redis servers, target: enqueue → replicas p95 < 2 s at 500)`,
  );
}

await main();
