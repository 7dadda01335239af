// The API's one source of truth: CRDs on disk match the generator, schemas are structural,
// defaults follow DESIGN.md, and the TypeScript rules agree with their CEL twins' intent.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { trenchCrds } from '../../../charts/api/crds.js';
import { applyTrenchDefaults, validateTrenchSpec } from '../../../charts/api/validate.js';
import { canonical } from '../../../charts/lib/json.js';

type Schema = Record<string, unknown> & {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema;
  anyOf?: Schema[];
};

// biome-ignore lint/suspicious/noExplicitAny: table tests mutate specs freely
type LooseSpec = Record<string, any>;

const base = () => ({
  api: { image: 'api:1' },
  worker: { image: 'worker:1', queues: ['q'] },
});

describe('CRDs', () => {
  it('on disk match the generator (run make synth after changing charts/api)', () => {
    for (const crd of trenchCrds()) {
      const file = `crds/${crd.metadata.name}.yaml`;
      expect(parse(readFileSync(file, 'utf8')), file).toEqual(canonical(crd));
    }
  });

  it('are structural: every node has a type, no TypeBox leftovers', () => {
    const walk = (s: Schema, path: string) => {
      const text = JSON.stringify(s);
      expect(text, path).not.toContain('"$id"');
      expect(text, path).not.toContain('"const"');
      expect(text, path).not.toContain('patternProperties');
      // What a real API server refused before: these rules come from kube-apiserver 1.34.
      if (s['x-kubernetes-int-or-string'] === true) {
        expect(s.anyOf, path).toEqual([{ type: 'integer' }, { type: 'string' }]);
        return;
      }
      for (const bound of ['exclusiveMinimum', 'exclusiveMaximum']) {
        if (bound in s)
          expect(typeof s[bound], `${path}.${bound} is a boolean in OpenAPI 3.0`).toBe('boolean');
      }
      for (const key of (s.required as string[] | undefined) ?? []) {
        expect(
          s.properties?.[key]?.default,
          `${path}.${key} is required and has a default`,
        ).toBeUndefined();
      }
      if (s.type === 'object' && s.default !== undefined && s.properties) {
        // A default is checked as written, before nested defaults: it must be complete.
        for (const [k, v] of Object.entries(s.properties)) {
          if (v.default !== undefined) {
            expect((s.default as Record<string, unknown>)[k], `${path}.default.${k}`).toBeDefined();
          }
        }
      }
      expect(s.type, `${path} has no type`).toBeTruthy();
      for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}.${k}`);
      if (s.items) walk(s.items, `${path}[]`);
      if (s.additionalProperties) walk(s.additionalProperties, `${path}{}`);
    };
    for (const crd of trenchCrds()) {
      const versions = crd.spec.versions as { schema: { openAPIV3Schema: Schema } }[];
      walk(versions[0]!.schema.openAPIV3Schema, crd.metadata.name);
    }
  });

  it('give Trench its names, status subresource and printer columns', () => {
    const trench = trenchCrds()[0]!;
    expect(trench.spec.names).toMatchObject({
      kind: 'Trench',
      plural: 'trenches',
      shortNames: ['tr'],
      categories: ['playtrenches'],
    });
    const version = (trench.spec.versions as Record<string, unknown>[])[0]!;
    expect(version.subresources).toEqual({ status: {} });
    expect((version.additionalPrinterColumns as { name: string }[]).map((c) => c.name)).toEqual([
      'Phase',
      'API',
      'Workers',
      'Backlog',
      'Step',
      'Weight',
      'Last Backup',
      'Age',
    ]);
  });

  it('share one category that names none of their resources (kubectl resolves it first)', () => {
    const names = trenchCrds().map(
      (c) =>
        c.spec.names as {
          kind: string;
          plural: string;
          singular: string;
          shortNames: string[];
          categories: string[];
        },
    );
    const words = new Set(
      names.flatMap((n) => [n.kind.toLowerCase(), n.plural, n.singular, ...n.shortNames]),
    );
    for (const n of names) {
      expect(n.categories, n.kind).toEqual(['playtrenches']);
      for (const category of n.categories) expect(words.has(category), category).toBe(false);
    }
  });

  it('carry every CEL rule with a message', () => {
    const rules: { rule: string; message: string }[] = [];
    const walk = (s: unknown) => {
      if (Array.isArray(s)) s.forEach(walk);
      else if (s && typeof s === 'object') {
        for (const [k, v] of Object.entries(s)) {
          if (k === 'x-kubernetes-validations') rules.push(...(v as typeof rules));
          else walk(v);
        }
      }
    };
    walk(trenchCrds()[0]);
    expect(rules.length).toBeGreaterThanOrEqual(8);
    for (const r of rules) expect(r.message.length).toBeGreaterThan(10);
  });
});

describe('defaults', () => {
  it('follow the contract in DESIGN.md', () => {
    const spec = applyTrenchDefaults(base());
    expect(spec.api).toMatchObject({
      replicas: 2,
      port: 3000,
      healthPath: '/health',
      livenessPath: '/livez',
      metricsPath: '/metrics',
    });
    expect(spec.worker.concurrency).toBe(5);
    expect(spec.worker.scaling).toEqual({
      minReplicas: 1,
      maxReplicas: 10,
      targetBacklogPerReplica: 100,
      pollIntervalSeconds: 5,
      scaleDownStabilizationSeconds: 300,
    });
    expect(spec.rollout).toEqual({
      analysis: { intervalSeconds: 30, failureLimit: 1 },
      progressDeadlineSeconds: 600,
    });
    expect(spec.backup).toMatchObject({
      schedule: '0 3 * * *',
      suspend: false,
      retention: { daily: 7, weekly: 4, monthly: 12 },
    });
    expect(spec.monitoring).toEqual({
      enabled: true,
      alerts: {
        errorRate: 0.05,
        errorRateWarning: 0.01,
        p95LatencySeconds: 2,
        p95LatencySecondsCritical: 5,
        queueBacklog: 1000,
        queueBacklogWarning: 500,
        resourceUsage: 0.8,
        resourceUsageCritical: 0.95,
      },
    });
    expect(spec.redis).toEqual({});
    expect(spec.postgres).toEqual({});
  });

  it('never change a field that was set, and are idempotent', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 1, max: 1000 }),
        (replicas, max) => {
          const input = {
            ...base(),
            api: { image: 'a', replicas },
            worker: { image: 'w', queues: ['q'], scaling: { maxReplicas: max } },
          };
          const once = applyTrenchDefaults(input);
          expect(once.api.replicas).toBe(replicas);
          expect(once.worker.scaling.maxReplicas).toBe(max);
          expect(applyTrenchDefaults(once)).toEqual(once);
        },
      ),
    );
  });
});

describe('validateTrenchSpec', () => {
  it('accepts the minimal spec and the samples', () => {
    expect(validateTrenchSpec(base())).toEqual([]);
    for (const f of ['trench-minimal.yaml', 'trench-full.yaml']) {
      expect(
        validateTrenchSpec(parse(readFileSync(`manifests/samples/${f}`, 'utf8')).spec),
        f,
      ).toEqual([]);
    }
  });

  const bad: [string, (s: LooseSpec) => void, string, string][] = [
    ['missing api image', (s) => delete s.api.image, 'spec.api.image', 'is required'],
    [
      'an analysis query with an unknown template variable',
      (s) =>
        (s.rollout = {
          analysis: { metrics: [{ name: 'errors', query: 'up{job="{{ service }}"}', max: 1 }] },
        }),
      'spec.rollout.analysis.metrics[0].query',
      'names unknown template variable(s) {{service}} (metric "errors"); use {{namespace}}, {{trench}}, {{track}}, {{revision}}',
    ],
    ['negative replicas', (s) => (s.api.replicas = -1), 'spec.api.replicas', '(got -1)'],
    ['port out of range', (s) => (s.api.port = 70000), 'spec.api.port', '(got 70000)'],
    [
      'relative health path',
      (s) => (s.api.healthPath = 'health'),
      'spec.api.healthPath',
      'Expected string to match',
    ],
    ['no queues', (s) => (s.worker.queues = []), 'spec.worker.queues', 'length'],
    [
      'min above max replicas',
      (s) => (s.worker.scaling = { minReplicas: 5, maxReplicas: 2 }),
      'spec.worker.scaling.minReplicas',
      'minReplicas must be less than or equal to maxReplicas',
    ],
    [
      'weight above 100',
      (s) => (s.rollout = { steps: [{ setWeight: 150 }] }),
      'spec.rollout.steps[0].setWeight',
      '(got 150)',
    ],
    [
      'step with weight and pause',
      (s) => (s.rollout = { steps: [{ setWeight: 10, pause: {} }] }),
      'spec.rollout.steps[0]',
      'exactly one of setWeight or pause',
    ],
    [
      'metric with max and min',
      (s) => (s.rollout = { analysis: { metrics: [{ name: 'm', query: 'q', max: 1, min: 0 }] } }),
      'spec.rollout.analysis.metrics[0]',
      'exactly one of max or min',
    ],
    [
      'external and managed Redis',
      (s) => (s.redis = { external: { urlSecretRef: { name: 'r', key: 'url' } }, storage: '1Gi' }),
      'spec.redis',
      'either external or the managed fields',
    ],
    [
      'external and managed Postgres',
      (s) =>
        (s.postgres = { external: { urlSecretRef: { name: 'p', key: 'url' } }, database: 'x' }),
      'spec.postgres',
      'either external or the managed fields',
    ],
    [
      'cron with 4 fields',
      (s) => (s.backup = { schedule: '0 3 * *' }),
      'spec.backup.schedule',
      'cron expression of 5',
    ],
    [
      'cron minute out of range',
      (s) => (s.backup = { schedule: '99 3 * * *' }),
      'spec.backup.schedule',
      'within range',
    ],
    [
      'cron step of zero',
      (s) => (s.backup = { schedule: '*/0 * * * *' }),
      'spec.backup.schedule',
      "steps after * or a range, from 1 to the field's largest value",
    ],
    [
      'cron range that runs backwards',
      (s) => (s.backup = { schedule: '0 5-2 * * *' }),
      'spec.backup.schedule',
      'hour "5-2" is outside 0-23',
    ],
    [
      'cron that never runs',
      (s) => (s.backup = { schedule: '0 0 31 2 *' }),
      'spec.backup.schedule',
      'never runs',
    ],
    [
      'retention keeps nothing',
      (s) => (s.backup = { retention: { daily: 0, weekly: 0, monthly: 0 } }),
      'spec.backup.retention',
      'at least one backup',
    ],
    [
      'error rate above 1',
      (s) => (s.monitoring = { alerts: { errorRate: 2 } }),
      'spec.monitoring.alerts.errorRate',
      '(got 2)',
    ],
    [
      'warning above critical',
      (s) => (s.monitoring = { alerts: { errorRate: 0.05, errorRateWarning: 0.1 } }),
      'spec.monitoring.alerts.errorRateWarning',
      'must be less than or equal to errorRate',
    ],
    [
      'warning latency above the critical default',
      (s) => (s.monitoring = { alerts: { p95LatencySeconds: 8 } }),
      'spec.monitoring.alerts.p95LatencySeconds',
      'p95LatencySecondsCritical (critical)',
    ],
    [
      'unknown field',
      (s) => (s.api.imagePullPolicy = 'Always'),
      'spec.api.imagePullPolicy',
      'unknown field',
    ],
    [
      'bad pause duration',
      (s) => (s.rollout = { steps: [{ pause: { duration: 'soon' } }] }),
      'spec.rollout.steps[0].pause.duration',
      '(got "soon")',
    ],
  ];

  it.each(bad)('refuses %s', (_, mutate, path, message) => {
    const spec = base() as LooseSpec;
    mutate(spec);
    const problems = validateTrenchSpec(spec);
    const hit = problems.find((p) => p.path === path);
    expect(hit, JSON.stringify(problems)).toBeDefined();
    expect(hit?.message).toContain(message);
  });

  it('accepts any scaling bounds with min <= max and refuses the others', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 1, max: 1000 }),
        (min, max) => {
          const spec = {
            ...base(),
            worker: { image: 'w', queues: ['q'], scaling: { minReplicas: min, maxReplicas: max } },
          };
          const problems = validateTrenchSpec(spec);
          expect(problems.length === 0).toBe(min <= max);
        },
      ),
    );
  });
});
