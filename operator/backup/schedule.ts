// Backup slots of one Trench: which slot to take now (if any), its TrenchBackup's name, and when
// to look again. Pure: the schedule, what was last taken and `now` in, a decision out.
//
// Slot arithmetic across time zones and daylight-saving changes is croner's (a maintained,
// dependency-free cron library that documents its DST rules: a fixed-time job in a skipped hour
// runs at the first valid time after it, and once in a repeated hour), not ours.
import { Cron } from 'croner';

export interface BackupSchedule {
  /** Five-field cron, as the CRD accepts it. */
  readonly schedule: string;
  /** IANA time zone the schedule is read in. @default 'UTC' */
  readonly timeZone?: string;
  readonly suspend?: boolean;
  /** A missed slot older than this is skipped rather than caught up. */
  readonly startingDeadlineSeconds: number;
  /** The field `schedule` came from, for errors. @default 'spec.backup.schedule' */
  readonly field?: string;
}

export interface ScheduleState {
  /** The newest slot a TrenchBackup was created for (status.backup.lastScheduleTime). */
  readonly lastScheduleTime?: Date;
  /** The Trench's creation: no slot before it is ever taken. */
  readonly since: Date;
}

export interface ScheduleDecision {
  /** The slot to create a TrenchBackup for now, if any. */
  readonly take?: Date;
  /** Slots missed (operator down) that are not taken, up to MAX_COUNTED. */
  readonly skipped: number;
  /** The newest slot that passed its deadline untaken, for the event that says so. */
  readonly tooLate?: Date;
  /** The next slot after now: the Trench is requeued then. Undefined when suspended. */
  readonly next?: Date;
}

/** Missed slots are counted up to this many (the count is for an event, not for billing). */
export const MAX_COUNTED = 10;

/** Throws with the field and what is wrong, for a schedule or time zone croner cannot use. */
export function cronOf(s: Pick<BackupSchedule, 'schedule' | 'timeZone' | 'field'>): Cron {
  const timeZone = s.timeZone ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new Error(
      `spec.backup.timeZone ${JSON.stringify(timeZone)} is not a time zone of the IANA database (such as Europe/Berlin)`,
    );
  }
  try {
    // Vixie cron's day rule (day-of-month OR day-of-week when both are set) is croner's
    // default; the CRD documents the same.
    return new Cron(s.schedule, { mode: '5-part', timezone: timeZone, paused: true });
  } catch (e) {
    throw new Error(
      `${s.field ?? 'spec.backup.schedule'} ${JSON.stringify(s.schedule)} is not a cron schedule: ${(e as Error).message}`,
    );
  }
}

export function decideSchedule(
  s: BackupSchedule,
  state: ScheduleState,
  now: Date,
): ScheduleDecision {
  if (s.suspend) return { skipped: 0 };
  const cron = cronOf(s);
  const next = cron.nextRun(now) ?? undefined;
  const floor = Math.max(state.lastScheduleTime?.getTime() ?? 0, state.since.getTime() - 1);
  // The usual pass (no slot since the last one taken) costs one look back.
  const newest = cron.previousRuns(1, now)[0];
  if (!newest || newest.getTime() <= floor) return { skipped: 0, next };
  // Slots after the last one taken (and after the Trench existed), counted for the event.
  const due = cron.previousRuns(MAX_COUNTED + 1, now).filter((slot) => slot.getTime() > floor);
  if (now.getTime() - newest.getTime() > s.startingDeadlineSeconds * 1000) {
    return { skipped: due.length, tooLate: newest, next };
  }
  // One catch-up for any number of missed slots: the newest; the older ones are skipped.
  return { take: newest, skipped: due.length - 1, next };
}

/** `<trench>-<yyyymmddhhmm>` in UTC: the same slot gets the same name on every operator. */
export function slotBackupName(trench: string, slot: Date): string {
  const iso = slot.toISOString(); // 2026-12-02T03:00:00.000Z
  return `${trench}-${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}`;
}
