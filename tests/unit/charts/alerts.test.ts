// The generated alert rules pass `promtool check rules`, and the promtool unit tests in
// tests/promtool/ make every alert fire and stay quiet. promtool comes from Debian's
// prometheus package; without it this test fails (it is never skipped).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backupMaxAgeSeconds,
  operatorRuleGroup,
  trenchRuleGroup,
} from '../../../charts/lib/alerts.js';
import { toYaml } from '../../../charts/lib/yaml.js';

const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

function findPromtool(): string {
  const probe = spawnSync(PROMTOOL, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `promtool not found (${PROMTOOL}): install Debian's prometheus package (apt-get install prometheus) or set PROMTOOL`,
    );
  }
  return PROMTOOL;
}

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'trench-promtool-'));
  const group = trenchRuleGroup({
    namespace: 'shop',
    trench: 'web',
    errorRate: 0.05,
    p95LatencySeconds: 2,
    queueBacklog: 1000,
    backupSchedule: '0 3 * * *',
  });
  writeFileSync(join(dir, 'trench-rules.yaml'), toYaml({ groups: [group] }));
  writeFileSync(join(dir, 'operator-rules.yaml'), toYaml({ groups: [operatorRuleGroup()] }));
  for (const f of readdirSync('tests/promtool')) {
    if (f.endsWith('.test.yaml')) copyFileSync(join('tests/promtool', f), join(dir, f));
  }
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): string {
  try {
    return execFileSync(findPromtool(), args, { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`,
    );
  }
}

describe('alert rules', () => {
  it('pass promtool check rules', () => {
    const out = run(['check', 'rules', 'trench-rules.yaml', 'operator-rules.yaml']);
    expect(out).toContain('SUCCESS: 5 rules found');
    expect(out).toContain('SUCCESS: 1 rules found');
  });

  it('pass the promtool unit tests in tests/promtool', () => {
    const tests = readdirSync(dir).filter((f) => f.endsWith('.test.yaml'));
    expect(tests.length).toBeGreaterThan(0);
    const out = run(['test', 'rules', ...tests]);
    expect(out).toContain('SUCCESS');
    // promtool takes 2.5 s alone and more beside a running control plane: not a unit's 5 s.
  }, 60_000);

  it('cover every alert in the promtool tests, firing and quiet', () => {
    const names = [
      ...trenchRuleGroup({
        namespace: 'n',
        trench: 't',
        errorRate: 0.1,
        p95LatencySeconds: 1,
        queueBacklog: 1,
        backupSchedule: '0 3 * * *',
      }).rules,
      ...operatorRuleGroup().rules,
    ].map((r) => r.alert);
    const text = readdirSync('tests/promtool')
      .filter((f) => f.endsWith('.test.yaml'))
      .map((f) => execFileSync('cat', [join('tests/promtool', f)], { encoding: 'utf8' }))
      .join('\n');
    for (const name of names) {
      const blocks = text.split(`alertname: ${name}\n`).slice(1);
      expect(
        blocks.some((b) => /^\s*exp_alerts: \[\]/.test(b)),
        `${name} quiet`,
      ).toBe(true);
      expect(
        blocks.some((b) => /^\s*exp_alerts:\n/.test(b)),
        `${name} firing`,
      ).toBe(true);
    }
  });

  it('drop the backup alert when backups are suspended', () => {
    const group = trenchRuleGroup({
      namespace: 'n',
      trench: 't',
      errorRate: 0.1,
      p95LatencySeconds: 1,
      queueBacklog: 1,
    });
    expect(group.rules.map((r) => r.alert)).not.toContain('TrenchBackupTooOld');
  });

  it('derive the backup age limit from the schedule', () => {
    expect(backupMaxAgeSeconds('0 3 * * *')).toBe(86400 + 3600);
    expect(backupMaxAgeSeconds('15 */6 * * *')).toBe(6 * 3600 + 3600);
    // Weekdays only: Friday 02:30 to Monday 02:30.
    expect(backupMaxAgeSeconds('30 2 * * 1-5')).toBe(3 * 86400 + 3600);
  });
});
