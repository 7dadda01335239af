// The Alertmanager configuration the charts render passes Debian's amtool (0.25) and routes
// as specified: critical pages, warning to chat, the rest nowhere. amtool comes from the
// prometheus-alertmanager package (hack/install-deps.sh); without it this test fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Alerting,
  AlertingSchema,
  alertmanagerConfig,
  alertmanagerConfigSpec,
  secretKeysOf,
} from '../../../charts/lib/alertmanager.js';
import { toYaml } from '../../../charts/lib/yaml.js';
import { receiverPorts } from '../../../charts/monitoring-chart.js';
import { everyReceiver } from './receivers.js';

const AMTOOL = process.env.AMTOOL ?? 'amtool';

// Telegram is not in amtool 0.25's schema (bot_token_file came in 0.26): checked apart below.
const every = Value.Default(
  AlertingSchema,
  everyReceiver('https://oncall.example/hook'),
) as Alerting;

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'trench-amtool-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function amtool(args: string[]): string {
  const probe = spawnSync(AMTOOL, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `amtool not found (${AMTOOL}): install Debian's prometheus-alertmanager package or set AMTOOL`,
    );
  }
  try {
    return execFileSync(AMTOOL, args, { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`amtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

function write(alerting: Alerting, name: string): string {
  const file = join(dir, name);
  writeFileSync(file, toYaml(alertmanagerConfig(alerting, '/etc/alertmanager/secrets')));
  return file;
}

const route = (file: string, labels: string[]) =>
  amtool(['config', 'routes', 'test', `--config.file=${file}`, ...labels]).trim();

describe('Alertmanager configuration', () => {
  it('passes amtool check-config with every receiver kind amtool 0.25 knows', () => {
    const out = amtool(['check-config', write(every, 'every.yml')]);
    expect(out).toContain('SUCCESS');
    expect(out).toContain('1 inhibit rules');
    expect(out).toContain('3 receivers');
  });

  it('pages for critical, chats for warning, drops the rest', () => {
    const file = write(every, 'routes.yml');
    expect(route(file, ['severity=critical', 'namespace=shop', 'trench=web'])).toBe('paging');
    expect(route(file, ['severity=warning', 'namespace=shop', 'trench=web'])).toBe('chat');
    // No severity: the default receiver, chat.
    expect(route(file, ['alertname=Watchdog'])).toBe('chat');
  });

  it('sends to nowhere, and still loads, when no receiver is configured', () => {
    const file = write(Value.Default(AlertingSchema, {}) as Alerting, 'none.yml');
    expect(amtool(['check-config', file])).toContain('SUCCESS');
    expect(route(file, ['severity=critical'])).toBe('nowhere');
    expect(route(file, ['severity=warning'])).toBe('nowhere');
  });

  it('reads every credential from a file, never a value', () => {
    const config = alertmanagerConfig(
      { ...every, chat: { telegram: { botToken: { name: 'tg', key: 'token' }, chatId: -100 } } },
      '/s',
    );
    const text = JSON.stringify(config);
    expect(text).toContain('"bot_token_file":"/s/tg/token"');
    expect(text).toContain('"routing_key_file":"/s/pagerduty/routing-key"');
    expect(text).toContain('"credentials_file":"/s/hook/token"');
    expect(text).not.toMatch(/"(api_url|routing_key|bot_token|auth_password|credentials)":/);
  });

  it('inhibits a warning only for the same alert of the same Trench', () => {
    const config = alertmanagerConfig(every, '/s') as { inhibit_rules: unknown[] };
    expect(config.inhibit_rules).toEqual([
      {
        source_matchers: ['severity="critical"'],
        target_matchers: ['severity="warning"'],
        equal: ['alertname', 'namespace', 'trench', 'queue', 'pod', 'container'],
      },
    ]);
  });

  it('gives the Prometheus Operator the same routes and receivers', () => {
    const spec = alertmanagerConfigSpec(every) as {
      route: { receiver: string; groupBy: string[]; routes: { receiver: string }[] };
      receivers: { name: string; [k: string]: unknown }[];
    };
    expect(spec.route.receiver).toBe('chat');
    expect(spec.route.groupBy).toEqual(['namespace', 'trench']);
    expect(spec.route.routes.map((r) => r.receiver)).toEqual(['paging', 'chat']);
    expect(spec.receivers.map((r) => Object.keys(r).sort())).toEqual([
      ['name'],
      ['name', 'pagerdutyConfigs', 'webhookConfigs'],
      ['emailConfigs', 'name', 'slackConfigs'],
    ]);
    expect(JSON.stringify(spec)).toContain('"routingKey":{"name":"pagerduty","key":"routing-key"}');
  });

  it('lists each Secret key once and the ports the receivers use', () => {
    expect(secretKeysOf(every).map((r) => `${r.name}/${r.key}`)).toEqual([
      'hook/token',
      'pagerduty/routing-key',
      'slack/url',
      'smtp/password',
    ]);
    expect(receiverPorts(every)).toEqual([443, 587]);
    expect(receiverPorts(Value.Default(AlertingSchema, {}) as Alerting)).toEqual([443]);
  });
});
