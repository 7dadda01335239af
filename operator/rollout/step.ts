// The rollout step of the Trench reconcile: after the render, before the apply. It measures the
// canary when a measurement is due, asks the state machine (canary.ts) what the tracks should
// run, rewrites the render's API and worker Deployments into the two tracks (tracks.ts), and
// keeps everything it decided in status.rollout, so a restarted operator resumes where this
// one stopped. An abort takes effect in the apply of the same pass: the canary Deployments go
// to 0 pods, API and worker together.
import type { Trench } from '../../charts/api/trench.js';
import { LABEL_INSTANCE, LABEL_REVISION } from '../../charts/constructs/common.js';
import { isConflict } from '../runtime/client.js';
import type { KubeObject } from '../runtime/types.js';
import type { Pass, Step, TrenchDeps } from '../trench/reconcile.js';
import { notReadyReason, type Problem, type Workload } from '../trench/status.js';
import { defaultChecks, type MetricCheck } from './analysis.js';
import {
  type CanaryDecision,
  decideCanary,
  type Measurement,
  type MigrationGate,
  type RolloutState,
  type RolloutStep,
} from './canary.js';
import {
  type JobView,
  migrationJob,
  migrationJobName,
  migrationStep,
  preMigrationBackupName,
} from './migration.js';
import { measure } from './query.js';
import { ANNOTATION_ROLLOUT_REQUEST, parseRequest, type RolloutRequest } from './request.js';
import { type HttpRoute, routedReplicas, routeWeights } from './route.js';
import { splitReplicas } from './split.js';
import {
  CANARY_SUFFIX,
  type CanarySplit,
  planTracks,
  releaseDeployments,
  revisionOf,
} from './tracks.js';

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
    migration: _g,
    route: _r,
    ...rest
  } = status;
  return rest as RolloutState;
}

/** Creates `obj` unless it exists (a cache behind our own create): names are deterministic. */
async function createOnce(deps: TrenchDeps, pass: Pass, obj: KubeObject): Promise<void> {
  try {
    await deps.client.create(obj, { signal: pass.signal });
    deps.log.info(`Created ${obj.kind}`, {
      name: obj.metadata?.name,
      namespace: obj.metadata?.namespace,
      trench: pass.key,
    });
  } catch (error) {
    if (!isConflict(error)) throw error;
  }
}

/** status.rollout as the API server has it now, or the cache's if the read fails. */
async function freshRollout(deps: TrenchDeps, pass: Pass): Promise<RolloutStatus | undefined> {
  const { name, namespace } = pass.trench.metadata;
  const fresh = (await deps.client.get(
    { apiVersion: 'playtrenches.xyz/v1alpha1', kind: 'Trench', namespace, name },
    pass.signal,
  )) as Trench | undefined;
  if (!fresh) return pass.trench.status?.rollout;
  // Only the rollout is taken from the fresh read: the rest of the status is built from the
  // cache, and diffed against the fresh one it would put back what other controllers (backups,
  // the scaler) wrote since the cache's copy.
  pass.statusBase = { ...pass.trench.status, rollout: fresh.status?.rollout };
  return fresh.status?.rollout;
}

type RouteRecord = NonNullable<RolloutStatus['route']>;

/**
 * Sets the route's track weights; returns what was set, or the last weights with the reason
 * nothing could be (the route missing, or not sending to both track Services).
 */
async function setRouteWeights(
  deps: TrenchDeps,
  pass: Pass,
  name: string,
  canaryWeight: number,
  recorded: RouteRecord | undefined,
): Promise<RouteRecord> {
  const namespace = pass.trench.metadata.namespace;
  const ref = { ...HTTP_ROUTE, namespace, name };
  const failed = (error: string): RouteRecord => ({
    name,
    stableWeight: recorded?.stableWeight ?? 100,
    canaryWeight: recorded?.canaryWeight ?? 0,
    error,
  });
  let live: HttpRoute | undefined;
  try {
    live = (await deps.client.get(ref, pass.signal)) as HttpRoute | undefined;
  } catch (error) {
    return failed(`HTTPRoute ${name} could not be read: ${(error as Error).message}`);
  }
  if (!live) return failed(`HTTPRoute ${name} not found in namespace ${namespace}`);
  const plan = routeWeights(live, pass.trench.metadata.name, canaryWeight);
  if (!plan.ok) return failed(plan.error);
  if (plan.ops.length > 0) {
    try {
      await deps.client.jsonPatch(ref, plan.ops, {
        signal: pass.signal,
        fieldManager: ROUTE_FIELD_MANAGER,
      });
    } catch (error) {
      return failed(`HTTPRoute ${name} weights not set: ${(error as Error).message}`);
    }
    deps.log.info('Set HTTPRoute weights', {
      trench: pass.key,
      route: name,
      stable: 100 - canaryWeight,
      canary: canaryWeight,
    });
  }
  return { name, stableWeight: 100 - canaryWeight, canaryWeight };
}

const HTTP_ROUTE = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute' } as const;
/** The field manager of the weights the operator sets on a user's HTTPRoute. */
export const ROUTE_FIELD_MANAGER = 'trench-rollout';

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
    const raw = trench.metadata.annotations?.[ANNOTATION_ROLLOUT_REQUEST];
    const parsed = raw !== undefined ? parseRequest(raw) : undefined;
    // The cache may not hold this operator's own last status write yet (a child's event can
    // start the next pass first): deciding again from the older state would send its events
    // again, or take a promote twice. While a rollout is under way, or a request is waiting,
    // its state is read from the API server; a stable Trench decides nothing new from it.
    const cached = trench.status?.rollout;
    const busy =
      cached?.phase !== 'Stable' ||
      cached.stableRevision !== desiredRevision ||
      (parsed !== undefined && (parsed.ok ? parsed.request.id : parsed.id) !== cached.lastRequest);
    const previous = busy ? await freshRollout(deps, pass) : cached;
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

    // Gateway API routing: the HTTPRoute sets the share, the canary's pods are the weight's
    // part of stable's; without it, the pods are the share (replica ratio).
    const httpRoute = spec.rollout?.trafficRouting?.gatewayAPI?.httpRoute;
    const recordedRoute =
      httpRoute && previous?.route?.name === httpRoute ? previous.route : undefined;
    const split: CanarySplit = httpRoute
      ? (stable, weight) => ({ canary: routedReplicas(stable, weight), achievedWeight: weight })
      : splitReplicas;

    // The canary as it runs: at the weight status asked for, on the revision, every pod ready,
    // and with a route, the route sending it that weight.
    const weightNow = state?.weight ?? 0;
    const canaryReady =
      state?.canaryRevision !== undefined &&
      runs(canaryApi, state.canaryRevision, split(spec.api?.replicas ?? 0, weightNow).canary) &&
      (!hasWorker ||
        runs(canaryWorker, state.canaryRevision, split(stableWorkers, weightNow).canary)) &&
      (!httpRoute || (recordedRoute?.canaryWeight === weightNow && !recordedRoute.error));
    const stableAtCanary =
      state?.canaryRevision !== undefined &&
      runs(stableApi, state.canaryRevision) &&
      (!hasWorker || runs(stableWorker, state.canaryRevision));

    // A manual request, read once (status.rollout.lastRequest says which were handled).
    let request: RolloutRequest | undefined;
    let invalidRequest: string | undefined;
    if (parsed?.ok) request = parsed.request;
    else if (parsed && parsed.id !== state?.lastRequest) invalidRequest = parsed.error;

    // The release's migration, before its first step.
    const migrationSpec = spec.rollout?.migration;
    let migration: MigrationGate | undefined;
    let migrationRecord = previous?.migration;
    const stableNow = state?.stableRevision ?? desiredRevision;
    if (migrationSpec && desiredRevision !== stableNow) {
      const record = previous?.migration;
      const retrying = request?.action === 'retry' && request.id !== state?.lastRequest;
      const held =
        state?.phase === 'Aborted' && state.canaryRevision === desiredRevision && !retrying;
      if (record?.revision === desiredRevision && record.phase === 'Succeeded') {
        migration = { state: 'done', message: record.message };
      } else if (held) {
        // Aborted stays aborted; this only keeps it from being taken for a plain update.
        migration = { state: 'failed', message: record?.message ?? 'aborted' };
      } else {
        const step = migrationStep({
          trench: name,
          revision: desiredRevision,
          backupFirst: migrationSpec.backupFirst ?? true,
          backup: deps.backups?.get(preMigrationBackupName(name, desiredRevision), namespace),
          job: deps.jobs?.get(migrationJobName(name, desiredRevision), namespace) as
            | JobView
            | undefined,
        });
        const api = releaseDeployments(pass.desired).api;
        if (step.create === 'backup') {
          await createOnce(deps, pass, {
            apiVersion: 'playtrenches.xyz/v1alpha1',
            kind: 'TrenchBackup',
            metadata: {
              name: step.record.backup!,
              namespace,
              labels: { [LABEL_INSTANCE]: name, [LABEL_REVISION]: desiredRevision },
            },
            spec: { trench: name, reason: 'pre-migration' },
          } as KubeObject);
        } else if (step.create === 'job' && api) {
          await createOnce(
            deps,
            pass,
            migrationJob({
              trench: name,
              namespace,
              revision: desiredRevision,
              api,
              command: migrationSpec.command,
            }),
          );
        }
        if (step.record.phase !== record?.phase || step.record.revision !== record?.revision) {
          const failed = step.record.phase === 'Failed';
          deps.log[failed ? 'warn' : 'info'](`Migration ${step.record.phase}`, {
            trench: pass.key,
            revision: desiredRevision,
            message: step.record.message,
          });
          const reason = `Migration${step.record.phase}`;
          if (failed) {
            void deps.events.warning(trench, reason, 'Migrate', step.record.message, pass.signal);
          } else {
            void deps.events.normal(trench, reason, 'Migrate', step.record.message, pass.signal);
          }
        }
        migration = step.gate;
        migrationRecord = step.record;
      }
    }

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
        // Not cut to the interval: a Prometheus slow under load would read as inconclusive
        // and hold the rollout; a slow answer only delays the next measurement.
        { signal: pass.signal, timeoutMs: 5000 },
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
      ...(migration ? { migration } : {}),
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
      split,
    });
    pass.desired = plan.desired;

    // The route's weights, before the apply: an abort takes traffic off the canary before its
    // pods go, and a step's weight reaches the route only once its pods are ready to take it.
    let route = recordedRoute;
    const problems: Problem[] = [];
    if (httpRoute) {
      const podsReady =
        decision.canary !== undefined && runs(canaryApi, decision.canary, plan.canaryReplicas.api);
      const want =
        decision.canary === undefined
          ? 0
          : podsReady
            ? decision.weight
            : Math.min(recordedRoute?.canaryWeight ?? 0, decision.weight);
      if (!recordedRoute || recordedRoute.error || recordedRoute.canaryWeight !== want) {
        route = await setRouteWeights(deps, pass, httpRoute, want, recordedRoute);
      }
      if (route?.error) {
        problems.push({ severity: 'warning', reason: 'HTTPRouteNotUsable', message: route.error });
      }
    }

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
      ...(canaryPhase
        ? { achievedWeight: httpRoute ? (route?.canaryWeight ?? 0) : plan.achievedWeight }
        : {}),
      ...(canaryPhase ? { canaryReplicas: plan.canaryReplicas } : {}),
      ...(measurements ? { measurements } : {}),
      ...(migrationRecord ? { migration: migrationRecord } : {}),
      ...(route ? { route } : {}),
    };
    if (s.phase === 'Aborted') {
      problems.unshift({
        severity: 'warning',
        reason: s.reason ?? 'RolloutAborted',
        message: s.message ?? 'The rollout was aborted',
      });
    }
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
