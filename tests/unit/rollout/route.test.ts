import { describe, expect, it } from 'vitest';
import { renderTrench } from '../../../charts/trench-chart.js';
import { routedReplicas, routeWeights } from '../../../operator/rollout/route.js';
import { minimal } from '../charts/fixtures.js';

const route = (rules: { backendRefs: Record<string, unknown>[] }[]) => ({
  metadata: { name: 'shop', namespace: 'prod' },
  spec: { rules },
});
const both = (stable?: number, canary?: number) => ({
  backendRefs: [
    { name: 'demo-api-stable', port: 80, ...(stable !== undefined ? { weight: stable } : {}) },
    { name: 'demo-api-canary', port: 80, ...(canary !== undefined ? { weight: canary } : {}) },
  ],
});

describe('routeWeights', () => {
  it('sets exactly the two track weights, each after a test of its backendRef name', () => {
    const plan = routeWeights(route([{ backendRefs: [{ name: 'other' }] }, both()]), 'demo', 20);
    expect(plan).toEqual({
      ok: true,
      ops: [
        { op: 'test', path: '/spec/rules/1/backendRefs/0/name', value: 'demo-api-stable' },
        { op: 'add', path: '/spec/rules/1/backendRefs/0/weight', value: 80 },
        { op: 'test', path: '/spec/rules/1/backendRefs/1/name', value: 'demo-api-canary' },
        { op: 'add', path: '/spec/rules/1/backendRefs/1/weight', value: 20 },
      ],
    });
  });

  it('changes nothing when the weights are already so', () => {
    expect(routeWeights(route([both(80, 20)]), 'demo', 20)).toEqual({ ok: true, ops: [] });
  });

  it('refuses a route that does not send to both track Services, naming what is missing', () => {
    expect(
      routeWeights(route([{ backendRefs: [{ name: 'demo-api-stable' }] }]), 'demo', 20),
    ).toEqual({
      ok: false,
      error:
        'HTTPRoute shop rule 0 sends to Service demo-api-stable but not to demo-api-canary: a rule must name both track Services',
    });
    expect(routeWeights(route([{ backendRefs: [{ name: 'web' }] }]), 'demo', 0)).toEqual({
      ok: false,
      error: 'HTTPRoute shop has no rule sending to Services demo-api-stable and demo-api-canary',
    });
    // Another namespace's Service of the same name is not ours.
    const foreign = route([
      {
        backendRefs: [{ name: 'demo-api-stable', namespace: 'other' }, { name: 'demo-api-canary' }],
      },
    ]);
    expect(routeWeights(foreign, 'demo', 10).ok).toBe(false);
  });
});

describe('routedReplicas', () => {
  it.each([
    [4, 0, 0],
    [4, 10, 1],
    [4, 25, 1],
    [4, 50, 2],
    [10, 20, 2],
    [3, 100, 3],
    [0, 50, 1],
  ])('stable %i at weight %i runs %i canary pods', (stable, weight, canary) => {
    expect(routedReplicas(stable, weight)).toBe(canary);
  });
});

describe('track Services', () => {
  it('are rendered only with Gateway API routing, each selecting its track', () => {
    const names = (spec: unknown) =>
      renderTrench({ ...minimal(), spec })
        .filter((o) => o.kind === 'Service')
        .map((o) => o.metadata.name);
    const spec = minimal().spec as Record<string, unknown>;
    expect(names(spec)).not.toContain('demo-api-canary');
    const routed = { ...spec, rollout: { trafficRouting: { gatewayAPI: { httpRoute: 'shop' } } } };
    const services = renderTrench({ ...minimal(), spec: routed }).filter(
      (o) => o.kind === 'Service',
    );
    const canary = services.find((o) => o.metadata.name === 'demo-api-canary');
    const stable = services.find((o) => o.metadata.name === 'demo-api-stable');
    expect(canary?.spec.selector['playtrenches.xyz/track']).toBe('canary');
    expect(stable?.spec.selector['playtrenches.xyz/track']).toBe('stable');
    expect(names(routed)).toContain('demo-api');
  });
});
