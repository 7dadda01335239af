// The API and worker Deployments of both tracks, from the spec's render and the canary decision.
// Pure.
//
// The shape is Flagger's primary/canary copy rather than Argo Rollouts' ReplicaSet swap: the
// stable Deployments (`<trench>-api`, `<trench>-worker`) keep their names, so the Service, the
// PodDisruptionBudgets, the scaler and `kubectl rollout status` work as they do without a
// rollout, and Kubernetes' own Deployment controller does every pod replacement. During a canary
// the stable Deployments keep the pod template they run, copied from the live objects: the
// live stable Deployment is the record of the stable revision, so nothing else has to be stored
// and a restarted operator finds it where it was. The canary Deployments (`<trench>-api-canary`,
// `<trench>-worker-canary`) run the spec's templates, labelled with the canary track and the
// revision so the stack's scrape configs tell their metrics apart.
//
// Promotion sets the stable Deployments to the spec's templates: the very ones the canary ran
// and the analysis passed, so no untested template is ever exposed. The API rolls with
// maxUnavailable 0 and the canary keeps serving until stable runs the new revision everywhere,
// so capacity never drops below what the spec asks for; then the canary goes.
import { LABEL_COMPONENT, LABEL_REVISION, LABEL_TRACK } from '../../charts/constructs/common.js';
import type { KubeObject } from '../runtime/types.js';
import { releaseRevision } from './revision.js';
import { splitReplicas } from './split.js';

export const CANARY_SUFFIX = '-canary';

export interface Deployment extends KubeObject {
  spec: {
    replicas?: number;
    selector: { matchLabels?: Record<string, string> };
    template: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec?: {
        topologySpreadConstraints?: { labelSelector?: { matchLabels?: Record<string, string> } }[];
      } & Record<string, unknown>;
    };
  } & Record<string, unknown>;
}

const isDeployment = (m: KubeObject, component: string): m is Deployment =>
  m.kind === 'Deployment' &&
  m.metadata?.labels?.[LABEL_COMPONENT] === component &&
  m.metadata?.labels?.[LABEL_TRACK] !== 'canary';

/** The stable API and worker Deployments of a render. */
export function releaseDeployments(manifests: readonly KubeObject[]): {
  api?: Deployment;
  worker?: Deployment;
} {
  const api = manifests.find((m) => isDeployment(m, 'api')) as Deployment | undefined;
  const worker = manifests.find((m) => isDeployment(m, 'worker')) as Deployment | undefined;
  return { ...(api ? { api } : {}), ...(worker ? { worker } : {}) };
}

/** The revision a render asks for; undefined when it has no API Deployment. */
export function revisionOf(manifests: readonly KubeObject[]): string | undefined {
  const { api, worker } = releaseDeployments(manifests);
  if (!api) return undefined;
  return releaseRevision({
    api: api.spec.template,
    ...(worker ? { worker: worker.spec.template } : {}),
  });
}

export interface TrackInput {
  /** The spec's render: every child, stable API and worker Deployments on its templates. */
  readonly desired: readonly KubeObject[];
  /** releaseRevision of the render. */
  readonly desiredRevision: string;
  /** The revision the stable track runs, and the canary's (none: no canary pods). */
  readonly stable: string;
  readonly canary?: string;
  readonly weight: number;
  /** The live stable Deployments, whose templates stable keeps while it is not desired. */
  readonly live: { readonly api?: KubeObject; readonly worker?: KubeObject };
  /** The stable workers' count (the scaler's), which the canary's is split from. */
  readonly stableWorkers?: number;
  /** Keep the canary Deployments, at 0 pods (an aborted canary, ready for a retry). */
  readonly keepCanary: boolean;
  /** Canary pods for a weight: the replica ratio by default (split.ts). */
  readonly split?: CanarySplit;
}

/** How many canary pods a weight takes, and the share of traffic that gives. */
export type CanarySplit = (
  stable: number,
  weight: number,
) => { readonly canary: number; readonly achievedWeight: number };

export interface TrackPlan {
  /** The render with the stable templates set and the canary Deployments added. */
  readonly desired: KubeObject[];
  readonly canaryReplicas: { readonly api: number; readonly worker?: number };
  /** The canary's share of API pods, in percent. */
  readonly achievedWeight: number;
  /** Stable Deployments the old template could not be found for: they take the spec's. */
  readonly missingStable: readonly string[];
}

export function planTracks(input: TrackInput): TrackPlan {
  const { api, worker } = releaseDeployments(input.desired);
  const missingStable: string[] = [];
  const keepStable = input.stable !== input.desiredRevision;
  const stableOf = (d: Deployment, live: KubeObject | undefined): Deployment => {
    const out = structuredClone(d);
    out.metadata = {
      ...out.metadata,
      labels: { ...out.metadata?.labels, [LABEL_REVISION]: input.stable },
    };
    const template = (live as Deployment | undefined)?.spec?.template;
    if (keepStable) {
      if (template) out.spec.template = structuredClone(template);
      else missingStable.push(d.metadata?.name ?? '');
    }
    return out;
  };
  const stableApi = api ? stableOf(api, input.live.api) : undefined;
  const stableWorker = worker ? stableOf(worker, input.live.worker) : undefined;

  const split = input.split ?? splitReplicas;
  const apiSplit = split(api?.spec.replicas ?? 0, input.canary ? input.weight : 0);
  const workerSplit = split(input.stableWorkers ?? 0, input.canary ? input.weight : 0);
  const canaries: KubeObject[] = [];
  const revision = input.canary ?? input.desiredRevision;
  if (input.canary !== undefined || input.keepCanary) {
    if (api) canaries.push(canaryOf(api, apiSplit.canary, revision));
    if (worker) canaries.push(canaryOf(worker, workerSplit.canary, revision));
  }
  const desired = input.desired.flatMap((m) => {
    if (m === api && stableApi) return [stableApi, ...canaries.slice(0, 1)];
    if (m === worker && stableWorker) return [stableWorker, ...canaries.slice(api ? 1 : 0)];
    return [m];
  });
  return {
    desired,
    canaryReplicas: {
      api: canaries.length > 0 ? apiSplit.canary : 0,
      ...(worker ? { worker: canaries.length > 0 ? workerSplit.canary : 0 } : {}),
    },
    achievedWeight: canaries.length > 0 ? apiSplit.achievedWeight : 0,
    missingStable,
  };
}

/**
 * The canary copy of a stable Deployment: `-canary` on the name, the canary track and the
 * revision on the Deployment, its selector and its pods, and its own replica count. The
 * worker's stable selector has no track label (it predates canaries, and a selector cannot
 * change in place), so it also spans the canary's pods; that is harmless, since a ReplicaSet
 * only counts pods it owns, and it is why the canary's selector is the narrower one.
 */
export function canaryOf(stable: Deployment, replicas: number, revision: string): Deployment {
  const d = structuredClone(stable);
  const track = { [LABEL_TRACK]: 'canary', [LABEL_REVISION]: revision };
  d.metadata = {
    ...d.metadata,
    name: `${stable.metadata?.name}${CANARY_SUFFIX}`,
    labels: { ...d.metadata?.labels, ...track },
  };
  d.spec.replicas = replicas;
  d.spec.selector = {
    matchLabels: { ...d.spec.selector.matchLabels, [LABEL_TRACK]: 'canary' },
  };
  d.spec.template.metadata = {
    ...d.spec.template.metadata,
    labels: { ...d.spec.template.metadata?.labels, ...track },
  };
  for (const c of d.spec.template.spec?.topologySpreadConstraints ?? []) {
    if (c.labelSelector?.matchLabels) {
      c.labelSelector.matchLabels = { ...c.labelSelector.matchLabels, [LABEL_TRACK]: 'canary' };
    }
  }
  return d;
}
