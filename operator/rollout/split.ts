// How many pods the canary track runs for a step's weight when traffic follows ready pods (one
// Service over both tracks, no mesh). Pure.
//
// The stable track keeps its full count for the whole canary, so an abort is instant: the
// canary's pods go and stable already serves everything at the capacity it had. Traffic then
// splits by pods, so the share the canary gets is canary / (stable + canary), and the count is
// chosen to bring that share nearest the weight asked for:
//
//   stable 3,  weight 20 -> canary 1: 1/4  = 25.0 %  (0 would be 0 %, off by more)
//   stable 5,  weight 20 -> canary 1: 1/6  = 16.7 %  (2 would be 28.6 %)
//   stable 10, weight 20 -> canary 3: 3/13 = 23.1 %  (2 would be 16.7 %, off by 3.3 against 3.1)
//   stable 4,  weight 50 -> canary 4: 4/8  = 50.0 %
//   stable 1,  weight 10 -> canary 1: 1/2  = 50.0 %  (the smallest canary there is)
//   any,       weight 0  -> canary 0: no traffic
//
// Any weight above 0 gets at least one pod: a step that asked for traffic must get some, or its
// analysis would measure nothing. The canary never runs more pods than stable (at most 50 %):
// more would cost more than doubling the Trench for a share that promotion gives anyway, so a
// weight above 50 runs as many pods as stable; exact weights need the Gateway API mode. The
// weight achieved is reported in status, never the one asked for.

export interface Split {
  /** Pods of the canary track. */
  readonly canary: number;
  /** Pods of the stable track: always the count it had. */
  readonly stable: number;
  /** The canary's share of ready pods, in percent, rounded to one decimal. */
  readonly achievedWeight: number;
}

export function splitReplicas(stable: number, weight: number): Split {
  if (!Number.isInteger(stable) || stable < 0) {
    throw new Error(`stable replicas must be an integer >= 0, got ${stable}`);
  }
  if (!Number.isFinite(weight) || weight < 0 || weight > 100) {
    throw new Error(`weight must be within 0 and 100, got ${weight}`);
  }
  if (weight === 0) return { canary: 0, stable, achievedWeight: 0 };
  // No stable pod to weigh against: the canary alone serves, whatever the weight.
  if (stable === 0) return { canary: 1, stable, achievedWeight: 100 };
  const share = (c: number) => (100 * c) / (stable + c);
  // The share grows with c, so the best count is one of the two around the exact solution.
  const exact = weight >= 100 ? Number.POSITIVE_INFINITY : (stable * weight) / (100 - weight);
  const low = Math.max(1, Math.min(stable, Math.floor(exact)));
  const high = Math.max(1, Math.min(stable, Math.ceil(exact)));
  const canary = Math.abs(share(high) - weight) < Math.abs(share(low) - weight) ? high : low;
  return { canary, stable, achievedWeight: Math.round(share(canary) * 10) / 10 };
}
