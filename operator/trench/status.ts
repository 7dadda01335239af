// The Trench's status, computed whole from the children the informers hold. Pure: the
// reconcile passes in what it saw and the time; writeStatus sends it only when it changed.
import type { Trench, TrenchStatus } from '../../charts/api/trench.js';
import { type Condition, type ConditionInput, setCondition } from '../runtime/status.js';
import type { KubeObject } from '../runtime/types.js';

export interface Workload extends KubeObject {
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    updatedReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
  };
}

export interface StatusInput {
  readonly trench: Pick<Trench, 'metadata' | 'spec' | 'status'>;
  /** The Deployments and StatefulSets the reconcile applied (live, from the cache). */
  readonly workloads: readonly Workload[];
  /** Names of desired workloads the cache does not hold yet. */
  readonly missing: readonly string[];
  /** The spec could not be rendered: the message names the fields. */
  readonly invalid?: string;
  /** Applying the children failed this pass. */
  readonly applyError?: string;
  readonly now: number;
}

/** Why a workload is not rolled out yet, or undefined when it is. Pure. */
export function notReadyReason(w: Workload): string | undefined {
  const name = `${w.kind} ${w.metadata?.name}`;
  const want = w.spec?.replicas ?? 1;
  const s = w.status ?? {};
  if ((s.observedGeneration ?? 0) < (w.metadata?.generation ?? 0))
    return `${name} not yet observed`;
  if (w.kind === 'StatefulSet') {
    if ((s.readyReplicas ?? 0) < want) return `${name} has ${s.readyReplicas ?? 0}/${want} ready`;
    if (s.updateRevision && s.currentRevision !== s.updateRevision) return `${name} is updating`;
    return undefined;
  }
  if ((s.updatedReplicas ?? 0) < want)
    return `${name} has ${s.updatedReplicas ?? 0}/${want} updated`;
  if ((s.availableReplicas ?? 0) < want)
    return `${name} has ${s.availableReplicas ?? 0}/${want} available`;
  if ((s.replicas ?? 0) > want) return `${name} is removing old pods`;
  return undefined;
}

const component = (w: Workload) => w.metadata?.labels?.['app.kubernetes.io/component'];

/** What one part of the reconcile (stack, scaling, rollout, backup, volumes) says of the Trench. */
export interface StatusPart {
  /** Top-level status fields this part owns; undefined values remove the field. */
  readonly fields?: Partial<Omit<TrenchStatus, 'phase' | 'conditions' | 'observedGeneration'>>;
  /** Conditions of the types this part owns (not Ready, Progressing or Degraded). */
  readonly conditions?: readonly Omit<ConditionInput, 'observedGeneration'>[];
  /**
   * What is wrong. critical: the Trench is Degraded and not Ready (data lost, traffic failing);
   * warning: Degraded is True, but Ready and the phase are left as the stack says.
   */
  readonly problems?: readonly Problem[];
}

export interface Problem {
  readonly severity: 'critical' | 'warning';
  readonly reason: string;
  readonly message: string;
}

type Verdict = { status: 'True' | 'False'; reason: string; message: string };

/** The stack's own verdict: the workloads, the spec, the applies. */
export interface StackPart extends StatusPart {
  readonly phase: string;
  readonly ready: Verdict;
  readonly progressing: Verdict;
  readonly degraded: Verdict;
}

const SUMMARY_ITEMS = 3;
const summarize = (items: readonly string[]) =>
  items.slice(0, SUMMARY_ITEMS).join('; ') +
  (items.length > SUMMARY_ITEMS ? `; and ${items.length - SUMMARY_ITEMS} more` : '');

/** Phase, Ready, Progressing and Degraded from the workloads and this pass's outcome. Pure. */
export function stackStatus(input: StatusInput): StackPart {
  const { trench, workloads } = input;
  const previous = trench.status ?? {};
  const api = workloads.filter((w) => w.kind === 'Deployment' && component(w) === 'api');
  const workers = workloads.find((w) => w.kind === 'Deployment' && component(w) === 'worker');
  const apiDesired = api.reduce((n, w) => n + (w.spec?.replicas ?? 0), 0);
  const apiReady = api.reduce((n, w) => n + (w.status?.readyReplicas ?? 0), 0);
  const waiting = [
    ...input.missing.map((m) => `${m} not created yet`),
    ...workloads.map(notReadyReason),
  ].filter((r): r is string => r !== undefined);
  const fields: StatusPart['fields'] = {
    api: { replicas: apiDesired, readyReplicas: apiReady, summary: `${apiReady}/${apiDesired}` },
    worker: {
      ...previous.worker,
      replicas: workers?.status?.readyReplicas ?? 0,
      desiredReplicas: workers?.spec?.replicas ?? trench.spec.worker?.scaling?.minReplicas ?? 1,
    },
  };
  const v = (status: 'True' | 'False', reason: string, message: string): Verdict => ({
    status,
    reason,
    message,
  });
  if (input.invalid !== undefined) {
    return {
      fields,
      phase: 'Failed',
      ready: v('False', 'InvalidSpec', input.invalid),
      progressing: v('False', 'InvalidSpec', 'The spec must be fixed before anything is applied'),
      degraded: v('True', 'InvalidSpec', input.invalid),
    };
  }
  if (input.applyError !== undefined) {
    return {
      fields,
      phase: 'Degraded',
      ready: v('False', 'ApplyFailed', input.applyError),
      progressing: v(waiting.length > 0 ? 'True' : 'False', 'ApplyFailed', input.applyError),
      degraded: v('True', 'ApplyFailed', input.applyError),
    };
  }
  const fine = v('False', 'AsExpected', 'Every child was applied');
  if (waiting.length > 0) {
    const message = summarize(waiting);
    return {
      fields,
      phase: 'Progressing',
      ready: v('False', 'WorkloadsNotReady', message),
      progressing: v('True', 'RollingOut', message),
      degraded: fine,
    };
  }
  return {
    fields,
    phase: 'Ready',
    ready: v('True', 'AllWorkloadsReady', `${workloads.length} workloads ready`),
    progressing: v('False', 'Converged', 'Every workload runs the desired revision'),
    degraded: fine,
  };
}

export interface MergeInput {
  readonly trench: Pick<Trench, 'metadata' | 'status'>;
  readonly stack: StackPart;
  /** The other parts, most important first: the first critical problem names Ready's reason. */
  readonly parts: readonly StatusPart[];
  readonly now: number;
}

/**
 * The whole status from its parts. Fields no part mentions are kept as they are (another loop
 * may own them); lastTransitionTime moves only when a condition's status does. Pure.
 */
export function mergeStatus(input: MergeInput): TrenchStatus {
  const { trench, stack, parts, now } = input;
  const generation = trench.metadata.generation;
  const all = [stack, ...parts];
  const problems = all.flatMap((p) => p.problems ?? []);
  const critical = problems.filter((p) => p.severity === 'critical');
  let phase = stack.phase;
  let ready = stack.ready;
  let degraded = stack.degraded;
  if (problems.length > 0 && stack.degraded.status === 'False') {
    const first = critical[0] ?? problems[0]!;
    degraded = {
      status: 'True',
      reason: first.reason,
      message: problems.map((p) => p.message).join('; '),
    };
  }
  if (critical.length > 0 && phase !== 'Failed') {
    phase = 'Degraded';
    ready = {
      status: 'False',
      reason: critical[0]!.reason,
      message: critical.map((p) => p.message).join('; '),
    };
  }
  const observed = generation !== undefined ? { observedGeneration: generation } : {};
  let conditions = (trench.status?.conditions ?? []) as Condition[];
  const set = (type: string, c: Omit<ConditionInput, 'type' | 'observedGeneration'>) => {
    conditions = setCondition(conditions, { type, ...c, ...observed }, now);
  };
  set('Ready', ready);
  set('Progressing', stack.progressing);
  set('Degraded', degraded);
  for (const part of parts) for (const c of part.conditions ?? []) set(c.type, c);
  const status: TrenchStatus = { ...trench.status, phase, conditions };
  for (const part of all) Object.assign(status, part.fields);
  if (generation !== undefined) status.observedGeneration = generation;
  return status;
}

/** The status from the stack alone (no other part has anything to say). */
export function computeStatus(input: StatusInput): TrenchStatus {
  return mergeStatus({
    trench: input.trench,
    stack: stackStatus(input),
    parts: [],
    now: input.now,
  });
}

/** The worker replica count to hold until queue-driven scaling decides: within min..max. */
export function boundedWorkerReplicas(
  current: number | undefined,
  min: number,
  max: number,
): number {
  if (current === undefined) return min;
  return Math.min(max, Math.max(min, current));
}

type LastVerification = NonNullable<NonNullable<Trench['status']>['backup']>['lastVerification'];

/** The BackupVerified condition from the newest finished restore drill; none before the first. */
export function drillPart(v: LastVerification): StatusPart | undefined {
  if (!v) return undefined;
  const message = `Restore drill of TrenchBackup ${v.backup} at ${v.time}: ${v.message ?? (v.passed ? 'passed' : 'failed')}`;
  if (v.passed) {
    return {
      conditions: [{ type: 'BackupVerified', status: 'True', reason: 'DrillPassed', message }],
    };
  }
  return {
    conditions: [{ type: 'BackupVerified', status: 'False', reason: 'DrillFailed', message }],
    problems: [{ severity: 'warning', reason: 'RestoreDrillFailed', message }],
  };
}
