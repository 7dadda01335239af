import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { Trench } from '../../../charts/api/trench.js';
import { registerThresholdMetrics, thresholdsOf } from '../../../operator/monitoring/thresholds.js';
import type { KubeObject } from '../../../operator/runtime/types.js';

const trench = (name: string, spec: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  ({
    apiVersion: 'playtrenches.xyz/v1alpha1',
    kind: 'Trench',
    metadata: { name, namespace: 'shop', ...extra },
    spec: { api: { image: 'a' }, worker: { image: 'w', queues: ['q'] }, ...spec },
  }) as unknown as Trench & KubeObject;

describe('thresholdsOf', () => {
  it('exports the defaults of a Trench stored before the fields existed', () => {
    const t = thresholdsOf(trench('web', {}))!;
    const get = (alert: string, severity: string) =>
      t.samples.find((s) => s.alert === alert && s.severity === severity)?.value;
    expect(get('errorRate', 'warning')).toBe(0.01);
    expect(get('errorRate', 'critical')).toBe(0.05);
    expect(get('p95LatencySeconds', 'warning')).toBe(2);
    expect(get('p95LatencySeconds', 'critical')).toBe(5);
    expect(get('queueBacklog', 'warning')).toBe(500);
    expect(get('queueBacklog', 'critical')).toBe(1000);
    expect(get('resourceUsage', 'warning')).toBe(0.8);
    // Daily at 03:00: one missed slot plus an hour warns, two page.
    expect(get('backupAgeSeconds', 'warning')).toBe(86400 + 3600);
    expect(get('backupAgeSeconds', 'critical')).toBe(2 * 86400 + 3600);
  });

  it('follows the spec, drops the backup limit when suspended, and nothing when disabled', () => {
    const t = thresholdsOf(
      trench('web', {
        monitoring: { alerts: { errorRate: 0.2, errorRateWarning: 0.1 } },
        backup: { suspend: true },
      }),
    )!;
    expect(t.samples.filter((s) => s.alert === 'errorRate').map((s) => s.value)).toEqual([
      0.1, 0.2,
    ]);
    expect(t.samples.map((s) => s.alert)).not.toContain('backupAgeSeconds');
    expect(thresholdsOf(trench('off', { monitoring: { enabled: false } }))).toBeUndefined();
  });
});

describe('registerThresholdMetrics', () => {
  it('reads the cache at each scrape: a new Trench appears, a deleted one goes', async () => {
    const registry = new Registry();
    let cache = [trench('web', {})];
    registerThresholdMetrics(registry, () => cache);
    let text = await registry.metrics();
    expect(text).toContain('trench_monitoring_enabled{namespace="shop",trench="web"} 1');
    expect(text).toContain(
      'trench_alert_threshold{namespace="shop",trench="web",alert="errorRate",severity="critical"} 0.05',
    );
    cache = [
      trench('made-by-hand', {
        monitoring: { alerts: { queueBacklog: 50, queueBacklogWarning: 5 } },
      }),
      trench('off', { monitoring: { enabled: false } }),
      trench('leaving', {}, { deletionTimestamp: '2026-12-03T00:00:00Z' }),
    ];
    text = await registry.metrics();
    expect(text).not.toContain('trench="web"');
    expect(text).not.toContain('trench="off"');
    expect(text).not.toContain('trench="leaving"');
    expect(text).toContain(
      'trench_alert_threshold{namespace="shop",trench="made-by-hand",alert="queueBacklog",severity="warning"} 5',
    );
  });

  it("exports each monitored Trench's creation time, for a Trench that never had a backup", async () => {
    const registry = new Registry();
    registerThresholdMetrics(registry, () => [
      trench('web', {}, { creationTimestamp: '2026-12-04T03:00:00Z' }),
      trench(
        'off',
        { monitoring: { enabled: false } },
        { creationTimestamp: '2026-12-04T03:00:00Z' },
      ),
    ]);
    const text = await registry.metrics();
    expect(text).toContain(
      `trench_created_timestamp_seconds{namespace="shop",trench="web"} ${Date.parse('2026-12-04T03:00:00Z') / 1000}`,
    );
    expect(text).not.toContain('trench_created_timestamp_seconds{namespace="shop",trench="off"}');
  });
});
