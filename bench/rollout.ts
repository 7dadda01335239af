// Canary rollouts on a fresh local cluster with the operator as a child process, judged by a
// real Prometheus (Debian's) that scrapes a metrics endpoint this script serves: each Trench's
// canary request counters, which the script turns bad at a moment it knows. Three figures:
//   1. Abort latency, over --trials Trenches (default 20): from the moment Prometheus first
//      answers the default error-rate query above the threshold (the first failing measurement
//      available, polled every 20 ms) to the canary API Deployment at 0 replicas (no traffic),
//      with intervalSeconds 1. The target is under 5 s.
//   2. Promotion time per step, without pauses: a release of four setWeight steps, the time
//      from one step to the next as status.rollout shows it (the canary's pods becoming ready on
//      kwok included), and from the last step to Stable.
//   3. --trenches Trenches (default 100) releasing at once, two steps with a 10 s pause, with
//      analysis every 5 s: the operator's CPU seconds, peak RSS and API writes, per Trench and
//      per step.
// Prints figures, asserts nothing.
//   node --import tsx bench/rollout.ts [--trials 20] [--trenches 100]
import { createServer } from 'node:http';
import { join } from 'node:path';
import { argv } from 'zx';
import type { TrenchStatus } from '../charts/api/trench.js';
import { REPO_ROOT } from '../hack/lib/cluster.js';
import { freePorts } from '../hack/lib/processes.js';
import type { KubeObject } from '../operator/runtime/types.js';
import { startPrometheus } from '../tests/integration/support/services.js';
import {
  clientFor,
  cpuSecondsOf,
  latencySummary,
  log,
  mb,
  pool,
  sleep,
  startOperator,
  waitFor,
  withCluster,
  writesBy,
} from './lib/trenches.js';

const int = (name: string, fallback: number) => {
  const v = Number(argv[name] ?? fallback);
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`--${name} must be an integer >= 1, got ${argv[name]}`);
  return v;
};
const trials = int('trials', 20);
const many = int('trenches', 100);
const stateDir = join(REPO_ROOT, '.trench', 'bench-rollout');
const NS = 'bench-rollout';
const POLL_MS = 20;

const summary = (xs: readonly number[]) => `${latencySummary(xs)} (n=${xs.length})`;

// The canary's request counters per Trench, as the sample API exports them: 20 requests a second
// answered 200, and as many answered 500 once the Trench is turned bad.
const started = Date.now();
const bad = new Map<string, number>();
const metricsText = (names: readonly string[]) => {
  const now = Date.now();
  const lines = [
    '# TYPE http_requests_total counter',
    '# TYPE http_request_duration_seconds histogram',
  ];
  for (const t of names) {
    const labels = `namespace="${NS}",trench="${t}",track="canary"`;
    const ok = Math.floor(((now - started) / 1000) * 20);
    const since = bad.get(t);
    const errors = since === undefined ? 0 : Math.floor(((now - since) / 1000) * 20);
    lines.push(`http_requests_total{${labels},code="200"} ${ok}`);
    if (since !== undefined) lines.push(`http_requests_total{${labels},code="500"} ${errors}`);
    for (const le of ['0.05', '+Inf'])
      lines.push(`http_request_duration_seconds_bucket{${labels},le="${le}"} ${ok + errors}`);
  }
  return `${lines.join('\n')}\n`;
};

type Trench = KubeObject & { spec: Record<string, unknown>; status?: TrenchStatus };
type Deployment = KubeObject & { spec?: { replicas?: number } };

const names = [
  ...Array.from({ length: trials }, (_, i) => `abort-${i}`),
  'steps',
  ...Array.from({ length: many }, (_, i) => `many-${i}`),
];

const [metricsPort] = (await freePorts(1)) as [number];
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
  res.end(metricsText(names));
});
await new Promise<void>((r) => server.listen(metricsPort, '127.0.0.1', () => r()));
const prometheus = await startPrometheus([
  { job: 'canaries', address: `127.0.0.1:${metricsPort}`, honorLabels: true },
]);

const ERROR_RATE = `(sum(rate(http_requests_total{namespace="${NS}",trench="%T",track="canary",code=~"5.."}[2m])) or vector(0)) / sum(rate(http_requests_total{namespace="${NS}",trench="%T",track="canary"}[2m]))`;

try {
  // About 10 pods a Trench mid-canary (stable, canary, Redis, Postgres) at 250 pods a kwok node.
  await withCluster(stateDir, many * 3, async (state) => {
    const client = clientFor(state, 'trench-bench-rollout');
    await client
      .create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })
      .catch(() => undefined);
    const ref = (name: string) => ({
      apiVersion: 'playtrenches.xyz/v1alpha1',
      kind: 'Trench',
      namespace: NS,
      name,
    });
    const trench = (name: string, rollout: Record<string, unknown>): Trench => ({
      ...ref(name),
      metadata: { name, namespace: NS },
      spec: {
        api: { image: 'shop-api:1', replicas: 2 },
        worker: { image: 'shop-worker:1', queues: ['orders'] },
        backup: { suspend: true },
        rollout,
      },
    });
    const get = (name: string) => client.get<Trench>(ref(name));
    const release = (name: string, version: string) =>
      client.mergePatch(ref(name), { spec: { api: { image: `shop-api:${version}` } } });
    const rolloutOf = async (name: string) => (await get(name))?.status?.rollout;
    const until = async (what: string, ms: number, ok: () => Promise<boolean>) => {
      const deadline = performance.now() + ms;
      for (;;) {
        if (await ok().catch(() => false)) return performance.now();
        if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
        await sleep(POLL_MS);
      }
    };
    const analysis = (intervalSeconds: number) => ({
      prometheusUrl: prometheus.url,
      intervalSeconds,
      failureLimit: 1,
    });

    const operator = await startOperator(state, {
      logFile: join(stateDir, 'operator.log'),
      workers: 8,
    });
    try {
      // 1. Abort latency.
      await pool(trials, 8, (i) =>
        client.create(
          trench(`abort-${i}`, {
            steps: [{ setWeight: 50 }, { pause: {} }],
            analysis: analysis(1),
          }),
        ),
      );
      await waitFor('the abort Trenches to be stable', 180_000, async () =>
        (
          await Promise.all(Array.from({ length: trials }, (_, i) => rolloutOf(`abort-${i}`)))
        ).every((r) => r?.phase === 'Stable'),
      );
      const abortMs: number[] = [];
      for (let i = 0; i < trials; i++) {
        const name = `abort-${i}`;
        await release(name, '2');
        await until(
          `${name} waiting for promote`,
          60_000,
          async () => (await rolloutOf(name))?.reason === 'WaitingForPromote',
        );
        bad.set(name, Date.now());
        const query = ERROR_RATE.replaceAll('%T', name);
        const failing = await until(`${name} failing in Prometheus`, 60_000, async () =>
          (await prometheus.query(query)).some((s) => s.value > 0.05),
        );
        const cut = await until(`${name} canary at 0`, 60_000, async () => {
          const d = await client.get<Deployment>({
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            namespace: NS,
            name: `${name}-api-canary`,
          });
          return d?.spec?.replicas === 0;
        });
        abortMs.push(cut - failing);
        log(`trial ${i + 1}: ${Math.round(cut - failing)} ms`);
      }

      console.log('Canary rollouts (kwok cluster, real Prometheus, operator under tsx):');
      console.log(
        `  failing measurement in Prometheus -> canary at 0 (interval 1 s): ${summary(abortMs)}`,
      );

      // 2. Promotion per step, no pauses.
      const steps = [25, 50, 75, 100].map((w) => ({ setWeight: w }));
      await client.create(trench('steps', { steps, analysis: analysis(1) }));
      await until(
        'steps stable',
        120_000,
        async () => (await rolloutOf('steps'))?.phase === 'Stable',
      );
      const stepMs: number[] = [];
      let promoteMs = Number.NaN;
      for (let round = 0; round < 3; round++) {
        await release('steps', String(round + 2));
        let last = performance.now();
        let seen = -1;
        for (;;) {
          const r = await rolloutOf('steps');
          const now = performance.now();
          if (r?.phase === 'Stable' && r.stableRevision && seen >= 0) {
            promoteMs = now - last;
            break;
          }
          const index = r?.phase === 'Promoting' ? steps.length : (r?.stepIndex ?? -1);
          if (r?.phase !== 'Stable' && index > seen) {
            if (seen >= 0) stepMs.push(now - last);
            seen = index;
            last = now;
          }
          await sleep(POLL_MS);
        }
      }

      console.log(`  one setWeight step to the next (no pauses): ${summary(stepMs)}`);
      console.log(
        `  last step -> Stable (stable rolled to the new revision, canary removed): ${Math.round(promoteMs)} ms`,
      );

      // 3. Many Trenches releasing at once.
      await pool(many, 16, (i) =>
        client.create(
          trench(`many-${i}`, {
            steps: [{ setWeight: 50 }, { pause: { duration: '10s' } }],
            analysis: analysis(5),
          }),
        ),
      );
      const rollouts = () =>
        Promise.all(Array.from({ length: many }, (_, i) => rolloutOf(`many-${i}`)));
      await waitFor(`${many} Trenches stable`, 600_000, async () =>
        (await rollouts()).every((r) => r?.phase === 'Stable'),
      );
      await sleep(5_000);
      const before = (await rollouts()).map((r) => r?.stableRevision);
      const cpu0 = cpuSecondsOf(operator.child.pid!);
      const from = Date.now();
      operator.peakRssKb = 0;
      const t0 = performance.now();
      await pool(many, 16, (i) => release(`many-${i}`, '2'));
      await waitFor(`${many} Trenches promoted`, 600_000, async () =>
        (await rollouts()).every((r, i) => r?.phase === 'Stable' && r.stableRevision !== before[i]),
      );
      const wall = performance.now() - t0;
      await sleep(3_000);
      const cpu = cpuSecondsOf(operator.child.pid!) - cpu0;
      const writes = await writesBy(state, 'trench-operator', from, Date.now());
      const byResource = new Map<string, number>();
      for (const w of writes) {
        const k = `${w.verb} ${w.objectRef?.resource ?? '?'}${w.objectRef?.subresource ? `/${w.objectRef.subresource}` : ''}`;
        byResource.set(k, (byResource.get(k) ?? 0) + 1);
      }

      console.log(
        `  ${many} Trenches releasing at once (2 steps, 10 s pause, analysis every 5 s):`,
      );
      console.log(`    release -> all Stable: ${(wall / 1000).toFixed(1)} s`);
      console.log(
        `    operator CPU: ${cpu.toFixed(1)} s (${((cpu / wall) * 1000 * 100).toFixed(0)} % of a core)`,
      );
      console.log(`    operator peak RSS: ${mb(operator.peakRssKb)} MB`);
      console.log(
        `    operator API writes: ${writes.length} (${(writes.length / many).toFixed(1)} per Trench, ${(writes.length / many / 2).toFixed(1)} per Trench per step)`,
      );
      for (const [k, n] of [...byResource].sort((a, b) => b[1] - a[1]))
        console.log(`      ${k}: ${n}`);
    } finally {
      await operator.stop();
    }
  });
} finally {
  await prometheus.stop();
  server.close();
}
