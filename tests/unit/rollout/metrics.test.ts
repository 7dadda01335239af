import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { Trench } from '../../../charts/api/trench.js';
import { registerRolloutMetrics } from '../../../operator/rollout/metrics.js';
import type { KubeObject } from '../../../operator/runtime/types.js';

const trench = (name: string, rollout: NonNullable<Trench['status']>['rollout']) =>
  ({
    metadata: { name, namespace: 'prod' },
    spec: {},
    status: { rollout },
  }) as unknown as Trench & KubeObject;

describe('rollout metrics', () => {
  it('export each Trench rollout from status at scrape time', async () => {
    let list = [
      trench('shop', {
        phase: 'Paused',
        stepIndex: 2,
        achievedWeight: 33.3,
        consecutiveFailures: 1,
        measurements: [
          {
            time: '2026-12-07T10:00:00Z',
            verdict: 'inconclusive',
            detail: 'canary-p95-latency: no data',
            values: [
              { name: 'canary-error-rate', value: 0.02, verdict: 'pass' },
              { name: 'canary-p95-latency', verdict: 'inconclusive' },
            ],
          },
        ],
      }),
      trench('blog', { phase: 'Stable', stableRevision: 'abc' }),
      trench('cart', { phase: 'Aborted', reason: 'MigrationFailed', stableRevision: 'abc' }),
      trench('feed', { phase: 'Aborted', reason: 'AnalysisFailed', stableRevision: 'abc' }),
    ];
    const registry = new Registry();
    registerRolloutMetrics(registry, () => list);
    const text = await registry.metrics();
    expect(text).toContain('trench_rollout_phase{namespace="prod",trench="shop",phase="Paused"} 1');
    expect(text).toContain(
      'trench_rollout_phase{namespace="prod",trench="shop",phase="Aborted"} 0',
    );
    expect(text).toContain('trench_rollout_phase{namespace="prod",trench="blog",phase="Stable"} 1');
    expect(text).toContain('trench_rollout_step{namespace="prod",trench="shop"} 2');
    // Only an abort for a failed migration Job says the database may be half migrated.
    expect(text).toContain('trench_rollout_migration_failed{namespace="prod",trench="cart"} 1');
    expect(text).toContain('trench_rollout_migration_failed{namespace="prod",trench="feed"} 0');
    expect(text).toContain('trench_rollout_migration_failed{namespace="prod",trench="shop"} 0');
    expect(text).toContain('trench_rollout_weight{namespace="prod",trench="shop"} 33.3');
    expect(text).toContain('trench_rollout_weight{namespace="prod",trench="blog"} 0');
    expect(text).toContain(
      'trench_rollout_analysis_failures_in_a_row{namespace="prod",trench="shop"} 1',
    );
    expect(text).toContain(
      'trench_rollout_analysis_verdict{namespace="prod",trench="shop",verdict="inconclusive"} 1',
    );
    expect(text).toContain(
      'trench_rollout_analysis_value{namespace="prod",trench="shop",check="canary-error-rate"} 0.02',
    );
    // A check with no value has no series, rather than a made-up 0.
    expect(text).not.toContain('check="canary-p95-latency"');
    // Nothing is kept between scrapes: a Trench gone from the cache is gone from the metrics.
    list = [];
    expect(await registry.metrics()).not.toContain('trench="shop"');
  });
});
