// PostgreSQL: a pool, the schema's migrations, and the one table the shop writes.
import pg from 'pg';

export function createPool(databaseUrl: string): pg.Pool {
  // Short timeouts: /health must answer within the readiness probe's 1 s, and a dead
  // database must show as not ready rather than hang the probe.
  return new pg.Pool({
    connectionString: databaseUrl,
    max: 5,
    connectionTimeoutMillis: 2_000,
    idleTimeoutMillis: 30_000,
  });
}

/** Ordered and append-only: a released migration is never edited, a new one is added. */
export const MIGRATIONS: readonly { readonly id: number; readonly sql: string }[] = [
  {
    id: 1,
    sql: `CREATE TABLE processed_jobs (
      queue text NOT NULL,
      job_id text NOT NULL,
      name text NOT NULL,
      attempts integer NOT NULL,
      finished_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (queue, job_id)
    )`,
  },
];

// Any fixed number: API pods, workers and the migration Job all take the same lock, so two
// starting at once never race on the same CREATE TABLE.
const MIGRATION_LOCK = 727_001;

/** Applies the migrations not yet applied, in one transaction; returns their ids. */
export async function migrate(pool: pg.Pool): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS shop_migrations (id integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = await client.query<{ id: number }>('SELECT id FROM shop_migrations');
    const have = new Set(done.rows.map((r) => r.id));
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (have.has(m.id)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO shop_migrations (id) VALUES ($1)', [m.id]);
      applied.push(m.id);
    }
    await client.query('COMMIT');
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Idempotent: a job that BullMQ retries after a crash is recorded once. */
export async function recordJob(
  pool: pg.Pool,
  job: { queue: string; id: string; name: string; attempts: number },
): Promise<void> {
  await pool.query(
    `INSERT INTO processed_jobs (queue, job_id, name, attempts) VALUES ($1, $2, $3, $4)
     ON CONFLICT (queue, job_id) DO UPDATE SET attempts = EXCLUDED.attempts, finished_at = now()`,
    [job.queue, job.id, job.name, job.attempts],
  );
}
