// Five-field cron (minute hour day-of-month month day-of-week), numeric only, with `*`, lists,
// ranges and steps. Pure; used for the "backup too old" alert threshold and by the operator
// for backup slots. Day-of-month and day-of-week follow Vixie cron: when both are restricted,
// a day matches when either does.

export interface Cron {
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  readonly daysOfWeek: ReadonlySet<number>;
  readonly domRestricted: boolean;
  readonly dowRestricted: boolean;
}

const FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day-of-week', min: 0, max: 7 },
] as const;

export function parseCron(expr: string): Cron {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5) {
    throw new Error(`cron ${JSON.stringify(expr)} has ${parts.length} fields, expected 5`);
  }
  const sets = parts.map((part, i) => parseField(part, FIELDS[i]!, expr));
  const dow = new Set([...sets[4]!].map((d) => d % 7));
  return {
    minutes: [...sets[0]!].sort((a, b) => a - b),
    hours: [...sets[1]!].sort((a, b) => a - b),
    daysOfMonth: sets[2]!,
    months: sets[3]!,
    daysOfWeek: dow,
    domRestricted: !parts[2]!.startsWith('*'),
    dowRestricted: !parts[4]!.startsWith('*'),
  };
}

function parseField(
  part: string,
  field: { name: string; min: number; max: number },
  expr: string,
): Set<number> {
  const out = new Set<number>();
  const bad = (why: string) =>
    new Error(`cron ${JSON.stringify(expr)}: ${field.name} ${JSON.stringify(part)} ${why}`);
  for (const item of part.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
    if (!m) throw bad('is not a number, range, list or step');
    const step = m[4] === undefined ? 1 : Number(m[4]);
    let lo = field.min;
    let hi = field.max;
    if (m[1] !== '*') {
      lo = Number(m[2]);
      hi = m[3] === undefined ? (m[4] === undefined ? lo : field.max) : Number(m[3]);
    }
    if (step < 1) throw bad('has a step below 1');
    if (lo < field.min || hi > field.max || lo > hi) {
      throw bad(`is outside ${field.min}-${field.max}`);
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

function dayMatches(cron: Cron, date: Date): boolean {
  if (!cron.months.has(date.getUTCMonth() + 1)) return false;
  const dom = cron.daysOfMonth.has(date.getUTCDate());
  const dow = cron.daysOfWeek.has(date.getUTCDay());
  if (cron.domRestricted && cron.dowRestricted) return dom || dow;
  if (cron.domRestricted) return dom;
  if (cron.dowRestricted) return dow;
  return true;
}

const DAY_MS = 86_400_000;
// Eight years from a fixed leap-year start hold every month length and weekday combination
// and two leap days, so every gap between consecutive runs of a numeric schedule shows up.
const SCAN_START = Date.UTC(2024, 0, 1);
const SCAN_DAYS = 2922;
const gapCache = new Map<string, number>();

/**
 * The longest time between two consecutive runs of the schedule, in seconds (UTC). Throws
 * when the schedule never runs (such as 30 February).
 */
export function maxIntervalSeconds(expr: string): number {
  const cached = gapCache.get(expr);
  if (cached !== undefined) return cached;
  const cron = parseCron(expr);
  const times: number[] = [];
  for (const h of cron.hours) for (const m of cron.minutes) times.push(h * 60 + m);
  times.sort((a, b) => a - b);
  const first = times[0]!;
  const last = times[times.length - 1]!;
  let withinDay = 0;
  for (let i = 1; i < times.length; i++) withinDay = Math.max(withinDay, times[i]! - times[i - 1]!);
  let prevDay: number | undefined;
  let acrossDays = 0;
  for (let d = 0; d < SCAN_DAYS; d++) {
    if (!dayMatches(cron, new Date(SCAN_START + d * DAY_MS))) continue;
    if (prevDay !== undefined) {
      acrossDays = Math.max(acrossDays, (d - prevDay) * 1440 - last + first);
    }
    prevDay = d;
  }
  if (prevDay === undefined) throw new Error(`cron ${JSON.stringify(expr)} never runs`);
  const seconds = Math.max(withinDay, acrossDays) * 60;
  gapCache.set(expr, seconds);
  return seconds;
}
