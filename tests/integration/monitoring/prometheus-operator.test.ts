// With prometheusOperator: true the operator chart ships one PrometheusRule and an
// AlertmanagerConfig, and each Trench gets a ServiceMonitor and a PodMonitor. The real CRDs of
// the Prometheus Operator (from its Go module, at the pinned version) are installed into the
// test cluster, and the API server validates every field of those objects (strict field
// validation): a misspelt receiver field fails here, not in a user's cluster.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Value } from '@sinclair/typebox/value';
import { App } from 'cdk8s';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Manifest, manifestsOf } from '../../../charts/constructs/common.js';
import { type Alerting, AlertingSchema } from '../../../charts/lib/alertmanager.js';
import { OperatorChart } from '../../../charts/operator-chart.js';
import { renderTrench } from '../../../charts/trench-chart.js';
import {
  PROMETHEUS_OPERATOR_MODULE,
  PROMETHEUS_OPERATOR_VERSION,
} from '../../../hack/lib/versions.js';
import { kubectl, mustKubectl, useNamespace, waitFor } from '../support/cluster.js';

const ns = useNamespace('promop');
const CRDS = ['alertmanagerconfigs', 'podmonitors', 'prometheusrules', 'servicemonitors'];
let crdFiles: string[] = [];

beforeAll(async () => {
  const { stdout } = await promisify(execFile)(
    'go',
    ['mod', 'download', '-json', `${PROMETHEUS_OPERATOR_MODULE}@${PROMETHEUS_OPERATOR_VERSION}`],
    { maxBuffer: 1 << 20 },
  );
  const dir = (JSON.parse(stdout) as { Dir: string }).Dir;
  crdFiles = CRDS.map((c) =>
    join(dir, 'example', 'prometheus-operator-crd', `monitoring.coreos.com_${c}.yaml`),
  );
  await mustKubectl([
    'apply',
    '--server-side',
    '--force-conflicts',
    ...crdFiles.flatMap((f) => ['-f', f]),
  ]);
  // Not `kubectl wait`: it fails at once ("accessor error") while a new CRD has no conditions yet.
  await waitFor(
    async () => {
      const out = await mustKubectl([
        'get',
        ...CRDS.map((c) => `crd/${c}.monitoring.coreos.com`),
        '-o',
        'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Established")].status}{" "}{end}',
      ]);
      return out
        .trim()
        .split(/\s+/)
        .filter((s) => s === 'True').length === CRDS.length
        ? true
        : undefined;
    },
    { what: 'the Prometheus Operator CRDs to be Established' },
  );
}, 180_000);

afterAll(async () => {
  // Cluster-scoped: leave the shared cluster as it was found.
  if (crdFiles.length)
    await kubectl(['delete', '--ignore-not-found', ...crdFiles.flatMap((f) => ['-f', f])]);
});

async function applyStrict(objects: Manifest[]): Promise<string> {
  const docs = objects.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: ns.name } }));
  const r = await kubectl(
    ['apply', '--server-side', '--validate=strict', '-f', '-'],
    docs.map((d) => JSON.stringify(d)).join('\n'),
  );
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout;
}

const every = Value.Default(AlertingSchema, {
  paging: {
    pagerduty: { routingKey: { name: 'alert-pagerduty', key: 'routing-key' } },
    webhook: { url: 'https://oncall.example/hook', token: { name: 'alert-hook', key: 'token' } },
    telegram: { botToken: { name: 'alert-telegram', key: 'token' }, chatId: -1001234567890 },
  },
  chat: {
    slack: { webhookUrl: { name: 'alert-slack', key: 'url' }, channel: '#alerts' },
    email: {
      to: 'ops@example.com',
      from: 'trench@example.com',
      smarthost: 'smtp.example.com:587',
      username: 'trench',
      password: { name: 'alert-smtp', key: 'password' },
    },
  },
}) as Alerting;

describe('the Prometheus Operator objects, against its real CRDs', () => {
  it('accepts the PrometheusRule and the AlertmanagerConfig with every receiver kind', async () => {
    const objects = manifestsOf(
      new OperatorChart(new App(), 'op', {
        image: 'ghcr.io/playtrenches/trench-operator:0.1.0',
        prometheusOperator: true,
        alerting: every,
        crds: false,
      }),
    ).filter((o) => o.kind === 'PrometheusRule' || o.kind === 'AlertmanagerConfig');
    expect(objects.map((o) => o.kind).sort()).toEqual(['AlertmanagerConfig', 'PrometheusRule']);
    const out = await applyStrict(objects);
    expect(out).toContain(
      'alertmanagerconfig.monitoring.coreos.com/trench-operator serverside-applied',
    );
    expect(out).toContain(
      'prometheusrule.monitoring.coreos.com/trench-operator serverside-applied',
    );
    // Read back: the stored object kept every receiver (no field was pruned as unknown).
    const stored = JSON.parse(
      await mustKubectl([
        'get',
        'alertmanagerconfig',
        'trench-operator',
        '-n',
        ns.name,
        '-o',
        'json',
      ]),
    ) as { spec: { receivers: Record<string, unknown>[] } };
    const kinds = stored.spec.receivers.flatMap((r) => Object.keys(r).filter((k) => k !== 'name'));
    expect(kinds.sort()).toEqual([
      'emailConfigs',
      'pagerdutyConfigs',
      'slackConfigs',
      'telegramConfigs',
      'webhookConfigs',
    ]);
    expect(JSON.stringify(stored.spec)).toContain(
      '"authPassword":{"key":"password","name":"alert-smtp"}',
    );
  });

  it('would refuse a misspelt field: the validation above is strict', async () => {
    const bad: Manifest = {
      apiVersion: 'monitoring.coreos.com/v1alpha1',
      kind: 'AlertmanagerConfig',
      metadata: { name: 'misspelt' },
      spec: {
        route: { receiver: 'chat' },
        receivers: [{ name: 'chat', slackConfigs: [{ apiUrl: { name: 's', key: 'url' } }] }],
      },
    };
    await expect(applyStrict([bad])).rejects.toThrow(
      /\.spec\.receivers\[0\]\.slackConfigs\[0\]\.apiUrl: field not declared in schema/,
    );
  });

  it('accepts a Trench’s ServiceMonitor and PodMonitor', async () => {
    const objects = renderTrench(
      {
        apiVersion: 'playtrenches.xyz/v1alpha1',
        kind: 'Trench',
        metadata: { name: 'shop', namespace: ns.name },
        spec: {
          api: { image: 'registry.example/api:1' },
          worker: { image: 'registry.example/worker:1', queues: ['emails'], metricsPort: 9100 },
        },
      } as Parameters<typeof renderTrench>[0],
      { prometheusOperator: true },
    ).filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/'));
    expect(objects.map((o) => o.kind).sort()).toEqual(['PodMonitor', 'ServiceMonitor']);
    const out = await applyStrict(objects);
    expect(out).toContain('servicemonitor.monitoring.coreos.com/shop-api serverside-applied');
    expect(out).toContain('podmonitor.monitoring.coreos.com/shop-worker serverside-applied');
  });
});
