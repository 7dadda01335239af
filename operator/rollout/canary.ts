// The canary state machine of one Trench: from the revision the spec asks for, what status says
// of the rollout so far, what the canary track and the analysis show, a manual request and the
// time, the next state and what the workloads should be. Pure; the rollout step does the I/O
// and keeps everything this returns in status, so a restarted operator resumes at the same
// step with the same pause deadline and never promotes twice.
//
// The rules, in the order they are applied:
// - No stable revision yet (a new Trench): the first revision is stable, with no canary.
// - The spec asks for the stable revision: no canary (a canary of another revision is dropped).
// - No steps: a new revision is promoted at once (today's rolling update).
// - A revision other than the canary's, mid-canary or after an abort: the old canary is
//   discarded and steps and analysis restart on the newest revision.
// - Aborted stays aborted (no canary pods, weight 0) until the spec changes or a retry.
// - With a migration, nothing of the canary runs until it is done; a failed one aborts.
// - An abort request, `failureLimit` consecutive failed measurements or a step that has waited
//   longer than progressDeadlineSeconds for its canary to be ready abort, in this pass.
// - An inconclusive measurement (no data, Prometheus unreachable, a query error) holds the
//   rollout where it is: no step advances, and promote is refused, until a measurement passes.
// - A pause request holds it too, until resume. Then the step: setWeight advances once the
//   canary's pods are ready; pause {duration} once the duration has passed since the step
//   began (the Trench is requeued at that moment); pause {} on promote. Promote advances one
//   step (a repeated request is acknowledged once), promote --full to the end.
// - After the last step, Promoting: the stable track rolls to the new revision while the canary
//   keeps serving; once stable runs it and is available, the canary goes and the new revision
//   is stable.

export type RolloutStep =
  | { readonly setWeight: number }
  | { readonly pause: { readonly durationSeconds?: number } };

export type RolloutPhase = 'Stable' | 'Progressing' | 'Paused' | 'Promoting' | 'Aborted';

export type RolloutAction = 'promote' | 'promote-full' | 'abort' | 'retry' | 'pause' | 'resume';

export interface RolloutState {
  readonly phase: RolloutPhase;
  readonly stableRevision?: string;
  readonly canaryRevision?: string;
  readonly stepIndex?: number;
  /** When the current step began: a timed pause ends this long after it. */
  readonly stepStartedAt?: string;
  /** The step's weight asked for. */
  readonly weight?: number;
  readonly consecutiveFailures?: number;
  /** The newest measurement counted, so that one measurement is counted once. */
  readonly lastMeasurement?: string;
  /** Held by an inconclusive measurement, with its reason. */
  readonly inconclusive?: string;
  readonly pausedByUser?: boolean;
  /** The newest manual request handled. */
  readonly lastRequest?: string;
  readonly reason?: string;
  readonly message?: string;
}

export interface Measurement {
  /** When it was taken (ISO 8601): a measurement is counted once. */
  readonly at: string;
  readonly verdict: 'pass' | 'fail' | 'inconclusive';
  /** Which metric failed or why it could not be measured. */
  readonly detail?: string;
}

/** Where the release's migration stands (migration.ts); none without spec.rollout.migration. */
export interface MigrationGate {
  readonly state: 'running' | 'done' | 'failed';
  /** failed: MigrationFailed or MigrationBackupFailed. */
  readonly reason?: string;
  readonly message: string;
}

export interface CanaryInput {
  readonly steps: readonly RolloutStep[];
  /** The revision the spec renders (revision.ts). */
  readonly desiredRevision: string;
  readonly state?: RolloutState;
  /** The canary track's pods are as many as asked and available. */
  readonly canaryReady: boolean;
  /** The stable track runs the canary's revision and is available (during Promoting). */
  readonly stableAtCanary: boolean;
  readonly measurement?: Measurement;
  /** Consecutive failures that abort; 0 counts as 1. */
  readonly failureLimit: number;
  readonly progressDeadlineSeconds: number;
  readonly request?: { readonly id: string; readonly action: RolloutAction; readonly by?: string };
  /** The new revision's migration, which runs before its first step. */
  readonly migration?: MigrationGate;
  readonly now: number;
}

export interface RolloutEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly note: string;
}

export interface CanaryDecision {
  readonly state: RolloutState;
  /** The revision the canary track runs; undefined: the canary has no pods. */
  readonly canary?: string;
  /** The traffic weight for the canary: 0 without one. */
  readonly weight: number;
  /** The revision the stable track runs. */
  readonly stable: string;
  /** Come back then (a timed pause's end). */
  readonly requeueAfterMs?: number;
  readonly events: readonly RolloutEvent[];
  /** Why a manual request was refused; it is acknowledged all the same. */
  readonly refusal?: string;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function decideCanary(input: CanaryInput): CanaryDecision {
  const { desiredRevision: desired, now } = input;
  const events: RolloutEvent[] = [];
  const request =
    input.request && input.request.id !== input.state?.lastRequest ? input.request : undefined;
  // The newest request handled, kept in every state a pass decides: dropped, the request still
  // on the Trench would be taken again as new (a promote applied to the next release).
  const handled = request?.id ?? input.state?.lastRequest;
  const ack = handled !== undefined ? { lastRequest: handled } : {};
  const by = request?.by ? ` (${request.by})` : '';
  let refusal: string | undefined;
  const refuse = (why: string) => {
    refusal = why;
  };

  const stable = input.state?.stableRevision ?? desired;
  const stableState = (message: string, reason = 'Stable'): CanaryDecision => {
    if (request) refuse(`no rollout is running: ${request.action} applies to a canary`);
    return {
      state: { phase: 'Stable', stableRevision: stable, ...ack, reason, message },
      weight: 0,
      stable,
      events,
      ...(refusal ? { refusal } : {}),
    };
  };

  // A new Trench, or the spec back on the stable revision.
  if (!input.state?.stableRevision || desired === stable) {
    // Already stable on it: said once (Promoted, NoSteps, ...), not rewritten every pass.
    if (input.state?.phase === 'Stable' && !request) {
      return { state: input.state, weight: 0, stable, events };
    }
    if (input.state?.canaryRevision && input.state.canaryRevision !== desired) {
      events.push({
        type: 'Normal',
        reason: 'CanaryDiscarded',
        note: `The spec is back on stable revision ${stable}: canary ${input.state.canaryRevision} discarded`,
      });
    }
    return stableState(`Revision ${stable} is stable`);
  }
  // No steps: today's rolling update (after the migration, when there is one).
  if (input.steps.length === 0 && input.migration === undefined) {
    events.push({
      type: 'Normal',
      reason: 'Promoted',
      note: `Revision ${desired} rolled out without canary steps`,
    });
    return {
      state: {
        phase: 'Stable',
        stableRevision: desired,
        ...ack,
        reason: 'NoSteps',
        message: `Revision ${desired} rolled out without canary steps`,
      },
      weight: 0,
      stable: desired,
      events,
    };
  }

  let s: RolloutState = { ...input.state, ...ack };
  // A revision the canary does not run yet: start (or restart) the steps on it.
  if (s.canaryRevision !== desired) {
    const replaced = s.canaryRevision;
    events.push({
      type: 'Normal',
      reason: replaced ? 'CanaryRestarted' : 'CanaryStarted',
      note: replaced
        ? `Revision ${desired} replaced canary ${replaced}: steps and analysis restart`
        : `Canary of revision ${desired} started (stable ${stable})`,
    });
    s = {
      phase: 'Progressing',
      stableRevision: stable,
      canaryRevision: desired,
      stepIndex: 0,
      stepStartedAt: iso(now),
      weight: 0,
      consecutiveFailures: 0,
      ...ack,
      reason: 'CanaryStarted',
      message: `Step 1 of ${input.steps.length}`,
    };
    // Measurements of the old canary say nothing of this one.
    if (input.measurement) s = { ...s, lastMeasurement: input.measurement.at };
  }

  const abort = (reason: string, message: string): CanaryDecision => {
    events.push({ type: 'Warning', reason: 'Aborted', note: message });
    return {
      state: { ...s, phase: 'Aborted', weight: 0, reason, message },
      weight: 0,
      stable,
      events,
    };
  };

  if (s.phase === 'Aborted') {
    if (request?.action === 'retry') {
      events.push({
        type: 'Normal',
        reason: 'Retried',
        note: `Retrying canary ${desired} from step 1${by}`,
      });
      s = {
        ...s,
        phase: 'Progressing',
        stepIndex: 0,
        stepStartedAt: iso(now),
        weight: 0,
        consecutiveFailures: 0,
        reason: 'Retried',
        message: `Step 1 of ${input.steps.length}`,
      };
      const { inconclusive: _i, pausedByUser: _p, ...rest } = s;
      s = rest;
    } else {
      if (request)
        refuse(`the rollout of ${desired} is aborted: only retry (or a new revision) restarts it`);
      return {
        state: s,
        weight: 0,
        stable,
        events,
        ...(refusal ? { refusal } : {}),
      };
    }
  }

  // Promoting: the stable track rolls; nothing can stop it half-way but a newer revision.
  if (s.phase === 'Promoting') {
    if (request) refuse(`revision ${desired} is being promoted already`);
    if (input.stableAtCanary) {
      events.push({
        type: 'Normal',
        reason: 'Promoted',
        note: `Revision ${desired} is stable; the canary is removed`,
      });
      return {
        state: {
          phase: 'Stable',
          stableRevision: desired,
          ...ack,
          reason: 'Promoted',
          message: `Revision ${desired} is stable`,
        },
        weight: 0,
        stable: desired,
        events,
        ...(refusal ? { refusal } : {}),
      };
    }
    return {
      state: s,
      canary: desired,
      weight: s.weight ?? 0,
      stable: desired,
      events,
      ...(refusal ? { refusal } : {}),
    };
  }

  if (request?.action === 'abort') {
    return abort(
      'AbortedByUser',
      `Canary ${desired} aborted by request${by}; stable ${stable} serves everything`,
    );
  }
  // The migration comes before the first step: no canary pods until it is done.
  const gate = input.migration;
  if (gate && gate.state !== 'done') {
    if (gate.state === 'failed') {
      return abort(
        gate.reason ?? 'MigrationFailed',
        `${gate.message}; stable ${stable} serves everything`,
      );
    }
    if (request) {
      refuse(
        `the migration of ${desired} runs first: ${request.action} waits for it (abort stops the rollout)`,
      );
    }
    return {
      state: {
        ...s,
        phase: 'Progressing',
        stepIndex: 0,
        weight: 0,
        stepStartedAt: iso(now),
        reason: 'Migrating',
        message: gate.message,
      },
      weight: 0,
      stable,
      events,
      ...(refusal ? { refusal } : {}),
    };
  }
  // The measurement, counted once.
  const m = input.measurement;
  if (m && m.at !== s.lastMeasurement) {
    s = { ...s, lastMeasurement: m.at };
    if (m.verdict === 'fail') {
      const failures = (s.consecutiveFailures ?? 0) + 1;
      s = { ...s, consecutiveFailures: failures };
      const limit = Math.max(1, input.failureLimit);
      if (failures >= limit) {
        return abort(
          'AnalysisFailed',
          `Canary ${desired} failed analysis ${failures} time(s) in a row${m.detail ? `: ${m.detail}` : ''}; stable ${stable} serves everything`,
        );
      }
    } else {
      s = { ...s, consecutiveFailures: 0 };
    }
    if (m.verdict === 'inconclusive') {
      s = { ...s, inconclusive: m.detail ?? 'no result' };
    } else {
      const { inconclusive: _i, ...rest } = s;
      s = rest;
    }
  }
  if (request?.action === 'pause') s = { ...s, pausedByUser: true };
  if (request?.action === 'resume') {
    if (!s.pausedByUser) refuse('the rollout is not paused by a request: nothing to resume');
    const { pausedByUser: _p, ...rest } = s;
    s = rest;
  }

  const hold = (phase: RolloutPhase, reason: string, message: string): CanaryDecision => ({
    state: { ...s, phase, reason, message },
    canary: desired,
    weight: s.weight ?? 0,
    stable,
    events,
    ...(refusal ? { refusal } : {}),
  });
  const promoting = request?.action === 'promote' || request?.action === 'promote-full';
  if (s.inconclusive !== undefined) {
    if (promoting) refuse(`analysis is inconclusive (${s.inconclusive}): a promote would be blind`);
    return hold('Paused', 'Inconclusive', `Analysis is inconclusive: ${s.inconclusive}`);
  }
  if (s.pausedByUser) {
    if (promoting) refuse('the rollout is paused by a request: resume it first');
    return hold(
      'Paused',
      'PausedByRequest',
      'Paused by request; kubectl trench resume continues it',
    );
  }

  // The steps, as far as they go in this pass.
  let index = s.stepIndex ?? 0;
  let startedAt = Date.parse(s.stepStartedAt ?? iso(now));
  let weight = s.weight ?? 0;
  let manual = promoting ? (request?.action === 'promote-full' ? Number.POSITIVE_INFINITY : 1) : 0;
  let requeueAfterMs: number | undefined;
  const advance = (why: string) => {
    index += 1;
    startedAt = now;
    events.push({
      type: 'Normal',
      reason: 'StepCompleted',
      note: `Step ${index} of ${input.steps.length} done (${why})`,
    });
  };
  while (index < input.steps.length) {
    const step = input.steps[index]!;
    if ('setWeight' in step) {
      const deadline = () => startedAt + input.progressDeadlineSeconds * 1000;
      if (weight !== step.setWeight) {
        weight = step.setWeight;
        startedAt = now;
        // Readiness seen so far was at the old weight: the next pass sees the new one. Pods
        // that never come send no event, so come back at the deadline all the same.
        if (manual === 0) {
          requeueAfterMs = deadline() - now + 1000;
          break;
        }
      }
      if (manual > 0) {
        manual -= 1;
        advance(`promoted${by}`);
        continue;
      }
      if (!input.canaryReady) {
        if (now > deadline()) {
          s = { ...s, stepIndex: index, weight };
          return abort(
            'ProgressDeadlineExceeded',
            `Canary ${desired} was not ready within ${input.progressDeadlineSeconds} s at weight ${weight}; stable ${stable} serves everything`,
          );
        }
        requeueAfterMs = deadline() - now + 1000;
        break;
      }
      advance(`weight ${weight}`);
      continue;
    }
    if (manual > 0) {
      manual -= 1;
      advance(`promoted${by}`);
      continue;
    }
    const duration = step.pause.durationSeconds;
    if (duration === undefined) break; // waits for promote
    const ends = startedAt + duration * 1000;
    if (now < ends) {
      requeueAfterMs = ends - now;
      break;
    }
    advance(`paused ${duration} s`);
  }
  s = { ...s, stepIndex: index, stepStartedAt: iso(startedAt), weight };
  if (index >= input.steps.length) {
    events.push({
      type: 'Normal',
      reason: 'Promoting',
      note: `Every step passed: rolling stable to revision ${desired}`,
    });
    return {
      state: {
        ...s,
        phase: 'Promoting',
        reason: 'StepsCompleted',
        message: `Rolling stable to ${desired}`,
      },
      canary: desired,
      weight,
      stable: desired,
      events,
      ...(refusal ? { refusal } : {}),
    };
  }
  const step = input.steps[index]!;
  const waiting = 'pause' in step && step.pause.durationSeconds === undefined;
  const message = `Step ${index + 1} of ${input.steps.length}: ${
    'setWeight' in step
      ? `weight ${weight}, waiting for the canary to be ready`
      : waiting
        ? 'waiting for promote'
        : `paused until ${iso(startedAt + (step.pause.durationSeconds ?? 0) * 1000)}`
  }`;
  return {
    state: {
      ...s,
      phase: waiting ? 'Paused' : 'Progressing',
      reason: waiting ? 'WaitingForPromote' : 'Progressing',
      message,
    },
    canary: desired,
    weight,
    stable,
    ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}),
    events,
    ...(refusal ? { refusal } : {}),
  };
}
