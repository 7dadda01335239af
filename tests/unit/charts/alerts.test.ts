// The generated alert rules (one set for every Trench, allRuleGroups) pass `promtool check
// rules`, and the promtool unit tests in tests/promtool/ make every alert fire and stay quiet at
// both severities. promtool comes from Debian's prometheus package; without it this test fails
// (it is never skipped). Also: the pure functions behind the thresholds the operator exports,
// and docs/runbooks.md having a section for every runbook_url.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  type AlertLevels,
  type AlertRule,
  alertNames,
  alertThresholds,
  allRuleGroups,
  BACKUP_GRACE_SECONDS,
  backupMaxAgeSeconds,
  DEFAULT_RUNBOOK_URL,
  SEVERITIES,
} from '../../../charts/lib/alerts.js';
import { toYaml } from '../../../charts/lib/yaml.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PROMTOOL_DIR = join(ROOT, 'tests/promtool');
const RUNBOOKS = join(ROOT, 'docs/runbooks.md');
/** The name every tests/promtool/*.test.yaml lists under rule_files. */
const RULES_FILE = 'trench-rules.yaml';
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

const DAY = 86_400;
const HOUR = 3_600;

function findPromtool(): string {
  const probe = spawnSync(PROMTOOL, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `promtool not found (${PROMTOOL}): install Debian's prometheus package (apt-get install prometheus) or set PROMTOOL`,
    );
  }
  return PROMTOOL;
}

function testFiles(): string[] {
  return readdirSync(PROMTOOL_DIR)
    .filter((f) => f.endsWith('.test.yaml'))
    .sort();
}

function alertRules(): AlertRule[] {
  return allRuleGroups()
    .flatMap((g) => g.rules)
    .filter((r): r is AlertRule => 'alert' in r);
}

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'trench-promtool-'));
  writeFileSync(join(dir, RULES_FILE), toYaml({ groups: allRuleGroups() }));
  for (const f of testFiles()) copyFileSync(join(PROMTOOL_DIR, f), join(dir, f));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): string {
  const promtool = findPromtool();
  try {
    return execFileSync(promtool, args, { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`,
    );
  }
}

/** The parts of a promtool test file this test reads. */
interface PromtoolFile {
  rule_files?: string[];
  group_eval_order?: string[];
  tests?: {
    name?: string;
    alert_rule_test?: {
      eval_time: string;
      alertname: string;
      exp_alerts?: { exp_labels?: Record<string, string> }[] | null;
    }[];
  }[];
}

function readTestFile(f: string): PromtoolFile {
  return parse(readFileSync(join(PROMTOOL_DIR, f), 'utf8')) as PromtoolFile;
}

describe('alert rules', () => {
  it('pass promtool check rules', () => {
    const count = allRuleGroups().reduce((n, g) => n + g.rules.length, 0);
    const out = run(['check', 'rules', RULES_FILE]);
    expect(out).toContain(`SUCCESS: ${count} rules found`);
  });

  it('pass the promtool unit tests in tests/promtool', () => {
    const tests = testFiles();
    expect(tests.length).toBeGreaterThan(0);
    const out = run(['test', 'rules', ...tests]);
    expect(out.match(/SUCCESS/g)?.length).toBe(tests.length);
    // promtool takes a few seconds alone and more beside a running control plane.
  }, 60_000);

  it('read the generated rules in evaluation order in every promtool test file', () => {
    // Without group_eval_order promtool evaluates the groups in random order, and an alert
    // reading a record of the same step fires one step late now and then.
    const order = allRuleGroups().map((g) => g.name);
    for (const f of testFiles()) {
      const file = readTestFile(f);
      expect(file.rule_files, f).toEqual([RULES_FILE]);
      expect(file.group_eval_order, f).toEqual(order);
    }
  });

  it('test every alert at both severities, firing and quiet', () => {
    const fires = new Set<string>();
    const quiet = new Set<string>();
    for (const f of testFiles()) {
      for (const t of readTestFile(f).tests ?? []) {
        for (const check of t.alert_rule_test ?? []) {
          const severities = (check.exp_alerts ?? []).map((a) => a.exp_labels?.severity);
          for (const s of SEVERITIES) {
            (severities.includes(s) ? fires : quiet).add(`${check.alertname} ${s}`);
          }
        }
      }
    }
    for (const name of alertNames()) {
      for (const s of SEVERITIES) {
        expect(fires.has(`${name} ${s}`), `${name} fires at ${s}`).toBe(true);
        expect(quiet.has(`${name} ${s}`), `${name} stays quiet at ${s}`).toBe(true);
      }
    }
  });

  it('give every alert a warning and a critical rule', () => {
    for (const name of alertNames()) {
      const severities = alertRules()
        .filter((r) => r.alert === name)
        .map((r) => r.labels.severity);
      expect(severities, name).toEqual(['warning', 'critical']);
    }
  });
});

describe('alertNames', () => {
  it('lists every alertname once, in rule order', () => {
    expect(alertNames()).toEqual([
      'TrenchHighErrorRate',
      'TrenchHighLatencyP95',
      'TrenchQueueBacklogHigh',
      'TrenchDatabaseUnreachable',
      'TrenchPodCrashLooping',
      'TrenchContainerCpuHigh',
      'TrenchContainerMemoryHigh',
      'TrenchBackupTooOld',
      'TrenchRestoreDrillFailed',
      'TrenchRolloutAborted',
      'TrenchOperatorDown',
    ]);
  });
});

describe('backupMaxAgeSeconds', () => {
  it('allows one missed slot plus an hour before warning, two before paging', () => {
    expect(BACKUP_GRACE_SECONDS).toBe(HOUR);
    expect(backupMaxAgeSeconds('0 3 * * *', 'warning')).toBe(DAY + HOUR);
    expect(backupMaxAgeSeconds('0 3 * * *', 'critical')).toBe(2 * DAY + HOUR);
    // warning is the default
    expect(backupMaxAgeSeconds('0 3 * * *')).toBe(DAY + HOUR);
  });

  it('takes the longest gap of the schedule', () => {
    // Weekdays only: Friday 02:30 to Monday 02:30.
    expect(backupMaxAgeSeconds('30 2 * * 1-5', 'warning')).toBe(3 * DAY + HOUR);
    expect(backupMaxAgeSeconds('30 2 * * 1-5', 'critical')).toBe(6 * DAY + HOUR);
    expect(backupMaxAgeSeconds('15 */6 * * *')).toBe(6 * HOUR + HOUR);
    // The hourly schedule of tests/promtool/backup-operator.test.yaml and scoping.test.yaml.
    expect(backupMaxAgeSeconds('0 * * * *', 'warning')).toBe(7200);
    expect(backupMaxAgeSeconds('0 * * * *', 'critical')).toBe(10800);
  });
});

describe('alertThresholds', () => {
  const levels: AlertLevels = {
    errorRate: 0.05,
    errorRateWarning: 0.01,
    p95LatencySeconds: 2,
    p95LatencySecondsCritical: 5,
    queueBacklog: 1000,
    queueBacklogWarning: 100,
    resourceUsage: 0.8,
    resourceUsageCritical: 0.95,
  };

  it('exports a warning and a critical sample per threshold, backups included', () => {
    expect(alertThresholds(levels, '0 3 * * *')).toEqual([
      { alert: 'errorRate', severity: 'warning', value: 0.01 },
      { alert: 'errorRate', severity: 'critical', value: 0.05 },
      { alert: 'p95LatencySeconds', severity: 'warning', value: 2 },
      { alert: 'p95LatencySeconds', severity: 'critical', value: 5 },
      { alert: 'queueBacklog', severity: 'warning', value: 100 },
      { alert: 'queueBacklog', severity: 'critical', value: 1000 },
      { alert: 'resourceUsage', severity: 'warning', value: 0.8 },
      { alert: 'resourceUsage', severity: 'critical', value: 0.95 },
      { alert: 'backupAgeSeconds', severity: 'warning', value: DAY + HOUR },
      { alert: 'backupAgeSeconds', severity: 'critical', value: 2 * DAY + HOUR },
    ]);
  });

  it('exports no backup age limit without a schedule (backups suspended)', () => {
    const samples = alertThresholds(levels, undefined);
    expect(samples).toHaveLength(8);
    expect(samples.map((s) => s.alert)).not.toContain('backupAgeSeconds');
  });

  it('exports exactly the thresholds the rules read', () => {
    const read = new Set<string>();
    for (const r of alertRules()) {
      for (const m of r.expr.matchAll(/alert="(\w+)",severity="(\w+)"/g)) {
        expect(m[2], r.alert).toBe(r.labels.severity);
        read.add(`${m[1]} ${m[2]}`);
      }
    }
    const exported = alertThresholds(levels, '0 3 * * *').map((s) => `${s.alert} ${s.severity}`);
    expect([...read].sort()).toEqual([...exported].sort());
  });
});

describe('runbooks', () => {
  it('docs/runbooks.md has a section for every alert', () => {
    const headings = readFileSync(RUNBOOKS, 'utf8')
      .split('\n')
      .flatMap((line) => /^## (.+?)\s*$/.exec(line)?.slice(1) ?? []);
    for (const name of alertNames()) {
      // GitHub's anchor of a heading of letters and digits is the heading in lower case.
      expect(name).toMatch(/^[A-Za-z0-9]+$/);
      expect(headings, name).toContain(name);
    }
  });

  it('every rule links its alert section of docs/runbooks.md', () => {
    for (const r of alertRules()) {
      const anchor = r.alert.toLowerCase();
      expect(r.annotations.runbook_url).toBe(`${DEFAULT_RUNBOOK_URL}#${anchor}`);
      expect(r.annotations.runbook_url?.endsWith(`docs/runbooks.md#${anchor}`), r.alert).toBe(true);
    }
    const custom = allRuleGroups('https://wiki.example/runbooks')
      .flatMap((g) => g.rules)
      .filter((r): r is AlertRule => 'alert' in r);
    for (const r of custom) {
      expect(r.annotations.runbook_url).toBe(
        `https://wiki.example/runbooks#${r.alert.toLowerCase()}`,
      );
    }
  });
});
