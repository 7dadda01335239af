// The CRD schema and its CEL rules on a real API server: bad Trenches are refused with a
// message that names the field, the TypeScript validator reports the same field, good ones
// are stored with the same defaults TypeScript applies, and backups are immutable.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { applyTrenchDefaults, validateTrenchSpec } from '../../../charts/api/validate.js';
import { kubectl, useNamespace } from '../support/cluster.js';

const ns = useNamespace('synth-validation');

// biome-ignore lint/suspicious/noExplicitAny: table cases mutate specs freely
type Loose = Record<string, any>;

const minimalSpec = (): Loose => ({
  api: { image: 'ghcr.io/playtrenches/shop-api:1' },
  worker: { image: 'ghcr.io/playtrenches/shop-worker:1', queues: ['default'] },
});

function trench(name: string, spec: Loose): string {
  return JSON.stringify({
    apiVersion: 'playtrenches.xyz/v1alpha1',
    kind: 'Trench',
    metadata: { name, namespace: ns.name },
    spec,
  });
}

beforeAll(async () => {
  const r = await kubectl([
    'apply',
    '--server-side',
    '--field-manager=trench-deploy',
    '-f',
    'dist/0000-crds.k8s.yaml',
  ]);
  expect(r.stderr).toBe('');
  const w = await kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/trenches.playtrenches.xyz',
    'crd/trenchbackups.playtrenches.xyz',
  ]);
  expect(w.code).toBe(0);
});

/** [case, mutation, field path in the server's message, text of the server's message, TS path] */
const invalid: [string, (s: Loose) => void, string, string, string?][] = [
  ['no API image', (s) => delete s.api.image, 'spec.api.image', 'Required value'],
  [
    'negative API replicas',
    (s) => (s.api.replicas = -1),
    'spec.api.replicas',
    'greater than or equal to 0',
  ],
  [
    'API port out of range',
    (s) => (s.api.port = 70000),
    'spec.api.port',
    'less than or equal to 65535',
  ],
  [
    'relative health path',
    (s) => (s.api.healthPath = 'health'),
    'spec.api.healthPath',
    'should match',
  ],
  [
    'relative liveness path',
    (s) => (s.api.livenessPath = 'livez'),
    'spec.api.livenessPath',
    'should match',
  ],
  [
    'no queues',
    (s) => (s.worker.queues = []),
    'spec.worker.queues',
    'should have at least 1 items',
  ],
  [
    'minReplicas above maxReplicas',
    (s) => (s.worker.scaling = { minReplicas: 5, maxReplicas: 2 }),
    'spec.worker.scaling.minReplicas',
    'minReplicas must be less than or equal to maxReplicas',
  ],
  [
    'canary weight above 100',
    (s) => (s.rollout = { steps: [{ setWeight: 150 }] }),
    'spec.rollout.steps[0].setWeight',
    'less than or equal to 100',
  ],
  [
    'a step with both weight and pause',
    (s) => (s.rollout = { steps: [{ setWeight: 10, pause: {} }] }),
    'spec.rollout.steps[0]',
    'each spec.rollout.steps[] item sets exactly one of setWeight or pause',
  ],
  [
    'a bad pause duration',
    (s) => (s.rollout = { steps: [{ pause: { duration: 'soon' } }] }),
    'spec.rollout.steps[0].pause.duration',
    'should match',
  ],
  [
    'a metric with both max and min',
    (s) =>
      (s.rollout = { analysis: { metrics: [{ name: 'errors', query: 'q', max: 1, min: 0 }] } }),
    'spec.rollout.analysis.metrics[0]',
    'sets exactly one of max or min',
  ],
  [
    'two metrics with one name',
    (s) =>
      (s.rollout = {
        analysis: {
          metrics: [
            { name: 'errors', query: 'a', max: 1 },
            { name: 'errors', query: 'b', max: 2 },
          ],
        },
      }),
    'spec.rollout.analysis.metrics[1]',
    'Duplicate value',
    '-',
  ],
  [
    'external and managed Redis',
    (s) => (s.redis = { external: { urlSecretRef: { name: 'r', key: 'url' } }, storage: '2Gi' }),
    'spec.redis',
    'spec.redis: set either external or the managed fields',
  ],
  [
    'external and managed Postgres',
    (s) =>
      (s.postgres = { external: { urlSecretRef: { name: 'p', key: 'url' } }, database: 'app' }),
    'spec.postgres',
    'spec.postgres: set either external or the managed fields',
  ],
  [
    'a cron schedule with 4 fields',
    (s) => (s.backup = { schedule: '0 3 * *' }),
    'spec.backup.schedule',
    'spec.backup.schedule must be a cron expression of 5 numeric fields',
  ],
  [
    'a cron schedule with an hour out of range',
    (s) => (s.backup = { schedule: '0 24 * * *' }),
    'spec.backup.schedule',
    'spec.backup.schedule must be a cron expression of 5 numeric fields within range',
  ],
  [
    'a retention that keeps nothing',
    (s) => (s.backup = { retention: { daily: 0, weekly: 0, monthly: 0 } }),
    'spec.backup.retention',
    'spec.backup.retention must keep at least one backup',
  ],
  [
    'an error-rate threshold above 1',
    (s) => (s.monitoring = { alerts: { errorRate: 2 } }),
    'spec.monitoring.alerts.errorRate',
    'less than or equal to 1',
  ],
  [
    'a storage size that is not a quantity',
    (s) => (s.postgres = { storage: 'lots' }),
    'spec.postgres.storage',
    'should match',
  ],
];

describe('the Trench CRD', () => {
  it.each(invalid)('refuses %s', async (name, mutate, field, message, tsPath) => {
    const spec = minimalSpec();
    mutate(spec);
    const id = `bad-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`
      .slice(0, 40)
      .replace(/-$/, '');
    const r = await kubectl(['create', '-f', '-'], trench(id, spec));
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr).toContain(field);
    expect(r.stderr).toContain(message);
    // The offline validator (make render, synth) finds the same field, except the few
    // checks only the API server makes (duplicate list-map keys).
    if (tsPath !== '-') {
      const paths = validateTrenchSpec(spec).map((p) => p.path);
      expect(paths, JSON.stringify(validateTrenchSpec(spec))).toContain(tsPath ?? field);
    }
  });

  it('refuses names that the children cannot carry', async () => {
    for (const name of ['9lives', `a${'b'.repeat(40)}`]) {
      const r = await kubectl(['create', '-f', '-'], trench(name, minimalSpec()));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('metadata.name must be at most 40 characters');
    }
  });

  it('stores the samples with exactly the defaults TypeScript applies', async () => {
    for (const file of ['trench-minimal.yaml', 'trench-full.yaml']) {
      const doc = parse(readFileSync(`manifests/samples/${file}`, 'utf8'));
      doc.metadata.namespace = ns.name;
      const r = await kubectl(['create', '-o', 'json', '-f', '-'], JSON.stringify(doc));
      expect(r.stderr, file).toBe('');
      expect(JSON.parse(r.stdout).spec, file).toEqual(applyTrenchDefaults(doc.spec));
    }
  });

  it('keeps a TrenchBackup spec immutable', async () => {
    const backup = {
      apiVersion: 'playtrenches.xyz/v1alpha1',
      kind: 'TrenchBackup',
      metadata: { name: 'manual-1', namespace: ns.name },
      spec: { trench: 'demo', reason: 'manual' },
    };
    expect((await kubectl(['create', '-f', '-'], JSON.stringify(backup))).code).toBe(0);
    const r = await kubectl([
      'patch',
      'trenchbackup',
      'manual-1',
      '-n',
      ns.name,
      '--type=merge',
      '-p',
      '{"spec":{"trench":"other"}}',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec is immutable');
  });
});
