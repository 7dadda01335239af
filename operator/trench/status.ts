// The Trench's status, computed whole from the children the informers hold. Pure: the
// reconcile passes in what it saw and the time; writeStatus sends it only when it changed.
import type { Trench, TrenchStatus } from '../../charts/api/trench.js';
import { type Condition, setCondition } from '../runtime/status.js';
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

export function computeStatus(input: StatusInput): TrenchStatus {
  const { trench, workloads, now } = input;
  const generation = trench.metadata.generation;
  const previous = trench.status ?? {};
  let conditions = (previous.conditions ?? []) as Condition[];
  const set = (type: string, status: 'True' | 'False', reason: string, message: string) => {
    conditions = setCondition(
      conditions,
      {
        type,
        status,
        reason,
        message,
        ...(generation !== undefined ? { observedGeneration: generation } : {}),
      },
      now,
    );
  };

  const api = workloads.filter((w) => w.kind === 'Deployment' && component(w) === 'api');
  const workers = workloads.find((w) => w.kind === 'Deployment' && component(w) === 'worker');
  const apiDesired = api.reduce((n, w) => n + (w.spec?.replicas ?? 0), 0);
  const apiReady = api.reduce((n, w) => n + (w.status?.readyReplicas ?? 0), 0);
  const waiting = [
    ...input.missing.map((m) => `${m} not created yet`),
    ...workloads.map(notReadyReason),
  ].filter((r): r is string => r !== undefined);

  let phase: string;
  if (input.invalid !== undefined) {
    phase = 'Failed';
    set('Ready', 'False', 'InvalidSpec', input.invalid);
    set('Progressing', 'False', 'InvalidSpec', 'The spec must be fixed before anything is applied');
    set('Degraded', 'True', 'InvalidSpec', input.invalid);
  } else if (input.applyError !== undefined) {
    phase = 'Degraded';
    set('Ready', 'False', 'ApplyFailed', input.applyError);
    set('Progressing', waiting.length > 0 ? 'True' : 'False', 'ApplyFailed', input.applyError);
    set('Degraded', 'True', 'ApplyFailed', input.applyError);
  } else if (waiting.length > 0) {
    phase = 'Progressing';
    const message =
      waiting.slice(0, 3).join('; ') +
      (waiting.length > 3 ? `; and ${waiting.length - 3} more` : '');
    set('Ready', 'False', 'WorkloadsNotReady', message);
    set('Progressing', 'True', 'RollingOut', message);
    set('Degraded', 'False', 'AsExpected', 'Every child was applied');
  } else {
    phase = 'Ready';
    set('Ready', 'True', 'AllWorkloadsReady', `${workloads.length} workloads ready`);
    set('Progressing', 'False', 'Converged', 'Every workload runs the desired revision');
    set('Degraded', 'False', 'AsExpected', 'Every child was applied');
  }

  const status: TrenchStatus = {
    ...previous,
    phase,
    conditions,
    api: { replicas: apiDesired, readyReplicas: apiReady, summary: `${apiReady}/${apiDesired}` },
    worker: {
      ...previous.worker,
      replicas: workers?.status?.readyReplicas ?? 0,
      desiredReplicas: workers?.spec?.replicas ?? trench.spec.worker?.scaling?.minReplicas ?? 1,
    },
  };
  if (generation !== undefined) status.observedGeneration = generation;
  return status;
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
