// One list of kinds (charts/operator-kinds.ts) ties together what the charts render, what the
// operator watches and may prune, and what its ClusterRole grants. These tests fail when one of
// the three moves without the others.
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  OPERATOR_KINDS,
  operatorClusterRules,
  operatorKinds,
} from '../../../charts/operator-kinds.js';
import { renderTrench } from '../../../charts/trench-chart.js';
import { SharedInformers } from '../../../operator/runtime/cache.js';
import { KubeClient } from '../../../operator/runtime/client.js';
import { nullLogger } from '../../../operator/runtime/log.js';
import { generatedSecrets } from '../../../operator/trench/credentials.js';
import { TRENCH } from '../../../operator/trench/kinds.js';
import { trenchController } from '../../../operator/trench/setup.js';
import { full, minimal } from './fixtures.js';

const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0] : '');

/** Every kind the operator creates for Trenches rendered with every option on. */
function maximalKinds(prometheusOperator: boolean): Set<string> {
  const kinds = new Set<string>();
  const options = { prometheusOperator, networkPolicies: true };
  // minimal: managed Redis and Postgres, backups, monitoring; full: external Redis, rollout.
  // The canary Deployments the operator adds (operator/rollout/tracks.ts) are Deployments too.
  for (const trench of [minimal(), full()]) {
    for (const m of renderTrench(trench, options)) kinds.add(`${m.apiVersion}/${m.kind}`);
    const secrets = generatedSecrets({
      metadata: { ...trench.metadata, uid: 'u' },
      spec: trench.spec,
    } as Parameters<typeof generatedSecrets>[0]);
    for (const s of secrets) kinds.add(`${s.apiVersion}/${s.kind}`);
  }
  return kinds;
}

function controllerKinds(prometheusOperator: boolean): Set<string> {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const client = new KubeClient(kc);
  const informers = new SharedInformers({ client });
  const controller = trenchController({
    client,
    informers,
    log: nullLogger,
    render: { prometheusOperator },
  });
  const watched = new Set(
    (controller.spec.watches ?? []).map((w) => `${w.informer.apiVersion}/${w.informer.kind}`),
  );
  // Informers are made, never started: nothing here talks to the address above.
  expect(informers.all().map((i) => `${i.apiVersion}/${i.kind}`)).toContain(
    `${TRENCH.apiVersion}/${TRENCH.kind}`,
  );
  return watched;
}

describe.each([false, true])('with prometheusOperator %s', (prometheusOperator) => {
  const listed = new Set(operatorKinds(prometheusOperator).map((k) => `${k.apiVersion}/${k.kind}`));

  it('every kind a Trench renders is in the list, and every listed kind but the retired is rendered', () => {
    const current = operatorKinds(prometheusOperator)
      .filter((k) => k.role !== 'retired')
      .map((k) => `${k.apiVersion}/${k.kind}`);
    expect([...maximalKinds(prometheusOperator)].sort()).toEqual(current.sort());
  });

  it('the Trench controller watches exactly the listed kinds, TrenchRestores, and a release migration', () => {
    // A restore in Quiescing or Restoring holds the API at 0 replicas (operator/backup/restore.ts);
    // a release's migration waits for its TrenchBackup and Job (operator/rollout/migration.ts).
    expect([...controllerKinds(prometheusOperator)].sort()).toEqual(
      [
        ...listed,
        'playtrenches.xyz/v1alpha1/TrenchRestore',
        'playtrenches.xyz/v1alpha1/TrenchBackup',
        'batch/v1/Job',
      ].sort(),
    );
  });

  it('RBAC grants each listed kind what the operator does with it, and nothing more', () => {
    const rules = operatorClusterRules(prometheusOperator);
    const granted = new Map<string, Set<string>>();
    for (const r of rules)
      for (const g of r.apiGroups)
        for (const res of r.resources)
          granted.set(`${g}/${res}`, new Set([...(granted.get(`${g}/${res}`) ?? []), ...r.verbs]));
    for (const k of operatorKinds(prometheusOperator)) {
      const verbs = granted.get(`${groupOf(k.apiVersion)}/${k.plural}`);
      expect(verbs, `${k.kind}`).toBeDefined();
      // Informers list and watch; apply is a patch; prune deletes.
      for (const v of ['get', 'list', 'watch']) expect(verbs).toContain(v);
      if (k.role === 'rendered')
        for (const v of ['create', 'patch', 'delete']) expect(verbs).toContain(v);
      else if (k.role === 'generated') {
        expect(verbs).toContain('create');
        for (const v of ['update', 'patch', 'delete']) expect(verbs).not.toContain(v);
      } else {
        // Retired: prune deletes what an older version created, nothing makes new ones.
        expect(verbs).toContain('delete');
        for (const v of ['create', 'update', 'patch']) expect(verbs).not.toContain(v);
      }
    }
    // Beyond the listed kinds: the Trench itself, its status, its finalizers, and events.
    const uses = new Set([
      ...operatorKinds(prometheusOperator).map((k) => `${groupOf(k.apiVersion)}/${k.plural}`),
      'playtrenches.xyz/trenches',
      'playtrenches.xyz/trenches/status',
      'playtrenches.xyz/trenches/finalizers',
      'events.k8s.io/events',
      'playtrenches.xyz/trenchbackups',
      'playtrenches.xyz/trenchbackups/status',
      'playtrenches.xyz/trenchbackups/finalizers',
      'playtrenches.xyz/trenchrestores',
      'playtrenches.xyz/trenchrestores/status',
      'playtrenches.xyz/trenchrestores/finalizers',
      'batch/jobs',
      '/pods',
      // The weights of a user's HTTPRoute, read and patched only.
      'gateway.networking.k8s.io/httproutes',
    ]);
    expect(granted.get('gateway.networking.k8s.io/httproutes')).toEqual(new Set(['get', 'patch']));
    expect([...granted.keys()].filter((g) => !uses.has(g))).toEqual([]);
    expect(granted.get('playtrenches.xyz/trenches')).toEqual(new Set(['get', 'list', 'watch']));
  });
});

it('the Prometheus Operator kinds are the only optional ones', () => {
  const optional = OPERATOR_KINDS.filter((k) => k.prometheusOperator).map((k) => k.kind);
  expect(optional.sort()).toEqual(['PodMonitor', 'PrometheusRule', 'ServiceMonitor']);
  expect(operatorKinds(false).some((k) => k.prometheusOperator)).toBe(false);
});
