// Leader election with two electors in one process on one Lease, at the real timings
// (15 s lease, 10 s renew deadline, 2 s retry): exactly one leads; after the leader stops
// renewing (a crash: its loop stops, no release) the other takes over within 20 s; after a
// graceful stop (release) the other takes over at once.
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient } from '../../../operator/runtime/client.js';
import type { Lease } from '../../../operator/runtime/leader.js';
import { LeaderElector } from '../../../operator/runtime/leader.js';
import { testCluster, useNamespace, waitFor } from '../support/cluster.js';

const ns = useNamespace('rt-leader');
const electors: LeaderElector[] = [];
afterEach(async () => {
  for (const e of electors.splice(0)) await e.stop({ release: false });
});

interface Candidate {
  readonly elector: LeaderElector;
  readonly log: string[];
  /** True while onStartedLeading's signal is not aborted. */
  leading(): boolean;
}

function candidate(identity: string, leaseName: string): Candidate {
  const client = new KubeClient(testCluster().kc);
  const log: string[] = [];
  let signal: AbortSignal | undefined;
  const elector = new LeaderElector({
    client,
    namespace: ns.name,
    name: leaseName,
    identity,
    onStartedLeading: (s) => {
      signal = s;
      log.push('started');
    },
    onStoppedLeading: () => {
      log.push('stopped');
    },
  });
  electors.push(elector);
  return { elector, log, leading: () => signal !== undefined && !signal.aborted };
}

async function lease(name: string): Promise<Lease | undefined> {
  const client = new KubeClient(testCluster().kc);
  return client.get<Lease>({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    namespace: ns.name,
    name,
  });
}

describe('LeaderElector', () => {
  it('elects exactly one leader and hands over within 20 s when it stops renewing', async () => {
    const a = candidate('a', 'crash');
    const b = candidate('b', 'crash');
    a.elector.start();
    b.elector.start();
    const first = await waitFor(async () => (a.leading() ? a : b.leading() ? b : undefined), {
      what: 'a leader',
      timeoutMs: 20_000,
    });
    const second = first === a ? b : a;
    // Watch for a while: never two leaders, and the Lease names the one that leads.
    for (let i = 0; i < 12; i++) {
      expect(a.leading() && b.leading()).toBe(false);
      expect(first.leading()).toBe(true);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect((await lease('crash'))?.spec?.holderIdentity).toBe(first.elector.identity);
    expect((await lease('crash'))?.spec?.leaseDurationSeconds).toBe(15);

    // Crash: the leader's loop stops without releasing the Lease.
    const crashedAt = Date.now();
    await first.elector.stop({ release: false });
    expect((await lease('crash'))?.spec?.holderIdentity).toBe(first.elector.identity);
    await waitFor(async () => (second.leading() ? true : undefined), {
      what: 'the standby to take over',
      timeoutMs: 25_000,
      intervalMs: 100,
    });
    const handover = Date.now() - crashedAt;
    expect(handover).toBeLessThan(20_000);
    // It had to wait the lease out: not before 15 s minus one retry period.
    expect(handover).toBeGreaterThan(12_000);
    const after = await lease('crash');
    expect(after?.spec?.holderIdentity).toBe(second.elector.identity);
    expect(after?.spec?.leaseTransitions).toBeGreaterThanOrEqual(1);
    expect(first.log).toEqual(['started', 'stopped']);
  });

  it('hands over at once when the leader releases the Lease', async () => {
    const a = candidate('a', 'release');
    a.elector.start();
    await waitFor(async () => (a.leading() ? true : undefined), {
      what: 'a to lead',
      timeoutMs: 20_000,
    });
    const b = candidate('b', 'release');
    b.elector.start();
    await new Promise((r) => setTimeout(r, 3000));
    expect(b.leading()).toBe(false);

    const releasedAt = Date.now();
    await a.elector.stop({ release: true });
    expect(a.leading()).toBe(false);
    const released = await lease('release');
    // Either still released, or b got there already.
    expect(['', 'b']).toContain(released?.spec?.holderIdentity ?? '');
    await waitFor(async () => (b.leading() ? true : undefined), {
      what: 'b to take over',
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    // One retry period (2 s) plus request time, not a lease duration.
    expect(Date.now() - releasedAt).toBeLessThan(4_000);
  });

  it('a leader that cannot renew stops within the renew deadline', async () => {
    const a = candidate('a', 'deadline');
    a.elector.start();
    await waitFor(async () => (a.leading() ? true : undefined), {
      what: 'a to lead',
      timeoutMs: 20_000,
    });
    // Someone takes the Lease away by force (an admin, or a split brain): the next renew sees
    // another holder and a stops at once.
    const client = new KubeClient(testCluster().kc);
    const current = await lease('deadline');
    await client.replace<Lease>({
      ...(current as Lease),
      spec: { ...current?.spec, holderIdentity: 'intruder' },
    });
    await waitFor(async () => (a.leading() ? undefined : true), {
      what: 'a to step down',
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    expect(a.log).toEqual(['started', 'stopped']);
  });
});
