// The TrenchRestore controller and restore drills on the real API server, with the operator as
// a process and Debian's PostgreSQL on the host: a real backup of real data, a damaged database,
// and the restore's own Jobs (verify, then restore) and the drill's Job run on the host from the
// Job objects the operator made, their exits reported as the kubelet would. The API and worker Deployments are the
// operator's, on kwok nodes, so Quiescing and Resuming are the Deployment controller's real
// answers.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrenchBackupStatus, TrenchRestoreStatus } from '../../../charts/api/backup.js';
import { drillJobName } from '../../../operator/backup/drill-job.js';
import {
  createOwn,
  eventsWhere,
  kubectl,
  mergePatch,
  mustKubectl,
  useNamespace,
  waitFor,
} from '../support/cluster.js';
import { type JobObject, runJobPod } from '../support/jobs.js';
import {
  generatedPassword,
  installCrdsAndRbac,
  metricValue,
  type RunningOperator,
  startOperator,
} from '../support/operator.js';
import { plugin } from '../support/plugin.js';
import { type PostgresServer, startPostgres } from '../support/services.js';
import { damageShopData, seedShopData, shopSnapshot } from '../support/shop-data.js';

const ns = useNamespace('restore', { 'pod-security.kubernetes.io/enforce': 'restricted' });
let pg: PostgresServer;
let operator: RunningOperator | undefined;
/** The backups claim of Trench shop, as a folder on the host. */
let claimDir = '';
/** The state the backup shop-good holds. */
let atBackup: Record<string, string> = {};

interface Restore {
  metadata: { name: string };
  status?: TrenchRestoreStatus;
}
interface Deployment {
  spec: { replicas?: number };
  status?: { replicas?: number; availableReplicas?: number };
}

const getJson = async <T>(...args: string[]): Promise<T> =>
  JSON.parse(await mustKubectl(['get', ...args, '-n', ns.name, '-o', 'json'])) as T;

const create = (kind: 'Trench' | 'TrenchBackup' | 'TrenchRestore', name: string, spec: unknown) =>
  createOwn(kind, ns.name, name, spec);

const restoreWhen = (name: string, what: string, ok: (s: TrenchRestoreStatus) => boolean) =>
  waitFor(
    async () => {
      const r = await getJson<Restore>('trenchrestore', name);
      return r.status && ok(r.status) ? r : undefined;
    },
    { what: `TrenchRestore ${name} ${what}`, timeoutMs: 60_000 },
  );

const phase = (p: TrenchRestoreStatus['phase']) => (s: TrenchRestoreStatus) => s.phase === p;

const job = (name: string) => getJson<JobObject>('job', name);

const host = () => ({ 'shop-postgres:5432': `127.0.0.1:${pg.port}` });

/** Runs the Job's pod on the host against the host's Postgres, with the claim folder. */
const runPod = async (name: string, addresses = host()) =>
  runJobPod(await job(name), { claimDir, addresses });

const replicas = async (deployment: string) => {
  const d = await getJson<Deployment>('deployment', deployment);
  return { spec: d.spec.replicas ?? 0, available: d.status?.availableReplicas ?? 0 };
};

const running = (api: number, worker: number) =>
  waitFor(
    async () => {
      const [a, w] = [await replicas('shop-api'), await replicas('shop-worker')];
      return a.spec === api && a.available === api && w.spec === worker && w.available === worker
        ? true
        : undefined;
    },
    { what: `shop-api at ${api} and shop-worker at ${worker} available replicas` },
  );

const eventsOf = async (name: string) =>
  (await eventsWhere(ns.name, `involvedObject.name=${name}`)).map((e) => e.reason);

async function backup(name: string) {
  await create('TrenchBackup', name, { trench: 'shop', reason: 'manual' });
  await waitFor(
    async () =>
      (await getJson<{ status?: { phase?: string } }>('trenchbackup', name)).status?.phase ===
      'Running'
        ? true
        : undefined,
    { what: `TrenchBackup ${name} to run` },
  );
  const run = await runPod(`${name}-dump`);
  expect(run.code).toBe(0);
  await waitFor(
    async () =>
      (await getJson<{ status?: { phase?: string } }>('trenchbackup', name)).status?.phase ===
      'Completed'
        ? true
        : undefined,
    { what: `TrenchBackup ${name} to complete` },
  );
}

const start = () =>
  startOperator({ TRENCH_WATCH_NAMESPACE: ns.name, TRENCH_LEADER_ELECTION: 'false' });

beforeAll(async () => {
  await installCrdsAndRbac();
  operator = await start();
  await create('Trench', 'shop', {
    api: { image: 'shop-api:1', replicas: 2 },
    worker: { image: 'shop-worker:1', queues: ['orders'] },
    backup: { suspend: true },
  });
  // The operator generated the database password: the host's Postgres is started with it.
  const password = await generatedPassword(ns.name, 'shop-postgres');
  pg = await startPostgres({ password });
  await seedShopData(pg);
  claimDir = mkdtempSync(join(tmpdir(), 'trench-restore-claim-'));
  await running(2, 1);
  await backup('shop-good');
  atBackup = await shopSnapshot(pg);
}, 240_000);

afterAll(async () => {
  const exit = await operator?.stop();
  if (exit && exit.code !== 0) console.error(operator?.logs());
  await pg?.stop();
  if (claimDir) rmSync(claimDir, { recursive: true, force: true });
});

describe('a TrenchRestore', () => {
  it('verifies, stops the API and workers, restores the data in place and brings them back', async () => {
    await damageShopData(pg);
    expect(await pg.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'orders'")).toBe('0');
    await create('TrenchRestore', 'shop-r1', { trench: 'shop', backup: 'shop-good' });

    // Verifying: nothing is stopped yet.
    await restoreWhen('shop-r1', 'to verify', phase('Verifying'));
    expect(await replicas('shop-api')).toEqual({ spec: 2, available: 2 });
    const verify = await runPod('shop-r1-verify');
    expect(verify.code).toBe(0);

    // Quiescing, then Restoring once every pod is gone; the counts to give back are kept.
    const restoring = await restoreWhen('shop-r1', 'to restore', phase('Restoring'));
    expect(restoring.status?.previousReplicas).toEqual({ api: 2, worker: 1 });
    expect(restoring.status?.jobName).toBe('shop-r1-restore');
    expect(await replicas('shop-api')).toEqual({ spec: 0, available: 0 });
    expect(await replicas('shop-worker')).toEqual({ spec: 0, available: 0 });
    const restore = await runPod('shop-r1-restore');
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);

    const done = await restoreWhen('shop-r1', 'to complete', phase('Completed'));
    expect(done.status?.message).toBe(
      'Restored TrenchBackup shop-good; the API and workers are back',
    );
    expect(await shopSnapshot(pg)).toEqual(atBackup);
    await running(2, 1);
    const events = await eventsOf('shop-r1');
    for (const reason of ['Verifying', 'Quiescing', 'Restoring', 'Resuming', 'Completed']) {
      expect(events).toContain(reason);
    }
    // A request: the Trench's spec was never edited.
    expect(
      (await getJson<{ metadata: { generation: number } }>('trench', 'shop')).metadata.generation,
    ).toBe(1);
  }, 180_000);

  it('refuses a corrupted dump at Verifying and stops nothing', async () => {
    await backup('shop-corrupt');
    const file = join(claimDir, 'dumps', 'shop-corrupt.dump');
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(file, bytes);
    await create('TrenchRestore', 'shop-r2', { trench: 'shop', backup: 'shop-corrupt' });
    await restoreWhen('shop-r2', 'to verify', phase('Verifying'));
    const verify = await runPod('shop-r2-verify');
    expect(verify.code).toBe(3);
    const failed = await restoreWhen('shop-r2', 'to fail', phase('Failed'));
    expect(failed.status?.failureReason).toBe('ChecksumMismatch');
    expect(failed.status?.message).toMatch(
      /^The verify Job shop-r2-verify failed: checksum mismatch: dumps\/shop-corrupt\.dump has sha256:[0-9a-f]{64}, the TrenchBackup recorded sha256:[0-9a-f]{64}; nothing was stopped$/,
    );
    expect(failed.status?.previousReplicas).toBeUndefined();
    expect(await replicas('shop-api')).toEqual({ spec: 2, available: 2 });
    expect(await eventsOf('shop-r2')).toContain('RestoreFailed');
  }, 120_000);

  it('refuses a backup of another Trench unless forced', async () => {
    await create('Trench', 'blog', {
      api: { image: 'blog-api:1' },
      worker: { image: 'blog-worker:1', queues: ['posts'] },
      backup: { suspend: true },
    });
    await create('TrenchRestore', 'blog-r1', { trench: 'blog', backup: 'shop-good' });
    const refused = await restoreWhen('blog-r1', 'to be refused', phase('Failed'));
    expect(refused.status?.failureReason).toBe('OtherTrench');
    expect(refused.status?.message).toMatch(
      /^TrenchBackup shop-good was taken from Trench shop, not blog; create a TrenchRestore with spec.force: true/,
    );
    expect((await kubectl(['get', 'job', 'blog-r1-verify', '-n', ns.name])).code).not.toBe(0);
    // Forced, it goes ahead, reading the file from the claim of the Trench it was taken from.
    await create('TrenchRestore', 'blog-r2', { trench: 'blog', backup: 'shop-good', force: true });
    await restoreWhen('blog-r2', 'to verify', phase('Verifying'));
    const verifyJob = (await job('blog-r2-verify')) as JobObject & {
      spec: {
        template: { spec: { volumes: { persistentVolumeClaim?: { claimName: string } }[] } };
      };
    };
    expect(
      verifyJob.spec.template.spec.volumes.map((v) => v.persistentVolumeClaim?.claimName),
    ).toContain('shop-backups');
    await mustKubectl(['delete', 'trenchrestore', 'blog-r2', '-n', ns.name]);
  }, 120_000);

  it('resumes where it was after the operator is killed in Quiescing and in Restoring', async () => {
    await damageShopData(pg);
    await create('TrenchRestore', 'shop-r3', { trench: 'shop', backup: 'shop-good' });
    await restoreWhen('shop-r3', 'to verify', phase('Verifying'));
    // Killed with the verify Job done but not yet seen: the next operator takes it from there.
    await operator?.stop('SIGKILL');
    expect((await runPod('shop-r3-verify')).code).toBe(0);
    operator = await start();
    await restoreWhen('shop-r3', 'to quiesce or restore', (s) =>
      ['Quiescing', 'Restoring'].includes(s.phase ?? ''),
    );
    await operator.stop('SIGKILL');
    // No one is left to scale anything back: the workloads stay stopped.
    operator = await start();
    const restoring = await restoreWhen('shop-r3', 'to restore', phase('Restoring'));
    expect(restoring.status?.previousReplicas).toEqual({ api: 2, worker: 1 });
    await operator.stop('SIGKILL');
    expect(await replicas('shop-api')).toEqual({ spec: 0, available: 0 });
    expect((await runPod('shop-r3-restore')).code).toBe(0);
    operator = await start();
    await restoreWhen('shop-r3', 'to complete', phase('Completed'));
    expect(await shopSnapshot(pg)).toEqual(atBackup);
    await running(2, 1);
    // One Job per step, however many operators saw it.
    const jobs = await getJson<{ items: JobObject[] }>(
      'jobs',
      '-l',
      'playtrenches.xyz/restore=shop-r3',
    );
    expect(jobs.items.map((j) => j.metadata.name).sort()).toEqual([
      'shop-r3-restore',
      'shop-r3-verify',
    ]);
  }, 240_000);

  it('brings the workloads back after a failed pg_restore, which left the database as it was, and runs one restore at a time', async () => {
    await pg.sql("UPDATE items SET sku = sku || '-changed' WHERE id = 1");
    const changed = await shopSnapshot(pg);
    await create('TrenchRestore', 'shop-r4', { trench: 'shop', backup: 'shop-good' });
    await restoreWhen('shop-r4', 'to verify', phase('Verifying'));
    await create('TrenchRestore', 'shop-r5', { trench: 'shop', backup: 'shop-good' });
    const waiting = await restoreWhen('shop-r5', 'to wait', phase('Pending'));
    expect(waiting.status?.message).toBe(
      'Waiting for TrenchRestore shop-r4: one restore at a time per Trench (it is Verifying)',
    );
    expect((await runPod('shop-r4-verify')).code).toBe(0);
    await restoreWhen('shop-r4', 'to restore', phase('Restoring'));
    // The database goes away under the restore.
    const run = await runPod('shop-r4-restore', { 'shop-postgres:5432': '127.0.0.1:1' });
    expect(run.code).toBe(5);
    const failed = await restoreWhen('shop-r4', 'to fail', phase('Failed'));
    expect(failed.status?.failureReason).toBe('RestoreFailed');
    expect(failed.status?.message).toMatch(
      /^The restore Job shop-r4-restore failed: pg_restore failed and rolled back, the database is as it was: .*connect.*The API and workers are back on the database as it was before the restore\.$/s,
    );
    await running(2, 1);
    expect(await shopSnapshot(pg)).toEqual(changed);
    // Then the next one goes.
    await restoreWhen('shop-r5', 'to verify', phase('Verifying'));
    await mustKubectl(['delete', 'trenchrestore', 'shop-r5', '-n', ns.name]);
  }, 180_000);
});

describe('restore drills', () => {
  interface Backup {
    metadata: { name: string; annotations?: Record<string, string> };
    status?: TrenchBackupStatus;
  }
  interface Condition {
    type: string;
    status: string;
    reason: string;
    message: string;
  }
  interface TrenchView {
    status?: {
      conditions?: Condition[];
      backup?: {
        lastVerifyScheduleTime?: string;
        nextVerifyTime?: string;
        lastVerification?: { backup: string; passed: boolean; time: string };
      };
    };
  }
  const condition = async (type: string) =>
    (await getJson<TrenchView>('trench', 'shop')).status?.conditions?.find((c) => c.type === type);
  const verificationWhen = (
    what: string,
    ok: (v: NonNullable<TrenchBackupStatus['verification']>, b: Backup) => boolean,
  ) =>
    waitFor(
      async () => {
        const b = await getJson<Backup>('trenchbackup', 'shop-drill');
        const v = b.status?.verification;
        return v && ok(v, b) ? b : undefined;
      },
      { what: `the drill of shop-drill ${what}`, timeoutMs: 90_000 },
    );
  const runDrill = async (jobName: string) =>
    runJobPod(await job(jobName), { claimDir, scratch: true });
  const setVerify = (verify: Record<string, unknown>) =>
    mergePatch('trench', 'shop', ns.name, { spec: { backup: { verify } } });

  it('restores the newest backup into a throwaway PostgreSQL at each drill slot and records what it read', async () => {
    await backup('shop-drill');
    const rows = async (table: string) => Number(await pg.sql(`SELECT count(*) FROM ${table}`));
    const expected = [
      { table: 'public.items', rows: await rows('items') },
      { table: 'public.orders', rows: await rows('orders') },
      { table: 'public.attachments', rows: await rows('attachments') },
    ].sort((a, b) => b.rows - a.rows || a.table.localeCompare(b.table));

    // Every minute: the Trench is older than the newest slot, so the slot is taken at once.
    await setVerify({ schedule: '* * * * *', suspend: false });
    const running = await verificationWhen('to start', (v) => v.phase === 'Running');
    const request = running.metadata.annotations?.['playtrenches.xyz/verify'] ?? '';
    expect(request).toMatch(/^scheduled\/\d{4}-\d\d-\d\dT\d\d:\d\d:00Z$/);
    const jobName = running.status?.verification?.jobName ?? '';
    expect(jobName).toMatch(/^shop-drill-drill-[0-9a-f]{8}$/);
    // Suspended now, so no later slot asks for another drill while this one runs.
    await setVerify({ suspend: true });

    const run = await runDrill(jobName);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const passed = await verificationWhen('to pass', (v) => v.phase === 'Passed');
    expect(passed.status?.verified).toBe(true);
    expect(passed.status?.verification).toMatchObject({
      request,
      tables: 3,
      largeObjects: 1,
      rows: expected.reduce((n, t) => n + t.rows, 0),
      tableRows: expected,
    });
    expect(passed.status?.verification?.message).toMatch(
      /^Restored dumps\/shop-drill\.dump into a throwaway PostgreSQL in \d+ s and read 3 table\(s\)/,
    );
    // The drill never reaches the Trench's database: its Job has no address for it.
    const drillEnv = (await job(jobName)).spec.template.spec.containers[0]?.env ?? [];
    expect(drillEnv.map((e) => e.name)).not.toContain('DATABASE_URL');

    const trench = await waitFor(
      async () => {
        const t = await getJson<TrenchView>('trench', 'shop');
        return t.status?.backup?.lastVerification?.backup === 'shop-drill' ? t : undefined;
      },
      { what: 'the Trench to record the drill' },
    );
    expect(trench.status?.backup?.lastVerification?.passed).toBe(true);
    expect(trench.status?.backup?.lastVerifyScheduleTime).toBe(request.slice('scheduled/'.length));
    expect(await condition('BackupVerified')).toMatchObject({
      status: 'True',
      reason: 'DrillPassed',
    });
    const list = await plugin(ns.name, 'backups', 'shop');
    expect(list.stdout).toMatch(/shop-drill\s+manual\s+Completed\s+\S+ \S+\s+yes\s/);
  }, 180_000);

  it('kubectl trench verify: a damaged dump fails the drill and the Trench says so; a good drill clears it', async () => {
    const file = join(claimDir, 'dumps', 'shop-drill.dump');
    const good = readFileSync(file);
    const bad = Buffer.from(good);
    bad[Math.floor(bad.length / 2)]! ^= 0xff;
    writeFileSync(file, bad);

    const before = (await getJson<Backup>('trenchbackup', 'shop-drill')).status?.verification;
    const waiting = plugin(ns.name, 'verify', 'shop', 'shop-drill', '--wait');
    const started = await verificationWhen(
      'to start again',
      (v) => v.request !== before?.request && v.phase === 'Running',
    );
    expect(started.metadata.annotations?.['playtrenches.xyz/verify']).toMatch(/^manual\//);
    const failedRun = await runDrill(started.status?.verification?.jobName ?? '');
    expect(failedRun.code).toBe(3);
    const r = await waiting;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /shop-drill drill Failed: The restore drill of dumps\/shop-drill\.dump failed: checksum mismatch: dumps\/shop-drill\.dump has sha256:[0-9a-f]{64}, the TrenchBackup recorded sha256:[0-9a-f]{64}/,
    );
    const failed = await getJson<Backup>('trenchbackup', 'shop-drill');
    expect(failed.status?.verified).toBe(false);

    await waitFor(
      async () => ((await condition('BackupVerified'))?.status === 'False' ? true : undefined),
      { what: 'BackupVerified=False on the Trench' },
    );
    expect(await condition('BackupVerified')).toMatchObject({ reason: 'DrillFailed' });
    expect(await condition('Degraded')).toMatchObject({
      status: 'True',
      reason: 'RestoreDrillFailed',
    });
    // Still serving: a failed drill is a warning, not an outage.
    expect(await condition('Ready')).toMatchObject({ status: 'True' });
    expect(await eventsOf('shop')).toContain('DrillFailed');
    expect(
      metricValue(
        await operator!.metrics(),
        'trench_backup_drill_failures_in_a_row',
        `namespace="${ns.name}",trench="shop"`,
      ),
    ).toBe(1);

    // The file mended, a drill of the newest completed backup (no name given) passes again.
    writeFileSync(file, good);
    const again = plugin(ns.name, 'verify', 'shop', '--wait');
    const restarted = await verificationWhen(
      'to start a third time',
      (v) => v.phase === 'Running' && v.request !== failed.status?.verification?.request,
    );
    expect((await runDrill(restarted.status?.verification?.jobName ?? '')).code).toBe(0);
    const ok = await again;
    expect(ok.stderr).toContain('shop-drill drill Passed: Restored dumps/shop-drill.dump');
    expect(ok.code).toBe(0);
    await waitFor(
      async () => ((await condition('Degraded'))?.status === 'False' ? true : undefined),
      { what: 'Degraded=False once a drill passed' },
    );
    expect(await condition('BackupVerified')).toMatchObject({ status: 'True' });
    // One Job per request, named from it, however many passes saw the request.
    const drills = (
      await getJson<{ items: JobObject[] }>('jobs', '-l', 'playtrenches.xyz/backup=shop-drill')
    ).items.map((j) => j.metadata.name);
    for (const b of [started, restarted]) {
      const request = b.metadata.annotations?.['playtrenches.xyz/verify'] ?? '';
      expect(drills.filter((n) => n === drillJobName('shop-drill', request))).toHaveLength(1);
    }
  }, 180_000);
});
