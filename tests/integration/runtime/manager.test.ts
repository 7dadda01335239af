// Two operator processes' worth of Managers in one process on one Lease: only the leader
// reconciles; a graceful stop releases the Lease, and the standby takes over, resyncs every
// key and reconciles new changes.
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient } from '../../../operator/runtime/client.js';
import { Informer } from '../../../operator/runtime/informer.js';
import { Manager } from '../../../operator/runtime/manager.js';
import type { KubeObject } from '../../../operator/runtime/types.js';
import { testCluster, useNamespace, waitFor } from '../support/cluster.js';

const ns = useNamespace('rt-manager');
const managers: Manager[] = [];
afterEach(async () => {
  for (const m of managers.splice(0)) await m.stop();
});

function manager(identity: string, calls: string[]): Manager {
  const client = new KubeClient(testCluster().kc);
  const informer = new Informer<KubeObject>({
    client,
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespace: ns.name,
    labelSelector: 'suite=manager',
  });
  const m = new Manager({
    client,
    informers: [informer],
    controllers: [
      {
        name: 'configmap',
        primary: informer,
        workers: 2,
        reconcile: async (key) => {
          calls.push(`${identity} ${key}`);
          return undefined;
        },
      },
    ],
    leaderElection: { namespace: ns.name, name: 'manager-test', identity },
  });
  managers.push(m);
  return m;
}

describe('Manager', () => {
  it('reconciles on the leader only and hands over on a graceful stop', async () => {
    const client = new KubeClient(testCluster().kc);
    const cm = (name: string) =>
      ({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name, namespace: ns.name, labels: { suite: 'manager' } },
      }) as KubeObject;
    await client.apply(cm('a'));
    const calls: string[] = [];
    const m1 = manager('one', calls);
    const m2 = manager('two', calls);
    await m1.start();
    await m2.start();
    const leader = await waitFor(
      async () => (m1.isLeader() ? 'one' : m2.isLeader() ? 'two' : undefined),
      {
        what: 'a leader',
        timeoutMs: 30_000,
      },
    );
    const [first, second] = leader === 'one' ? [m1, m2] : [m2, m1];
    const standby = leader === 'one' ? 'two' : 'one';
    await waitFor(async () => (calls.includes(`${leader} ${ns.name}/a`) ? true : undefined), {
      what: 'resync of a',
      timeoutMs: 10_000,
    });
    await client.apply(cm('b'));
    await waitFor(async () => (calls.includes(`${leader} ${ns.name}/b`) ? true : undefined), {
      what: 'reconcile of b',
      timeoutMs: 10_000,
    });
    expect(calls.filter((c) => c.startsWith(standby))).toEqual([]);
    expect(second.isLeader()).toBe(false);

    await first.stop();
    managers.splice(managers.indexOf(first), 1);
    // A graceful stop released the Lease (so the standby need not wait it out) and ended the
    // term: the stopped one reconciles nothing more.
    const lease = await client.get<{ spec?: { holderIdentity?: string } } & KubeObject>({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      namespace: ns.name,
      name: 'manager-test',
    });
    expect(lease?.spec?.holderIdentity).not.toBe(leader);
    expect(first.isLeader()).toBe(false);
    const byLeader = calls.filter((c) => c.startsWith(`${leader} `)).length;
    await waitFor(
      async () =>
        calls.includes(`${standby} ${ns.name}/b`) && calls.includes(`${standby} ${ns.name}/a`)
          ? true
          : undefined,
      {
        what: 'the standby to take over and resync',
        timeoutMs: 30_000,
        intervalMs: 100,
      },
    );
    expect(second.isLeader()).toBe(true);
    await client.apply(cm('c'));
    await waitFor(async () => (calls.includes(`${standby} ${ns.name}/c`) ? true : undefined), {
      what: 'the new leader to reconcile c',
      timeoutMs: 10_000,
    });
    expect(calls.filter((c) => c.startsWith(`${leader} `))).toHaveLength(byLeader);
  });
});
