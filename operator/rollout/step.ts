// The rollout step of the Trench reconcile: after the render, before the apply. It measures the
// canary when a measurement is due, asks the state machine (canary.ts) what the tracks should
// run, rewrites the render's API and worker Deployments into the two tracks (tracks.ts), and
// keeps everything it decided in status.rollout, so a restarted operator resumes where this
// one stopped. An abort takes effect in the apply of the same pass: the canary Deployments go
// to 0 pods, API and worker together.
import type { Trench } from '../../charts/api/trench.js';
import { LABEL_REVISION } from '../../charts/constructs/common.js';
import type { Step, TrenchDeps } from '../trench/reconcile.js';
import { notReadyReason, type Problem, type Workload } from '../trench/status.js';
import { defaultChecks, type MetricCheck } from './analysis.js';
import {
  type CanaryDecision,
  decideCanary,
  type Measurement,
  type RolloutState,
  type RolloutStep,
} from './canary.js';
import { measure } from './query.js';
import { ANNOTATION_ROLLOUT_REQUEST, parseRequest, type RolloutRequest } from './request.js';
import { splitReplicas } from './split.js';
import { CANARY_SUFFIX, planTracks, revisionOf } from './tracks.js';

type RolloutStatus = NonNullable<NonNullable<Trench['status']>['rollout']>;
type MeasurementRecord = NonNullable<RolloutStatus['measurements']>[number];

/** Measurements kept in status: enough to see a trend, small next to the 1.5 MiB object limit. */
export const MEASUREMENT_HISTORY = 10;

/** Where the bundled stack's Prometheus answers, when neither the spec nor the operator says. */
export const DEFAULT_PROMETHEUS_URL = 'http://prometheus.trench-monitoring.svc:9090';

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** `1h30m` as seconds (the CRD's duration pattern); rounded up to whole seconds. */
export function durationSeconds(text: string): number {
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new Error(`not a duration: ${JSON.stringify(text)} (use e.g. 30s, 5m, 1h30m)`);
  }
  return Math.ceil(parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0));
}

/** The spec's steps in the state machine's terms. */
export function stepsOf(spec: Trench['spec']['rollout'] | undefined): RolloutStep[] {
  return (spec?.steps ?? []).map((s) =>
    s.setWeight !== undefined
      ? { setWeight: s.setWeight }
      : {
          pause:
            s.pause?.duration !== undefined
              ? { durationSeconds: durationSeconds(s.pause.duration) }
              : {},
        },
  );
}

/** The checks of a Trench: its own metrics, else the defaults from monitoring.alerts. */
export function checksOf(spec: Trench['spec']): MetricCheck[] {
  const own = spec.rollout?.analysis?.metrics;
  if (own && own.length > 0) return own.map((m) => ({ ...m }));
  const alerts = spec.monitoring?.alerts ?? { errorRate: 0.05, p95LatencySeconds: 1 };
  return defaultChecks(alerts, spec.worker?.metricsPort !== undefined);
}

/** The state machine's view of status.rollout (the status also holds what it shows). */
function stateOf(status: RolloutStatus | undefined): RolloutState | undefined {
  if (!status?.phase) return undefined;
  const {
    measurements: _m,
    step: _s,
    achievedWeight: _a,
    canaryReplicas: _c,
    lastRequestResult: _l,
    ...rest
  } = status;
  return rest as RolloutState;
}

const live = (deps: TrenchDeps, namespace: string, name: string) =>
  deps.owned.get('apps/v1/Deployment')?.get(name, namespace) as Workload | undefined;

/** Rolled out at `replicas` on `revision`. */
function runs(w: Workload | undefined, revision: string, replicas?: number): boolean {
  if (!w) return false;
  if (w.metadata?.labels?.[LABEL_REVISION] !== revision) return false;
  if (replicas !== undefined && w.spec?.replicas !== replicas) return false;
  return notReadyReason(w) === undefined;
}

export const rolloutStep: Step = {
  name: 'rollout',
  run: async (deps, pass) => {
    const { trench, now } = pass;
    const { name, namespace } = trench.metadata;
    const desiredRevision = revisionOf(pass.desired);
    if (!desiredRevision) return undefined;
    const spec = trench.spec;
    const previous = trench.status?.rollout;
    const state = stateOf(previous);
    const steps = stepsOf(spec.rollout);
    const analysis = spec.rollout?.analysis;
    const intervalMs = (analysis?.intervalSeconds ?? 30) * 1000;

    const stableApi = live(deps, namespace, `${name}-api`);
    const stableWorker = live(deps, namespace, `${name}-worker`);
    const canaryApi = live(deps, namespace, `${name}-api${CANARY_SUFFIX}`);
    const canaryWorker = live(deps, namespace, `${name}-worker${CANARY_SUFFIX}`);
    const hasWorker = pass.desired.some((m) => m.metadata?.name === `${name}-worker`);
    const stableWorkers = stableWorker?.spec?.replicas ?? spec.worker?.scaling?.minReplicas ?? 1;

    // The canary as it runs: at the weight status asked for, on the revision, every pod ready.
    const weightNow = state?.weight ?? 0;
    const canaryReady =
      state?.canaryRevision !== undefined &&
      runs(
        canaryApi,
        state.canaryRevision,
        splitReplicas(spec.api?.replicas ?? 0, weightNow).canary,
      ) &&
      (!hasWorker ||
        runs(canaryWorker, state.canaryRevision, splitReplicas(stableWorkers, weightNow).canary));
    const stableAtCanary =
      state?.canaryRevision !== undefined &&
      runs(stableApi, state.canaryRevision) &&
      (!hasWorker || runs(stableWorker, state.canaryRevision));

    // A manual request, read once (status.rollout.lastRequest says which were handled).
    const raw = trench.metadata.annotations?.[ANNOTATION_ROLLOUT_REQUEST];
    const parsed = raw !== undefined ? parseRequest(raw) : undefined;
    let request: RolloutRequest | undefined;
    let invalidRequest: string | undefined;
    if (parsed?.ok) request = parsed.request;
    else if (parsed && parsed.id !== state?.lastRequest) invalidRequest = parsed.error;

    // A measurement, when one is due: only of the revision the spec asks for, with traffic on
    // the canary (a canary without pods has nothing to measure).
    let measurement: Measurement | undefined;
    let record: MeasurementRecord | undefined;
    const measuring =
      (state?.phase === 'Progressing' || state?.phase === 'Paused') &&
      state.canaryRevision === desiredRevision &&
      weightNow > 0 &&
      (canaryApi?.status?.readyReplicas ?? 0) > 0;
    const due =
      measuring &&
      (state?.lastMeasurement === undefined ||
        now - Date.parse(state.lastMeasurement) >= intervalMs - 500);
    if (due) {
      const url = analysis?.prometheusUrl || deps.prometheusUrl || DEFAULT_PROMETHEUS_URL;
      const result = await measure(
        url,
        checksOf(spec),
        { namespace, trench: name, track: 'canary', revision: desiredRevision },
        { signal: pass.signal, timeoutMs: Math.min(5000, intervalMs) },
      );
      // Stamped with the pass's time, not the answer's, so the next one is due a whole
      // interval after this one began.
      measurement = { at: iso(now), verdict: result.verdict, detail: result.detail };
      record = {
        time: measurement.at,
        verdict: result.verdict,
        detail: result.detail.slice(0, 1024),
        revision: desiredRevision,
        values: result.checks.map((c) => ({
          name: c.name,
          verdict: c.verdict,
          ...(c.value !== undefined && Number.isFinite(c.value) ? { value: c.value } : {}),
        })),
      };
      deps.log.info('Measured canary', {
        trench: pass.key,
        revision: desiredRevision,
        verdict: result.verdict,
        detail: result.detail,
      });
    }

    const decision: CanaryDecision = decideCanary({
      steps,
      desiredRevision,
      ...(state ? { state } : {}),
      canaryReady,
      stableAtCanary,
      ...(measurement ? { measurement } : {}),
      failureLimit: analysis?.failureLimit ?? 1,
      progressDeadlineSeconds: spec.rollout?.progressDeadlineSeconds ?? 600,
      ...(request ? { request } : {}),
      now,
    });

    const plan = planTracks({
      desired: pass.desired,
      desiredRevision,
      stable: decision.stable,
      ...(decision.canary !== undefined ? { canary: decision.canary } : {}),
      weight: decision.weight,
      live: {
        ...(stableApi ? { api: stableApi } : {}),
        ...(stableWorker ? { worker: stableWorker } : {}),
      },
      stableWorkers,
      keepCanary: decision.state.phase === 'Aborted',
    });
    pass.desired = plan.desired;

    for (const e of decision.events) {
      const note = e.note;
      if (e.type === 'Warning') {
        deps.log.warn('Aborted rollout', { trench: pass.key, reason: decision.state.reason, note });
        void deps.events.warning(trench, e.reason, 'Rollout', note, pass.signal);
      } else {
        deps.log.info(`Rollout ${e.reason}`, { trench: pass.key, note });
        void deps.events.normal(trench, e.reason, 'Rollout', note, pass.signal);
      }
    }
    let requestResult = previous?.lastRequestResult;
    let lastRequest = decision.state.lastRequest;
    if (request && request.id !== state?.lastRequest) {
      const by = request.by ? ` by ${request.by}` : '';
      if (decision.refusal) {
        requestResult = `${request.action}${by} refused: ${decision.refusal}`;
        void deps.events.warning(trench, 'RequestRefused', 'Rollout', requestResult, pass.signal);
      } else {
        requestResult = `${request.action}${by} done`;
        void deps.events.normal(
          trench,
          'RequestHandled',
          'Rollout',
          `${request.action} requested${by}: ${decision.state.message ?? decision.state.phase}`,
          pass.signal,
        );
      }
    } else if (invalidRequest && parsed && !parsed.ok) {
      lastRequest = parsed.id;
      requestResult = `refused: ${invalidRequest}`;
      void deps.events.warning(trench, 'RequestRefused', 'Rollout', invalidRequest, pass.signal);
    }
    if (plan.missingStable.length > 0) {
      const note = `The stable Deployment ${plan.missingStable.join(', ')} is gone, so revision ${decision.stable}'s template is unknown: it was created from the spec's`;
      deps.log.warn('Recreated stable Deployment from the spec', { trench: pass.key, note });
      void deps.events.warning(trench, 'StableTemplateMissing', 'Rollout', note, pass.signal);
    }

    const measurements = record
      ? [...(previous?.measurements ?? []), record].slice(-MEASUREMENT_HISTORY)
      : previous?.measurements;
    const s = decision.state;
    const canaryPhase = s.phase !== 'Stable';
    const rollout: RolloutStatus = {
      ...s,
      ...(lastRequest !== undefined ? { lastRequest } : {}),
      ...(requestResult !== undefined ? { lastRequestResult: requestResult } : {}),
      ...(canaryPhase && s.stepIndex !== undefined
        ? { step: `${Math.min(s.stepIndex + 1, steps.length)}/${steps.length}` }
        : {}),
      ...(canaryPhase ? { achievedWeight: plan.achievedWeight } : {}),
      ...(canaryPhase ? { canaryReplicas: plan.canaryReplicas } : {}),
      ...(measurements ? { measurements } : {}),
    };
    const problems: Problem[] =
      s.phase === 'Aborted'
        ? [
            {
              severity: 'warning',
              reason: s.reason ?? 'RolloutAborted',
              message: s.message ?? 'The rollout was aborted',
            },
          ]
        : [];
    pass.parts.push({ fields: { rollout }, problems });

    // Back for the pause's end, and for the next measurement while the canary has traffic.
    let requeueAfterMs = decision.requeueAfterMs;
    if ((s.phase === 'Progressing' || s.phase === 'Paused') && (s.weight ?? 0) > 0) {
      const last = s.lastMeasurement ? Date.parse(s.lastMeasurement) : now;
      const next = Math.max(250, last + intervalMs - now);
      requeueAfterMs = requeueAfterMs === undefined ? next : Math.min(requeueAfterMs, next);
    }
    return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
  },
};
