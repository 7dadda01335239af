// How many workers a Trench should run, from its queues' counts. Pure: `now` comes in, the
// recommendations of the stabilization window come in and go out (the caller keeps them in
// status, so a restarted operator honours the same window).
//
// The rule is the HorizontalPodAutoscaler's with a scale-up window of 0:
//   recommendation = clamp(max(ceil(backlog / targetBacklogPerReplica),
//                              ceil(active / concurrency)), min, max)
//   up at once; down only to the highest recommendation of the last
//   scaleDownStabilizationSeconds, and never above where it is now.
// Worked example: target 100 per replica, concurrency 5, min 1, max 10.
//   backlog 250, active 3  -> ceil(2.5) = 3, floor ceil(3/5) = 1     -> 3
//   backlog 0,   active 12 -> 0, floor ceil(12/5) = 3                 -> 3 (running jobs keep theirs)
//   backlog 5000           -> 50, clamped                             -> 10
//   then backlog 0, active 0 at 3 workers, window 300 s
//                           -> recommendation 1 (min), held at 3 for 300 s, then 1

export interface ScalingInput {
  /** Jobs that wait: wait + prioritized + paused + delayed jobs already due, over all queues. */
  readonly backlog: number;
  /** Jobs running now, over all queues. */
  readonly active: number;
  /** Jobs one worker pod runs at once. */
  readonly concurrency: number;
  readonly targetBacklogPerReplica: number;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly scaleDownStabilizationSeconds: number;
  /** The worker Deployment's spec.replicas now. */
  readonly currentReplicas: number;
}

/** One past recommendation: `replicas` was recommended at `at` (ms since the epoch). */
export interface Recommendation {
  readonly at: number;
  readonly replicas: number;
}

export type ScalingReason =
  /** More workers: a backlog or running jobs need them. */
  | 'ScaledUp'
  /** Fewer workers: down to the highest recommendation within the window. */
  | 'ScaledDown'
  /** Held: fewer would do, but a higher recommendation is still inside the window. */
  | 'Stabilizing'
  | 'Unchanged';

export interface ScalingDecision {
  readonly desiredReplicas: number;
  /** What this check alone recommends, before stabilization. */
  readonly recommendation: number;
  /** The window to keep for the next check (pruned, oldest first). */
  readonly history: readonly Recommendation[];
  readonly reason: ScalingReason;
  /**
   * While stabilizing: when the highest recommendation leaves the window, so the caller can
   * check again then instead of polling (ms since the epoch).
   */
  readonly holdUntil?: number;
}

const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));

/** The recommendation of one check, before the window. */
export function recommend(input: ScalingInput): number {
  const byBacklog = Math.ceil(Math.max(0, input.backlog) / input.targetBacklogPerReplica);
  // Never strand running jobs: a scale-down below this would send SIGTERM to busy workers.
  const byActive = Math.ceil(Math.max(0, input.active) / input.concurrency);
  return clamp(Math.max(byBacklog, byActive), input.minReplicas, input.maxReplicas);
}

/**
 * Adds `rec` at `now` to the window and drops what no longer matters. An entry's time is the
 * last moment its value was in force: checks come on events, not on a clock, so the value of
 * the previous check held until this one, and it is stamped `now` before `rec` is added (else
 * a recommendation that held for a quiet minute would look a minute old and the window would
 * let go at once). Then entries older than the window go, and so does any entry whose value a
 * newer one matches or beats (the newer one outlives it in the window, so the maximum never
 * needs it). What stays is strictly decreasing from oldest to newest, so it holds at most one
 * entry per distinct value: a few entries, fit for status.
 */
export function addToWindow(
  history: readonly Recommendation[],
  rec: Recommendation,
  windowMs: number,
): Recommendation[] {
  const kept = history.filter((h) => h.at <= rec.at);
  const last = kept.at(-1);
  if (last) kept[kept.length - 1] = { at: rec.at, replicas: last.replicas };
  const inWindow = kept.filter((h) => h.at > rec.at - windowMs);
  while (inWindow.length > 0 && inWindow[inWindow.length - 1]!.replicas <= rec.replicas) {
    inWindow.pop();
  }
  inWindow.push(rec);
  return inWindow;
}

export function decideReplicas(
  input: ScalingInput,
  history: readonly Recommendation[],
  now: number,
): ScalingDecision {
  const recommendation = recommend(input);
  const window = addToWindow(
    history,
    { at: now, replicas: recommendation },
    input.scaleDownStabilizationSeconds * 1000,
  );
  const highest = Math.max(...window.map((h) => h.replicas));
  // A count set by hand outside the bounds comes back inside them.
  const current = clamp(input.currentReplicas, input.minReplicas, input.maxReplicas);
  let desiredReplicas: number;
  if (recommendation >= current) desiredReplicas = recommendation;
  else desiredReplicas = Math.min(current, highest);
  const reason: ScalingReason =
    desiredReplicas > input.currentReplicas
      ? 'ScaledUp'
      : desiredReplicas < input.currentReplicas
        ? 'ScaledDown'
        : desiredReplicas > recommendation
          ? 'Stabilizing'
          : 'Unchanged';
  const held = desiredReplicas > recommendation;
  return {
    desiredReplicas,
    recommendation,
    history: window,
    reason,
    ...(held ? { holdUntil: window[0]!.at + input.scaleDownStabilizationSeconds * 1000 } : {}),
  };
}
