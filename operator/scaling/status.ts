// The scaler's part of a Trench's status: status.worker's counts and window, and the
// ScalingActive condition. Pure; the scaler writes it only when it changed.
import type { TrenchStatus } from '../../charts/api/trench.js';
import { formatTime } from '../runtime/types.js';
import { backlogOf, type QueueCounts } from './backlog.js';
import type { Recommendation, ScalingDecision } from './decision.js';

export type WorkerStatus = NonNullable<TrenchStatus['worker']>;

export interface ScalingVerdict {
  /** ScalingActive's status. */
  readonly active: boolean;
  readonly reason: 'BacklogCounted' | 'QueueMissing' | 'RedisUnreachable' | 'RedisSecretMissing';
  readonly message: string;
}

/**
 * ScalingActive from the counts. False/QueueMissing names the queues nothing has used yet
 * (often a typo in spec.worker.queues); they count as empty and the others still scale.
 */
export function verdictOf(counts: readonly QueueCounts[]): ScalingVerdict {
  const missing = counts.filter((c) => !c.exists).map((c) => c.queue);
  if (missing.length > 0) {
    return {
      active: false,
      reason: 'QueueMissing',
      message: `No job was ever added to ${missing.join(', ')}: counted as empty`,
    };
  }
  const total = counts.reduce((n, c) => n + backlogOf(c), 0);
  return {
    active: true,
    reason: 'BacklogCounted',
    message: `${total} jobs waiting in ${counts.length} queues`,
  };
}

/**
 * The window as status keeps it. Only its values decide whether it is written: the newest
 * entry's time moves on every check, and writing it would make every check an API write.
 */
export function windowForStatus(
  history: readonly Recommendation[],
): WorkerStatus['recommendations'] {
  return history.map((h) => ({ time: formatTime(h.at), replicas: h.replicas }));
}

export function sameWindowValues(
  a: WorkerStatus['recommendations'] | undefined,
  b: WorkerStatus['recommendations'] | undefined,
): boolean {
  const va = (a ?? []).map((r) => r.replicas).join();
  const vb = (b ?? []).map((r) => r.replicas).join();
  return va === vb;
}

export interface WorkerFieldsInput {
  readonly previous: WorkerStatus | undefined;
  readonly counts: readonly QueueCounts[];
  readonly decision: ScalingDecision;
  /** Set when this check changed the replica count. */
  readonly scaledAt?: number;
}

/** status.worker after a check that counted; `replicas` stays the stack's. Pure. */
export function workerFields(input: WorkerFieldsInput): WorkerStatus {
  const { previous, counts, decision } = input;
  const window = windowForStatus(decision.history);
  return {
    ...previous,
    backlog: counts.reduce((n, c) => n + backlogOf(c), 0),
    active: counts.reduce((n, c) => n + c.active, 0),
    desiredReplicas: decision.desiredReplicas,
    queues: counts.map((c) => ({
      name: c.queue,
      waiting: backlogOf(c),
      active: c.active,
      exists: c.exists,
      ...(c.paused ? { paused: true } : {}),
    })),
    // Keep the written times while the values hold (see windowForStatus).
    recommendations: sameWindowValues(previous?.recommendations, window)
      ? previous?.recommendations
      : window,
    ...(input.scaledAt !== undefined ? { lastScaleTime: formatTime(input.scaledAt) } : {}),
  };
}

/** The fields of status.worker the scaler owns (replicas is the Trench controller's). */
export function scalerWorkerFields(w: WorkerStatus): WorkerStatus {
  const { replicas: _replicas, ...owned } = w;
  return owned;
}
