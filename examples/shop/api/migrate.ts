// The migration command (a Trench's spec.rollout.migration.command runs it once per
// revision): applies what lib/db.ts lists and exits 0, or 1 with the error.
import { createPool, migrate } from '../lib/db.js';
import { ConfigError, url } from '../lib/env.js';
import { log } from '../lib/log.js';

const pool = (() => {
  try {
    return createPool(url(process.env, 'DATABASE_URL', ['postgres', 'postgresql']));
  } catch (err) {
    process.stderr.write(`shop-migrate: ${(err as Error).message}\n`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  }
})();

try {
  const applied = await migrate(pool);
  log('info', 'Migrated the database', { applied });
  await pool.end();
} catch (err) {
  log('error', 'Failed to migrate the database', { error: String(err) });
  await pool.end().catch(() => undefined);
  process.exit(1);
}
