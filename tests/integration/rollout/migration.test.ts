// A release's migration for real: the operator as a process on the real API server, in a
// namespace enforcing the restricted pod security profile; the pre-migration TrenchBackup's dump
// Job and the migration Job it creates run on the host (their exact commands and environment,
// tests/integration/support/jobs.ts) against Debian's PostgreSQL holding the password the
// operator generated, their exits reported as the kubelet would.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrenchStatus } from '../../../charts/api/trench.js';
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

const ns = useNamespace('migrate', { 'pod-security.kubernetes.io/enforce': 'restricted' });
type Rollout = NonNullable<TrenchStatus['rollout']>;
let pg: PostgresServer;
let operator: RunningOperator | undefined;
const shopLabels = () => `namespace="${ns.name}",trench="shop"`;
let claimDir = '';
/** The revision whose migration succeeded. */
let r2 = '';

const getJson = async <T>(...args: string[]): Promise<T> =>
  JSON.parse(await mustKubectl(['get', ...args, '-n', ns.name, '-o', 'json'])) as T;

const exists = async (kind: string, name: string) =>
  (await kubectl(['get', kind, name, '-n', ns.name])).code === 0;

const rolloutWhen = (what: string, ok: (r: Rollout) => boolean) =>
  waitFor(
    async () => {
      const r = (await getJson<{ status?: TrenchStatus }>('trench', 'shop')).status?.rollout;
      return r && ok(r) ? r : undefined;
    },
    { what: `Trench shop: ${what}` },
  );

const phaseOf = async (kind: string, name: string) =>
  (await getJson<{ status?: { phase?: string } }>(kind, name)).status?.phase;

const host = () => ({ 'shop-postgres:5432': `127.0.0.1:${pg.port}` });
const closed = { 'shop-postgres:5432': '127.0.0.1:1' };

/** Runs Job `name`'s pod on the host once the operator has made it. */
const runPod = async (name: string, addresses: Record<string, string>) => {
  const job = await waitFor(
    async () => ((await exists('job', name)) ? getJson<JobObject>('job', name) : undefined),
    { what: `Job ${name}` },
  );
  return runJobPod(job, { claimDir, addresses });
};

const release = (version: string, migration: Record<string, unknown>) =>
  mergePatch('trench', 'shop', ns.name, {
    spec: {
      api: { image: `shop-api:${version}` },
      worker: { image: `shop-worker:${version}` },
      rollout: { migration },
    },
  });

beforeAll(async () => {
  await installCrdsAndRbac();
  operator = await startOperator({
    TRENCH_WATCH_NAMESPACE: ns.name,
    TRENCH_LEADER_ELECTION: 'false',
  });
  await createOwn('Trench', ns.name, 'shop', {
    api: { image: 'shop-api:1', replicas: 2 },
    worker: { image: 'shop-worker:1', queues: ['orders'] },
    backup: { suspend: true },
    rollout: {
      steps: [{ setWeight: 50 }, { pause: {} }],
      // Nothing answers here: the canary is held as inconclusive, which is all these
      // tests need of it once the migration is done.
      analysis: { prometheusUrl: 'http://127.0.0.1:1', intervalSeconds: 2 },
    },
  });
  const password = await generatedPassword(ns.name, 'shop-postgres');
  pg = await startPostgres({ password });
  claimDir = mkdtempSync(join(tmpdir(), 'trench-migrate-claim-'));
  await rolloutWhen('stable', (r) => r.phase === 'Stable' && !!r.stableRevision);
}, 240_000);

afterAll(async () => {
  const exit = await operator?.stop();
  if (process.env.DEBUG_OPERATOR || (exit && exit.code !== 0)) console.error(operator?.logs());
  await pg?.stop();
  if (claimDir) rmSync(claimDir, { recursive: true, force: true });
});

describe('a release with a migration', () => {
  it('backs up, migrates once with the new image, then starts the canary', async () => {
    await release('2', {
      command: [
        'sh',
        '-c',
        'psql --no-psqlrc -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "CREATE TABLE release_2 (id int)"',
      ],
    });
    const backingUp = await rolloutWhen('backing up', (r) => r.reason === 'Migrating');
    r2 = backingUp.canaryRevision!;
    const backup = `shop-premigrate-${r2}`;
    expect(backingUp.migration).toMatchObject({ revision: r2, phase: 'BackingUp', backup });
    // Nothing of the new release runs before its migration.
    expect(await exists('deployment', 'shop-api-canary')).toBe(false);
    expect((await getJson<{ spec: { reason: string } }>('trenchbackup', backup)).spec.reason).toBe(
      'pre-migration',
    );
    expect((await runPod(`${backup}-dump`, host())).code).toBe(0);
    await waitFor(
      async () => ((await phaseOf('trenchbackup', backup)) === 'Completed' ? true : undefined),
      {
        what: `TrenchBackup ${backup} completed`,
      },
    );

    // The Job runs the new API image with the API's environment.
    const jobName = `shop-migrate-${r2}`;
    const run = await runPod(jobName, host());
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const job = await getJson<
      JobObject & { spec: { template: { spec: { containers: { image: string }[] } } } }
    >('job', jobName);
    expect(job.spec.template.spec.containers[0]!.image).toBe('shop-api:2');
    expect(run.env.DATABASE_URL).toContain(`@127.0.0.1:${pg.port}/`);
    expect(await pg.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'release_2'")).toBe('1');

    const canary = await rolloutWhen(
      'the canary running',
      (r) => r.reason !== 'Migrating' && r.canaryRevision === r2,
    );
    expect(canary.migration).toMatchObject({ phase: 'Succeeded', job: jobName });
    await waitFor(
      async () => ((await exists('deployment', 'shop-api-canary')) ? true : undefined),
      {
        what: 'the canary Deployment',
      },
    );
    const reasons = (await eventsWhere(ns.name, 'involvedObject.name=shop')).map((e) => e.reason);
    expect(reasons).toEqual(
      expect.arrayContaining(['MigrationBackingUp', 'MigrationMigrating', 'MigrationSucceeded']),
    );

    // With no Prometheus to judge it, the canary is held and never promoted blind.
    const promote = await plugin(ns.name, 'promote', 'shop', '--full');
    expect(promote.code).toBe(1);
    expect(promote.stderr).toContain('inconclusive');
  });

  it('aborts when the migration fails, naming the Job; stable keeps serving', async () => {
    await release('3', {
      backupFirst: false,
      command: ['sh', '-c', 'echo "relation users does not exist" >&2; exit 3'],
    });
    const migrating = await rolloutWhen(
      'migrating revision 3',
      (r) => r.reason === 'Migrating' && r.migration?.phase === 'Migrating',
    );
    const r3 = migrating.canaryRevision!;
    // The old canary of revision 2 is discarded; no backup without backupFirst.
    expect(migrating.migration?.backup).toBeUndefined();
    const run = await runPod(`shop-migrate-${r3}`, host());
    expect(run.code).toBe(3);
    const aborted = await rolloutWhen('aborted', (r) => r.phase === 'Aborted');
    expect(aborted.reason).toBe('MigrationFailed');
    expect(aborted.message).toContain(`Migration Job shop-migrate-${r3} failed`);
    expect(aborted.message).toContain(`see kubectl logs job/shop-migrate-${r3}`);
    // The abort that may leave a half-migrated database is the one TrenchRolloutAborted pages.
    // (From the operator's cache at scrape time: a moment behind the status just read.)
    await waitFor(
      async () =>
        metricValue(await operator!.metrics(), 'trench_rollout_migration_failed', shopLabels()) ===
        1
          ? true
          : undefined,
      { what: 'trench_rollout_migration_failed 1' },
    );
    const api = await getJson<{
      spec: { template: { spec: { containers: { image: string }[] } } };
    }>('deployment', 'shop-api');
    expect(api.spec.template.spec.containers[0]!.image).toBe('shop-api:1');
    // Retried: the same failed Job answers again, and no second Job is made.
    const retry = await plugin(ns.name, 'retry', 'shop');
    expect(retry.code).toBe(0);
    const again = await rolloutWhen(
      'aborted again',
      (r) => r.phase === 'Aborted' && r.lastRequestResult?.startsWith('retry') === true,
    );
    expect(again.reason).toBe('MigrationFailed');
    const jobs = await mustKubectl([
      'get',
      'jobs',
      '-n',
      ns.name,
      '-l',
      'app.kubernetes.io/component=migration',
      '-o',
      'name',
    ]);
    expect(jobs.trim().split('\n').sort()).toEqual(
      [`job.batch/shop-migrate-${r2}`, `job.batch/shop-migrate-${r3}`].sort(),
    );
  });

  it('aborts before migrating when the pre-migration backup fails', async () => {
    await release('4', { backupFirst: true, command: ['sh', '-c', 'exit 0'] });
    const backingUp = await rolloutWhen(
      'backing up revision 4',
      (r) => r.migration?.phase === 'BackingUp',
    );
    const r4 = backingUp.canaryRevision!;
    expect((await runPod(`shop-premigrate-${r4}-dump`, closed)).code).not.toBe(0);
    const aborted = await rolloutWhen('aborted', (r) => r.phase === 'Aborted');
    expect(aborted.reason).toBe('MigrationBackupFailed');
    expect(aborted.message).toContain(`Pre-migration TrenchBackup shop-premigrate-${r4} failed`);
    expect(await exists('job', `shop-migrate-${r4}`)).toBe(false);
    // The database was never touched: an abort that warns, not one that pages.
    const metrics = await waitFor(
      async () => {
        const m = await operator!.metrics();
        return metricValue(m, 'trench_rollout_phase', `${shopLabels()},phase="Aborted"`) === 1
          ? m
          : undefined;
      },
      { what: 'trench_rollout_phase Aborted 1' },
    );
    expect(metrics).toContain(`trench_rollout_migration_failed{${shopLabels()}} 0`);
  });
});
