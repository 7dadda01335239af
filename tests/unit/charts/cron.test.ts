import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maxIntervalSeconds, parseCron } from '../../../charts/lib/cron.js';

describe('parseCron', () => {
  it.each([
    ['0 3 * * *', { minutes: [0], hours: [3] }],
    ['*/15 1-3 * * *', { minutes: [0, 15, 30, 45], hours: [1, 2, 3] }],
    ['5,10 0 * * *', { minutes: [5, 10], hours: [0] }],
    ['0 22-23/1 * * *', { minutes: [0], hours: [22, 23] }],
  ])('parses %s', (expr, want) => {
    const cron = parseCron(expr);
    expect(cron.minutes).toEqual(want.minutes);
    expect(cron.hours).toEqual(want.hours);
  });

  it.each([
    ['0 3 * *', 'has 4 fields'],
    ['60 3 * * *', 'minute "60" is outside 0-59'],
    ['0 24 * * *', 'hour "24" is outside 0-23'],
    ['0 3 0 * *', 'day-of-month "0" is outside 1-31'],
    ['0 3 * 13 *', 'month "13" is outside 1-12'],
    ['0 3 * * 8', 'day-of-week "8" is outside 0-7'],
    ['*/0 3 * * *', 'has a step below 1'],
    ['a 3 * * *', 'is not a number'],
  ])('refuses %s: %s', (expr, message) => {
    expect(() => parseCron(expr)).toThrow(message);
  });

  it('treats day-of-week 7 as Sunday', () => {
    expect([...parseCron('0 0 * * 7').daysOfWeek]).toEqual([0]);
  });
});

describe('maxIntervalSeconds', () => {
  it.each([
    ['* * * * *', 60],
    ['0 * * * *', 3600],
    ['0 3 * * *', 86400],
    ['0 3,15 * * *', 12 * 3600],
    ['0 0 * * 0', 7 * 86400],
    ['0 0 1 * *', 31 * 86400],
    ['0 0 1 1 *', 366 * 86400],
    // Vixie cron: both day fields restricted means either matches.
    ['0 0 1 * 1', 7 * 86400],
    ['0 0 29 2 *', 1461 * 86400],
  ])('%s -> %i s', (expr, seconds) => {
    expect(maxIntervalSeconds(expr)).toBe(seconds);
  });

  it('throws for a schedule that never runs', () => {
    expect(() => maxIntervalSeconds('0 0 31 2 *')).toThrow('never runs');
  });

  it('is at least the longest gap within a day and at most eight years', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 59 }), { minLength: 1, maxLength: 4 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 23 }), { minLength: 1, maxLength: 4 }),
        fc.constantFrom('*', '1-5', '0', '1,3,5'),
        (minutes, hours, dow) => {
          const expr = `${minutes.join(',')} ${hours.join(',')} * * ${dow}`;
          const gap = maxIntervalSeconds(expr);
          const runsPerDay = minutes.length * hours.length;
          expect(gap).toBeGreaterThanOrEqual(Math.floor(86400 / runsPerDay / 60) * 60);
          expect(gap).toBeLessThanOrEqual(2922 * 86400);
          // Restricting the days never shortens the longest gap.
          const everyDay = maxIntervalSeconds(`${minutes.join(',')} ${hours.join(',')} * * *`);
          expect(gap).toBeGreaterThanOrEqual(everyDay);
        },
      ),
    );
  });
});
