// Each monitored Trench's alert thresholds as metrics, read from the Trench cache at scrape
// time: the generic rules of charts/lib/alerts.ts join them, so a Trench created by hand is
// alerted on from the next scrape. Computed on collect, so nothing is stored, nothing goes
// stale when a Trench is deleted, and nothing is written to the API server.
import { Value } from '@sinclair/typebox/value';
import { Gauge, type Registry } from 'prom-client';
import {
  BackupSpecSchema,
  type MonitoringSpec,
  MonitoringSpecSchema,
  type Trench,
} from '../../charts/api/trench.js';
import { alertThresholds, type ThresholdSample } from '../../charts/lib/alerts.js';
import { ALERT_THRESHOLD, MONITORED, TRENCH_CREATED } from '../../charts/lib/metrics.js';
import type { KubeObject } from '../runtime/types.js';

export interface TrenchThresholds {
  readonly namespace: string;
  readonly trench: string;
  readonly samples: readonly ThresholdSample[];
}

/**
 * The thresholds of one Trench, or undefined when its monitoring is disabled. Defaults are
 * applied again: a Trench stored before a field existed has none until it is next written.
 * A backup schedule the alert cannot read leaves out the backup threshold, not the Trench.
 */
export function thresholdsOf(trench: Trench & KubeObject): TrenchThresholds | undefined {
  const spec = trench.spec as Partial<Trench['spec']> | undefined;
  const monitoring = Value.Default(
    MonitoringSpecSchema,
    structuredClone(spec?.monitoring ?? {}),
  ) as MonitoringSpec;
  if (!monitoring.enabled) return undefined;
  const backup = Value.Default(BackupSpecSchema, structuredClone(spec?.backup ?? {})) as {
    schedule: string;
    suspend: boolean;
  };
  let samples: ThresholdSample[];
  try {
    samples = alertThresholds(monitoring.alerts, backup.suspend ? undefined : backup.schedule);
  } catch {
    samples = alertThresholds(monitoring.alerts, undefined);
  }
  return {
    namespace: trench.metadata.namespace ?? '',
    trench: trench.metadata.name ?? '',
    samples,
  };
}

/** Registers the three gauges; `trenches` is read on every scrape. */
export function registerThresholdMetrics(
  registry: Registry,
  trenches: () => readonly (Trench & KubeObject)[],
): void {
  const created = new Gauge({
    name: TRENCH_CREATED,
    help: 'Unix time a monitored Trench was created: TrenchBackupTooOld for a Trench that never had a backup.',
    labelNames: ['namespace', 'trench'],
    // Only in `registry` (below), not also in prom-client's global one.
    registers: [],
  });
  const threshold = new Gauge({
    name: ALERT_THRESHOLD,
    help: 'An alert threshold of a monitored Trench, from spec.monitoring.alerts and spec.backup.schedule.',
    labelNames: ['namespace', 'trench', 'alert', 'severity'],
    registers: [],
  });
  // The registry collects in registration order: the first gauge fills both, so the two are
  // always from the same read of the cache.
  new Gauge({
    name: MONITORED,
    help: 'One for each Trench with monitoring enabled; the generic alert rules join it.',
    labelNames: ['namespace', 'trench'],
    registers: [registry],
    collect() {
      this.reset();
      threshold.reset();
      created.reset();
      for (const t of trenches()) {
        if (t.metadata.deletionTimestamp) continue;
        const th = thresholdsOf(t);
        if (!th) continue;
        this.set({ namespace: th.namespace, trench: th.trench }, 1);
        const since = Date.parse(t.metadata.creationTimestamp ?? '');
        if (!Number.isNaN(since)) {
          created.set({ namespace: th.namespace, trench: th.trench }, since / 1000);
        }
        for (const s of th.samples) {
          threshold.set(
            { namespace: th.namespace, trench: th.trench, alert: s.alert, severity: s.severity },
            s.value,
          );
        }
      }
    },
  });
  registry.registerMetric(threshold);
  registry.registerMetric(created);
}
