// Which TrenchBackups a Trench keeps: grandfather-father-son over days, ISO weeks and months.
// Pure: the backups, the policy and the calendar's time zone in, the names to delete out.
//
// A period counts when it holds a completed backup (as restic's --keep-daily does), not when
// it is merely recent: a Trench whose backups failed for ten days still keeps its 7 newest good
// days, rather than waking up with nothing but the newest dump.
//
// Worked example, daily backups at 03:00 UTC up to Wednesday 2026-12-02, policy 7/4/12:
//   daily   keeps 11-26 … 12-02 (the newest backup of each of the 7 newest days)
//   weekly  keeps the newest of ISO weeks 49, 48, 47, 46: 12-02, 11-29, 11-22, 11-15
//   monthly keeps the newest of the 12 newest months: 12-02, 11-30, 10-31, 09-30, … 2026-01-31
// One backup can satisfy several rules (12-02 is daily, weekly and monthly at once; 11-29 and
// 11-30 are daily too), so the set holds 7 + 2 + 10 = 19 backups and every other completed one
// is deleted.

export interface RetentionPolicy {
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
}

export type BackupPhase = 'Pending' | 'Running' | 'Completed' | 'Failed';

export interface RetainedBackup {
  readonly name: string;
  readonly phase: BackupPhase | undefined;
  /** When the dump finished (completed and failed ones) or was created (the others). */
  readonly time: Date;
  /** Manual backups are kept until a person deletes them; they still fill periods. */
  readonly manual?: boolean;
  /** Taken before a release's migration: the newest few are kept besides the periods. */
  readonly preMigration?: boolean;
  /** A backup a restore or a drill is reading: never deleted under it. */
  readonly inUse?: boolean;
}

export type KeepReason =
  | 'newest'
  | 'daily'
  | 'weekly'
  | 'monthly'
  | 'failed'
  | 'unfinished'
  | 'manual'
  | 'pre-migration'
  | 'in-use';

export interface RetentionDecision {
  /** Name → why it stays. */
  readonly keep: ReadonlyMap<string, readonly KeepReason[]>;
  /** Oldest first. */
  readonly remove: readonly string[];
}

/** Failed backups kept for diagnosis, newest first; older failures are deleted. */
export const KEEP_FAILED = 3;

/**
 * Completed pre-migration backups kept whatever the periods say, newest first: the state
 * before each of the last three migrations, so a migration found days later to have destroyed
 * data can be undone from just before it. Under the periods alone, a scheduled backup later the
 * same day (taken after the migration) would have replaced it that evening.
 */
export const KEEP_PRE_MIGRATION = 3;

interface CalendarDay {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

const partsCache = new Map<string, Intl.DateTimeFormat>();

function calendarDay(t: Date, timeZone: string): CalendarDay {
  let f = partsCache.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
    });
    partsCache.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
  return { year: Number(p.year), month: Number(p.month), day: Number(p.day) };
}

/** ISO 8601 week: weeks start on Monday, week 1 holds the year's first Thursday. */
export function isoWeek(d: CalendarDay): { year: number; week: number } {
  const date = new Date(Date.UTC(d.year, d.month - 1, d.day));
  const weekday = date.getUTCDay() || 7;
  // The Thursday of this week decides the ISO year.
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const year = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 + 1) / 7);
  return { year, week };
}

const periodKeys = {
  daily: (d: CalendarDay) => `${d.year}-${d.month}-${d.day}`,
  weekly: (d: CalendarDay) => {
    const w = isoWeek(d);
    return `${w.year}-W${w.week}`;
  },
  monthly: (d: CalendarDay) => `${d.year}-${d.month}`,
} as const;

/**
 * Decides which backups stay. Never removes the newest completed backup, a backup that has not
 * finished, a manual one or one in use, and keeps the newest `keepFailed` failures and the
 * newest KEEP_PRE_MIGRATION completed pre-migration backups.
 */
export function decideRetention(
  backups: readonly RetainedBackup[],
  policy: RetentionPolicy,
  timeZone = 'UTC',
  keepFailed = KEEP_FAILED,
): RetentionDecision {
  const keep = new Map<string, KeepReason[]>();
  const mark = (name: string, why: KeepReason) => {
    const reasons = keep.get(name);
    if (reasons) {
      if (!reasons.includes(why)) reasons.push(why);
    } else keep.set(name, [why]);
  };
  // Newest first; names break ties so the decision never depends on input order.
  const byTime = [...backups].sort(
    (a, b) =>
      b.time.getTime() - a.time.getTime() || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const completed = byTime.filter((b) => b.phase === 'Completed');
  if (completed[0]) mark(completed[0].name, 'newest');
  for (const rule of ['daily', 'weekly', 'monthly'] as const) {
    const seen = new Set<string>();
    for (const b of completed) {
      if (seen.size >= policy[rule]) break;
      const key = periodKeys[rule](calendarDay(b.time, timeZone));
      if (seen.has(key)) continue;
      seen.add(key);
      mark(b.name, rule);
    }
  }
  let failed = 0;
  let preMigration = 0;
  for (const b of byTime) {
    if (b.phase === 'Failed' && failed++ < keepFailed) mark(b.name, 'failed');
    if (b.preMigration && b.phase === 'Completed' && preMigration++ < KEEP_PRE_MIGRATION) {
      mark(b.name, 'pre-migration');
    }
    if (b.phase !== 'Completed' && b.phase !== 'Failed') mark(b.name, 'unfinished');
    if (b.manual) mark(b.name, 'manual');
    if (b.inUse) mark(b.name, 'in-use');
  }
  const remove = byTime
    .filter((b) => !keep.has(b.name))
    .map((b) => b.name)
    .reverse();
  return { keep, remove };
}
