import { describe, expect, it } from 'vitest';
import type { QueueCounts } from '../../../operator/scaling/backlog.js';
import { decideReplicas } from '../../../operator/scaling/decision.js';
import { sameWindowValues, verdictOf, workerFields } from '../../../operator/scaling/status.js';
import { redisUrlOf, scalingTargetOf } from '../../../operator/scaling/target.js';

const trench = (spec: Record<string, unknown>, status?: Record<string, unknown>) =>
  ({
    metadata: { name: 'shop', namespace: 'prod' },
    spec: {
      api: { image: 'a' },
      worker: { image: 'w', queues: ['emails', 'emails', 'reports'], ...spec },
    },
    ...(status ? { status } : {}),
  }) as unknown as Parameters<typeof scalingTargetOf>[0];

const counts = (q: string, over: Partial<QueueCounts> = {}): QueueCounts => ({
  prefix: 'bull',
  queue: q,
  exists: true,
  paused: false,
  wait: 0,
  prioritized: 0,
  pausedJobs: 0,
  delayedDue: 0,
  active: 0,
  ...over,
});

describe('scalingTargetOf', () => {
  it('takes the defaults of the CRD and the managed Redis of the Trench', () => {
    expect(scalingTargetOf(trench({}))).toMatchObject({
      queues: ['emails', 'reports'],
      prefix: 'bull',
      concurrency: 5,
      minReplicas: 1,
      maxReplicas: 10,
      targetBacklogPerReplica: 100,
      pollIntervalMs: 5_000,
      scaleDownStabilizationSeconds: 300,
      redis: {
        kind: 'managed',
        host: 'shop-redis.prod.svc',
        secret: 'shop-redis',
        key: 'password',
      },
    });
  });

  it('reads an external Redis from the Secret the spec names, and the window left in status', () => {
    const t = trench(
      { scaling: { minReplicas: 0, maxReplicas: 3 } },
      {
        worker: {
          recommendations: [
            { time: '2026-12-03T10:00:00Z', replicas: 3 },
            { time: 'bad', replicas: 1 },
          ],
        },
      },
    );
    (t.spec as Record<string, unknown>).redis = {
      external: { urlSecretRef: { name: 'r', key: 'url' } },
    };
    expect(scalingTargetOf(t)).toMatchObject({
      minReplicas: 0,
      maxReplicas: 3,
      redis: { kind: 'external', secret: 'r', key: 'url' },
      recommendations: [{ at: Date.parse('2026-12-03T10:00:00Z'), replicas: 3 }],
    });
  });

  it('takes the BullMQ prefix the spec names', () => {
    expect(scalingTargetOf(trench({ prefix: 'shop' }))?.prefix).toBe('shop');
  });

  it('builds the managed URL with the password escaped, and keeps an external one as given', () => {
    const managed = scalingTargetOf(trench({}))!.redis;
    expect(redisUrlOf(managed, 'p@ss/word')).toBe(
      'redis://:p%40ss%2Fword@shop-redis.prod.svc:6379',
    );
    expect(
      redisUrlOf({ kind: 'external', secret: 'r', key: 'url' }, ' rediss://u:p@h:6380/2\n'),
    ).toBe('rediss://u:p@h:6380/2');
  });
});

describe('the scaler’s status', () => {
  it('is QueueMissing (False) while a queue was never used, BacklogCounted otherwise', () => {
    expect(verdictOf([counts('emails'), counts('reports', { exists: false })])).toEqual({
      active: false,
      reason: 'QueueMissing',
      message: 'No job was ever added to reports: counted as empty',
    });
    expect(verdictOf([counts('emails', { wait: 4, delayedDue: 1 })])).toEqual({
      active: true,
      reason: 'BacklogCounted',
      message: '5 jobs waiting in 1 queues',
    });
  });

  it('keeps the window’s written times while its values hold, so a steady backlog writes nothing', () => {
    const now = Date.parse('2026-12-03T10:00:00Z');
    const input = {
      backlog: 250,
      active: 0,
      concurrency: 5,
      targetBacklogPerReplica: 100,
      minReplicas: 1,
      maxReplicas: 10,
      scaleDownStabilizationSeconds: 300,
      currentReplicas: 3,
    };
    const first = decideReplicas(input, [], now);
    const c = [counts('emails', { wait: 250 })];
    const written = workerFields({ previous: undefined, counts: c, decision: first });
    const later = decideReplicas(input, first.history, now + 5_000);
    const again = workerFields({ previous: written, counts: c, decision: later });
    expect(again).toEqual(written);
    expect(again.recommendations).toEqual([{ time: '2026-12-03T10:00:00Z', replicas: 3 }]);
    // A new value is written with its time.
    const lower = decideReplicas({ ...input, backlog: 50 }, later.history, now + 10_000);
    const moved = workerFields({
      previous: again,
      counts: [counts('emails', { wait: 50 })],
      decision: lower,
    });
    expect(moved.recommendations?.map((r) => r.replicas)).toEqual([3, 1]);
    expect(sameWindowValues(again.recommendations, moved.recommendations)).toBe(false);
  });

  it('reports each queue with its waiting and active jobs, and the time of a scale', () => {
    const now = Date.parse('2026-12-03T10:00:00Z');
    const decision = decideReplicas(
      {
        backlog: 7,
        active: 2,
        concurrency: 5,
        targetBacklogPerReplica: 10,
        minReplicas: 0,
        maxReplicas: 4,
        scaleDownStabilizationSeconds: 0,
        currentReplicas: 0,
      },
      [],
      now,
    );
    expect(
      workerFields({
        previous: { replicas: 0 },
        counts: [
          counts('emails', { wait: 5, prioritized: 2, active: 2, paused: true }),
          counts('reports', { exists: false }),
        ],
        decision,
        scaledAt: now,
      }),
    ).toEqual({
      replicas: 0,
      backlog: 7,
      active: 2,
      desiredReplicas: 1,
      queues: [
        { name: 'emails', waiting: 7, active: 2, exists: true, paused: true },
        { name: 'reports', waiting: 0, active: 0, exists: false },
      ],
      recommendations: [{ time: '2026-12-03T10:00:00Z', replicas: 1 }],
      lastScaleTime: '2026-12-03T10:00:00Z',
    });
  });
});
