import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrenchBackupStatus } from '../../../charts/api/backup.js';
import { POSTGRES_PASSWORD_KEY } from '../../../charts/constructs/postgres.js';
import {
  createOwn,
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
import { plugin as runPlugin, startPlugin } from '../support/plugin.js';
import { type PostgresServer, startPostgres } from '../support/services.js';

const ns = useNamespace('backup-controller', {
  'pod-security.kubernetes.io/enforce': 'restricted',
});
let pg: PostgresServer;
let operator: RunningOperator | undefined;
let trenchUid = '';
let serverVersion = '';
const dirs: string[] = [];
/** Each backup's claim folder, as its dump ran on the host. */
const dumpDirs = new Map<string, string>();

interface BackupObject {
  metadata: { name: string; uid: string };
  status?: TrenchBackupStatus;
}

const getJson = async <T>(...args: string[]): Promise<T> =>
  JSON.parse(await mustKubectl(['get', ...args, '-n', ns.name, '-o', 'json'])) as T;

const createBackup = (name: string, trench = 'shop', reason = 'manual') =>
  createOwn('TrenchBackup', ns.name, name, { trench, reason });

const backupWhen = (name: string, what: string, ok: (s: TrenchBackupStatus) => boolean) =>
  waitFor(
    async () => {
      const b = await getJson<BackupObject>('trenchbackup', name);
      return b.status && ok(b.status) ? b : undefined;
    },
    { what: `TrenchBackup ${name} ${what}`, timeoutMs: 60_000 },
  );

const jobsOf = async (backup: string) =>
  (await getJson<{ items: JobObject[] }>('jobs', '-l', `playtrenches.xyz/backup=${backup}`)).items;

/** Runs the backup's dump pod on the host and reports its exit; returns the backups folder. */
async function runDump(backup: string, postgresAt: string) {
  const [job] = await jobsOf(backup);
  if (!job) throw new Error(`No Job for ${backup}`);
  const dir = mkdtempSync(join(tmpdir(), 'trench-backups-'));
  dirs.push(dir);
  dumpDirs.set(backup, dir);
  const run = await runPod(job, dir, postgresAt);
  return { dir, run, job };
}

/** Runs the pod of `job` on the host with `dir` as the backups claim; reports its exit. */
const runPod = (job: JobObject, dir: string, postgresAt?: string) =>
  runJobPod(job, {
    claimDir: dir,
    // Both Trenches' Postgres Service names reach the one host server.
    ...(postgresAt
      ? { addresses: { 'shop-postgres:5432': postgresAt, 'quiet-postgres:5432': postgresAt } }
      : {}),
  });

beforeAll(async () => {
  pg = await startPostgres();
  await installCrdsAndRbac();
  operator = await startOperator({
    TRENCH_WATCH_NAMESPACE: ns.name,
    TRENCH_LEADER_ELECTION: 'false',
  });
  await createOwn('Trench', ns.name, 'shop', {
    api: { image: 'shop-api:1' },
    worker: { image: 'shop-worker:1', queues: ['orders'] },
    // No slot during the manual tests; the schedule tests turn it on.
    backup: { suspend: true },
  });
  trenchUid = (await getJson<{ metadata: { uid: string } }>('trench', 'shop')).metadata.uid;
  // The operator generated the database password; the host's Postgres takes it, as the
  // managed one would have at its first start.
  const password = await generatedPassword(ns.name, 'shop-postgres');
  await pg.sql(`CREATE TABLE orders (id int PRIMARY KEY, note text);
    INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 2000) g;`);
  serverVersion = await pg.sql('SHOW server_version');
  // Last: pg.sql signs in with the password it was started with.
  await pg.sql(`ALTER ROLE ${pg.user} PASSWORD '${password}'`);
}, 180_000);

afterAll(async () => {
  const exit = await operator?.stop();
  if (exit && exit.code !== 0) console.error(operator?.logs());
  await pg?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a TrenchBackup', () => {
  it('runs one dump Job and records the dump: path, checksum, size, server version', async () => {
    await createBackup('shop-manual-1');
    const running = await backupWhen(
      'shop-manual-1',
      'to be Running',
      (s) => s.phase === 'Running',
    );
    expect(running.status).toMatchObject({
      jobName: 'shop-manual-1-dump',
      path: 'dumps/shop-manual-1.dump',
      trenchUID: trenchUid,
    });
    const { dir, run } = await runDump('shop-manual-1', `127.0.0.1:${pg.port}`);
    expect(run.code).toBe(0);
    const done = await backupWhen('shop-manual-1', 'to complete', (s) => s.phase === 'Completed');
    const bytes = readFileSync(join(dir, 'dumps', 'shop-manual-1.dump'));
    expect(done.status).toMatchObject({
      path: 'dumps/shop-manual-1.dump',
      checksum: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
      sizeBytes: bytes.length,
      serverVersion,
    });
    expect(done.status?.size).toMatch(/ KiB$/);
    expect(Date.parse(done.status!.completionTime!)).toBeGreaterThanOrEqual(
      Date.parse(done.status!.startTime!),
    );
    // The Trench names it (the Last Backup column of kubectl get trenches), and the
    // operator's metrics carry it.
    const trench = await waitFor(
      async () => {
        const t = await getJson<{ status?: { backup?: Record<string, string> } }>('trench', 'shop');
        return t.status?.backup?.lastSuccessfulBackup ? t : undefined;
      },
      { what: "the Trench's status.backup" },
    );
    expect(trench.status?.backup).toMatchObject({
      lastSuccessfulBackup: 'shop-manual-1',
      lastSuccessfulTime: done.status?.completionTime,
    });
    const metrics = await operator!.metrics();
    const labels = `namespace="${ns.name}",trench="shop"`;
    expect(metricValue(metrics, 'trench_backup_last_success_timestamp_seconds', labels)).toBe(
      Date.parse(done.status!.completionTime!) / 1000,
    );
    expect(metricValue(metrics, 'trench_backup_size_bytes', labels)).toBe(bytes.length);
    // Reconciled again (an edit of its labels), a finished backup makes no second Job and
    // keeps its status.
    await mustKubectl(['label', 'trenchbackup', 'shop-manual-1', '-n', ns.name, 'touched=yes']);
    await new Promise((r) => setTimeout(r, 2000));
    expect((await jobsOf('shop-manual-1')).map((j) => j.metadata.name)).toEqual([
      'shop-manual-1-dump',
    ]);
    expect((await getJson<BackupObject>('trenchbackup', 'shop-manual-1')).status).toEqual(
      done.status,
    );
  }, 120_000);

  it("fails with the Job's reason and pg_dump's words when Postgres is unreachable", async () => {
    await createBackup('shop-manual-2');
    await backupWhen('shop-manual-2', 'to be Running', (s) => s.phase === 'Running');
    const { run } = await runDump('shop-manual-2', '127.0.0.1:1');
    expect(run.code).not.toBe(0);
    const failed = await backupWhen('shop-manual-2', 'to fail', (s) => s.phase === 'Failed');
    expect(failed.status?.failureReason).toBe('BackoffLimitExceeded');
    expect(failed.status?.message).toMatch(/shop-manual-2-dump failed: .*(connection|connect)/s);
    expect(failed.status?.checksum).toBeUndefined();
    const events = await waitFor(
      async () => {
        const out = await mustKubectl([
          'get',
          'events',
          '-n',
          ns.name,
          '--field-selector',
          'involvedObject.name=shop-manual-2,type=Warning',
          '-o',
          'jsonpath={.items[*].reason}',
        ]);
        return out.includes('Failed') ? out : undefined;
      },
      { what: 'a Warning event on shop-manual-2' },
    );
    expect(events.split(' ')).toContain('Failed');
    expect(
      metricValue(
        await operator!.metrics(),
        'trench_backup_failures_total',
        `namespace="${ns.name}",trench="shop",reason="BackoffLimitExceeded"`,
      ),
    ).toBe(1);
  }, 120_000);

  it('waits, Pending and without a Job, for a Trench that does not exist', async () => {
    await createBackup('ghost-manual-1', 'ghost');
    const pending = await backupWhen(
      'ghost-manual-1',
      'to be Pending',
      (s) => s.phase === 'Pending',
    );
    expect(pending.status?.message).toMatch(/Trench ghost does not exist/);
    expect(await jobsOf('ghost-manual-1')).toEqual([]);
  });
});

/** The `kubectl trench` executable on the test cluster. */
const plugin = (...args: string[]) => runPlugin(ns.name, ...args);

describe('kubectl trench backup and backups', () => {
  it('takes a backup now, waits with progress, exits 0 when it completes, and lists it', async () => {
    const before = new Set(
      (await getJson<{ items: BackupObject[] }>('trenchbackups')).items.map((b) => b.metadata.name),
    );
    const waiting = startPlugin(ns.name, 'backup', 'shop', '--wait');
    const name = await waitFor(
      async () =>
        (await getJson<{ items: BackupObject[] }>('trenchbackups')).items
          .map((b) => b.metadata.name)
          .find((n) => !before.has(n)),
      { what: 'the plugin to create a TrenchBackup' },
    );
    expect(name).toMatch(/^shop-manual-\d{14}$/);
    await backupWhen(name, 'to be Running', (s) => s.phase === 'Running');
    // The plugin polls each second: the dump is finished only once it has shown Running,
    // or a quick dump would go from Pending to Completed between two of its reads.
    await waitFor(async () => (waiting.stderr().includes(`${name} Running`) ? true : undefined), {
      what: 'the plugin to show the backup Running',
    });
    await runDump(name, `127.0.0.1:${pg.port}`);
    const r = await waiting.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${name} Running: The dump Job ${name}-dump is running`);
    expect(r.stderr).toMatch(
      new RegExp(`${name} Completed: Dumped [\\d.]+ KiB to dumps/${name}\\.dump`),
    );
    // The Trench's spec was not touched: a manual backup is an object of its own.
    expect(
      (await getJson<{ metadata: { generation: number } }>('trench', 'shop')).metadata.generation,
    ).toBe(1);

    const list = await plugin('backups', 'shop');
    expect(list.code).toBe(0);
    const rows = list.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^NAME\s+REASON\s+PHASE\s+SIZE\s+VERIFIED\s+AGE$/);
    expect(rows.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([
      name,
      'shop-manual-2',
      'shop-manual-1',
    ]);
    expect(rows[1]).toMatch(/manual\s+Completed\s+[\d.]+ KiB/);
  }, 120_000);

  it('exits 1 with the reason when the backup fails, and 3 for a Trench that does not exist', async () => {
    const waiting = plugin('backup', 'shop', '--wait');
    const name = await waitFor(
      async () =>
        (await getJson<{ items: BackupObject[] }>('trenchbackups')).items
          .filter((b) => b.status?.phase === 'Running')
          .map((b) => b.metadata.name)[0],
      { what: 'a running TrenchBackup from the plugin' },
    );
    await runDump(name, '127.0.0.1:1');
    const r = await waiting;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${name} Failed: The dump Job ${name}-dump failed: `));
    const missing = await plugin('backup', 'nope');
    expect(missing.code).toBe(3);
    expect(missing.stderr).toBe(
      `kubectl-trench: Trench "nope" not found in namespace "${ns.name}"\n`,
    );
  }, 120_000);
});

const exists = async (kind: string, name: string) =>
  (await kubectl(['get', kind, name, '-n', ns.name, '-o', 'name'])).code === 0;

/** The removal Job of a deleted backup, once the operator made it. */
const removalJob = (backup: string) =>
  waitFor(async () => (await jobsOf(backup)).find((j) => j.metadata.name === `${backup}-remove`), {
    what: `the removal Job of ${backup}`,
  });

describe('deleting a TrenchBackup', () => {
  it('removes its dump file with a Job, and only then lets the object go', async () => {
    const dir = dumpDirs.get('shop-manual-1')!;
    const files = () => readdirSync(join(dir, 'dumps'));
    expect(files()).toEqual(['shop-manual-1.dump', 'shop-manual-1.dump.sha256']);
    const b = await getJson<{ metadata: { finalizers?: string[] } }>(
      'trenchbackup',
      'shop-manual-1',
    );
    expect(b.metadata.finalizers).toEqual(['playtrenches.xyz/backup-file']);
    await mustKubectl(['delete', 'trenchbackup', 'shop-manual-1', '-n', ns.name, '--wait=false']);
    const job = await removalJob('shop-manual-1');
    // Held by its finalizer while the file is still there.
    expect(await exists('trenchbackup', 'shop-manual-1')).toBe(true);
    expect(job.metadata.ownerReferences).toBeUndefined();
    const run = await runPod(job, dir);
    expect(run.code).toBe(0);
    expect(files()).toEqual([]);
    await waitFor(
      async () => ((await exists('trenchbackup', 'shop-manual-1')) ? undefined : true),
      {
        what: 'shop-manual-1 to be gone',
      },
    );
    await waitFor(async () => ((await exists('job', 'shop-manual-1-remove')) ? undefined : true), {
      what: 'the removal Job to be deleted',
    });
  }, 120_000);

  it('stops a dump that is still running before it removes what the dump wrote', async () => {
    await createBackup('shop-manual-3');
    await backupWhen('shop-manual-3', 'to be Running', (s) => s.phase === 'Running');
    await mustKubectl(['delete', 'trenchbackup', 'shop-manual-3', '-n', ns.name, '--wait=false']);
    // The dump Job and its pod go first (foreground), then the removal Job comes.
    await waitFor(async () => ((await exists('job', 'shop-manual-3-dump')) ? undefined : true), {
      what: 'the running dump Job to be deleted',
    });
    const job = await removalJob('shop-manual-3');
    const dir = mkdtempSync(join(tmpdir(), 'trench-backups-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'dumps'));
    // What a killed dump leaves: its partial file.
    writeFileSync(join(dir, 'dumps', '.shop-manual-3.dump.partial'), 'half a dump');
    writeFileSync(join(dir, 'dumps', 'shop-manual-9.dump'), 'another backup');
    expect((await runPod(job, dir)).code).toBe(0);
    expect(readdirSync(join(dir, 'dumps'))).toEqual(['shop-manual-9.dump']);
    await waitFor(
      async () => ((await exists('trenchbackup', 'shop-manual-3')) ? undefined : true),
      {
        what: 'shop-manual-3 to be gone',
      },
    );
  }, 120_000);

  it('lets a backup that never started go at once, with no Job', async () => {
    await mustKubectl(['delete', 'trenchbackup', 'ghost-manual-1', '-n', ns.name, '--wait=false']);
    await waitFor(
      async () => ((await exists('trenchbackup', 'ghost-manual-1')) ? undefined : true),
      {
        what: 'ghost-manual-1 to be gone',
      },
    );
    expect(await jobsOf('ghost-manual-1')).toEqual([]);
  });
});

interface TrenchObject {
  metadata: { generation: number };
  status?: { backup?: Record<string, string> };
}

describe('scheduled backups and retention', () => {
  const scheduled = async () =>
    (
      await getJson<{ items: (BackupObject & { spec: { reason: string } })[] }>('trenchbackups')
    ).items
      .filter((b) => b.spec.reason === 'scheduled')
      .map((b) => b.metadata.name)
      .sort();
  /** The backups the schedule made: named from their slot. */
  const slotted = async () => (await scheduled()).filter((n) => /^shop-\d{12}$/.test(n));

  /** A completed backup of `trench` with reason scheduled, dumped on the host. */
  const completedScheduled = async (name: string, trench: string) => {
    await createBackup(name, trench, 'scheduled');
    await backupWhen(name, 'to be Running', (st) => st.phase === 'Running');
    expect((await runDump(name, `127.0.0.1:${pg.port}`)).run.code).toBe(0);
    await backupWhen(name, 'to complete', (st) => st.phase === 'Completed');
  };

  it('takes a backup at each slot, named from it, goes on after a failed one, and keeps what retention says; a suspended Trench, nothing', async () => {
    // A second Trench on the same schedule, suspended, with two completed scheduled backups:
    // were retention (daily: 1) running for it, the older would go. It waits through the same
    // minute boundaries as the first.
    await createOwn('Trench', ns.name, 'quiet', {
      api: { image: 'shop-api:1' },
      worker: { image: 'shop-worker:1', queues: ['orders'] },
      backup: {
        schedule: '* * * * *',
        suspend: true,
        retention: { daily: 1, weekly: 0, monthly: 0 },
      },
    });
    // Its dumps sign in to the same host Postgres: its Secret takes that password (the
    // operator never overwrites a Secret it generated).
    await generatedPassword(ns.name, 'quiet-postgres');
    await mergePatch('secret', 'quiet-postgres', ns.name, {
      data: {
        [POSTGRES_PASSWORD_KEY]: Buffer.from(
          await generatedPassword(ns.name, 'shop-postgres'),
        ).toString('base64'),
      },
    });
    await completedScheduled('quiet-a', 'quiet');
    await completedScheduled('quiet-b', 'quiet');
    const quietBefore = (await scheduled()).filter((n) => n.startsWith('quiet-'));
    expect(quietBefore).toEqual(['quiet-a', 'quiet-b']);

    // A completed backup from an earlier slot, for retention to delete below.
    await completedScheduled('shop-earlier', 'shop');
    await mergePatch('trench', 'shop', ns.name, {
      spec: {
        backup: {
          schedule: '* * * * *',
          suspend: false,
          retention: { daily: 1, weekly: 0, monthly: 0 },
        },
      },
    });
    // Turned on, it catches up the newest slot since the Trench was created: one backup.
    const [first] = await waitFor(
      async () => {
        const names = await slotted();
        return names.length > 0 ? names : undefined;
      },
      { what: 'the first scheduled backup' },
    );
    expect(first).toMatch(/^shop-\d{12}$/);
    const b1 = await getJson<BackupObject & { metadata: { annotations: Record<string, string> } }>(
      'trenchbackup',
      first!,
    );
    const slot = b1.metadata.annotations['playtrenches.xyz/slot']!;
    expect(first).toBe(`shop-${slot.replace(/[-T:]/g, '').slice(0, 12)}`);
    const trench = await waitFor(
      async () => {
        const t = await getJson<TrenchObject>('trench', 'shop');
        return t.status?.backup?.lastScheduleTime === slot ? t : undefined;
      },
      { what: 'status.backup.lastScheduleTime' },
    );
    const next = Date.parse(slot) + 60_000;
    expect(Date.parse(trench.status!.backup!.nextScheduleTime!)).toBe(next);
    // Postgres cannot be reached at this slot: the backup fails, saying why.
    await backupWhen(first!, 'to be Running', (st) => st.phase === 'Running');
    expect((await runDump(first!, '127.0.0.1:1')).run.code).not.toBe(0);
    const failed = await backupWhen(first!, 'to fail', (st) => st.phase === 'Failed');
    expect(failed.status?.message).toMatch(/connect|refused/i);

    // The next slot all the same, at its minute: requeued for it, not polled.
    const second = await waitFor(
      async () => {
        const names = await slotted();
        return names.find((n) => n > first!);
      },
      { what: 'the backup of the next slot', timeoutMs: 90_000 },
    );
    const b2 = await getJson<BackupObject & { metadata: { annotations: Record<string, string> } }>(
      'trenchbackup',
      second,
    );
    expect(Date.parse(b2.metadata.annotations['playtrenches.xyz/slot']!)).toBeGreaterThanOrEqual(
      next,
    );
    await backupWhen(second, 'to be Running', (st) => st.phase === 'Running');
    expect((await runDump(second, `127.0.0.1:${pg.port}`)).run.code).toBe(0);
    await backupWhen(second, 'to complete', (st) => st.phase === 'Completed');

    // daily: 1 keeps the newest completed backup of the day; the earlier one goes, file and
    // all; the failed one stays (the newest failures are kept for diagnosis).
    const removal = await removalJob('shop-earlier');
    const dir = dumpDirs.get('shop-earlier')!;
    expect(readdirSync(join(dir, 'dumps'))).toContain('shop-earlier.dump');
    expect((await runPod(removal, dir)).code).toBe(0);
    expect(readdirSync(join(dir, 'dumps'))).toEqual([]);
    await waitFor(async () => ((await exists('trenchbackup', 'shop-earlier')) ? undefined : true), {
      what: 'shop-earlier to be deleted by retention',
    });
    expect(await exists('trenchbackup', second)).toBe(true);
    expect(await exists('trenchbackup', first!)).toBe(true);
    // Manual backups are not retention's to delete.
    const manual = (
      await getJson<{ items: (BackupObject & { spec: { reason: string } })[] }>('trenchbackups')
    ).items.filter((b) => b.spec.reason === 'manual' && b.status?.phase === 'Completed');
    expect(manual.length).toBeGreaterThan(0);
    // An Event on the Trench says what went and why (kubectl reads events as core/v1: message).
    const events = await waitFor(
      async () => {
        const out = await mustKubectl([
          'get',
          'events',
          '-n',
          ns.name,
          '--field-selector',
          'involvedObject.name=shop,reason=BackupExpired',
          '-o',
          'jsonpath={.items[*].message}',
        ]);
        return out.includes('shop-earlier') ? out : undefined;
      },
      { what: 'a BackupExpired event on the Trench' },
    );
    expect(events).toContain(
      'Deleted TrenchBackup shop-earlier: retention (daily 1, weekly 0, monthly 0) no longer keeps it',
    );

    // The suspended Trench, through the same minute boundaries and past the retention that
    // ran for the first: no slot taken, nothing deleted, no time scheduled.
    expect((await scheduled()).filter((n) => n.startsWith('quiet-'))).toEqual(quietBefore);
    const quiet = await getJson<TrenchObject>('trench', 'quiet');
    expect(quiet.status?.backup?.nextScheduleTime).toBeUndefined();
    expect(quiet.status?.backup?.lastScheduleTime).toBeUndefined();
  }, 240_000);

  it('suspended after it ran, it clears the next slot and keeps the last', async () => {
    await mergePatch('trench', 'shop', ns.name, { spec: { backup: { suspend: true } } });
    const t = await waitFor(
      async () => {
        const tr = await getJson<TrenchObject>('trench', 'shop');
        return tr.status?.backup?.nextScheduleTime === undefined ? tr : undefined;
      },
      { what: 'nextScheduleTime to be cleared' },
    );
    expect(t.status?.backup?.lastScheduleTime).toBeDefined();
  });
});
