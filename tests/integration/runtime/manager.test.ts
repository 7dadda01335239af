// Two operator processes' worth of Managers in one process on one Lease: only the leader
// reconciles; a graceful stop releases the Lease, and the standby takes over, resyncs every
// key and reconciles new changes.
import { afterEach, describe, expect, it } from 'vitest';
import { SharedInformers } from '../../../operator/runtime/cache.js';
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

describe('Manager with shared informers', () => {
  it('runs two controllers on one cache per kind and routes by what an object names', async () => {
    const client = new KubeClient(testCluster().kc);
    const informers = new SharedInformers({ client, namespace: ns.name });
    const configMaps = informers.informer(
      { apiVersion: 'v1', kind: 'ConfigMap' },
      {
        labelSelector: 'suite=shared',
      },
    );
    const secrets = informers.informer(
      { apiVersion: 'v1', kind: 'Secret' },
      {
        labelSelector: 'suite=shared',
      },
    );
    // A second ask for the same kind is the same informer; another selector is refused.
    expect(
      informers.informer(
        { apiVersion: 'v1', kind: 'ConfigMap' },
        { labelSelector: 'suite=shared' },
      ),
    ).toBe(configMaps);
    expect(() =>
      informers.informer({ apiVersion: 'v1', kind: 'ConfigMap' }, { labelSelector: 'other=1' }),
    ).toThrow(/already watches/);
    const calls: string[] = [];
    const m = new Manager({
      client,
      informers: informers.all(),
      controllers: [
        {
          name: 'configmaps',
          primary: configMaps,
          reconcile: async (key) => {
            calls.push(`configmaps ${key}`);
            return undefined;
          },
        },
        {
          name: 'secrets',
          primary: secrets,
          // A ConfigMap names the Secret it is about in its data, as a TrenchRestore names its
          // Trench in spec: no ownerReference involved.
          watches: [
            {
              informer: configMaps,
              keys: (obj) => {
                const target = (obj as { data?: Record<string, string> }).data?.about;
                return target ? [`${obj.metadata?.namespace}/${target}`] : [];
              },
            },
          ],
          reconcile: async (key) => {
            calls.push(`secrets ${key}`);
            return undefined;
          },
        },
      ],
      leaderElection: false,
    });
    managers.push(m);
    expect(informers.all()).toHaveLength(2);
    await m.start();
    // Events before the term starts feed no queue; the term's resync covers primaries only.
    await waitFor(async () => (m.isLeader() ? true : undefined), {
      what: 'the controllers to start',
      timeoutMs: 10_000,
    });
    await client.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'note', namespace: ns.name, labels: { suite: 'shared' } },
      data: { about: 'vault' },
    } as KubeObject);
    await waitFor(
      async () =>
        calls.includes(`configmaps ${ns.name}/note`) && calls.includes(`secrets ${ns.name}/vault`)
          ? true
          : undefined,
      { what: 'both controllers to reconcile from one ConfigMap event', timeoutMs: 10_000 },
    );
    expect(calls).not.toContain(`secrets ${ns.name}/note`);
  });

  it('refuses a controller whose informer it does not run', () => {
    const client = new KubeClient(testCluster().kc);
    const informers = new SharedInformers({ client, namespace: ns.name });
    const cm = informers.informer({ apiVersion: 'v1', kind: 'ConfigMap' });
    expect(
      () =>
        new Manager({
          client,
          informers: [],
          controllers: [{ name: 'x', primary: cm, reconcile: async () => undefined }],
          leaderElection: false,
        }),
    ).toThrow(/watches ConfigMap, whose informer the Manager does not run/);
  });
});
