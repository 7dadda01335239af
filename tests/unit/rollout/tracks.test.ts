import { describe, expect, it } from 'vitest';
import { renderTrench } from '../../../charts/trench-chart.js';
import { durationSeconds, stepsOf } from '../../../operator/rollout/step.js';
import {
  canaryOf,
  type Deployment,
  planTracks,
  releaseDeployments,
  revisionOf,
} from '../../../operator/rollout/tracks.js';
import type { KubeObject } from '../../../operator/runtime/types.js';
import { minimal } from '../charts/fixtures.js';

const TRACK = 'playtrenches.xyz/track';
const REVISION = 'playtrenches.xyz/revision';

function render(image = 'ghcr.io/playtrenches/shop-api:1.0.0', replicas = 3) {
  const t = minimal();
  const spec = t.spec as { api: Record<string, unknown> };
  return renderTrench({
    ...t,
    spec: { ...spec, api: { ...spec.api, image, replicas } },
  }) as unknown as KubeObject[];
}

const deployments = (ms: readonly KubeObject[]) =>
  ms.filter((m) => m.kind === 'Deployment') as Deployment[];
const image = (d: Deployment | undefined) =>
  (d?.spec.template.spec as { containers: { image: string }[] } | undefined)?.containers[0]?.image;

describe('revisionOf', () => {
  it('changes with the API image, not with its replicas', () => {
    expect(revisionOf(render('a:1', 3))).toBe(revisionOf(render('a:1', 5)));
    expect(revisionOf(render('a:1'))).not.toBe(revisionOf(render('a:2')));
  });
});

describe('planTracks', () => {
  const v1 = render('a:1');
  const v2 = render('a:2');
  const r1 = revisionOf(v1)!;
  const r2 = revisionOf(v2)!;
  const liveV1 = releaseDeployments(v1);

  it('with no canary, renders the spec and labels stable with its revision', () => {
    const plan = planTracks({
      desired: v1,
      desiredRevision: r1,
      stable: r1,
      weight: 0,
      live: {},
      keepCanary: false,
    });
    const ds = deployments(plan.desired);
    expect(ds.map((d) => d.metadata?.name)).toEqual(['demo-api', 'demo-worker']);
    expect(ds.every((d) => d.metadata?.labels?.[REVISION] === r1)).toBe(true);
    expect(plan.achievedWeight).toBe(0);
    expect(plan.desired).toHaveLength(v1.length);
  });

  it('mid-canary keeps the live stable template and adds both canaries at the split', () => {
    const plan = planTracks({
      desired: v2,
      desiredRevision: r2,
      stable: r1,
      canary: r2,
      weight: 20,
      live: { api: liveV1.api!, worker: liveV1.worker! },
      stableWorkers: 10,
      keepCanary: false,
    });
    const ds = deployments(plan.desired);
    expect(ds.map((d) => d.metadata?.name)).toEqual([
      'demo-api',
      'demo-api-canary',
      'demo-worker',
      'demo-worker-canary',
    ]);
    const [api, apiCanary, worker, workerCanary] = ds;
    // Stable runs v1's template (copied from the live object), the canary v2's.
    expect(image(api)).toBe('a:1');
    expect(api!.spec.template).toEqual(liveV1.api!.spec.template);
    expect(worker!.spec.template).toEqual(liveV1.worker!.spec.template);
    expect(image(apiCanary)).toBe('a:2');
    expect(api!.metadata?.labels?.[REVISION]).toBe(r1);
    // stable 3 at 20 -> 1 canary (25 %); stable workers 10 at 20 -> 3.
    expect(api!.spec.replicas).toBe(3);
    expect(apiCanary!.spec.replicas).toBe(1);
    expect(workerCanary!.spec.replicas).toBe(3);
    expect(plan.canaryReplicas).toEqual({ api: 1, worker: 3 });
    expect(plan.achievedWeight).toBe(25);
    for (const c of [apiCanary!, workerCanary!]) {
      expect(c.metadata?.labels).toMatchObject({ [TRACK]: 'canary', [REVISION]: r2 });
      expect(c.spec.template.metadata?.labels).toMatchObject({ [TRACK]: 'canary', [REVISION]: r2 });
      expect(c.spec.selector.matchLabels?.[TRACK]).toBe('canary');
      // Its selector picks its own pods only.
      const sel = c.spec.selector.matchLabels!;
      const pods = c.spec.template.metadata!.labels!;
      expect(Object.entries(sel).every(([k, v]) => pods[k] === v)).toBe(true);
      // Owned by the Trench, like every child, so prune and garbage collection reach it.
      expect(c.metadata?.ownerReferences?.[0]?.kind).toBe('Trench');
    }
    // Stable API pods are never selected by the canary's selector.
    const stablePods = api!.spec.template.metadata!.labels!;
    expect(stablePods[TRACK]).toBe('stable');
  });

  it('promoting: stable takes the spec (the tested template) while the canary still serves', () => {
    const plan = planTracks({
      desired: v2,
      desiredRevision: r2,
      stable: r2,
      canary: r2,
      weight: 50,
      live: { api: liveV1.api!, worker: liveV1.worker! },
      stableWorkers: 2,
      keepCanary: false,
    });
    const [api, apiCanary] = deployments(plan.desired);
    expect(image(api)).toBe('a:2');
    // The very pod spec the canary ran and the analysis judged (but for the spread's track).
    const { topologySpreadConstraints: _a, ...stablePod } = api!.spec.template.spec!;
    const { topologySpreadConstraints: _b, ...canaryPod } = apiCanary!.spec.template.spec!;
    expect(stablePod).toEqual(canaryPod);
    expect(api!.metadata?.labels?.[REVISION]).toBe(r2);
    expect(apiCanary!.spec.replicas).toBe(3);
  });

  it('aborted: the canaries stay at 0 pods, stable on the old template', () => {
    const plan = planTracks({
      desired: v2,
      desiredRevision: r2,
      stable: r1,
      weight: 0,
      live: { api: liveV1.api!, worker: liveV1.worker! },
      stableWorkers: 4,
      keepCanary: true,
    });
    const ds = deployments(plan.desired);
    expect(ds.map((d) => [d.metadata?.name, d.spec.replicas])).toEqual([
      ['demo-api', 3],
      ['demo-api-canary', 0],
      ['demo-worker', undefined],
      ['demo-worker-canary', 0],
    ]);
    expect(image(ds[0])).toBe('a:1');
    expect(plan.achievedWeight).toBe(0);
  });

  it('says when the stable template is gone and falls back to the spec', () => {
    const plan = planTracks({
      desired: v2,
      desiredRevision: r2,
      stable: r1,
      canary: r2,
      weight: 20,
      live: {},
      keepCanary: false,
    });
    expect(plan.missingStable).toEqual(['demo-api', 'demo-worker']);
    expect(image(deployments(plan.desired)[0])).toBe('a:2');
  });

  it('canaryOf narrows the topology spread to its own track', () => {
    const c = canaryOf(liveV1.api!, 2, 'abc');
    const spread = (c.spec.template.spec?.topologySpreadConstraints ?? [])[0];
    expect(spread?.labelSelector?.matchLabels?.[TRACK]).toBe('canary');
    expect(c.metadata?.name).toBe('demo-api-canary');
  });
});

describe('steps and durations', () => {
  it.each([
    ['30s', 30],
    ['5m', 300],
    ['1h30m', 5400],
    ['1500ms', 2],
    ['0s', 0],
  ])('%s is %i s', (text, seconds) => {
    expect(durationSeconds(text)).toBe(seconds);
  });
  it('refuses what is not a duration', () => {
    expect(() => durationSeconds('5 minutes')).toThrow('not a duration: "5 minutes"');
    expect(() => durationSeconds('')).toThrow('not a duration');
  });
  it('turns the spec steps into the state machine steps', () => {
    expect(
      stepsOf({
        steps: [{ setWeight: 20 }, { pause: { duration: '1m' } }, { pause: {} }],
      } as Parameters<typeof stepsOf>[0]),
    ).toEqual([{ setWeight: 20 }, { pause: { durationSeconds: 60 } }, { pause: {} }]);
    expect(stepsOf(undefined)).toEqual([]);
  });
});
