// The dump Job, proven for real: the Job the operator's builder makes is admitted by the real
// API server in a namespace that enforces the restricted Pod Security profile, its pod is
// created by the Job controller, and its container's exact command and environment (read back
// from the API server) run on the host against Debian's PostgreSQL, with the backups claim's
// folder a temporary directory. The dump then restores a damaged database to the state it had.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Chart } from 'cdk8s';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Postgres } from '../../../charts/constructs/postgres.js';
import {
  DUMP_SCRIPT,
  dumpJob,
  dumpJobName,
  LABEL_BACKUP,
  parseDumpResult,
} from '../../../operator/backup/dump-job.js';
import { mustKubectl, useNamespace, waitFor } from '../support/cluster.js';
import { type JobObject, runJobOnHost } from '../support/jobs.js';
import { installCrdsAndRbac } from '../support/operator.js';
import { type PostgresServer, postgresBin, startPostgres } from '../support/services.js';
import { damageShopData, seedShopData, shopSnapshot } from '../support/shop-data.js';

const ns = useNamespace('backup-dump', {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/warn': 'restricted',
});
const BACKUP = 'shop-202612020300';
let pg: PostgresServer;
let job: JobObject;
const dirs: string[] = [];

const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'trench-backups-'));
  dirs.push(d);
  return d;
};

const snapshot = () => shopSnapshot(pg);

beforeAll(async () => {
  pg = await startPostgres();
  await installCrdsAndRbac();
  await mustKubectl([
    'create',
    'secret',
    'generic',
    'shop-postgres',
    '-n',
    ns.name,
    `--from-literal=password=${pg.password}`,
  ]);
  const backup = JSON.parse(
    await mustKubectl(
      ['create', '-o', 'json', '-f', '-'],
      JSON.stringify({
        apiVersion: 'playtrenches.xyz/v1alpha1',
        kind: 'TrenchBackup',
        metadata: { name: BACKUP, namespace: ns.name },
        spec: { trench: 'shop', reason: 'scheduled' },
      }),
    ),
  ) as { metadata: { uid: string } };
  const postgres = new Postgres(new Chart(new App(), 'c'), 'pg', { trench: 'shop' });
  const manifest = dumpJob({
    namespace: ns.name,
    trench: 'shop',
    backup: { name: BACKUP, uid: backup.metadata.uid },
    image: 'docker.io/library/postgres:16.6',
    claimName: 'shop-backups',
    source: { managed: { env: postgres.clientEnv } },
  });
  await mustKubectl(['create', '-f', '-'], JSON.stringify(manifest));
  job = JSON.parse(
    await mustKubectl(['get', 'job', dumpJobName(BACKUP), '-n', ns.name, '-o', 'json']),
  ) as JobObject;

  await seedShopData(pg);
}, 180_000);

afterAll(async () => {
  await pg?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const hostRun = (dir: string, addresses: Record<string, string>) =>
  runJobOnHost(job, {
    path: [postgresBin()],
    set: { BACKUP_DIR: dir, RESULT_FILE: join(dir, 'termination-log') },
    addresses,
  });

describe('the dump Job', () => {
  it('is admitted under the restricted profile and its pod is created', async () => {
    const pod = await waitFor(
      async () => {
        const out = await mustKubectl([
          'get',
          'pods',
          '-n',
          ns.name,
          '-l',
          `${LABEL_BACKUP}=${BACKUP}`,
          '-o',
          'jsonpath={.items[*].metadata.name}',
        ]);
        return out.trim() || undefined;
      },
      { what: `the pod of Job ${dumpJobName(BACKUP)}` },
    );
    expect(pod).toMatch(new RegExp(`^${dumpJobName(BACKUP)}-`));
    const container = job.spec.template.spec.containers[0]!;
    expect(container.command).toEqual(['sh', '-c', DUMP_SCRIPT]);
  });

  it('writes a whole, summed dump whose result the operator can read, and it restores', async () => {
    const dir = tempDir();
    const before = await snapshot();
    const run = await hostRun(dir, { 'shop-postgres:5432': `127.0.0.1:${pg.port}` });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    // The environment was the Job's: the password came from the Secret through $(PGPASSWORD).
    expect(run.env.DATABASE_URL).toBe(pg.url);
    expect(run.env.BACKUP_NAME).toBe(BACKUP);

    const result = parseDumpResult(readFileSync(join(dir, 'termination-log'), 'utf8'));
    expect(result.path).toBe(`dumps/${BACKUP}.dump`);
    const file = join(dir, result.path);
    const bytes = readFileSync(file);
    expect(result.checksum).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    expect(result.sizeBytes).toBe(statSync(file).size);
    expect(result.serverVersion).toMatch(/^1[5-9]\./);
    expect(readdirSync(join(dir, 'dumps')).sort()).toEqual([
      `${BACKUP}.dump`,
      `${BACKUP}.dump.sha256`,
    ]);
    expect(readFileSync(`${file}.sha256`, 'utf8')).toBe(
      `${result.checksum.slice('sha256:'.length)}  ${BACKUP}.dump\n`,
    );

    // Damage the database, then load the dump back in one transaction.
    await damageShopData(pg);
    expect(await pg.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'orders'")).toBe('0');
    expect(await pg.sql('SELECT last_value FROM items_id_seq')).toBe('9999');
    const { execFile } = await import('node:child_process');
    const restore = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(
        join(postgresBin(), 'pg_restore'),
        [
          '--clean',
          '--if-exists',
          '--single-transaction',
          '--no-owner',
          `--dbname=${pg.url}`,
          file,
        ],
        (error, _stdout, stderr) => resolve({ code: error ? 1 : 0, stderr }),
      ),
    );
    expect(restore).toEqual({ code: 0, stderr: '' });
    expect(await snapshot()).toEqual(before);
  });

  it('fails with pg_dump’s reason and leaves no file when Postgres is unreachable', async () => {
    const dir = tempDir();
    const closed = 1; // nothing listens on port 1 of loopback
    const run = await hostRun(dir, { 'shop-postgres:5432': `127.0.0.1:${closed}` });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/connection (to server at "127\.0\.0\.1".*)?(refused|failed)/i);
    expect(existsSync(join(dir, 'termination-log'))).toBe(false);
    const left = existsSync(join(dir, 'dumps')) ? readdirSync(join(dir, 'dumps')) : [];
    expect(left).toEqual([]);
  });
});
