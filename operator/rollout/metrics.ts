// Each Trench's rollout as metrics, read from the Trench cache at scrape time like the alert
// thresholds (monitoring/thresholds.ts): status.rollout is the state, so the metrics can never
// disagree with it, and a restarted operator exports the same values at once.
import { Gauge, type Registry } from 'prom-client';
import type { Trench } from '../../charts/api/trench.js';
import {
  ROLLOUT_ANALYSIS_VALUE,
  ROLLOUT_FAILURES,
  ROLLOUT_MIGRATION_FAILED,
  ROLLOUT_PHASE,
  ROLLOUT_STEP,
  ROLLOUT_VERDICT,
  ROLLOUT_WEIGHT,
} from '../../charts/lib/metrics.js';
import type { KubeObject } from '../runtime/types.js';
import type { RolloutPhase } from './canary.js';

export const ROLLOUT_PHASES: readonly RolloutPhase[] = [
  'Stable',
  'Progressing',
  'Paused',
  'Promoting',
  'Aborted',
];
const VERDICTS = ['pass', 'fail', 'inconclusive'] as const;

export function registerRolloutMetrics(
  registry: Registry,
  trenches: () => readonly (Trench & KubeObject)[],
): void {
  const gauge = (name: string, help: string, labelNames: string[]) =>
    new Gauge({ name, help, labelNames, registers: [] });
  const step = gauge(ROLLOUT_STEP, 'The current canary step of a Trench, from 0.', [
    'namespace',
    'trench',
  ]);
  const weight = gauge(
    ROLLOUT_WEIGHT,
    "The canary's share of a Trench's API pods, in percent (0 with no canary).",
    ['namespace', 'trench'],
  );
  const failures = gauge(ROLLOUT_FAILURES, 'Consecutive failed canary measurements.', [
    'namespace',
    'trench',
  ]);
  const value = gauge(ROLLOUT_ANALYSIS_VALUE, "Each check's value in the newest measurement.", [
    'namespace',
    'trench',
    'check',
  ]);
  const verdict = gauge(ROLLOUT_VERDICT, 'One for the verdict of the newest measurement.', [
    'namespace',
    'trench',
    'verdict',
  ]);
  const migrationFailed = gauge(
    ROLLOUT_MIGRATION_FAILED,
    "1 while a Trench's rollout is aborted because its migration Job failed.",
    ['namespace', 'trench'],
  );
  // Collected first, it fills the others from the same read of the cache.
  new Gauge({
    name: ROLLOUT_PHASE,
    help: 'One series per rollout phase of each Trench: 1 for the phase it is in.',
    labelNames: ['namespace', 'trench', 'phase'],
    registers: [registry],
    collect() {
      for (const g of [this, step, weight, failures, value, verdict, migrationFailed]) g.reset();
      for (const t of trenches()) {
        const r = t.status?.rollout;
        if (!r?.phase || t.metadata.deletionTimestamp) continue;
        const labels = { namespace: t.metadata.namespace ?? '', trench: t.metadata.name ?? '' };
        for (const p of ROLLOUT_PHASES) this.set({ ...labels, phase: p }, r.phase === p ? 1 : 0);
        const canary = r.phase !== 'Stable';
        step.set(labels, canary ? (r.stepIndex ?? 0) : 0);
        weight.set(labels, canary ? (r.achievedWeight ?? 0) : 0);
        failures.set(labels, r.consecutiveFailures ?? 0);
        migrationFailed.set(
          labels,
          r.phase === 'Aborted' && r.reason === 'MigrationFailed' ? 1 : 0,
        );
        const newest = r.measurements?.at(-1);
        if (!newest || !canary) continue;
        for (const v of VERDICTS)
          verdict.set({ ...labels, verdict: v }, newest.verdict === v ? 1 : 0);
        for (const c of newest.values ?? []) {
          if (c.value !== undefined) value.set({ ...labels, check: c.name }, c.value);
        }
      }
    },
  });
  for (const g of [step, weight, failures, value, verdict, migrationFailed]) {
    registry.registerMetric(g);
  }
}
