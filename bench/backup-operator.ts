// The operator's own share of a backup's time, on a fresh local cluster with the operator as a
// child process (under tsx, as `make run` starts it). Per trial, one TrenchBackup of one Trench:
//   - created → its dump Job exists (the operator's reaction: finalizer, status, Job create);
//   - the Job's pod, left Running by kwok, is reported Succeeded with a dump result line, as
//     the kubelet reports a finished container (the dump's own time is bench/backup.ts's);
//   - reported → the Job's Complete condition (the Job controller, not ours, for reference);
//   - Complete → the TrenchBackup's Completed phase (the operator's: pods read, status written).
// Times are seen by polling every 20 ms, so each carries up to 20 ms of that. Then the
// operator's API writes in the idle minute after the last trial (target 0). Prints figures,
// asserts nothing.
//   node --import tsx bench/backup-operator.ts [--trials 20]
import { join } from 'node:path';
import { argv } from 'zx';
import { REPO_ROOT } from '../hack/lib/cluster.js';
import type { KubeObject } from '../operator/runtime/types.js';
import {
  clientFor,
  latencySummary,
  log,
  namespaceOf,
  sleep,
  startOperator,
  trenchOf,
  waitFor,
  withCluster,
  writesBy,
} from './lib/trenches.js';

const trials = Number(argv.trials ?? 20);
if (!Number.isInteger(trials) || trials < 1) {
  throw new Error(`--trials must be an integer >= 1, got ${argv.trials}`);
}
const stateDir = join(REPO_ROOT, '.trench', 'bench-backup-operator');
const POLL_MS = 20;

const summary = latencySummary;

type Job = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };
type Backup = KubeObject & { status?: { phase?: string } };
type Pod = KubeObject & { status?: { phase?: string } };

/** Polls `read` every POLL_MS until it returns a value; resolves with it and the time seen. */
async function until<T>(what: string, read: () => Promise<T | undefined>): Promise<number> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const v = await read().catch(() => undefined);
    if (v !== undefined) return performance.now();
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

await withCluster(stateDir, 1, async (state) => {
  const client = clientFor(state, 'trench-bench-backup');
  const ns = namespaceOf(0);
  const trench = trenchOf(0);
  (trench.spec as { backup?: unknown }).backup = { suspend: true };
  await client.create(trench);
  const operator = await startOperator(state, {
    logFile: join(stateDir, 'operator.log'),
    workers: 4,
  });
  try {
    await waitFor('the Trench to be observed', 60_000, async () => {
      const t = await client.get<Backup>({ ...trench, namespace: ns, name: 't0' });
      return t?.status !== undefined;
    });
    const toJob: number[] = [];
    const jobController: number[] = [];
    const toCompleted: number[] = [];
    for (let i = 0; i < trials; i++) {
      const name = `t0-bench-${i}`;
      const created = performance.now();
      await client.create({
        apiVersion: 'playtrenches.xyz/v1alpha1',
        kind: 'TrenchBackup',
        metadata: { name, namespace: ns },
        spec: { trench: 't0', reason: 'manual' },
      } as KubeObject);
      const jobRef = { apiVersion: 'batch/v1', kind: 'Job', namespace: ns, name: `${name}-dump` };
      toJob.push((await until('the dump Job', () => client.get<Job>(jobRef))) - created);
      let pod: Pod | undefined;
      await until('the dump pod to run', async () => {
        const pods = await client.list<Pod>('v1', 'Pod', {
          namespace: ns,
          labelSelector: `batch.kubernetes.io/job-name=${name}-dump`,
        });
        pod = pods.items.find((p) => p.status?.phase === 'Running');
        return pod;
      });
      const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const message = JSON.stringify({
        path: `dumps/${name}.dump`,
        checksum: `sha256:${'0'.repeat(64)}`,
        sizeBytes: 1024,
        serverVersion: '15.10',
      });
      const reported = performance.now();
      await client.mergePatch(
        { apiVersion: 'v1', kind: 'Pod', namespace: ns, name: pod!.metadata!.name! },
        {
          status: {
            phase: 'Succeeded',
            containerStatuses: [
              {
                name: 'dump',
                image: 'postgres',
                imageID: '',
                ready: false,
                restartCount: 0,
                state: {
                  terminated: {
                    exitCode: 0,
                    reason: 'Completed',
                    message,
                    startedAt: now,
                    finishedAt: now,
                  },
                },
              },
            ],
          },
        },
        { subresource: 'status' },
      );
      const complete = await until('the Job to complete', async () => {
        const j = await client.get<Job>(jobRef);
        return j?.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True')
          ? true
          : undefined;
      });
      jobController.push(complete - reported);
      const done = await until('the TrenchBackup to complete', async () => {
        const b = await client.get<Backup>({
          apiVersion: 'playtrenches.xyz/v1alpha1',
          kind: 'TrenchBackup',
          namespace: ns,
          name,
        });
        return b?.status?.phase === 'Completed' ? true : undefined;
      });
      toCompleted.push(done - complete);
    }
    // The last backup's event and the Trench's status.backup follow its Completed write by a
    // few milliseconds: the idle minute starts once they are in.
    await sleep(5_000);
    log(`${trials} trials done; an idle minute follows`);
    const idleFrom = Date.now();
    await sleep(60_000);
    const writes = await writesBy(state, 'trench-operator', idleFrom, Date.now());
    const kinds = writes.map((w) => `${w.verb} ${w.objectRef?.resource ?? '?'}`);
    console.log(`TrenchBackup lifecycle overhead, ${trials} trials:`);
    console.log(`  created -> dump Job exists (operator):          ${summary(toJob)}`);
    console.log(`  pod reported -> Job Complete (Job controller):  ${summary(jobController)}`);
    console.log(`  Job Complete -> TrenchBackup Completed (operator): ${summary(toCompleted)}`);
    console.log(
      `operator API writes in the idle minute after: ${writes.length}${kinds.length ? ` (${kinds.join(', ')})` : ''}`,
    );
  } finally {
    await operator.stop();
  }
});
