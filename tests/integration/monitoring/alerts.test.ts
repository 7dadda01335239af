// Alerts that reach a person, end to end on real servers: Trenches created with kubectl (none
// in values.yaml), the real operator exporting their thresholds, the sample API of
// examples/shop with its fault switch, Debian's Prometheus with the rules the charts render
// and Debian's Alertmanager with the routes the charts render, delivering to two webhook
// receivers on loopback. Only addresses differ from dist/: the webhook URLs, and static scrape
// targets with 1 s intervals instead of Kubernetes discovery (kwok pods run no containers),
// and time: every duration of the rules (`for:`, rate windows) and of Alertmanager's routes
// (group_wait, group_interval, repeat_interval) runs ten times faster, so the file takes about
// a minute instead of five. The rendered durations themselves are what promtool's unit tests
// check (make test-unit); this file checks that alerts reach the right receivers, grouped,
// inhibited and resolved.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Value } from '@sinclair/typebox/value';
import { App } from 'cdk8s';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestsOf } from '../../../charts/constructs/common.js';
import { type Alerting, AlertingSchema } from '../../../charts/lib/alertmanager.js';
import { MonitoringChart } from '../../../charts/monitoring-chart.js';
import { freePorts } from '../../../hack/lib/processes.js';
import { mustKubectl, useNamespace, waitFor } from '../support/cluster.js';
import { installCrdsAndRbac, type RunningOperator, startOperator } from '../support/operator.js';
import {
  type AlertmanagerServer,
  type HostProcess,
  type PostgresServer,
  type PrometheusServer,
  type RedisServer,
  startAlertmanager,
  startPostgres,
  startPrometheus,
  startRedis,
  startShop,
} from '../support/services.js';

const ns = useNamespace('alerts');

interface Notification {
  readonly at: number;
  readonly receiver: string;
  readonly status: 'firing' | 'resolved';
  readonly groupLabels: Record<string, string>;
  readonly commonLabels: Record<string, string>;
  readonly alerts: {
    status: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  }[];
}

/** Two webhook receivers on one loopback server: /paging and /chat. */
class Receivers {
  readonly got: Record<'paging' | 'chat', Notification[]> = { paging: [], chat: [] };
  private server?: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const path = req.url === '/paging' ? 'paging' : req.url === '/chat' ? 'chat' : undefined;
        if (path) this.got[path].push({ ...(JSON.parse(body) as Notification), at: Date.now() });
        res.writeHead(path ? 200 : 404).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** How much faster the rules' and routes' durations run here than rendered. */
const SPEEDUP = 10;

const SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600 };
const faster = (n: string, unit: string) => {
  const seconds = (Number(n) * SECONDS[unit]!) / SPEEDUP;
  return seconds === 0 ? '0s' : `${Math.max(1, Math.round(seconds))}s`;
};

/** The rule file and Alertmanager config with every duration SPEEDUP times shorter. */
function speedUp(text: string): string {
  return text
    .replace(/\bfor: (\d+)([smh])\b/g, (_w, n: string, u: string) => `for: ${faster(n, u)}`)
    .replace(/\[(\d+)([smh])\]/g, (_w, n: string, u: string) => `[${faster(n, u)}]`)
    .replace(
      /\b(group_wait|group_interval|repeat_interval): (\d+)([smh])\b/g,
      (_w, key: string, n: string, u: string) => `${key}: ${faster(n, u)}`,
    );
}

/** The objects dist/ would hold for the bundled stack, with these receivers. */
function rendered(alerting: Alerting): { rules: string; alertmanager: string } {
  const objects = manifestsOf(new MonitoringChart(new App(), 'monitoring', { alerting }));
  const data = (name: string) => objects.find((o) => o.metadata.name === name)!.data;
  return {
    rules: data('prometheus-rules')['trench.yaml'] as string,
    alertmanager: data('alertmanager-config')['alertmanager.yml'] as string,
  };
}

// Three Trenches: `paging` fails half its requests (critical), `chatty` 3 % (warning only:
// between the 1 % and 5 % defaults), `muted` half, with monitoring disabled (nothing).
const TRENCHES = {
  paging: { faultErrorRate: '0.5', monitoring: {} },
  chatty: { faultErrorRate: '0.03', monitoring: {} },
  muted: { faultErrorRate: '0.5', monitoring: { enabled: false } },
} as const;
type Name = keyof typeof TRENCHES;

let redis: RedisServer;
let postgres: PostgresServer;
let operator: RunningOperator;
let prometheus: PrometheusServer;
let alertmanager: AlertmanagerServer;
const receivers = new Receivers();
const apis = new Map<Name, { proc: HostProcess; port: number }>();
let load: NodeJS.Timeout | undefined;
let faultOnAt = 0;
let faultOffAt = 0;

/** Restarts a Trench's API on its port with the fault switch off. */
async function switchFaultOff(name: Name): Promise<void> {
  const api = apis.get(name)!;
  await api.proc.stop();
  const proc = startApi(api.port, undefined);
  apis.set(name, { proc, port: api.port });
  await waitHealthy(api.port, proc);
  faultOffAt = Date.now();
}

function startApi(port: number, fault: string | undefined): HostProcess {
  return startShop('api/main.ts', {
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    PORT: String(port),
    ...(fault ? { FAULT_ERROR_RATE: fault } : {}),
  });
}

async function waitHealthy(port: number, proc: HostProcess): Promise<void> {
  await waitFor(
    async () => {
      if (proc.logs().includes('Error: ')) throw new Error(proc.logs());
      const res = await fetch(`http://127.0.0.1:${port}/livez`).catch(() => undefined);
      return res?.ok ? true : undefined;
    },
    { what: `the shop API on ${port}`, timeoutMs: 30_000 },
  );
}

beforeAll(async () => {
  [redis, postgres] = await Promise.all([startRedis(), startPostgres({ database: 'shop' })]);
  await receivers.start();
  await installCrdsAndRbac();
  operator = await startOperator({
    TRENCH_WATCH_NAMESPACE: ns.name,
    TRENCH_LEADER_ELECTION: 'false',
  });
  // Created by hand: no values.yaml, no rule file, no reload anywhere below.
  for (const [name, t] of Object.entries(TRENCHES)) {
    await mustKubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'playtrenches.xyz/v1alpha1',
        kind: 'Trench',
        metadata: { name, namespace: ns.name },
        spec: {
          api: { image: 'registry.example/shop-api:1.0.0', replicas: 1 },
          worker: { image: 'registry.example/shop-worker:1.0.0', queues: ['emails'] },
          monitoring: t.monitoring,
        },
      }),
    );
  }
  const ports = await freePorts(3);
  (Object.keys(TRENCHES) as Name[]).forEach((name, i) => {
    const port = ports[i]!;
    apis.set(name, { proc: startApi(port, TRENCHES[name].faultErrorRate), port });
  });
  await Promise.all([...apis.values()].map(({ port, proc }) => waitHealthy(port, proc)));

  const config = rendered(
    Value.Default(AlertingSchema, {
      paging: { webhook: { url: `http://127.0.0.1:${receivers.port}/paging` } },
      chat: { webhook: { url: `http://127.0.0.1:${receivers.port}/chat` } },
    }) as Alerting,
  );
  alertmanager = await startAlertmanager(speedUp(config.alertmanager));
  prometheus = await startPrometheus(
    [
      { job: 'trench-operator', address: `127.0.0.1:${operator.port}`, honorLabels: true },
      ...[...apis].map(([name, { port }]) => ({
        job: `api-${name}`,
        address: `127.0.0.1:${port}`,
        labels: { namespace: ns.name, trench: name, component: 'api' },
      })),
    ],
    { rules: speedUp(config.rules), alertmanager: alertmanager.address },
  );
  // User traffic, 40 requests a second to each API.
  faultOnAt = Date.now();
  load = setInterval(() => {
    for (const { port } of apis.values())
      for (let i = 0; i < 4; i++) void fetch(`http://127.0.0.1:${port}/`).catch(() => undefined);
  }, 100);
}, 120_000);

afterAll(async () => {
  if (load) clearInterval(load);
  await prometheus?.stop();
  await alertmanager?.stop();
  await Promise.all([...apis.values()].map(({ proc }) => proc.stop()));
  await operator?.stop();
  await receivers.close();
  await Promise.all([redis?.stop(), postgres?.stop()]);
});

/** The first notification `receiver` got for `trench` in `status`, waited for. */
const notification = (
  receiver: 'paging' | 'chat',
  trench: Name,
  status: 'firing' | 'resolved',
  timeoutMs: number,
) =>
  waitFor(
    async () =>
      receivers.got[receiver].find((n) => n.groupLabels.trench === trench && n.status === status),
    { what: `the ${receiver} receiver to get ${trench} ${status}`, timeoutMs, intervalMs: 500 },
  );

describe('alerts from a Trench made with kubectl to the receivers', () => {
  it('pages the critical error rate, grouped by namespace and trench', async () => {
    const page = await notification('paging', 'paging', 'firing', 180_000);
    console.log(
      `Fault on to page: ${((page.at - faultOnAt) / 1000).toFixed(1)} s (critical for: 6s, group_wait 1s: the rendered 1m and 10s, ${SPEEDUP} times faster)`,
    );
    expect(page.receiver).toBe('paging');
    expect(page.groupLabels).toEqual({ namespace: ns.name, trench: 'paging' });
    expect(page.commonLabels).toMatchObject({
      alertname: 'TrenchHighErrorRate',
      severity: 'critical',
      namespace: ns.name,
      trench: 'paging',
    });
    const alert = page.alerts[0]!;
    expect(alert.annotations.summary).toBe(
      `Trench ${ns.name}/paging: API error rate above its critical threshold`,
    );
    expect(alert.annotations.runbook_url).toMatch(/docs\/runbooks\.md#trenchhigherrorrate$/);
    // Nothing pages for the Trench at 3 %, nor for the one with monitoring disabled.
    expect(receivers.got.paging.filter((n) => n.groupLabels.trench !== 'paging')).toEqual([]);
  }, 200_000);

  it('sends the warning to chat, and holds back the warning of a Trench that pages', async () => {
    const chat = await notification('chat', 'chatty', 'firing', 240_000);
    console.log(
      `Fault on to chat: ${((chat.at - faultOnAt) / 1000).toFixed(1)} s (warning for: 12s, group_wait 3s: the rendered 2m and 30s, ${SPEEDUP} times faster)`,
    );
    expect(chat.receiver).toBe('chat');
    expect(chat.groupLabels).toEqual({ namespace: ns.name, trench: 'chatty' });
    expect(chat.commonLabels).toMatchObject({
      alertname: 'TrenchHighErrorRate',
      severity: 'warning',
    });
    // `paging` is still above 1 % (and 5 %) over the window, and Prometheus fires its
    // warning, but Alertmanager inhibits it while the critical one fires: one page, no chat.
    const firing = (await (await fetch(`${prometheus.url}/api/v1/alerts`)).json()) as {
      data: { alerts: { labels: Record<string, string>; state: string }[] };
    };
    expect(
      firing.data.alerts.some(
        (a) =>
          a.labels.trench === 'paging' && a.labels.severity === 'warning' && a.state === 'firing',
      ),
    ).toBe(true);
    expect(receivers.got.chat.filter((n) => n.groupLabels.trench === 'paging')).toEqual([]);
    // Monitoring disabled: no threshold exported, no rule matches, nothing anywhere.
    expect(
      [...receivers.got.paging, ...receivers.got.chat].filter(
        (n) => n.groupLabels.trench === 'muted',
      ),
    ).toEqual([]);
    expect(firing.data.alerts.filter((a) => a.labels.trench === 'muted')).toEqual([]);
  }, 260_000);

  it('resolves the page once the fault is switched off', async () => {
    await switchFaultOff('paging');
    expect(faultOffAt).toBeGreaterThan(0);
    const resolved = await notification('paging', 'paging', 'resolved', 300_000);
    console.log(
      `Fault off to resolved: ${((resolved.at - faultOffAt) / 1000).toFixed(1)} s (12s rate window, group_interval 6s: the rendered 2m and 1m, ${SPEEDUP} times faster)`,
    );
    expect(resolved.alerts.every((a) => a.status === 'resolved')).toBe(true);
    expect(resolved.commonLabels).toMatchObject({
      alertname: 'TrenchHighErrorRate',
      trench: 'paging',
    });
  }, 320_000);
});
