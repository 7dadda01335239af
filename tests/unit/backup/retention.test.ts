import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BackupPhase,
  decideRetention,
  isoWeek,
  KEEP_FAILED,
  type RetainedBackup,
} from '../../../operator/backup/retention.js';

const DAY = 86_400_000;
const GFS = { daily: 7, weekly: 4, monthly: 12 };

/** Daily backups at 03:00 UTC, the newest on `last`, `days` of them. */
function daily(last: string, days: number, phase = (_i: number): BackupPhase => 'Completed') {
  const end = Date.parse(`${last}T03:00:00Z`);
  return Array.from({ length: days }, (_, i): RetainedBackup => {
    const time = new Date(end - i * DAY);
    return { name: `shop-${time.toISOString().slice(0, 10)}`, phase: phase(i), time };
  });
}

const kept = (backups: RetainedBackup[], policy = GFS, tz = 'UTC') =>
  [...decideRetention(backups, policy, tz).keep.keys()].map((n) => n.slice(5)).sort();

describe('isoWeek', () => {
  it.each([
    [2026, 12, 2, 2026, 49],
    [2026, 1, 1, 2026, 1], // a Thursday: week 1
    [2027, 1, 1, 2026, 53], // a Friday: the last week of 2026, which has 53
    [2024, 12, 30, 2025, 1], // a Monday whose Thursday is in 2025
    [2021, 1, 3, 2020, 53],
  ])('%i-%i-%i is %i-W%i', (y, m, d, wy, w) => {
    expect(isoWeek({ year: y, month: m, day: d })).toEqual({ year: wy, week: w });
  });
});

describe('decideRetention', () => {
  it('keeps the worked example of its comment: 19 of two years of daily backups', () => {
    expect(kept(daily('2026-12-02', 730))).toEqual([
      '2026-01-31',
      '2026-02-28',
      '2026-03-31',
      '2026-04-30',
      '2026-05-31',
      '2026-06-30',
      '2026-07-31',
      '2026-08-31',
      '2026-09-30',
      '2026-10-31',
      '2026-11-15',
      '2026-11-22',
      '2026-11-26',
      '2026-11-27',
      '2026-11-28',
      '2026-11-29',
      '2026-11-30',
      '2026-12-01',
      '2026-12-02',
    ]);
  });

  it('counts exactly 7 daily, 4 weekly and 12 monthly over two simulated years, every day', () => {
    // Run retention after each day's backup, as the operator does, and check the set each time.
    let set: RetainedBackup[] = [];
    const start = Date.parse('2025-01-01T03:00:00Z');
    for (let d = 0; d < 730; d++) {
      const time = new Date(start + d * DAY);
      set.push({ name: `b-${d}`, phase: 'Completed', time });
      const decision = decideRetention(set, GFS);
      set = set.filter((b) => !decision.remove.includes(b.name));
      const count = (why: string) =>
        [...decision.keep.values()].filter((r) => r.includes(why as never)).length;
      expect(count('daily')).toBe(Math.min(7, d + 1));
      expect(count('newest')).toBe(1);
      if (d >= 400) {
        expect(count('weekly')).toBe(4);
        expect(count('monthly')).toBe(12);
      }
    }
    // After two years: 7 days + the older weeks + the older months, nothing else.
    expect(set.length).toBeLessThanOrEqual(7 + 4 + 12);
    expect(set.length).toBeGreaterThanOrEqual(12 + 4);
  });

  it('keeps the 7 newest good days when the last ten days failed, and 3 of the failures', () => {
    const backups = daily('2026-12-02', 60, (i) => (i < 10 ? 'Failed' : 'Completed'));
    const d = decideRetention(backups, GFS);
    const daysKept = [...d.keep].filter(([, r]) => r.includes('daily')).map(([n]) => n.slice(5));
    expect(daysKept.sort()).toEqual([
      '2026-11-16',
      '2026-11-17',
      '2026-11-18',
      '2026-11-19',
      '2026-11-20',
      '2026-11-21',
      '2026-11-22',
    ]);
    expect([...d.keep].filter(([, r]) => r.includes('failed')).map(([n]) => n.slice(5))).toEqual([
      '2026-12-02',
      '2026-12-01',
      '2026-11-30',
    ]);
    expect(d.keep.get('shop-2026-11-22')).toContain('newest');
  });

  it('never deletes the newest completed backup, even with a policy of one month', () => {
    const backups = daily('2026-12-02', 90, (i) => (i < 40 ? 'Failed' : 'Completed'));
    const d = decideRetention(backups, { daily: 0, weekly: 0, monthly: 1 });
    expect(d.keep.get('shop-2026-10-23')).toEqual(['newest', 'monthly']);
  });

  it('keeps unfinished, manual and in-use backups whatever the policy', () => {
    const old = (name: string, extra: Partial<RetainedBackup>): RetainedBackup => ({
      name,
      phase: 'Completed',
      time: new Date('2020-01-01T00:00:00Z'),
      ...extra,
    });
    const d = decideRetention(
      [
        ...daily('2026-12-02', 3),
        old('running', { phase: 'Running' }),
        old('pending', { phase: undefined }),
        old('by-hand', { manual: true }),
        old('restoring', { inUse: true }),
        old('old', {}),
      ],
      { daily: 1, weekly: 0, monthly: 0 },
    );
    expect(d.remove).toEqual(['old', 'shop-2026-11-30', 'shop-2026-12-01']);
    expect(d.keep.get('running')).toEqual(['unfinished']);
    expect(d.keep.get('pending')).toEqual(['unfinished']);
    expect(d.keep.get('by-hand')).toEqual(['manual']);
    expect(d.keep.get('restoring')).toEqual(['in-use']);
  });

  it('keeps the newest three completed pre-migration backups beside the periods', () => {
    const at = (name: string, iso: string, over: Partial<RetainedBackup> = {}): RetainedBackup => ({
      name,
      phase: 'Completed',
      time: new Date(iso),
      ...over,
    });
    const release = (n: number, day: string, over: Partial<RetainedBackup> = {}) =>
      at(`shop-premigrate-r${n}`, `${day}T10:00:00Z`, { preMigration: true, ...over });
    const d = decideRetention(
      [
        // Each release day's 23:00 scheduled backup is that day's newest, after the migration.
        ...['11-27', '11-28', '11-29', '11-30', '12-01'].map((day) =>
          at(`shop-2026-${day}`, `2026-${day}T23:00:00Z`),
        ),
        release(1, '2026-11-27'),
        release(2, '2026-11-28'),
        release(3, '2026-11-29', { phase: 'Failed' }),
        release(4, '2026-11-30'),
        release(5, '2026-12-01'),
      ],
      { daily: 7, weekly: 0, monthly: 0 },
    );
    expect(d.keep.get('shop-premigrate-r5')).toEqual(['pre-migration']);
    expect(d.keep.get('shop-premigrate-r4')).toEqual(['pre-migration']);
    expect(d.keep.get('shop-premigrate-r2')).toEqual(['pre-migration']);
    // The fourth newest completed one goes; a failed one is kept as a failure, not counted.
    expect(d.remove).toEqual(['shop-premigrate-r1']);
    expect(d.keep.get('shop-premigrate-r3')).toEqual(['failed']);
  });

  it('reads days in the schedule’s time zone', () => {
    // Both on 1 December in UTC; 23:30 UTC is already 2 December on Kiritimati (UTC+14).
    const backups: RetainedBackup[] = [
      { name: 'late', phase: 'Completed', time: new Date('2026-12-01T23:30:00Z') },
      { name: 'early', phase: 'Completed', time: new Date('2026-12-01T01:00:00Z') },
    ];
    const policy = { daily: 2, weekly: 0, monthly: 0 };
    expect(decideRetention(backups, policy, 'UTC').remove).toEqual(['early']);
    expect(decideRetention(backups, policy, 'Pacific/Kiritimati').remove).toEqual([]);
  });

  const backupsArb = fc
    .array(
      fc.record({
        offset: fc.integer({ min: 0, max: 730 * 24 }), // hours before the end of two years
        phase: fc.constantFrom<BackupPhase | undefined>(
          'Completed',
          'Completed',
          'Completed',
          'Failed',
          'Running',
          undefined,
        ),
        manual: fc.boolean(),
      }),
      { maxLength: 400 },
    )
    .map((xs) =>
      xs.map(
        (x, i): RetainedBackup => ({
          name: `b-${i}`,
          phase: x.phase,
          time: new Date(Date.parse('2026-12-02T00:00:00Z') - x.offset * 3_600_000),
          manual: x.manual && i % 5 === 0,
        }),
      ),
    );
  const policyArb = fc.record({
    daily: fc.integer({ min: 0, max: 40 }),
    weekly: fc.integer({ min: 0, max: 20 }),
    monthly: fc.integer({ min: 0, max: 30 }),
  });

  it('property: the newest completed backup stays; keep and remove partition the input', () => {
    fc.assert(
      fc.property(backupsArb, policyArb, (backups, policy) => {
        const d = decideRetention(backups, policy);
        expect(d.keep.size + d.remove.length).toBe(backups.length);
        for (const name of d.remove) expect(d.keep.has(name)).toBe(false);
        const newest = backups
          .filter((b) => b.phase === 'Completed')
          .sort((a, b) => b.time.getTime() - a.time.getTime())[0];
        if (newest) expect(d.remove).not.toContain(newest.name);
        for (const name of d.remove) {
          const b = backups.find((x) => x.name === name);
          expect(b?.phase === 'Completed' || b?.phase === 'Failed').toBe(true);
          expect(b?.manual).toBe(false);
        }
        const failedKept = [...d.keep.values()].filter((r) => r.includes('failed')).length;
        expect(failedKept).toBe(
          Math.min(KEEP_FAILED, backups.filter((b) => b.phase === 'Failed').length),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('property: deciding again on what was kept removes nothing more, in any order', () => {
    fc.assert(
      fc.property(backupsArb, policyArb, (backups, policy) => {
        const d = decideRetention(backups, policy);
        const rest = backups.filter((b) => d.keep.has(b.name));
        expect(decideRetention([...rest].reverse(), policy).remove).toEqual([]);
        expect(decideRetention([...backups].reverse(), policy).remove).toEqual(d.remove);
      }),
      { numRuns: 200 },
    );
  });

  it('property: the daily rule keeps one backup for each of the newest days that have one', () => {
    fc.assert(
      fc.property(backupsArb, policyArb, (backups, policy) => {
        const d = decideRetention(backups, policy);
        const days = new Set(
          backups
            .filter((b) => b.phase === 'Completed')
            .map((b) => b.time.toISOString().slice(0, 10)),
        );
        const dailyKept = [...d.keep].filter(([, r]) => r.includes('daily'));
        expect(dailyKept.length).toBe(Math.min(policy.daily, days.size));
        const newestDays = [...days].sort().reverse().slice(0, policy.daily);
        const keptDays = dailyKept.map(([n]) =>
          backups
            .find((b) => b.name === n)
            ?.time.toISOString()
            .slice(0, 10),
        );
        expect(keptDays.sort().reverse()).toEqual(newestDays);
      }),
      { numRuns: 200 },
    );
  });
});
