import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CRON_PATTERN } from '../../../charts/api/trench.js';
import { parseCron } from '../../../charts/lib/cron.js';
import { cronOf, decideSchedule, slotBackupName } from '../../../operator/backup/schedule.js';

const at = (iso: string) => new Date(iso);
const daily = { schedule: '0 3 * * *', startingDeadlineSeconds: 6 * 3600 };
const since = at('2026-11-01T00:00:00Z');

describe('decideSchedule', () => {
  it.each([
    // now, last taken, take, skipped, next
    ['2026-12-02T02:59:00Z', '2026-12-01T03:00:00Z', undefined, 0, '2026-12-02T03:00:00Z'],
    [
      '2026-12-02T03:00:05Z',
      '2026-12-01T03:00:00Z',
      '2026-12-02T03:00:00Z',
      0,
      '2026-12-03T03:00:00Z',
    ],
    // the slot taken already: nothing, next slot tomorrow
    ['2026-12-02T03:00:05Z', '2026-12-02T03:00:00Z', undefined, 0, '2026-12-03T03:00:00Z'],
    // operator down for three days: one catch-up (the newest), two skipped
    [
      '2026-12-02T05:00:00Z',
      '2026-11-29T03:00:00Z',
      '2026-12-02T03:00:00Z',
      2,
      '2026-12-03T03:00:00Z',
    ],
  ])('at %s, last %s: take %s, skip %i, next %s', (now, last, take, skipped, next) => {
    const d = decideSchedule(daily, { since, lastScheduleTime: at(last) }, at(now));
    expect(d.take?.toISOString().replace('.000', '')).toBe(take);
    expect(d.skipped).toBe(skipped);
    expect(d.next?.toISOString().replace('.000', '')).toBe(next);
  });

  it('never catches up a slot older than the deadline', () => {
    const d = decideSchedule(
      { ...daily, startingDeadlineSeconds: 3600 },
      { since, lastScheduleTime: at('2026-11-29T03:00:00Z') },
      at('2026-12-02T05:00:00Z'),
    );
    expect(d).toEqual({
      skipped: 3,
      tooLate: at('2026-12-02T03:00:00Z'),
      next: at('2026-12-03T03:00:00Z'),
    });
  });

  it('takes no slot from before the Trench existed', () => {
    const created = at('2026-12-02T04:00:00Z');
    expect(decideSchedule(daily, { since: created }, at('2026-12-02T05:00:00Z'))).toEqual({
      skipped: 0,
      next: at('2026-12-03T03:00:00Z'),
    });
  });

  it('schedules nothing while suspended', () => {
    expect(
      decideSchedule({ ...daily, suspend: true }, { since }, at('2026-12-02T03:00:05Z')),
    ).toEqual({
      skipped: 0,
    });
  });

  it('reads the schedule in its time zone, across daylight-saving changes', () => {
    const berlin = { ...daily, schedule: '30 2 * * *', timeZone: 'Europe/Berlin' };
    // 29 March 2026: 02:30 does not exist in Berlin; the run is at 03:00 CEST (01:00 UTC).
    expect(decideSchedule(berlin, { since }, at('2026-03-29T00:00:00Z')).next?.toISOString()).toBe(
      '2026-03-29T01:00:00.000Z',
    );
    // 25 October 2026: 02:30 happens twice; one run, at the first (00:30 UTC).
    const first = decideSchedule(berlin, { since }, at('2026-10-25T00:00:00Z')).next;
    expect(first?.toISOString()).toBe('2026-10-25T00:30:00.000Z');
    const after = decideSchedule(
      berlin,
      { since, lastScheduleTime: first },
      at('2026-10-25T01:45:00Z'),
    );
    expect(after.take).toBeUndefined();
    expect(after.next?.toISOString()).toBe('2026-10-26T01:30:00.000Z');
  });

  it('names a bad schedule or time zone by its field', () => {
    expect(() => cronOf({ schedule: '0 3 * *' })).toThrow(
      /^spec\.backup\.schedule "0 3 \* \*" is not a cron schedule/,
    );
    expect(() => cronOf({ schedule: '0 3 * * *', timeZone: 'Mars/Olympus' })).toThrow(
      'spec.backup.timeZone "Mars/Olympus" is not a time zone of the IANA database (such as Europe/Berlin)',
    );
  });

  it('property: over a year of random wake-ups every slot is taken at most once, none late', () => {
    const start = Date.parse('2026-01-01T00:00:00Z');
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 60 * 60 * 60 }), { minLength: 20, maxLength: 150 }),
        fc.constantFrom('0 3 * * *', '*/30 * * * *', '15 2,14 * * 1-5', '0 0 1 * *'),
        fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York'),
        (gaps, schedule, timeZone) => {
          const s = { schedule, timeZone, startingDeadlineSeconds: 4 * 3600 };
          let now = start;
          let last: Date | undefined;
          const names = new Set<string>();
          for (const gap of gaps) {
            now += gap * 1000;
            const d = decideSchedule(
              s,
              { since: new Date(start), lastScheduleTime: last },
              new Date(now),
            );
            if (d.next) expect(d.next.getTime()).toBeGreaterThan(now);
            if (d.take) {
              expect(d.take.getTime()).toBeLessThanOrEqual(now);
              expect(now - d.take.getTime()).toBeLessThanOrEqual(4 * 3600 * 1000);
              expect(cronOf(s).match(d.take)).toBe(true);
              if (last) expect(d.take.getTime()).toBeGreaterThan(last.getTime());
              const name = slotBackupName('shop', d.take);
              expect(names.has(name)).toBe(false);
              names.add(name);
              last = d.take;
            } else if (d.tooLate) last = d.tooLate;
          }
        },
      ),
      { numRuns: 30 },
    );
  }, 60_000);
});

describe('slotBackupName', () => {
  it('is <trench>-<yyyymmddhhmm> in UTC', () => {
    expect(slotBackupName('shop', at('2026-12-02T03:00:00Z'))).toBe('shop-202612020300');
    expect(slotBackupName('shop', at('2026-01-09T23:45:59Z'))).toBe('shop-202601092345');
  });
});

describe('the CRD’s schedule pattern and croner', () => {
  // Every schedule the API server accepts must be one the operator can take slots of (croner)
  // and the backup-age alert can size (charts/lib/cron.ts), or a Trench would be admitted that
  // never gets a backup. The only gap is a range written backwards (5-3), which CEL cannot
  // compare; both parsers refuse it, and the operator says so in a condition.
  const fieldArb = (min: number, max: number) => {
    const n = fc.integer({ min, max });
    const item = fc.oneof(
      n.map(String),
      fc.constant('*'),
      fc.tuple(n, n).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
      fc
        .tuple(fc.constantFrom('*', `${min}-${max}`), fc.integer({ min: 1, max }))
        .map(([base, step]) => `${base}/${step}`),
    );
    return fc.array(item, { minLength: 1, maxLength: 3 }).map((xs) => xs.join(','));
  };
  const scheduleArb = fc
    .tuple(fieldArb(0, 59), fieldArb(0, 23), fieldArb(1, 31), fieldArb(1, 12), fieldArb(0, 7))
    .map((f) => f.join(' '));

  it('property: what the pattern accepts, croner and cron.ts parse', () => {
    const re = new RegExp(CRON_PATTERN);
    fc.assert(
      fc.property(scheduleArb, (schedule) => {
        expect(re.test(schedule)).toBe(true);
        expect(() => cronOf({ schedule })).not.toThrow();
        expect(() => parseCron(schedule)).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it.each(['1/5 * * * *', '0 3 * * MON', '@daily', '0 3 * * 8', '60 * * * *', '0 0 * * */8'])(
    'the pattern refuses %s',
    (schedule) => {
      expect(new RegExp(CRON_PATTERN).test(schedule)).toBe(false);
    },
  );
});
