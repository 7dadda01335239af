import { Queue, Worker } from 'bullmq5';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Trench } from '../../../charts/api/trench.js';
import { allRuleGroups } from '../../../charts/lib/alerts.js';
import { toYaml } from '../../../charts/lib/yaml.js';
import { KubeClient } from '../../../operator/runtime/client.js';
import type { KubeObject } from '../../../operator/runtime/types.js';
import { mustKubectl, testCluster, useNamespace, waitFor } from '../support/cluster.js';
import {
  installCrdsAndRbac,
  metricValue,
  type RunningOperator,
  startOperator,
} from '../support/operator.js';
import {
  type RedisServer,
  startIdleShopWorker,
  startPrometheus,
  startRedis,
} from '../support/services.js';

const ns = useNamespace('scaling');
let operator: RunningOperator | undefined;
let redis: RedisServer;
const queues: Queue[] = [];

type LiveTrench = Trench & KubeObject & { metadata: { name: string; generation: number } };
const client = () => new KubeClient(testCluster().kc);
const trenchRef = (name: string) => ({
  apiVersion: 'playtrenches.xyz/v1alpha1',
  kind: 'Trench',
  namespace: ns.name,
  name,
});
const getTrench = (name: string) => client().get<LiveTrench>(trenchRef(name));
const scalingCondition = (t: LiveTrench | undefined) =>
  t?.status?.conditions?.find((c) => c.type === 'ScalingActive');

async function replicas(name: string): Promise<number | undefined> {
  const d = await client().get<KubeObject & { spec?: { replicas?: number } }>({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    namespace: ns.name,
    name: `${name}-worker`,
  });
  return d?.spec?.replicas;
}

const waitReplicas = (name: string, want: number, timeoutMs = 30_000) =>
  waitFor(async () => ((await replicas(name)) === want ? true : undefined), {
    what: `${name}-worker at ${want} replicas`,
    timeoutMs,
  });

async function redisSecret(name: string, url: string) {
  await mustKubectl(['delete', 'secret', name, '-n', ns.name, '--ignore-not-found']);
  await mustKubectl([
    'create',
    'secret',
    'generic',
    name,
    '-n',
    ns.name,
    `--from-literal=url=${url}`,
  ]);
}

async function createTrench(name: string, secret: string, scaling: Record<string, number>) {
  await client().create({
    ...trenchRef(name),
    metadata: { name, namespace: ns.name },
    spec: {
      api: { image: 'registry.example/api:1.0.0', replicas: 1 },
      worker: {
        image: 'registry.example/worker:1.0.0',
        queues: [`${name}-emails`, `${name}-reports`],
        concurrency: 2,
        scaling,
      },
      redis: { external: { urlSecretRef: { name: secret, key: 'url' } } },
    },
  } as KubeObject);
}

async function eventReasons(name: string): Promise<string[]> {
  const list = await client().list<KubeObject & Record<string, unknown>>(
    'events.k8s.io/v1',
    'Event',
    {
      namespace: ns.name,
    },
  );
  return list.items
    .filter((e) => (e.regarding as { name?: string }).name === name)
    .map((e) => e.reason as string);
}

const queue = (name: string) => {
  const q = new Queue(name, {
    connection: { host: '127.0.0.1', port: redis.port, password: redis.password },
  });
  queues.push(q);
  return q;
};

beforeAll(async () => {
  redis = await startRedis();
  await installCrdsAndRbac();
  operator = await startOperator({
    TRENCH_WATCH_NAMESPACE: ns.name,
    TRENCH_LEADER_ELECTION: 'false',
  });
});

afterAll(async () => {
  await Promise.all(queues.map((q) => q.close().catch(() => undefined)));
  await operator?.stop();
  await redis?.stop();
  expect(operator?.logs() ?? '').not.toMatch(/\b403\b|forbidden: User/);
});

describe('workers scaled from the BullMQ backlog', () => {
  // A poll interval far above the waits below: what scales within them was woken by BullMQ's
  // events stream, not by the safety-net poll.
  const scaling = {
    minReplicas: 0,
    maxReplicas: 6,
    targetBacklogPerReplica: 10,
    pollIntervalSeconds: 120,
    scaleDownStabilizationSeconds: 4,
  };

  it('starts at zero and says which queues nothing has used yet', async () => {
    await redisSecret('shop-redis', redis.url);
    await createTrench('shop', 'shop-redis', scaling);
    await waitReplicas('shop', 0);
    const t = await waitFor(
      async () => {
        const live = await getTrench('shop');
        return scalingCondition(live)?.reason === 'QueueMissing' ? live : undefined;
      },
      { what: 'ScalingActive QueueMissing', timeoutMs: 30_000 },
    );
    expect(scalingCondition(t)).toMatchObject({ status: 'False', reason: 'QueueMissing' });
    expect(scalingCondition(t)?.message).toContain('shop-emails, shop-reports');
    // One warning for the transition, however many checks ran before the cache caught up.
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await eventReasons('shop')).filter((r) => r === 'QueueMissing')).toHaveLength(1);
  });

  it('wakes on enqueued jobs and scales up at once, counting every kind of waiting job', async () => {
    const emails = queue('shop-emails');
    const reports = queue('shop-reports');
    await emails.addBulk(Array.from({ length: 18 }, (_, i) => ({ name: 'send', data: { i } })));
    await reports.add('urgent', {}, { priority: 1 });
    await reports.add('due', {}, { delay: 1 });
    await reports.add('later', {}, { delay: 3_600_000 });
    // 18 + 1 prioritized + 1 delayed and due = 20 waiting over 10 per replica: 2.
    await waitReplicas('shop', 2);
    const t = await waitFor(
      async () => {
        const live = await getTrench('shop');
        return live?.status?.worker?.backlog === 20 &&
          scalingCondition(live)?.reason === 'BacklogCounted'
          ? live
          : undefined;
      },
      { what: 'status.worker with the backlog of 20', timeoutMs: 30_000 },
    );
    expect(t.status?.worker).toMatchObject({ backlog: 20, active: 0, desiredReplicas: 2 });
    expect(t.status?.worker?.queues).toEqual([
      { name: 'shop-emails', waiting: 18, active: 0, exists: true },
      { name: 'shop-reports', waiting: 2, active: 0, exists: true },
    ]);
    expect(scalingCondition(t)?.status).toBe('True');
    const metrics = await operator!.metrics();
    expect(
      metricValue(
        metrics,
        'trench_worker_backlog',
        `namespace="${ns.name}",trench="shop",queue="shop-emails"`,
      ),
    ).toBe(18);
    expect(
      metricValue(
        metrics,
        'trench_worker_desired_replicas',
        `namespace="${ns.name}",trench="shop"`,
      ),
    ).toBe(2);
    expect(await eventReasons('shop')).toContain('ScaledUp');
  });

  it('counts a paused queue’s jobs and the sample worker’s running jobs into the replicas', async () => {
    await createTrench('busy', 'shop-redis', scaling);
    await waitReplicas('busy', 0);
    const q = queue('busy-emails');
    await q.pause();
    await q.addBulk(Array.from({ length: 25 }, () => ({ name: 'sleep', data: { ms: 120_000 } })));
    // BullMQ 5 keeps a paused queue's jobs in `paused`: still 25 waiting, 3 replicas.
    await waitReplicas('busy', 3);
    // The status is written right after the scale, in the same check.
    const paused = await waitFor(
      async () => {
        const q0 = (await getTrench('busy'))?.status?.worker?.queues?.[0];
        return q0?.paused ? q0 : undefined;
      },
      { what: 'busy-emails reported paused', timeoutMs: 10_000 },
    );
    expect(paused).toMatchObject({ name: 'busy-emails', waiting: 25, paused: true });
    // The sample worker takes 10 at once: 15 waiting (2 replicas) but 10 running at the Trench's
    // concurrency of 2 need 5, and running jobs keep their workers.
    const worker = startIdleShopWorker(redis.url, 'busy-emails', 10);
    try {
      await q.resume();
      await waitReplicas('busy', 5);
      const t = await getTrench('busy');
      expect(t?.status?.worker).toMatchObject({ active: 10, backlog: 15, desiredReplicas: 5 });
    } finally {
      process.kill(worker.pid, 'SIGKILL');
      await worker.exited;
      await q.obliterate({ force: true });
      await client().delete(trenchRef('busy'));
    }
  });

  it('puts a kubectl scale back to its decision', async () => {
    await mustKubectl(['scale', 'deployment', 'shop-worker', '-n', ns.name, '--replicas=5']);
    await waitReplicas('shop', 2);
  });

  it('scales up to max and back down only after the stabilization window', async () => {
    const emails = queue('shop-emails');
    await emails.addBulk(Array.from({ length: 200 }, (_, i) => ({ name: 'bulk', data: { i } })));
    await waitReplicas('shop', 6);
    await queue('shop-reports').drain(true);
    // Workers run the jobs: their completions on the events stream wake the scaler.
    const worker = new Worker('shop-emails', async () => undefined, {
      connection: { host: '127.0.0.1', port: redis.port, password: redis.password },
      concurrency: 50,
    });
    await waitFor(
      async () =>
        (await emails.getWaitingCount()) === 0 && (await emails.getActiveCount()) === 0
          ? true
          : undefined,
      {
        what: 'the workers to run every job',
        timeoutMs: 30_000,
      },
    );
    await worker.close();
    // Held for the window (4 s) after the last recommendation of 6 ...
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await replicas('shop')).toBe(6);
    // ... then to zero: nothing waits or runs.
    await waitReplicas('shop', 0, 30_000);
  });

  it('fires TrenchQueueBacklogHigh in a real Prometheus scraping the operator, and resolves it', async () => {
    // The stack's own rules, only the backlog alert's `for:` shortened (10m and 5m). The
    // thresholds come from this Trench's spec, through the operator's metrics.
    await mustKubectl([
      'patch',
      'trench',
      'shop',
      '-n',
      ns.name,
      '--type=merge',
      '-p',
      JSON.stringify({
        spec: { monitoring: { alerts: { queueBacklog: 140, queueBacklogWarning: 100 } } },
      }),
    ]);
    const groups = allRuleGroups()
      .filter((g) => g.name !== 'trench-operator')
      .map((g) => ({
        ...g,
        rules: g.rules
          .filter((r) => !('alert' in r) || r.alert === 'TrenchQueueBacklogHigh')
          .map((r) => ('alert' in r ? { ...r, for: '0s' } : r)),
      }));
    const prometheus = await startPrometheus(
      [{ job: 'trench-operator', address: `127.0.0.1:${operator!.port}`, honorLabels: true }],
      { rules: toYaml({ groups }) },
    );
    try {
      const firing = async () => {
        const res = (await (await fetch(`${prometheus.url}/api/v1/alerts`)).json()) as {
          data: { alerts: { labels: Record<string, string>; state: string }[] };
        };
        return res.data.alerts.filter(
          (a) => a.labels.alertname === 'TrenchQueueBacklogHigh' && a.state === 'firing',
        );
      };
      expect(await firing()).toEqual([]);
      const emails = queue('shop-emails');
      await emails.addBulk(Array.from({ length: 150 }, (_, i) => ({ name: 'bulk', data: { i } })));
      const alerts = await waitFor(
        async () => ((await firing()).length > 0 ? firing() : undefined),
        {
          what: 'TrenchQueueBacklogHigh to fire',
          timeoutMs: 30_000,
        },
      );
      // 150 jobs in one queue: above both levels the Trench set.
      const both = await waitFor(
        async () => {
          const now = await firing();
          return now.length === 2 ? now : undefined;
        },
        { what: 'both levels of TrenchQueueBacklogHigh to fire', timeoutMs: 30_000 },
      );
      expect(alerts[0]!.labels).toMatchObject({ namespace: ns.name, trench: 'shop' });
      expect(both.map((a) => `${a.labels.severity} ${a.labels.queue}`).sort()).toEqual([
        'critical shop-emails',
        'warning shop-emails',
      ]);
      const worker = new Worker('shop-emails', async () => undefined, {
        connection: { host: '127.0.0.1', port: redis.port, password: redis.password },
        concurrency: 50,
      });
      try {
        await waitFor(async () => ((await firing()).length === 0 ? true : undefined), {
          what: 'TrenchQueueBacklogHigh to resolve once the backlog is worked off',
          timeoutMs: 30_000,
        });
      } finally {
        await worker.close();
      }
    } finally {
      await prometheus.stop();
    }
    await waitReplicas('shop', 0);
  });

  it('holds the replicas while Redis is down, with one warning, and resumes when it is back', async () => {
    await queue('shop-emails').addBulk(
      Array.from({ length: 30 }, () => ({ name: 'send', data: {} })),
    );
    await waitReplicas('shop', 3);
    const port = redis.port;
    await Promise.all(queues.splice(0).map((q) => q.close().catch(() => undefined)));
    await redis.stop();
    // Nudge checks: a kubectl scale is an event the scaler answers with a check.
    await mustKubectl(['scale', 'deployment', 'shop-worker', '-n', ns.name, '--replicas=4']);
    const down = await waitFor(
      async () => {
        const live = await getTrench('shop');
        return scalingCondition(live)?.reason === 'RedisUnreachable' ? live : undefined;
      },
      { what: 'ScalingActive RedisUnreachable', timeoutMs: 30_000 },
    );
    expect(scalingCondition(down)?.status).toBe('False');
    expect(scalingCondition(down)?.message).toContain(`127.0.0.1:${port}`);
    for (let i = 0; i < 3; i++) {
      await mustKubectl([
        'annotate',
        'deployment',
        'shop-worker',
        '-n',
        ns.name,
        `nudge=${i}`,
        '--overwrite',
      ]);
      await new Promise((r) => setTimeout(r, 700));
    }
    // Held where it was, not scaled to min, and one warning for the whole outage.
    expect(await replicas('shop')).toBe(4);
    expect((await eventReasons('shop')).filter((r) => r === 'RedisUnreachable')).toHaveLength(1);

    redis = await startRedis(redis.password, port);
    // The jobs died with the server (no persistence): the backlog is 0, so back down to 0 after the window.
    await mustKubectl([
      'annotate',
      'deployment',
      'shop-worker',
      '-n',
      ns.name,
      'nudge=back',
      '--overwrite',
    ]);
    await waitFor(
      async () => {
        const live = await getTrench('shop');
        const c = scalingCondition(live);
        return c?.status === 'False' && c.reason === 'QueueMissing' ? true : undefined;
      },
      { what: 'scaling to resume', timeoutMs: 30_000 },
    );
    expect(await eventReasons('shop')).toContain('QueueMissing');
  });

  it('reports a wrong password without touching the replicas', async () => {
    await redisSecret('bad-redis', `redis://:wrong-password@127.0.0.1:${redis.port}`);
    await createTrench('bad', 'bad-redis', { ...scaling, minReplicas: 1 });
    const t = await waitFor(
      async () => {
        const live = await getTrench('bad');
        return scalingCondition(live)?.reason === 'RedisUnreachable' ? live : undefined;
      },
      { what: 'ScalingActive RedisUnreachable for a wrong password', timeoutMs: 30_000 },
    );
    expect(scalingCondition(t)?.message).toMatch(/WRONGPASS|invalid username-password/);
    expect(await replicas('bad')).toBe(1);
  });

  it('keeps the stabilization window across an operator restart', async () => {
    await createTrench('held', 'shop-redis', { ...scaling, scaleDownStabilizationSeconds: 25 });
    await waitReplicas('held', 0);
    const emails = queue('held-emails');
    await emails.addBulk(Array.from({ length: 30 }, () => ({ name: 'send', data: {} })));
    await waitReplicas('held', 3);
    const worker = new Worker('held-emails', async () => undefined, {
      connection: { host: '127.0.0.1', port: redis.port, password: redis.password },
      concurrency: 30,
    });
    // Worked off: 0 recommended now, the workers held by the window, which status records.
    // (While the jobs ran, the active-jobs floor may have raised them further.)
    const held = await waitFor(
      async () => {
        const w = (await getTrench('held'))?.status?.worker;
        const window = w?.recommendations ?? [];
        return w?.backlog === 0 &&
          w.active === 0 &&
          window.length > 1 &&
          window.at(-1)?.replicas === 0 &&
          (w.desiredReplicas ?? 0) > 0
          ? w.desiredReplicas!
          : undefined;
      },
      { what: 'a held window ending in 0 in status', timeoutMs: 30_000 },
    );
    await worker.close();
    await operator!.stop();
    operator = await startOperator({
      TRENCH_WATCH_NAMESPACE: ns.name,
      TRENCH_LEADER_ELECTION: 'false',
    });
    // The new process has checked (its metric is set) and still holds: it read the window.
    await waitFor(
      async () =>
        metricValue(
          await operator!.metrics(),
          'trench_worker_desired_replicas',
          `namespace="${ns.name}",trench="held"`,
        ) === held
          ? true
          : undefined,
      { what: 'the restarted operator to check held', timeoutMs: 30_000 },
    );
    expect(await replicas('held')).toBe(held);
    // And lets go once the window has passed.
    await waitReplicas('held', 0, 40_000);
  });

  it('ends a deleted Trench’s loop and its series', async () => {
    expect(await operator!.metrics()).toContain('trench="shop"');
    await client().delete(trenchRef('shop'));
    await waitFor(
      async () => {
        const m = await operator!.metrics();
        return m.includes('trench="shop"') ? undefined : true;
      },
      { what: 'the deleted Trench’s series to go', timeoutMs: 30_000 },
    );
  });
});
