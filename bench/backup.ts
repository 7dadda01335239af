// Backup and restore of a database of a few hundred MB with the product's own Job scripts
// (operator/backup/dump-job.ts, restore-job.ts and drill-job.ts, run as the Jobs' containers run
// them, on the host with Debian's PostgreSQL), against bare pg_dump and pg_restore in the same
// run as the baseline, so the ratios show what the scripts add (the sums, the partial file and
// rename, the archive check; for the drill, a scratch server and reading every table). Prints
// figures, asserts nothing.
//   node --import tsx bench/backup.ts [--mb 300] [--trials 3]
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { argv } from 'zx';
import { DRILL_SCRIPT, parseDrillResult } from '../operator/backup/drill-job.js';
import { DUMP_SCRIPT, parseDumpResult } from '../operator/backup/dump-job.js';
import { RESTORE_SCRIPT, VERIFY_SCRIPT } from '../operator/backup/restore-job.js';
import {
  asPostgresUser,
  postgresBin,
  startPostgres,
  wrap,
} from '../tests/integration/support/services.js';

const targetMb = Number(argv.mb ?? 300);
const trials = Number(argv.trials ?? 3);

function run(
  command: string,
  args: string[],
  env: Record<string, string>,
  owner?: { uid: number; gid: number },
): Promise<{ seconds: number; stderr: string }> {
  const started = performance.now();
  const exec = wrap(owner, command, args);
  return new Promise((resolve, reject) =>
    execFile(
      exec.command,
      exec.args,
      {
        env: { ...env, PATH: `${postgresBin()}:${process.env.PATH ?? ''}` },
        maxBuffer: 64 << 20,
      },
      (error, _stdout, stderr) => {
        if (error) reject(new Error(`${command} ${args.slice(0, 2).join(' ')}: ${stderr}`));
        else resolve({ seconds: (performance.now() - started) / 1000, stderr });
      },
    ),
  );
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

const pg = await startPostgres();
const dir = mkdtempSync(join(tmpdir(), 'trench-bench-backup-'));
// The drill starts its own PostgreSQL, which refuses root: as root it runs as postgres, as the
// pod runs non-root.
const owner = await asPostgresUser();
if (owner) chmodSync(dir, 0o755);
try {
  // About 1 KiB a row of mixed data: hex text that compresses about as far as application data
  // does (to about half), numbers,
  // timestamps, jsonb; an index, so the restore rebuilds one.
  const rows = Math.round((targetMb * 2 ** 20) / 1100);
  const loadStart = performance.now();
  await pg.sql(`CREATE TABLE events (id bigserial PRIMARY KEY, kind text, amount numeric(12,2),
      at timestamptz, payload jsonb, body text);
    INSERT INTO events (kind, amount, at, payload, body)
      SELECT 'kind-' || (g % 50), g * 0.37, timestamptz '2026-01-01' + g * interval '1 second',
             jsonb_build_object('n', g, 'tag', md5(g::text)),
             (SELECT string_agg(md5((g * 31 + i)::text), '') FROM generate_series(1, 24) i)
      FROM generate_series(1, ${rows}) g;
    CREATE INDEX events_kind_at ON events (kind, at);`);
  const dbBytes = Number(await pg.sql("SELECT pg_database_size('trench')"));
  console.log(
    `database: ${rows} rows, ${mib(dbBytes)} on disk (loaded in ${((performance.now() - loadStart) / 1000).toFixed(1)} s)`,
  );

  const base = { DATABASE_URL: pg.url };
  const results = {
    bareDump: [] as number[],
    dump: [] as number[],
    verify: [] as number[],
    drill: [] as number[],
  };
  let drilledRows = 0;
  const restores = { bare: [] as number[], script: [] as number[] };
  let dumpBytes = 0;
  for (let i = 0; i < trials; i++) {
    const bare = join(dir, `bare-${i}.dump`);
    results.bareDump.push(
      (
        await run(
          'pg_dump',
          ['--format=custom', '--no-password', `--dbname=${pg.url}`, `--file=${bare}`],
          base,
        )
      ).seconds,
    );
    const resultFile = join(dir, `result-${i}`);
    const env = { ...base, BACKUP_NAME: `bench-${i}`, BACKUP_DIR: dir, RESULT_FILE: resultFile };
    results.dump.push((await run('sh', ['-c', DUMP_SCRIPT], env)).seconds);
    const result = parseDumpResult(readFileSync(resultFile, 'utf8'));
    dumpBytes = result.sizeBytes;
    const restoreEnv = {
      ...base,
      BACKUP_DIR: dir,
      BACKUP_PATH: result.path,
      EXPECTED_CHECKSUM: result.checksum,
      RESULT_FILE: resultFile,
    };
    results.verify.push((await run('sh', ['-c', VERIFY_SCRIPT], restoreEnv)).seconds);
    const scratch = join(dir, `scratch-${i}`);
    mkdirSync(scratch);
    if (owner) chownSync(scratch, owner.uid, owner.gid);
    const drillResult = join(scratch, 'result');
    const drillEnv = { ...restoreEnv, SCRATCH_DIR: scratch, RESULT_FILE: drillResult };
    results.drill.push((await run('sh', ['-c', DRILL_SCRIPT], drillEnv, owner)).seconds);
    drilledRows = parseDrillResult(readFileSync(drillResult, 'utf8')).rows;
    rmSync(scratch, { recursive: true, force: true });
    restores.bare.push(
      (
        await run(
          'pg_restore',
          [
            '--clean',
            '--if-exists',
            '--single-transaction',
            '--no-owner',
            `--dbname=${pg.url}`,
            bare,
          ],
          base,
        )
      ).seconds,
    );
    restores.script.push((await run('sh', ['-c', RESTORE_SCRIPT], restoreEnv)).seconds);
    rmSync(bare);
    rmSync(join(dir, result.path));
  }
  const rowsAfter = Number(await pg.sql('SELECT count(*) FROM events'));
  const ratio = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(2);
  console.log(
    `dump file: ${mib(dumpBytes)} (${((dumpBytes / dbBytes) * 100).toFixed(0)}% of the database)`,
  );
  console.log(`medians of ${trials} trials:`);
  console.log(
    `  backup  bare pg_dump ${median(results.bareDump).toFixed(2)} s, dump Job script ${median(results.dump).toFixed(2)} s (x${ratio(results.dump, results.bareDump)})`,
  );
  console.log(
    `  verify  (sum and archive check, before anything stops) ${median(results.verify).toFixed(2)} s`,
  );
  console.log(
    `  drill   (sum, initdb, pg_restore into a scratch server, every table read) ${median(results.drill).toFixed(2)} s (x${ratio(results.drill, restores.bare)} of a bare pg_restore), ${drilledRows} rows read`,
  );
  console.log(
    `  restore bare pg_restore ${median(restores.bare).toFixed(2)} s, restore Job script ${median(restores.script).toFixed(2)} s (x${ratio(restores.script, restores.bare)})`,
  );
  console.log(
    `  throughput: backup ${(dbBytes / 2 ** 20 / median(results.dump)).toFixed(0)} MiB/s of database, restore ${(dbBytes / 2 ** 20 / median(restores.script)).toFixed(0)} MiB/s`,
  );
  console.log(`rows after the last restore: ${rowsAfter} (expected ${rows})`);
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
