// Canary releases for real: the operator as a process on the real API server (kwok runs the
// pods of both tracks), judging each canary on a real Prometheus from Debian's package that
// scrapes the sample product's API and worker as host processes. One good and one bad build of
// each run on the host, each scraped once per Trench with that Trench's canary labels (as the
// stack's relabeling does from pod labels), so every decision below is taken on metrics a real
// app produced, never on numbers the test gives the operator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrenchStatus } from '../../../charts/api/trench.js';
import { freePorts } from '../../../hack/lib/processes.js';
import {
  createOwn,
  eventsWhere,
  kubectl,
  mergePatch,
  mustKubectl,
  useNamespace,
  waitFor,
} from '../support/cluster.js';
import { installGatewayApiCrds } from '../support/gateway.js';
import {
  installCrdsAndRbac,
  type RunningOperator,
  showOperatorLogsOnFailure,
  startOperator,
} from '../support/operator.js';
import { plugin } from '../support/plugin.js';
import {
  type HostProcess,
  type PostgresServer,
  type PrometheusServer,
  type RedisServer,
  type ScrapeTarget,
  startPostgres,
  startPrometheus,
  startRedis,
  startShop,
} from '../support/services.js';

const ns = useNamespace('rollout');
type Rollout = NonNullable<TrenchStatus['rollout']>;

let redis: RedisServer;
let postgres: PostgresServer;
let prometheus: PrometheusServer;
/** A second Prometheus for the Trench whose monitoring goes away mid-analysis. */
let doomed: PrometheusServer | undefined;
let operator: RunningOperator | undefined;
const procs: HostProcess[] = [];
let traffic: NodeJS.Timeout | undefined;

/** Metrics addresses of the host builds. */
const builds = { goodApi: '', badApi: '', goodWorker: '', badWorker: '' };

/** Which build each Trench's canary is, as Prometheus scrapes it. */
const CANARIES: Record<string, { api: keyof typeof builds; worker: keyof typeof builds }> = {
  good: { api: 'goodApi', worker: 'goodWorker' },
  bad: { api: 'badApi', worker: 'goodWorker' },
  jobs: { api: 'goodApi', worker: 'badWorker' },
  restart: { api: 'goodApi', worker: 'goodWorker' },
  routed: { api: 'goodApi', worker: 'goodWorker' },
};

const targets = (trench: string, api: string, worker: string): ScrapeTarget[] => {
  const labels = { namespace: ns.name, trench, track: 'canary' };
  return [
    { job: `${trench}-api`, address: api, labels: { ...labels, component: 'api' } },
    { job: `${trench}-worker`, address: worker, labels: { ...labels, component: 'worker' } },
  ];
};

const start = () =>
  startOperator({
    TRENCH_WATCH_NAMESPACE: ns.name,
    TRENCH_LEADER_ELECTION: 'false',
    TRENCH_PROMETHEUS_URL: prometheus.url,
  });

const getJson = async <T>(...args: string[]): Promise<T> =>
  JSON.parse(await mustKubectl(['get', ...args, '-n', ns.name, '-o', 'json'])) as T;

interface Deployment {
  metadata: { labels?: Record<string, string> };
  spec: { replicas?: number; template: { spec: { containers: { image: string }[] } } };
}

const deployment = async (name: string): Promise<Deployment | undefined> => {
  const r = await kubectl(['get', 'deployment', name, '-n', ns.name, '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as Deployment) : undefined;
};
const image = (d: Deployment | undefined) => d?.spec.template.spec.containers[0]?.image;

const statusOf = async (name: string) =>
  (await getJson<{ status?: TrenchStatus }>('trench', name)).status;

const rolloutWhen = (name: string, what: string, ok: (r: Rollout) => boolean, timeoutMs = 60_000) =>
  waitFor(
    async () => {
      const r = (await statusOf(name))?.rollout;
      return r && ok(r) ? r : undefined;
    },
    { what: `Trench ${name}: ${what}`, timeoutMs },
  );

const events = (name: string) =>
  eventsWhere(ns.name, `involvedObject.kind=Trench,involvedObject.name=${name}`);

const trench = (
  name: string,
  rollout: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) =>
  createOwn('Trench', ns.name, name, {
    api: { image: 'shop-api:1', replicas: 2 },
    worker: { image: 'shop-worker:1', queues: ['orders'], metricsPort: 9464 },
    backup: { suspend: true },
    rollout: { analysis: { intervalSeconds: 2 }, ...rollout },
    ...extra,
  });

const release = (name: string, version: string) =>
  mergePatch('trench', name, ns.name, {
    spec: { api: { image: `shop-api:${version}` }, worker: { image: `shop-worker:${version}` } },
  });

/** Runs the plugin and expects it to succeed, showing its stderr when it does not. */
async function ok(...args: string[]) {
  const r = await plugin(ns.name, ...args);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

const stableOn = (name: string) =>
  rolloutWhen(name, 'a stable revision', (r) => r.phase === 'Stable' && !!r.stableRevision);

beforeAll(async () => {
  await installCrdsAndRbac();
  await installGatewayApiCrds();
  [redis, postgres] = await Promise.all([startRedis(), startPostgres({ database: 'shop' })]);
  const ports = (await freePorts(6)) as number[];
  const env = { DATABASE_URL: postgres.url, REDIS_URL: redis.url };
  const api = (port: number, fault: Record<string, string>) =>
    startShop('api/main.ts', { ...env, PORT: String(port), ...fault });
  const worker = (port: number, queue: string, fault: Record<string, string>) =>
    startShop('worker/main.ts', {
      ...env,
      METRICS_PORT: String(port),
      TRENCH_WORKER_QUEUES: queue,
      SHOP_MIGRATE_ON_START: 'false',
      ...fault,
    });
  // The good build migrates first; the others find the schema there.
  const goodApi = api(ports[0]!, {});
  procs.push(goodApi);
  await waitHttp(`http://127.0.0.1:${ports[0]}/health`, goodApi);
  procs.push(
    api(ports[1]!, { FAULT_ERROR_RATE: '0.5', SHOP_MIGRATE_ON_START: 'false' }),
    worker(ports[2]!, 'good-jobs', {}),
    worker(ports[3]!, 'bad-jobs', { FAULT_JOB_FAILURE_RATE: '1' }),
  );
  builds.goodApi = `127.0.0.1:${ports[0]}`;
  builds.badApi = `127.0.0.1:${ports[1]}`;
  builds.goodWorker = `127.0.0.1:${ports[2]}`;
  builds.badWorker = `127.0.0.1:${ports[3]}`;
  await waitHttp(`http://${builds.badApi}/health`, procs[1]!);
  // Steady traffic on both APIs and jobs for both workers, as users would send.
  traffic = setInterval(() => {
    for (const a of [builds.goodApi, builds.badApi]) void fetch(`http://${a}/`).catch(() => {});
    for (const queue of ['good-jobs', 'bad-jobs']) {
      void fetch(`http://${builds.goodApi}/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ queue, name: 'record', attempts: 1 }),
      }).catch(() => {});
    }
  }, 100);
  prometheus = await startPrometheus(
    Object.entries(CANARIES).flatMap(([t, c]) => targets(t, builds[c.api], builds[c.worker])),
  );
  doomed = await startPrometheus(targets('blind', builds.goodApi, builds.goodWorker));
  operator = await start();
}, 240_000);

afterAll(async () => {
  if (traffic) clearInterval(traffic);
  const exit = await operator?.stop();
  if (exit && exit.code !== 0) console.error(operator?.logs());
  await Promise.all(procs.map((p) => p.stop()));
  await Promise.all([prometheus?.stop(), doomed?.stop(), redis?.stop(), postgres?.stop()]);
});

showOperatorLogsOnFailure(() => operator);

async function waitHttp(url: string, proc: HostProcess): Promise<void> {
  await waitFor(async () => ((await fetch(url).catch(() => undefined))?.ok ? true : undefined), {
    what: `${url} to answer: ${proc.logs().slice(-500)}`,
    timeoutMs: 30_000,
  });
}

describe('canary releases', () => {
  it('a canary that never gets ready: started now, judged by its deadline at the end', async () => {
    await trench('stuck', {
      steps: [{ setWeight: 50 }, { pause: {} }],
      progressDeadlineSeconds: 30,
    });
    await stableOn('stuck');
    // The new release asks for more CPU than any node has: its pods never schedule.
    await mergePatch('trench', 'stuck', ns.name, {
      spec: {
        api: { image: 'shop-api:2', resources: { requests: { cpu: '64' }, limits: { cpu: '64' } } },
      },
    });
    await rolloutWhen('stuck', 'the canary started', (r) => r.phase === 'Progressing');
  });

  it('promotes a good release through every step, restarting on a newer revision mid-canary', async () => {
    await trench('good', {
      steps: [{ setWeight: 25 }, { pause: { duration: '3s' } }, { setWeight: 50 }, { pause: {} }],
    });
    const r1 = (await stableOn('good')).stableRevision!;
    // No rollout: promote is refused by the plugin itself, with why.
    const early = await plugin(ns.name, 'promote', 'good');
    expect(early.code).toBe(1);
    expect(early.stderr).toContain(
      `cannot promote: no rollout is running for Trench good (revision ${r1} is stable)`,
    );

    await release('good', '2');
    const first = await rolloutWhen('good', 'the first step', (r) => r.phase === 'Progressing');
    const r2 = first.canaryRevision!;
    expect(r2).not.toBe(r1);
    expect(first.stableRevision).toBe(r1);
    // Step 1 at 25 %: stable 2 keeps both its pods, the canary gets 1 (1/3 of API pods).
    const atWeight = await rolloutWhen(
      'good',
      'weight 25 applied',
      (r) => r.achievedWeight === 33.3,
    );
    expect(atWeight.canaryReplicas).toEqual({ api: 1, worker: 1 });
    expect((await deployment('good-api'))?.spec.replicas).toBe(2);
    expect(image(await deployment('good-api'))).toBe('shop-api:1');
    expect(image(await deployment('good-api-canary'))).toBe('shop-api:2');
    expect(image(await deployment('good-worker'))).toBe('shop-worker:1');
    expect(image(await deployment('good-worker-canary'))).toBe('shop-worker:2');
    expect(
      (await deployment('good-api-canary'))?.metadata.labels?.['playtrenches.xyz/revision'],
    ).toBe(r2);

    // The good build passes analysis through the timed pause and the second weight.
    const waiting = await rolloutWhen(
      'good',
      'waiting for promote at step 4',
      (r) => r.phase === 'Paused' && r.reason === 'WaitingForPromote',
    );
    expect(waiting.step).toBe('4/4');
    expect(waiting.achievedWeight).toBe(50);
    const passes = (waiting.measurements ?? []).filter(
      (m) => m.revision === r2 && m.verdict === 'pass',
    );
    expect(passes.length).toBeGreaterThan(0);
    expect(passes[0]!.detail).toMatch(/canary-error-rate 0 <= 0\.05/);
    expect(passes[0]!.values?.map((v) => v.name)).toEqual([
      'canary-error-rate',
      'canary-p95-latency',
      'canary-job-failure-rate',
    ]);
    // Argo CD's view and the printer columns say the same.
    const columns = await mustKubectl(['get', 'trench', 'good', '-n', ns.name]);
    expect(columns).toMatch(/\s4\/4\s+50\s/);

    // More replicas during the pause: both tracks grow, nothing restarts.
    await mergePatch('trench', 'good', ns.name, { spec: { api: { replicas: 4 } } });
    const grown = await rolloutWhen('good', 'both tracks at 4', (r) => r.canaryReplicas?.api === 4);
    expect(grown).toMatchObject({ canaryRevision: r2, step: '4/4', reason: 'WaitingForPromote' });
    expect((await deployment('good-api'))?.spec.replicas).toBe(4);
    await waitFor(
      async () => ((await deployment('good-api-canary'))?.spec.replicas === 4 ? true : undefined),
      { what: 'the canary API Deployment at 4' },
    );
    // Pause and resume by request: held, then back where it was.
    await ok('pause', 'good');
    const held = await rolloutWhen(
      'good',
      'paused by request',
      (r) => r.reason === 'PausedByRequest',
    );
    expect(held.pausedByUser).toBe(true);
    const resumed = await plugin(ns.name, 'resume', 'good');
    expect(resumed.code).toBe(0);
    await rolloutWhen('good', 'waiting for promote again', (r) => r.reason === 'WaitingForPromote');
    const resumeAgain = await plugin(ns.name, 'resume', 'good');
    expect(resumeAgain.code).toBe(1);
    expect(resumeAgain.stderr).toContain('is not paused by a request: nothing to resume');

    // A newer revision mid-canary: the old canary is discarded, steps restart on it.
    await release('good', '3');
    const restarted = await rolloutWhen(
      'good',
      'the canary restarted on revision 3',
      (r) => r.canaryRevision !== r2 && r.phase === 'Progressing',
    );
    const r3 = restarted.canaryRevision!;
    expect(restarted.stableRevision).toBe(r1);
    expect(restarted.stepIndex).toBeLessThanOrEqual(1);
    await rolloutWhen(
      'good',
      'waiting for promote on revision 3',
      (r) => r.reason === 'WaitingForPromote' && r.canaryRevision === r3,
    );
    expect(image(await deployment('good-api-canary'))).toBe('shop-api:3');
    expect(image(await deployment('good-api'))).toBe('shop-api:1');

    const promoted = await plugin(ns.name, 'promote', 'good');
    expect(promoted.stderr).toBe(
      'trench.playtrenches.xyz/good promote requested; waiting for the operator\n',
    );
    expect(promoted.code).toBe(0);
    expect(promoted.stdout).toMatch(/^good: promote done; /);
    const stable = await rolloutWhen(
      'good',
      'revision 3 stable',
      (r) => r.phase === 'Stable' && r.stableRevision === r3,
    );
    expect(stable.canaryRevision).toBeUndefined();
    expect(image(await deployment('good-api'))).toBe('shop-api:3');
    expect(image(await deployment('good-worker'))).toBe('shop-worker:3');
    await waitFor(async () => ((await deployment('good-api-canary')) ? undefined : true), {
      what: 'the canary Deployments to be removed',
    });
    expect(await deployment('good-worker-canary')).toBeUndefined();
    // A second promote has nothing to promote: refused, not a second promotion.
    const again = await plugin(ns.name, 'promote', 'good');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no rollout is running for Trench good');

    const reasons = (await events('good')).map((e) => e.reason);
    for (const r of [
      'CanaryStarted',
      'StepCompleted',
      'CanaryRestarted',
      'RequestHandled',
      'Promoting',
      'Promoted',
    ]) {
      expect(reasons).toContain(r);
    }
    // The promote stays handled once the release is stable, never taken again as new (a stable
    // state that dropped it refused it, and dropped it again, pass after pass).
    expect(reasons).not.toContain('RequestRefused');
    expect((await statusOf('good'))?.rollout?.lastRequest).toBeDefined();
    const handled = (await events('good')).find(
      (e) => e.reason === 'RequestHandled' && e.message.startsWith('promote'),
    );
    // Who asked: the API server's name for the plugin's user.
    expect(handled?.message).toMatch(/^promote requested by \S+/);
  });

  it('aborts a release whose API fails, API and worker together, and retries on request', async () => {
    await trench('bad', { steps: [{ setWeight: 50 }, { pause: {} }] });
    const r1 = (await stableOn('bad')).stableRevision!;
    await release('bad', '2');
    const aborted = await rolloutWhen('bad', 'aborted', (r) => r.phase === 'Aborted');
    expect(aborted.reason).toBe('AnalysisFailed');
    expect(aborted.message).toMatch(
      /failed analysis 1 time\(s\) in a row: canary-error-rate 0\.\d+ > 0\.05/,
    );
    expect(aborted.stableRevision).toBe(r1);
    expect(aborted.achievedWeight).toBe(0);
    // In the same pass: both canaries at 0 pods, stable on the old release at full size.
    expect((await deployment('bad-api-canary'))?.spec.replicas).toBe(0);
    expect((await deployment('bad-worker-canary'))?.spec.replicas).toBe(0);
    expect(image(await deployment('bad-api'))).toBe('shop-api:1');
    expect((await deployment('bad-api'))?.spec.replicas).toBe(2);
    // Stable serves everything: Ready (once the canary's pods are gone), Degraded as a warning.
    const status = await waitFor(
      async () => {
        const s = await statusOf('bad');
        return s?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? s : undefined;
      },
      { what: 'Trench bad Ready with its canary aborted' },
    );
    expect(status.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'AnalysisFailed',
    });
    expect((await events('bad')).some((e) => e.type === 'Warning' && e.reason === 'Aborted')).toBe(
      true,
    );
    const metrics = await operator!.metrics();
    expect(metrics).toContain(
      `trench_rollout_phase{namespace="${ns.name}",trench="bad",phase="Aborted"} 1`,
    );
    expect(metrics).toContain(
      `trench_rollout_analysis_verdict{namespace="${ns.name}",trench="bad",verdict="fail"} 1`,
    );

    // Aborted stays aborted: promote is refused, retry starts the steps again.
    const promote = await plugin(ns.name, 'promote', 'bad');
    expect(promote.code).toBe(1);
    expect(promote.stderr).toContain('is aborted (AnalysisFailed)');
    const before = (await statusOf('bad'))?.rollout?.lastMeasurement;
    const retry = await plugin(ns.name, 'retry', 'bad');
    expect(retry.code).toBe(0);
    // Done; the line shows the rollout as it is by then (the bad build may be aborted again).
    expect(retry.stdout).toMatch(/^bad: retry done; (Progressing|Aborted)/);
    expect((await events('bad')).map((e) => e.reason)).toContain('Retried');
    // The same bad build fails again, on a new measurement.
    const again = await rolloutWhen(
      'bad',
      'aborted again',
      (r) => r.phase === 'Aborted' && r.lastMeasurement !== before,
    );
    expect(again.reason).toBe('AnalysisFailed');
  });

  it('rolls back the API too when only the worker regresses', async () => {
    await trench('jobs', { steps: [{ setWeight: 50 }, { pause: {} }] });
    await stableOn('jobs');
    await release('jobs', '2');
    const aborted = await rolloutWhen('jobs', 'aborted', (r) => r.phase === 'Aborted');
    expect(aborted.message).toMatch(/canary-job-failure-rate 1 > 0\.05/);
    expect((await deployment('jobs-api-canary'))?.spec.replicas).toBe(0);
    expect((await deployment('jobs-worker-canary'))?.spec.replicas).toBe(0);
    expect(image(await deployment('jobs-api'))).toBe('shop-api:1');
  });

  it('holds and never promotes when Prometheus goes away mid-analysis', async () => {
    await trench('blind', {
      steps: [{ setWeight: 50 }, { pause: {} }],
      analysis: { intervalSeconds: 2, prometheusUrl: doomed!.url },
    });
    await stableOn('blind');
    await release('blind', '2');
    await rolloutWhen('blind', 'waiting for promote', (r) => r.reason === 'WaitingForPromote');
    await doomed!.stop();
    const held = await rolloutWhen('blind', 'inconclusive', (r) => r.reason === 'Inconclusive');
    expect(held.phase).toBe('Paused');
    expect(held.inconclusive).toMatch(/not reachable/);
    const promote = await plugin(ns.name, 'promote', 'blind');
    expect(promote.code).toBe(1);
    expect(promote.stderr).toMatch(
      /promote by \S+ refused: analysis is inconclusive .*a promote would be blind/,
    );
    expect(image(await deployment('blind-api'))).toBe('shop-api:1');
    expect((await statusOf('blind'))?.rollout?.phase).toBe('Paused');
  });

  it('resumes at the same step and pause deadline after the operator is killed', async () => {
    await trench('restart', {
      steps: [{ setWeight: 50 }, { pause: { duration: '12s' } }, { pause: {} }],
    });
    await stableOn('restart');
    await release('restart', '2');
    const paused = await rolloutWhen('restart', 'in the timed pause', (r) => r.stepIndex === 1);
    const killed = await operator!.stop('SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    operator = await start();
    const after = await rolloutWhen(
      'restart',
      'the pause over',
      (r) => r.reason === 'WaitingForPromote',
    );
    // The pause began once and lasted its 12 s across the restart.
    const began = Date.parse(paused.stepStartedAt!);
    const steps = (await events('restart')).filter((e) => e.reason === 'StepCompleted');
    expect(steps.map((e) => e.message)).toEqual([
      'Step 1 of 3 done (weight 50)',
      'Step 2 of 3 done (paused 12 s)',
    ]);
    expect(Date.parse(after.stepStartedAt!) - began).toBeGreaterThanOrEqual(12_000);
    // Analysis went on after the restart.
    expect(Date.parse(after.lastMeasurement!)).toBeGreaterThan(began);
    const abort = await plugin(ns.name, 'abort', 'restart');
    expect(abort.code).toBe(0);
    const aborted = await rolloutWhen(
      'restart',
      'aborted by request',
      (r) => r.phase === 'Aborted',
    );
    expect(aborted.reason).toBe('AbortedByUser');
    expect((await deployment('restart-api-canary'))?.spec.replicas).toBe(0);
  });

  it('sets exactly the step weights on a Gateway API HTTPRoute, and nothing else of it', async () => {
    interface Route {
      metadata: { managedFields?: { manager: string }[] };
      spec: {
        parentRefs: unknown[];
        hostnames: string[];
        rules: { backendRefs: { name: string; port: number; weight?: number }[] }[];
      };
    }
    const weights = async () =>
      (await getJson<Route>('httproute', 'shop')).spec.rules[0]!.backendRefs.map(
        (b) => `${b.name}=${b.weight}`,
      );
    await mustKubectl(
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: 'shop', namespace: ns.name },
        spec: {
          parentRefs: [{ name: 'public' }],
          hostnames: ['shop.example'],
          rules: [
            {
              backendRefs: [
                { name: 'routed-api-stable', port: 80, weight: 1 },
                { name: 'routed-api-canary', port: 80 },
              ],
            },
          ],
        },
      }),
    );
    await trench('routed', {
      steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 60 }, { pause: {} }],
      trafficRouting: { gatewayAPI: { httpRoute: 'shop' } },
    });
    await stableOn('routed');
    const at = (stable: number, canary: number) =>
      waitFor(
        async () => {
          const w = await weights();
          return w.join() === `routed-api-stable=${stable},routed-api-canary=${canary}`
            ? w
            : undefined;
        },
        { what: `HTTPRoute shop at ${stable}/${canary}` },
      );
    await at(100, 0);
    await release('routed', '2');
    // Step 1: exactly 20 on the route, once the canary's one pod (20 % of 2, rounded up) is ready.
    const step1 = await rolloutWhen(
      'routed',
      'waiting at 20',
      (r) => r.reason === 'WaitingForPromote',
    );
    expect(step1.achievedWeight).toBe(20);
    expect(step1.route).toEqual({ name: 'shop', stableWeight: 80, canaryWeight: 20 });
    await at(80, 20);
    expect((await deployment('routed-api-canary'))?.spec.replicas).toBe(1);
    await ok('promote', 'routed');
    await rolloutWhen(
      'routed',
      'waiting at 60',
      (r) => r.reason === 'WaitingForPromote' && r.weight === 60,
    );
    await at(40, 60);
    expect((await deployment('routed-api-canary'))?.spec.replicas).toBe(2);
    // The rest of the route is the user's, untouched; the weights are under the operator's manager.
    const route = JSON.parse(
      await mustKubectl([
        'get',
        'httproute',
        'shop',
        '-n',
        ns.name,
        '-o',
        'json',
        '--show-managed-fields',
      ]),
    ) as Route;
    expect(route.spec.hostnames).toEqual(['shop.example']);
    expect(route.spec.parentRefs).toEqual([
      { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'public' },
    ]);
    expect(route.spec.rules[0]!.backendRefs.map((b) => b.port)).toEqual([80, 80]);
    expect(route.metadata.managedFields?.map((f) => f.manager)).toContain('trench-rollout');
    await ok('promote', 'routed');
    await rolloutWhen(
      'routed',
      'promoted',
      (r) => r.phase === 'Stable' && r.stableRevision === step1.canaryRevision,
    );
    await at(100, 0);
    // An abort takes the route back to stable in the same pass as the canary's pods.
    await release('routed', '3');
    await rolloutWhen('routed', 'waiting at 20 again', (r) => r.reason === 'WaitingForPromote');
    await at(80, 20);
    await ok('abort', 'routed');
    await at(100, 0);
    expect((await deployment('routed-api-canary'))?.spec.replicas).toBe(0);
  });

  it('aborted the canary that never got ready at its progress deadline', async () => {
    const r = await rolloutWhen('stuck', 'aborted', (x) => x.phase === 'Aborted', 60_000);
    expect(r.reason).toBe('ProgressDeadlineExceeded');
    expect(r.message).toContain('was not ready within 30 s at weight 50');
    expect((await deployment('stuck-api-canary'))?.spec.replicas).toBe(0);
    expect(image(await deployment('stuck-api'))).toBe('shop-api:1');
  });
});
