// Informers against the real API server: the cache follows creates, updates and deletes, keeps
// following across watch restarts (server-side watch timeouts, dropped connections, a period
// of refused connections), and owned objects map to their owner's key.
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient } from '../../../operator/runtime/client.js';
import { Informer } from '../../../operator/runtime/informer.js';
import { byControllerOwner } from '../../../operator/runtime/manager.js';
import type { KubeObject } from '../../../operator/runtime/types.js';
import { controllerOwnerRef } from '../../../operator/runtime/types.js';
import { WorkQueue } from '../../../operator/runtime/workqueue.js';
import { testCluster, useNamespace, waitFor } from '../support/cluster.js';
import { proxyConfig, TcpProxy } from '../support/proxy.js';

const ns = useNamespace('rt-informer');

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

const stops: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

function cm(
  name: string,
  value: string,
  extra: Partial<NonNullable<KubeObject['metadata']>> = {},
): ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: ns.name, labels: { suite: 'informer' }, ...extra },
    data: { value },
  };
}

function ref(name: string) {
  return { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, name };
}

function startInformer(
  client: KubeClient,
  options: { watchTimeoutSeconds?: number; backoffBaseMs?: number } = {},
) {
  const informer = new Informer<ConfigMap>({
    client,
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespace: ns.name,
    labelSelector: 'suite=informer',
    backoffBaseMs: options.backoffBaseMs ?? 200,
    backoffMaxMs: 2000,
    ...(options.watchTimeoutSeconds ? { watchTimeoutSeconds: options.watchTimeoutSeconds } : {}),
  });
  const seen: string[] = [];
  informer.onChange((o) => seen.push(`${o.metadata?.name}=${o.data?.value ?? ''}`));
  informer.start();
  stops.push(() => informer.stop());
  return { informer, seen };
}

const valueIs =
  (informer: Informer<ConfigMap>, name: string, value: string | undefined) => async () =>
    informer.get(name, ns.name)?.data?.value === value ? true : undefined;

describe('Informer', () => {
  it('lists, then follows create, update and delete', async () => {
    const client = new KubeClient(testCluster().kc);
    await client.apply(cm('before', '1'));
    const { informer, seen } = startInformer(client);
    expect(await informer.waitForSync(AbortSignal.timeout(30_000))).toBe(true);
    expect(informer.hasSynced()).toBe(true);
    expect(informer.get('before', ns.name)?.data?.value).toBe('1');
    // Cached objects are trimmed.
    expect(informer.get('before', ns.name)?.metadata?.managedFields).toBeUndefined();

    await client.apply(cm('after', 'a'));
    await waitFor(valueIs(informer, 'after', 'a'), { what: 'create in cache', timeoutMs: 10_000 });
    await client.apply(cm('after', 'b'));
    await waitFor(valueIs(informer, 'after', 'b'), { what: 'update in cache', timeoutMs: 10_000 });
    await client.delete(ref('after'));
    await waitFor(async () => (informer.get('after', ns.name) ? undefined : true), {
      what: 'delete in cache',
      timeoutMs: 10_000,
    });
    expect(seen).toEqual(['before=1', 'after=a', 'after=b', 'after=b']);
    expect(informer.list(ns.name).map((o) => o.metadata?.name)).toEqual(['before']);
  });

  it('keeps following across server-side watch timeouts', async () => {
    const client = new KubeClient(testCluster().kc);
    const { informer } = startInformer(client, { watchTimeoutSeconds: 1 });
    await informer.waitForSync(AbortSignal.timeout(30_000));
    for (let i = 0; i < 3; i++) {
      // Each round outlives a watch: the server ends it and ListWatch re-opens it.
      await new Promise((r) => setTimeout(r, 1500));
      await client.apply(cm('ticker', String(i)));
      await waitFor(valueIs(informer, 'ticker', String(i)), {
        what: `ticker=${i} in cache`,
        timeoutMs: 10_000,
      });
    }
  });

  it('survives dropped connections and an unreachable API server, and catches up', async () => {
    const { kc } = testCluster();
    const direct = new KubeClient(kc);
    const proxy = await TcpProxy.start(new URL(kc.getCurrentCluster()!.server));
    stops.push(() => proxy.close());
    const viaProxy = new KubeClient(proxyConfig(kc, proxy.port));
    await direct.apply(cm('survivor', '0'));
    await direct.apply(cm('doomed', '0'));
    const { informer } = startInformer(viaProxy);
    expect(await informer.waitForSync(AbortSignal.timeout(30_000))).toBe(true);

    // 1. The connection drops: the informer reconnects and sees later changes.
    proxy.dropConnections();
    await direct.apply(cm('survivor', '1'));
    await waitFor(valueIs(informer, 'survivor', '1'), {
      what: 'change after a dropped connection',
      timeoutMs: 15_000,
    });

    // 2. The API server is unreachable for a while; changes made meanwhile arrive afterwards,
    //    deletes included.
    await proxy.pause();
    await direct.apply(cm('survivor', '2'));
    await direct.apply(cm('newcomer', 'x'));
    await direct.delete(ref('doomed'));
    await new Promise((r) => setTimeout(r, 2000));
    expect(informer.get('survivor', ns.name)?.data?.value).toBe('1');
    await proxy.resume();
    await waitFor(valueIs(informer, 'survivor', '2'), {
      what: 'change made while unreachable',
      timeoutMs: 20_000,
    });
    await waitFor(valueIs(informer, 'newcomer', 'x'), {
      what: 'create made while unreachable',
      timeoutMs: 20_000,
    });
    await waitFor(async () => (informer.get('doomed', ns.name) ? undefined : true), {
      what: 'delete made while unreachable',
      timeoutMs: 20_000,
    });
    expect(informer.restarts).toBeGreaterThan(0);
    viaProxy.close();
  });

  it('maps events of owned objects to the owner key', async () => {
    const client = new KubeClient(testCluster().kc);
    const owner = await client.apply(
      // A ConfigMap stands in for a Trench; the mapping only looks at the owner reference.
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'parent', namespace: ns.name },
      } as KubeObject,
    );
    const queue = new WorkQueue();
    const informer = new Informer<ConfigMap>({
      client,
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: ns.name,
      labelSelector: 'suite=owned',
    });
    const toOwner = byControllerOwner({ apiVersion: 'v1', kind: 'ConfigMap' });
    informer.onChange((obj) => {
      for (const key of toOwner(obj)) queue.add(key);
    });
    informer.start();
    stops.push(() => informer.stop());
    await informer.waitForSync(AbortSignal.timeout(30_000));
    await client.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'child',
        namespace: ns.name,
        labels: { suite: 'owned' },
        ownerReferences: [controllerOwnerRef(owner)],
      },
    } as KubeObject);
    const key = await Promise.race([
      queue.get(),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000)),
    ]);
    expect(key).toBe(`${ns.name}/parent`);
    expect(informer.listByOwner(owner.metadata?.uid ?? '').map((o) => o.metadata?.name)).toEqual([
      'child',
    ]);
    queue.shutdown();
  });
});
