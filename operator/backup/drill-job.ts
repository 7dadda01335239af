// The restore drill's Job: proves a TrenchBackup restores, without touching the Trench's database.
// Pure: the backup and its Trench's image in, a Job manifest out.
//
// The Job's own pod starts a throwaway PostgreSQL (initdb in a scratch emptyDir, listening on a
// Unix socket only, fsync off: its data is thrown away with the pod), restores the dump into it
// with pg_restore, and reads every table to the end (count(*) over each, so a page that cannot
// be read fails the drill). The row counts, the table and large-object counts and the time taken
// are the termination message, as the dump's result is (dump-job.ts).
import { createHash } from 'node:crypto';
import { claimJob, jobName, LABEL_BACKUP, parseMessageJson } from './dump-job.js';
import { CHECK_SUM } from './restore-job.js';

/**
 * On a TrenchBackup: a request to drill it. `scheduled/<slot>` from spec.backup.verify,
 * `manual/<time>` from `kubectl trench verify`; a value the status has not answered yet runs a
 * drill. An annotation, not the Trench's spec, so GitOps never undoes one.
 */
export const ANNOTATION_VERIFY = 'playtrenches.xyz/verify';
/** The prefix of a request made by spec.backup.verify; the slot follows it. */
export const SCHEDULED_DRILL = 'scheduled/';
/** The prefix of a request made by kubectl trench verify; the time follows it. */
export const MANUAL_DRILL = 'manual/';

// The tables' counts, as one JSON object. Partitions are read through their parent, so rows are
// counted once. The list of counts keeps the largest tables within about 2.5 KB, since the
// kubelet keeps at most 4096 bytes of a termination message; `tables` and `rows` count all.
const COUNT_SQL = `WITH t AS (
  SELECT format('%I.%I', n.nspname, c.relname) AS name,
         (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint AS rows
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
), s AS (
  SELECT name, rows, sum(length(name) + 24) OVER (ORDER BY rows DESC, name) AS used FROM t
)
SELECT json_build_object(
  'tables', (SELECT count(*) FROM t),
  'rows', (SELECT coalesce(sum(rows), 0) FROM t),
  'largeObjects', (SELECT count(*) FROM pg_largeobject_metadata),
  'counts', coalesce((SELECT json_agg(json_build_object('table', name, 'rows', rows) ORDER BY rows DESC, name) FROM s WHERE used <= 2500), '[]'::json)
);`;

// POSIX sh with the image's initdb, pg_ctl, pg_restore and psql on PATH (the official postgres
// images have them there). Exit codes: 2 file missing, 3 checksum, 5 pg_restore, 6 the scratch
// server, 7 a table unreadable.
export const DRILL_SCRIPT = `set -eu
${CHECK_SUM}start=$(date +%s)
data="$SCRATCH_DIR/data"
rm -rf "$data"
fail() {
  printf '%s: %s\\n' "$1" "$(tail -c 1500 "$2" 2>/dev/null)" > "$RESULT_FILE"
  exit "$3"
}
trap 'pg_ctl --pgdata="$data" --mode=immediate stop > /dev/null 2>&1 || true' EXIT
initdb --pgdata="$data" --username=drill --auth=trust --encoding=UTF8 --no-sync > "$SCRATCH_DIR/initdb.log" 2>&1 ||
  fail 'initdb of the scratch PostgreSQL failed' "$SCRATCH_DIR/initdb.log" 6
pg_ctl --pgdata="$data" --log="$SCRATCH_DIR/server.log" --wait --timeout=120 \\
  --options="-c listen_addresses='' -c unix_socket_directories='$SCRATCH_DIR' -c fsync=off -c full_page_writes=off -c shared_buffers=32MB" \\
  start > /dev/null 2>&1 || fail 'the scratch PostgreSQL did not start' "$SCRATCH_DIR/server.log" 6
export PGHOST="$SCRATCH_DIR" PGUSER=drill
createdb drill 2> "$SCRATCH_DIR/createdb.err" || fail 'createdb in the scratch PostgreSQL failed' "$SCRATCH_DIR/createdb.err" 6
pg_restore --exit-on-error --no-owner --no-acl --dbname=drill "$file" 2> "$SCRATCH_DIR/restore.err" ||
  fail "pg_restore of $BACKUP_PATH into a scratch PostgreSQL failed" "$SCRATCH_DIR/restore.err" 5
counts=$(psql --no-psqlrc --quiet --tuples-only --no-align --set=ON_ERROR_STOP=1 --dbname=drill 2> "$SCRATCH_DIR/count.err" <<'SQL'
${COUNT_SQL}
SQL
) || fail 'a restored table could not be read' "$SCRATCH_DIR/count.err" 7
end=$(date +%s)
printf '{"verified":"%s","checksum":"%s","seconds":%s,"database":%s}\\n' "$BACKUP_PATH" "$sum" "$((end - start))" "$counts" > "$RESULT_FILE"
`;

/** `<backup>-drill-<8 hex of the request>`: one Job per request, found again after a restart. */
export function drillJobName(backup: string, request: string): string {
  const hash = createHash('sha256').update(request).digest('hex').slice(0, 8);
  return jobName(backup, `drill-${hash}`);
}

const MI = 1024 * 1024;

/**
 * The scratch folder's limit: ten times the dump (a custom-format dump is compressed, and the
 * restored tables carry their indexes), at least 1 GiB.
 */
export function drillScratchMi(dumpBytes: number): number {
  return Math.max(1024, Math.ceil((dumpBytes * 10) / MI));
}

export interface DrillJobInput {
  readonly namespace: string;
  readonly trench: string;
  /** The TrenchBackup (the Job's owner) and what its status recorded of the file. */
  readonly backup: {
    readonly name: string;
    readonly uid: string;
    readonly path: string;
    readonly checksum: string;
    readonly sizeBytes: number;
  };
  readonly request: string;
  /** The Trench's Postgres image, whose major version restored the dump's server's. */
  readonly image: string;
  readonly claimName: string;
}

export function drillJob(input: DrillJobInput): Record<string, unknown> {
  const scratchMi = drillScratchMi(input.backup.sizeBytes);
  return claimJob({
    name: drillJobName(input.backup.name, input.request),
    namespace: input.namespace,
    trench: input.trench,
    backup: input.backup.name,
    route: { [LABEL_BACKUP]: input.backup.name },
    owner: { kind: 'TrenchBackup', name: input.backup.name, uid: input.backup.uid },
    image: input.image,
    claimName: input.claimName,
    container: 'drill',
    script: DRILL_SCRIPT,
    env: [
      { name: 'BACKUP_PATH', value: input.backup.path },
      { name: 'EXPECTED_CHECKSUM', value: input.backup.checksum },
    ],
    scratch: `${scratchMi}Mi`,
    resources: {
      requests: { cpu: '250m', memory: '256Mi', 'ephemeral-storage': '64Mi' },
      limits: { cpu: '1', memory: '1Gi', 'ephemeral-storage': `${scratchMi + 256}Mi` },
    },
    // A verdict is a verdict: a failed drill is reported, not retried over a half-restored copy.
    backoffLimit: 0,
    activeDeadlineSeconds: 6 * 3600,
    ttlSecondsAfterFinished: 7 * 86400,
  });
}

/** What a drill that passed reports. */
export interface DrillResult {
  readonly seconds: number;
  readonly tables: number;
  readonly rows: number;
  readonly largeObjects: number;
  readonly counts: readonly { readonly table: string; readonly rows: number }[];
}

/** Reads the termination message of a drill that passed; throws with what is wrong. */
export function parseDrillResult(message: string): DrillResult {
  const r = parseMessageJson('drill', message) as {
    seconds?: unknown;
    database?: { tables?: unknown; rows?: unknown; largeObjects?: unknown; counts?: unknown };
  };
  const d = r.database;
  const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n);
  if (
    !isCount(r.seconds) ||
    !d ||
    !isCount(d.tables) ||
    !isCount(d.rows) ||
    !isCount(d.largeObjects) ||
    !Array.isArray(d.counts) ||
    !d.counts.every(
      (c: { table?: unknown; rows?: unknown }) => typeof c?.table === 'string' && isCount(c.rows),
    )
  ) {
    throw new Error(
      `the drill's termination message lacks seconds, tables, rows, largeObjects or counts: ${message.slice(0, 200)}`,
    );
  }
  return {
    seconds: r.seconds,
    tables: d.tables,
    rows: d.rows,
    largeObjects: d.largeObjects,
    counts: d.counts as DrillResult['counts'],
  };
}
