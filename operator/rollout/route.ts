// Gateway API traffic routing: the canary's exact share through the weights of an HTTPRoute's
// backendRefs. The route is the user's (it names hostnames, paths, filters, its Gateway); the
// operator changes only the weights of the backendRefs that name the Trench's two track
// Services, with a JSON patch whose `test` operations make sure each index still holds that
// Service, so a route edited meanwhile is refused rather than overwritten. (HTTPRoute's rules and
// backendRefs are atomic lists, so a server-side apply of the weights alone would take the
// whole list over.) Pure.

export interface BackendRef {
  readonly group?: string;
  readonly kind?: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly weight?: number;
}

export interface HttpRoute {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly spec?: { readonly rules?: readonly { readonly backendRefs?: readonly BackendRef[] }[] };
}

export type PatchOp = { op: 'test' | 'add'; path: string; value: unknown };

export const trackServices = (trench: string) => ({
  stable: `${trench}-api-stable`,
  canary: `${trench}-api-canary`,
});

/** A backendRef to Service `name` in the route's own namespace. */
function isService(ref: BackendRef, name: string, namespace: string | undefined): boolean {
  return (
    ref.name === name &&
    (ref.group ?? '') === '' &&
    (ref.kind ?? 'Service') === 'Service' &&
    (ref.namespace === undefined || ref.namespace === namespace)
  );
}

export type RoutePlan =
  | { readonly ok: true; readonly ops: PatchOp[] }
  | { readonly ok: false; readonly error: string };

/**
 * The patch that gives the canary `canaryWeight` percent and stable the rest, in every rule
 * that sends to both track Services; none when the weights are already so. A rule naming only
 * one of them is refused: half a canary route would send a share nobody asked for.
 */
export function routeWeights(route: HttpRoute, trench: string, canaryWeight: number): RoutePlan {
  const name = route.metadata?.name ?? '';
  const svc = trackServices(trench);
  const rules = route.spec?.rules ?? [];
  const ops: PatchOp[] = [];
  let routed = 0;
  for (const [i, rule] of rules.entries()) {
    const refs = rule.backendRefs ?? [];
    const stable = refs.findIndex((r) => isService(r, svc.stable, route.metadata?.namespace));
    const canary = refs.findIndex((r) => isService(r, svc.canary, route.metadata?.namespace));
    if (stable < 0 && canary < 0) continue;
    if (stable < 0 || canary < 0) {
      return {
        ok: false,
        error: `HTTPRoute ${name} rule ${i} sends to Service ${stable < 0 ? svc.canary : svc.stable} but not to ${stable < 0 ? svc.stable : svc.canary}: a rule must name both track Services`,
      };
    }
    routed++;
    for (const [j, weight, service] of [
      [stable, 100 - canaryWeight, svc.stable],
      [canary, canaryWeight, svc.canary],
    ] as const) {
      if (refs[j]!.weight === weight) continue;
      ops.push({ op: 'test', path: `/spec/rules/${i}/backendRefs/${j}/name`, value: service });
      ops.push({ op: 'add', path: `/spec/rules/${i}/backendRefs/${j}/weight`, value: weight });
    }
  }
  if (routed === 0) {
    return {
      ok: false,
      error: `HTTPRoute ${name} has no rule sending to Services ${svc.stable} and ${svc.canary}`,
    };
  }
  return { ok: true, ops };
}

/**
 * Canary pods when the route sets the share: the weight's part of stable's count, rounded up,
 * at least 1 for any weight above 0 and at most stable's count (an abort stays instant).
 */
export function routedReplicas(stable: number, weight: number): number {
  if (weight <= 0) return 0;
  return Math.max(1, Math.min(Math.max(stable, 1), Math.ceil((stable * weight) / 100)));
}
