// Leader election with several electors in one process on one Lease: exactly one leads; when
// the leader stops renewing (a crash: its loop stops, no release) the other takes over, but
// only once the lease has run out; a released Lease is taken without waiting it out; a leader
// cut off from the API server stops leading on its own before anybody else may take over.
// How long handovers take is bench/leader.ts's business, not an assertion here.
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient } from '../../../operator/runtime/client.js';
import type { LeaderElectorOptions, Lease } from '../../../operator/runtime/leader.js';
import { LeaderElector } from '../../../operator/runtime/leader.js';
import { testCluster, useNamespace, waitFor } from '../support/cluster.js';
import { proxyConfig, TcpProxy } from '../support/proxy.js';

const ns = useNamespace('rt-leader');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Candidate {
  readonly elector: LeaderElector;
  /** This candidate's 'started' and 'stopped', in order. */
  readonly log: string[];
  /** The signal of the current or last term. */
  signal(): AbortSignal | undefined;
  /** True while onStartedLeading's signal is not aborted. */
  leading(): boolean;
}

type Timings = Pick<LeaderElectorOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>;

function candidate(
  identity: string,
  leaseName: string,
  options: { client?: KubeClient; timings?: Timings; events?: string[] } = {},
): Candidate {
  const client = options.client ?? new KubeClient(testCluster().kc);
  const log: string[] = [];
  let signal: AbortSignal | undefined;
  const elector = new LeaderElector({
    client,
    namespace: ns.name,
    name: leaseName,
    identity,
    ...options.timings,
    onStartedLeading: (s) => {
      signal = s;
      log.push('started');
      options.events?.push(`${identity} started`);
    },
    onStoppedLeading: () => {
      log.push('stopped');
      options.events?.push(`${identity} stopped`);
    },
  });
  cleanups.push(() => elector.stop({ release: false }));
  return {
    elector,
    log,
    signal: () => signal,
    leading: () => signal !== undefined && !signal.aborted,
  };
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LeaderElector', () => {
  it('elects exactly one leader; when it stops renewing the other takes over once the lease ran out', async () => {
    // The real timings: 15 s lease, 10 s renew deadline, 2 s retry.
    const a = candidate('a', 'crash');
    const b = candidate('b', 'crash');
    a.elector.start();
    b.elector.start();
    const first = await waitFor(async () => (a.leading() ? a : b.leading() ? b : undefined), {
      what: 'a leader',
      timeoutMs: 20_000,
    });
    const second = first === a ? b : a;
    // Watch across several retry periods: never two leaders, and the Lease names the one that
    // leads.
    for (let i = 0; i < 12; i++) {
      expect(a.leading() && b.leading()).toBe(false);
      expect(first.leading()).toBe(true);
      await sleep(500);
    }
    const held = await lease('crash');
    expect(held?.spec?.holderIdentity).toBe(first.elector.identity);
    expect(held?.spec?.leaseDurationSeconds).toBe(15);

    // Crash: the leader's loop stops without releasing the Lease.
    await first.elector.stop({ release: false });
    const orphaned = await lease('crash');
    expect(orphaned?.spec?.holderIdentity).toBe(first.elector.identity);
    await waitFor(async () => (second.leading() ? true : undefined), {
      what: 'the standby to take over',
      timeoutMs: 40_000,
      intervalMs: 100,
    });
    const after = await lease('crash');
    expect(after?.spec?.holderIdentity).toBe(second.elector.identity);
    expect(after?.spec?.leaseTransitions).toBe((orphaned?.spec?.leaseTransitions ?? 0) + 1);
    // The Lease's own invariant: the new term was acquired no earlier than the old one ran out
    // (its last renewTime plus its leaseDurationSeconds). Both stamps come from this process's
    // clock, so this holds exactly, however slow the machine.
    const expiredAt =
      Date.parse(orphaned?.spec?.renewTime ?? '') +
      (orphaned?.spec?.leaseDurationSeconds ?? 0) * 1000;
    expect(Date.parse(after?.spec?.acquireTime ?? '')).toBeGreaterThanOrEqual(expiredAt);
    expect(first.log).toEqual(['started', 'stopped']);
    expect(second.log).toEqual(['started']);
  });

  it('hands over without waiting the lease out when the leader releases the Lease', async () => {
    // A lease of ten minutes: within this test, only a release lets b take over.
    const timings = { leaseDurationMs: 600_000, renewDeadlineMs: 10_000, retryPeriodMs: 1_000 };
    const a = candidate('a', 'release', { timings });
    a.elector.start();
    await waitFor(async () => (a.leading() ? true : undefined), {
      what: 'a to lead',
      timeoutMs: 20_000,
    });
    const b = candidate('b', 'release', { timings });
    b.elector.start();
    // b sees the Lease held and waits through several of its tries.
    await waitFor(
      async () => ((await lease('release'))?.spec?.holderIdentity === 'a' ? true : undefined),
      {
        what: 'the Lease to name a',
      },
    );
    await sleep(3_000);
    expect(b.leading()).toBe(false);
    expect(b.log).toEqual([]);

    await a.elector.stop({ release: true });
    expect(a.leading()).toBe(false);
    expect(a.log).toEqual(['started', 'stopped']);
    const released = await lease('release');
    // Either still as a left it (no holder, one second), or b got there already.
    if (released?.spec?.holderIdentity !== 'b')
      expect(released?.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
    await waitFor(async () => (b.leading() ? true : undefined), {
      what: 'b to take over the released Lease',
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    expect((await lease('release'))?.spec?.holderIdentity).toBe('b');
  });

  it('a leader that finds another holder on the Lease steps down', async () => {
    const a = candidate('a', 'taken');
    a.elector.start();
    await waitFor(async () => (a.leading() ? true : undefined), {
      what: 'a to lead',
      timeoutMs: 20_000,
    });
    // Someone takes the Lease away by force (an admin, or a split brain): the next renew sees
    // another holder and a stops at once.
    const client = new KubeClient(testCluster().kc);
    const current = await lease('taken');
    await client.replace<Lease>({
      ...(current as Lease),
      spec: { ...current?.spec, holderIdentity: 'intruder' },
    });
    await waitFor(async () => (a.leading() ? undefined : true), {
      what: 'a to step down',
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    expect(a.log).toEqual(['started', 'stopped']);
    expect(a.elector.isLeader()).toBe(false);
    expect((await lease('taken'))?.spec?.holderIdentity).toBe('intruder');
  });

  it('a leader cut off from the API server stops leading before another takes over', async () => {
    const { kc } = testCluster();
    const proxy = await TcpProxy.start(new URL(kc.getCurrentCluster()!.server));
    cleanups.push(() => proxy.close());
    const viaProxy = new KubeClient(proxyConfig(kc, proxy.port));
    cleanups.push(() => viaProxy.close());
    // Short timings, in the same proportions as the defaults.
    const timings = { leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 1_000 };
    const events: string[] = [];
    const a = candidate('a', 'cut', { client: viaProxy, timings, events });
    a.elector.start();
    await waitFor(async () => (a.leading() ? true : undefined), {
      what: 'a to lead',
      timeoutMs: 20_000,
    });
    const b = candidate('b', 'cut', { timings, events });
    b.elector.start();
    const term = a.signal()!;

    // Cut: every connection of a dropped and new ones refused; only the renew-deadline
    // watchdog can end its term now.
    await proxy.pause();
    await waitFor(async () => (term.aborted ? true : undefined), {
      what: "a's term to end",
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    expect((term.reason as Error).message).toBe('Renew deadline passed');
    await a.elector.settled();
    expect(a.log).toEqual(['started', 'stopped']);
    await waitFor(async () => (b.leading() ? true : undefined), {
      what: 'b to take over',
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    // a stopped before b started: never two leaders, though a could not hear about b.
    expect(events).toEqual(['a started', 'a stopped', 'b started']);
    // Still cut off, a keeps trying and failing, and never leads again.
    for (let i = 0; i < 6; i++) {
      expect(a.elector.isLeader()).toBe(false);
      expect(a.leading()).toBe(false);
      await sleep(500);
    }

    // Back in touch, a finds b holding the Lease and stays a standby.
    await proxy.resume();
    await waitFor(
      async () => ((await lease('cut'))?.spec?.holderIdentity === 'b' ? true : undefined),
      { what: 'the Lease to name b' },
    );
    await sleep(3 * timings.retryPeriodMs);
    expect(a.elector.isLeader()).toBe(false);
    expect(b.leading()).toBe(true);
    expect(events).toEqual(['a started', 'a stopped', 'b started']);
  });
});
