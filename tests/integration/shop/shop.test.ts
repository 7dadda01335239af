// The sample product for real: its API and worker as host processes against Debian's Redis and
// PostgreSQL, with the env the operator gives their pods, and a real Prometheus scraping them
// and answering the stack's own alert and dashboard expressions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AlertRule,
  allRuleGroups,
  type Severity,
  trenchAlertGroup,
} from '../../../charts/lib/alerts.js';
import { trenchDashboard } from '../../../charts/lib/dashboard.js';
import { toYaml } from '../../../charts/lib/yaml.js';
import { freePorts } from '../../../hack/lib/processes.js';
import { defaultChecks } from '../../../operator/rollout/analysis.js';
import { measure } from '../../../operator/rollout/query.js';
import {
  type HostProcess,
  type PostgresServer,
  type PrometheusServer,
  type PromSample,
  type RedisServer,
  startPostgres,
  startPrometheus,
  startRedis,
  startShop,
} from '../support/services.js';
import { serveThresholds, type ThresholdServer, trenchObject } from '../support/thresholds.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitHttp(url: string, proc: HostProcess, status = 200): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const res = await fetch(url).catch(() => undefined);
    if (res?.status === status) return;
    await sleep(200);
  }
  throw new Error(`${url} did not answer ${status} within 30 s: ${proc.logs()}`);
}

async function getJson<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as T };
}

const postJob = (api: string, body: unknown) =>
  getJson<{ id: string; queue: string; message?: string }>(`${api}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

interface JobView {
  state: string;
  attemptsMade: number;
  failedReason?: string;
}

async function waitJob(api: string, queue: string, id: string, state: string): Promise<JobView> {
  const deadline = Date.now() + 30_000;
  let last: JobView | undefined;
  while (Date.now() < deadline) {
    last = (await getJson<JobView>(`${api}/jobs/${queue}/${id}`)).body;
    if (last.state === state) return last;
    await sleep(100);
  }
  throw new Error(`Job ${queue}/${id} not ${state} within 30 s: ${JSON.stringify(last)}`);
}

let redis: RedisServer;
let postgres: PostgresServer;
const procs: HostProcess[] = [];
let api = '';
let apiMetrics = '';
let workerMetrics = '';
let worker: HostProcess;

beforeAll(async () => {
  [redis, postgres] = await Promise.all([startRedis(), startPostgres({ database: 'shop' })]);
  const [port, metricsPort, wMetrics] = (await freePorts(3)) as [number, number, number];
  const env = { DATABASE_URL: postgres.url, REDIS_URL: redis.url, TRENCH_NAME: 'shop' };
  const apiProc = startShop('api/main.ts', {
    ...env,
    PORT: String(port),
    METRICS_PORT: String(metricsPort),
  });
  worker = startShop('worker/main.ts', {
    ...env,
    TRENCH_WORKER_QUEUES: 'emails,reports',
    TRENCH_WORKER_CONCURRENCY: '2',
    JOB_TIMEOUT: '3',
    METRICS_PORT: String(wMetrics),
  });
  procs.push(apiProc, worker);
  api = `http://127.0.0.1:${port}`;
  apiMetrics = `http://127.0.0.1:${metricsPort}/metrics`;
  workerMetrics = `http://127.0.0.1:${wMetrics}/metrics`;
  await Promise.all([waitHttp(`${api}/health`, apiProc), waitHttp(workerMetrics, worker)]);
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await Promise.all([redis?.stop(), postgres?.stop()]);
});

describe('shop API', () => {
  it('reports PostgreSQL and Redis reachable on /health, and liveness on /livez', async () => {
    const health = await getJson<{
      status: string;
      uptimeSeconds: number;
      database: { ok: boolean };
      redis: { ok: boolean };
    }>(`${api}/health`);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      status: 'ok',
      database: { ok: true },
      redis: { ok: true },
    });
    expect(health.body.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect((await fetch(`${api}/livez`)).status).toBe(200);
  });

  it('migrated the database at start', async () => {
    expect(await postgres.sql('SELECT array_agg(id ORDER BY id) FROM shop_migrations')).toBe('{1}');
  });

  it('serves /metrics only on METRICS_PORT when that differs from PORT', async () => {
    expect((await fetch(`${api}/metrics`)).status).toBe(404);
    const text = await (await fetch(apiMetrics)).text();
    expect(text).toContain('# TYPE http_requests_total counter');
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
  });

  it('refuses a job body with the field that is wrong', async () => {
    const res = await postJob(api, { queue: 'emails', attempts: 0 });
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('attempts');
    const bad = await postJob(api, { queue: 'no spaces' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('queue');
  });

  it('stops at start with exit code 2 and names a bad variable', async () => {
    const proc = startShop('api/main.ts', {
      PORT: '70000',
      DATABASE_URL: postgres.url,
      REDIS_URL: redis.url,
    });
    const exit = await proc.exited;
    expect(exit.code).toBe(2);
    expect(proc.logs()).toContain('PORT must be an integer from 1 to 65535, got "70000"');
    const noUrl = startShop('api/main.ts', { DATABASE_URL: 'mysql://x@y/z', REDIS_URL: redis.url });
    expect((await noUrl.exited).code).toBe(2);
    expect(noUrl.logs()).toContain('DATABASE_URL must start with postgres:// or postgresql://');
    expect(noUrl.logs()).not.toContain('x@y');
  });

  it('is not ready while the database is unreachable, and stays live', async () => {
    const [port, dead] = (await freePorts(2)) as [number, number];
    const proc = startShop('api/main.ts', {
      PORT: String(port),
      DATABASE_URL: `postgres://trench:pw@127.0.0.1:${dead}/shop`,
      REDIS_URL: redis.url,
    });
    procs.push(proc);
    await waitHttp(`http://127.0.0.1:${port}/health`, proc, 503);
    const health = await getJson<{
      database: { ok: boolean; error: string };
      redis: { ok: boolean };
    }>(`http://127.0.0.1:${port}/health`);
    expect(health.body.database.ok).toBe(false);
    expect(health.body.database.error).toMatch(/ECONNREFUSED|connect/);
    expect(health.body.redis.ok).toBe(true);
    expect((await fetch(`http://127.0.0.1:${port}/livez`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('app_dependency_up{dependency="database"} 0');
    expect(metrics).toContain('app_dependency_up{dependency="redis"} 1');
    await proc.stop();
  });
});

describe('shop worker', () => {
  it('runs a job from POST /jobs on its queue and records it in PostgreSQL', async () => {
    const job = await postJob(api, {
      queue: 'emails',
      name: 'welcome',
      data: { to: 'a@example.com' },
    });
    expect(job.status).toBe(202);
    await waitJob(api, 'emails', job.body.id, 'completed');
    expect(
      await postgres.sql(
        `SELECT name || ':' || attempts FROM processed_jobs WHERE queue = 'emails' AND job_id = '${job.body.id}'`,
      ),
    ).toBe('welcome:1');
  });

  it('leaves a job on a queue it does not serve waiting, in BullMQ keys', async () => {
    const job = await postJob(api, { queue: 'invoices', name: 'later' });
    await sleep(500);
    expect((await getJson<JobView>(`${api}/jobs/invoices/${job.body.id}`)).body.state).toBe(
      'waiting',
    );
    expect((await redis.cli('LLEN', 'bull:invoices:wait')).trim()).toBe('1');
  });

  it('fails a job that throws after its attempts, and one that runs past JOB_TIMEOUT', async () => {
    const failing = await postJob(api, {
      queue: 'reports',
      name: 'fail',
      data: { message: 'boom' },
      attempts: 1,
    });
    const failed = await waitJob(api, 'reports', failing.body.id, 'failed');
    expect(failed.failedReason).toBe('boom');
    const slow = await postJob(api, {
      queue: 'reports',
      name: 'sleep',
      data: { ms: 10_000 },
      attempts: 1,
    });
    const timedOut = await waitJob(api, 'reports', slow.body.id, 'failed');
    expect(timedOut.failedReason).toBe('Job timed out after 3 s (JOB_TIMEOUT)');
    const metrics = await (await fetch(workerMetrics)).text();
    expect(metrics).toMatch(/worker_jobs_failed_total\{queue="reports"\} 2/);
    expect(metrics).toMatch(/worker_jobs_completed_total\{queue="emails"\} [1-9]/);
  });

  it('finishes its active jobs on SIGTERM before it exits 0', async () => {
    const jobs = await Promise.all(
      [1, 2].map(() => postJob(api, { queue: 'emails', name: 'sleep', data: { ms: 1_500 } })),
    );
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const text = await (await fetch(workerMetrics)).text();
      if (text.includes('worker_jobs_active{queue="emails"} 2')) break;
      await sleep(50);
    }
    await worker.stop();
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    for (const job of jobs) {
      expect(
        await postgres.sql(
          `SELECT count(*) FROM processed_jobs WHERE queue = 'emails' AND job_id = '${job.body.id}'`,
        ),
      ).toBe('1');
    }
    expect(worker.logs()).toContain('Closed shop-worker');
  });
});

describe('the stack’s alert rules and dashboard on the shop’s metrics', () => {
  let prometheus: PrometheusServer;
  const good = { namespace: 'shop', trench: 'steady' };
  const bad = { namespace: 'shop', trench: 'broken' };
  let thresholds: ThresholdServer;
  let goodApi = '';
  let badApi = '';

  beforeAll(async () => {
    const [gp, bp] = (await freePorts(2)) as [number, number];
    const env = { DATABASE_URL: postgres.url, REDIS_URL: redis.url };
    const g = startShop('api/main.ts', { ...env, PORT: String(gp) });
    // A bad release: half the requests fail and every one takes 2.2 s, above the 2 s p95.
    const b = startShop('api/main.ts', {
      ...env,
      PORT: String(bp),
      FAULT_ERROR_RATE: '0.5',
      FAULT_LATENCY_MS: '2200',
    });
    procs.push(g, b);
    goodApi = `http://127.0.0.1:${gp}`;
    badApi = `http://127.0.0.1:${bp}`;
    await Promise.all([waitHttp(`${goodApi}/health`, g), waitHttp(`${badApi}/health`, b)]);
    // The operator's threshold metrics for the two Trenches, at their defaults.
    thresholds = await serveThresholds([trenchObject(good), trenchObject(bad)]);
    prometheus = await startPrometheus(
      [
        // Each labelled as a canary track, as the stack's relabeling does from the pod labels.
        {
          job: 'steady-api',
          address: `127.0.0.1:${gp}`,
          labels: { ...good, component: 'api', track: 'canary' },
        },
        {
          job: 'broken-api',
          address: `127.0.0.1:${bp}`,
          labels: { ...bad, component: 'api', track: 'canary' },
        },
        { job: 'trench-operator', address: thresholds.address, honorLabels: true },
      ],
      { rules: toYaml({ groups: allRuleGroups() }) },
    );
    // Traffic over several scrapes, so rate() over 5m has at least two samples of each.
    const until = Date.now() + 5_000;
    const traffic: Promise<unknown>[] = [];
    while (Date.now() < until) {
      traffic.push(...Array.from({ length: 5 }, () => fetch(`${goodApi}/`)));
      traffic.push(...Array.from({ length: 5 }, () => fetch(`${badApi}/`)));
      await sleep(250);
    }
    await Promise.all(traffic);
    await sleep(2_500);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await thresholds?.close();
  });

  const rule = (alert: string, severity: Severity) =>
    trenchAlertGroup().rules.find(
      (r): r is AlertRule => 'alert' in r && r.alert === alert && r.labels.severity === severity,
    )!;
  const trenchesOf = (samples: PromSample[]) => samples.map((s) => s.metric.trench).sort();

  it('loads the one rule set without errors', async () => {
    const body = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as {
      data: {
        groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[];
      };
    };
    const rules = body.data.groups.flatMap((g) => g.rules);
    expect(rules.length).toBe(allRuleGroups().flatMap((g) => g.rules).length);
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
  });

  it('the error-rate alert holds at both levels for the broken release only', async () => {
    for (const severity of ['warning', 'critical'] as const) {
      const broken = await prometheus.query(rule('TrenchHighErrorRate', severity).expr);
      expect(trenchesOf(broken), severity).toEqual(['broken']);
      expect(broken[0]!.value).toBeGreaterThan(0.2);
      expect(broken[0]!.value).toBeLessThan(0.8);
    }
  });

  it('the p95 latency warning holds for the slow release only, under the critical 5 s', async () => {
    const slow = await prometheus.query(rule('TrenchHighLatencyP95', 'warning').expr);
    expect(trenchesOf(slow)).toEqual(['broken']);
    expect(slow[0]!.value).toBeGreaterThan(2);
    expect(await prometheus.query(rule('TrenchHighLatencyP95', 'critical').expr)).toEqual([]);
  });

  it('the database alert holds for neither: both APIs reach PostgreSQL', async () => {
    await Promise.all([fetch(`${goodApi}/health`), fetch(`${badApi}/health`)]);
    for (const severity of ['warning', 'critical'] as const) {
      expect(await prometheus.query(rule('TrenchDatabaseUnreachable', severity).expr)).toEqual([]);
    }
  });

  it('answers every dashboard panel with the shop’s series where the API provides them', async () => {
    const panels = (trenchDashboard().panels ?? []) as {
      title: string;
      targets: { expr: string }[];
    }[];
    // Grafana's variables, as the dashboard's variable queries would fill them.
    const names = await prometheus.query('trench_monitoring_enabled');
    expect(trenchesOf(names)).toEqual(['broken', 'steady']);
    const exprFor = (title: string, t: typeof good) =>
      panels
        .find((p) => p.title === title)!
        .targets[0]!.expr.replaceAll('$namespace', t.namespace)
        .replaceAll('$trench', t.trench);
    const answers = new Map<string, PromSample[]>();
    for (const panel of panels)
      answers.set(panel.title, await prometheus.query(exprFor(panel.title, good)));
    expect(answers.get('Requests per second')?.map((s) => s.metric.code)).toEqual(['200']);
    // A healthy API shows 0 %, not "No data".
    expect(answers.get('Error rate (5xx)')?.map((s) => s.value)).toEqual([0]);
    expect(answers.get('Latency p95')).toHaveLength(1);
    expect(answers.get('Latency p95')![0]!.value).toBeLessThan(0.5);
    // Operator series (backlog, backup age) and kube-state-metrics are not scraped here.
    expect(answers.get('Queue backlog')).toEqual([]);
    const codes = await prometheus.query(exprFor('Requests per second', bad));
    expect(codes.map((c) => c.metric.code).sort()).toEqual(['200', '500']);
  });

  it('judges a canary by the default analysis: the broken release fails, the steady one passes, and no data or no Prometheus is inconclusive', async () => {
    const checks = defaultChecks({ errorRate: 0.05, p95LatencySeconds: 2 }, false);
    const ctx = (t: typeof good) => ({ ...t, track: 'canary' as const, revision: 'r2' });
    const broken = await measure(prometheus.url, checks, ctx(bad));
    expect(broken.verdict).toBe('fail');
    expect(broken.checks.map((c) => c.verdict)).toEqual(['fail', 'fail']);
    expect(broken.checks[0]!.value).toBeGreaterThan(0.2);
    expect(broken.checks[1]!.value).toBeGreaterThan(2);
    expect(broken.detail).toMatch(
      /^canary-error-rate 0\.\d+ > 0\.0500; canary-p95-latency [\d.]+ > 2$/,
    );
    const steady = await measure(prometheus.url, checks, ctx(good));
    expect(steady.verdict).toBe('pass');
    expect(steady.checks[0]!.value).toBe(0);
    // A canary Prometheus has no series of yet: no data, not a pass.
    const unseen = await measure(prometheus.url, checks, { ...ctx(good), trench: 'nothing-yet' });
    expect(unseen).toMatchObject({ verdict: 'inconclusive' });
    expect(unseen.detail).toContain('canary-error-rate: no data');
    // Prometheus gone: inconclusive too, naming it, never a failure.
    const [closed] = (await freePorts(1)) as [number];
    const away = await measure(`http://127.0.0.1:${closed}`, checks, ctx(bad));
    expect(away.verdict).toBe('inconclusive');
    expect(away.detail).toContain(
      `Prometheus http://127.0.0.1:${closed} not reachable: connect ECONNREFUSED`,
    );
  });
});
