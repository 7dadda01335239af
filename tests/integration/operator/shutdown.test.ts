// SIGTERM, as the kubelet sends it: the real operator process, leading through its Lease,
// runs its shutdown steps, hands the Lease back (no holder, a one-second duration, so the next
// leader takes over at once) and exits 0 because every step finished.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../../operator/runtime/client.js';
import type { Lease } from '../../../operator/runtime/leader.js';
import { testCluster, useNamespace, waitFor } from '../support/cluster.js';
import {
  installCrdsAndRbac,
  metricValue,
  type RunningOperator,
  startOperator,
} from '../support/operator.js';

const ns = useNamespace('op-shutdown');
const running: RunningOperator[] = [];
afterEach(async () => {
  // Stopped by their own pids; a no-op for those that exited already.
  for (const op of running.splice(0)) await op.stop('SIGKILL');
});

beforeAll(installCrdsAndRbac);

const POD_NAME = 'shutdown-test';

async function lease(): Promise<Lease | undefined> {
  const client = new KubeClient(testCluster().kc);
  try {
    return await client.get<Lease>({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      namespace: ns.name,
      name: 'trench-operator',
    });
  } finally {
    client.close();
  }
}

describe('operator process', () => {
  it('on SIGTERM releases its Lease and exits 0', async () => {
    const op = await startOperator({
      KUBECONFIG: testCluster().kubeconfigPath,
      TRENCH_LEADER_ELECTION: 'true',
      TRENCH_LEASE_NAMESPACE: ns.name,
      TRENCH_WATCH_NAMESPACE: ns.name,
      // The identity is POD_NAME plus a random suffix: how the Lease names this process.
      POD_NAME,
    });
    running.push(op);
    const held = await waitFor(
      async () => {
        const l = await lease();
        return l?.spec?.holderIdentity?.startsWith(`${POD_NAME}-`) ? l : undefined;
      },
      { what: 'the operator to hold the Lease', timeoutMs: 60_000 },
    );
    expect(held.spec?.leaseDurationSeconds).toBe(15);
    expect(metricValue(await op.metrics(), 'trench_leader')).toBe(1);

    const exit = await op.stop('SIGTERM');
    expect(exit, op.logs()).toEqual({ code: 0, signal: null });
    const released = await lease();
    expect(released?.spec?.holderIdentity).toBe('');
    expect(released?.spec?.leaseDurationSeconds).toBe(1);
    // The same Lease object, updated in place: the next candidate's update will count a
    // transition from it.
    expect(released?.metadata?.uid).toBe(held.metadata?.uid);
    expect(released?.spec?.leaseTransitions).toBe(held.spec?.leaseTransitions);
    expect(op.logs()).toContain('Released Lease');
  });
});
