import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../../charts/constructs/common.js';
import { InvalidTrenchError, renderTrench } from '../../../charts/trench-chart.js';
import { full, labelsMatch, minimal, podTemplates, withoutEphemeralStorage } from './fixtures.js';

const renders = (): [string, Manifest[]][] => [
  ['minimal', renderTrench(minimal())],
  ['full', renderTrench(full())],
  ['full with the Prometheus Operator', renderTrench(full(), { prometheusOperator: true })],
];

describe('renderTrench', () => {
  it('names the spec field a construct refuses, as the schema does', () => {
    const t = minimal();
    const spec = t.spec as { api: Record<string, unknown> };
    const bad = { ...spec, api: { ...spec.api, resources: { requests: { cpu: '64' } } } };
    let error: unknown;
    try {
      renderTrench({ ...t, spec: bad });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidTrenchError);
    expect((error as InvalidTrenchError).problems).toEqual([
      {
        path: 'spec.api.resources.requests.cpu',
        message: 'must not exceed limits.cpu "1" (got "64")',
      },
    ]);
  });

  it('renders the minimal sample', () => {
    const objects = renderTrench(minimal());
    expect(objects).toMatchSnapshot();
    // The ~20 children per Trench the scale targets are about; the generated Secrets are the
    // operator's, never rendered.
    expect(objects).toHaveLength(18);
    expect(objects.map((o) => o.kind)).not.toContain('Secret');
  });

  it('renders the full sample', () => {
    const objects = renderTrench(full());
    expect(objects).toMatchSnapshot();
    // External Redis: nothing of Redis is rendered; Postgres is managed with its storage.
    expect(objects.filter((o) => o.metadata.name.includes('redis'))).toEqual([]);
    const postgres = objects.find((o) => o.kind === 'StatefulSet')!;
    expect(postgres.metadata.name).toBe('shop-postgres');
    expect(postgres.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('50Gi');
    const api = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'shop-api')!;
    expect(api.spec.replicas).toBe(3);
    expect(objects.map((o) => o.kind)).not.toContain('Secret');
  });

  it('renders a ServiceMonitor and a PodMonitor with the Prometheus Operator, no rules', () => {
    const kinds = renderTrench(full(), { prometheusOperator: true }).map((o) => o.kind);
    expect(kinds).toEqual(expect.arrayContaining(['ServiceMonitor', 'PodMonitor']));
    // One PrometheusRule for every Trench ships with the operator (OperatorChart).
    expect(kinds).not.toContain('PrometheusRule');
    expect(renderTrench(full()).map((o) => o.kind)).not.toContain('ServiceMonitor');
  });

  it('lists the objects of one default Trench', () => {
    expect(renderTrench(minimal()).map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Service/demo-redis',
      'Service/demo-redis-headless',
      'StatefulSet/demo-redis',
      'Service/demo-postgres',
      'Service/demo-postgres-headless',
      'StatefulSet/demo-postgres',
      'Deployment/demo-api',
      'Service/demo-api',
      'PodDisruptionBudget/demo-api',
      'Deployment/demo-worker',
      'PodDisruptionBudget/demo-worker',
      'PersistentVolumeClaim/demo-backups',
      'NetworkPolicy/demo-default-deny',
      'NetworkPolicy/demo-api',
      'NetworkPolicy/demo-worker',
      'NetworkPolicy/demo-jobs',
      'NetworkPolicy/demo-redis',
      'NetworkPolicy/demo-postgres',
    ]);
  });

  it.each(renders())('%s: every pod passes the restricted Pod Security Standard', (_, objects) => {
    for (const { where, spec } of podTemplates(objects)) {
      expect(spec.securityContext.runAsNonRoot, where).toBe(true);
      expect(spec.securityContext.seccompProfile, where).toEqual({ type: 'RuntimeDefault' });
      expect(spec.hostNetwork ?? false, where).toBe(false);
      for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
        const sc = c.securityContext;
        expect(sc.allowPrivilegeEscalation, `${where} ${c.name}`).toBe(false);
        expect(sc.capabilities, `${where} ${c.name}`).toEqual({ drop: ['ALL'] });
        expect(sc.runAsNonRoot, `${where} ${c.name}`).toBe(true);
        expect(sc.privileged, `${where} ${c.name}`).toBe(false);
        expect(sc.seccompProfile, `${where} ${c.name}`).toEqual({ type: 'RuntimeDefault' });
        expect(sc.runAsUser, `${where} ${c.name}`).toBeGreaterThan(0);
      }
      for (const v of spec.volumes ?? []) {
        expect(v.hostPath, `${where} volume ${v.name}`).toBeUndefined();
      }
    }
  });

  it.each(renders())(
    '%s: every container has cpu, memory and ephemeral-storage requests and limits',
    (_, objects) => {
      for (const { where, spec } of podTemplates(objects)) {
        for (const c of spec.containers) {
          expect(Object.keys(c.resources.requests).sort(), `${where} ${c.name}`).toEqual([
            'cpu',
            'ephemeral-storage',
            'memory',
          ]);
          expect(Object.keys(c.resources.limits).sort(), `${where} ${c.name}`).toEqual([
            'cpu',
            'ephemeral-storage',
            'memory',
          ]);
        }
      }
      expect(withoutEphemeralStorage(objects)).toEqual([]);
    },
  );

  it.each(renders())('%s: selectors use name and instance and never overlap', (_, objects) => {
    const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
    for (const w of workloads) {
      const sel = w.spec.selector.matchLabels as Record<string, string>;
      expect(Object.keys(sel).sort()).toEqual(
        expect.arrayContaining(['app.kubernetes.io/instance', 'app.kubernetes.io/name']),
      );
      expect(labelsMatch(sel, w.spec.template.metadata.labels), w.metadata.name).toBe(true);
      for (const other of workloads) {
        if (other === w) continue;
        expect(
          labelsMatch(sel, other.spec.template.metadata.labels),
          `${w.metadata.name} selects pods of ${other.metadata.name}`,
        ).toBe(false);
      }
    }
    for (const svc of objects.filter((o) => o.kind === 'Service')) {
      const sel = svc.spec.selector as Record<string, string>;
      expect(Object.keys(sel).sort()).toEqual([
        'app.kubernetes.io/instance',
        'app.kubernetes.io/name',
      ]);
      const selected = workloads.filter((w) => labelsMatch(sel, w.spec.template.metadata.labels));
      expect(selected.length, `Service ${svc.metadata.name}`).toBeGreaterThan(0);
      const components = new Set(
        selected.map((w) => w.spec.template.metadata.labels['app.kubernetes.io/component']),
      );
      expect(components.size, `Service ${svc.metadata.name} spans components`).toBe(1);
    }
  });

  it.each(renders())(
    '%s: labels, names, owners and no generated or secret content',
    (_, objects) => {
      const seen = new Set<string>();
      for (const o of objects) {
        const key = `${o.kind}/${o.metadata.name}`;
        expect(seen.has(key), `duplicate ${key}`).toBe(false);
        seen.add(key);
        const trench = o.metadata.labels?.['app.kubernetes.io/instance'];
        expect(o.metadata.name.startsWith(`${trench}-`) || o.metadata.name === trench, key).toBe(
          true,
        );
        expect(o.metadata.labels?.['app.kubernetes.io/part-of'], key).toBe('trench');
        expect(o.metadata.labels?.['app.kubernetes.io/managed-by'], key).toBe('trench-operator');
        expect(o.metadata.labels?.['app.kubernetes.io/component'], key).toBeTruthy();
        if (o.metadata.name === `${trench}-backups`) {
          // Kept when the Trench is deleted, so its dumps survive a mistaken delete.
          expect(o.metadata.annotations?.['playtrenches.xyz/resource-policy'], key).toBe('keep');
          expect(o.metadata.ownerReferences, key).toBeUndefined();
        } else {
          expect(o.metadata.ownerReferences, key).toEqual([
            expect.objectContaining({ kind: 'Trench', controller: true, name: trench }),
          ]);
        }
        expect(o.kind, key).not.toBe('Secret');
        const text = JSON.stringify(o);
        expect(text, key).not.toContain('cdk8s.io');
        expect(text, key).not.toMatch(/-c8[0-9a-f]{6}\b/);
        expect(text, key).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/);
      }
    },
  );

  it('leaves the worker replica count to the operator', () => {
    for (const [, objects] of renders()) {
      const worker = objects.find(
        (o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-worker'),
      );
      expect(worker?.spec).not.toHaveProperty('replicas');
      expect(worker?.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(600);
      expect(worker?.spec.template.spec.containers[0].lifecycle.preStop.sleep.seconds).toBe(5);
    }
  });

  it('probes API liveness on a path of its own, looser than readiness', () => {
    const probes = (t: ReturnType<typeof minimal>) => {
      const d = renderTrench(t).find(
        (o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-api'),
      )!;
      return d.spec.template.spec.containers[0];
    };
    const c = probes(minimal());
    expect(c.readinessProbe.httpGet.path).toBe('/health');
    expect(c.livenessProbe.httpGet.path).toBe('/livez');
    // A database outage fails readiness only: a pod started during one waits, unrestarted.
    expect(c.startupProbe.httpGet.path).toBe('/livez');
    const window = (p: { periodSeconds: number; failureThreshold: number }) =>
      p.periodSeconds * p.failureThreshold;
    expect(c.livenessProbe.periodSeconds).toBeGreaterThan(c.readinessProbe.periodSeconds);
    expect(c.livenessProbe.failureThreshold).toBeGreaterThan(c.readinessProbe.failureThreshold);
    expect(window(c.livenessProbe)).toBeGreaterThanOrEqual(4 * window(c.readinessProbe));

    const t = minimal();
    const spec = structuredClone(t.spec) as Record<string, Record<string, unknown>>;
    spec.api = { ...spec.api, healthPath: '/ready', livenessPath: '/alive' };
    const custom = probes({ ...t, spec });
    expect(custom.readinessProbe.httpGet.path).toBe('/ready');
    expect(custom.livenessProbe.httpGet.path).toBe('/alive');
    expect(custom.startupProbe.httpGet.path).toBe('/alive');
  });

  it('governs each StatefulSet by a headless Service of its own, clients by another', () => {
    for (const [name, objects] of renders()) {
      for (const sts of objects.filter((o) => o.kind === 'StatefulSet')) {
        const where = `${name}: ${sts.metadata.name}`;
        const services = objects.filter((o) => o.kind === 'Service');
        const governing = services.find((o) => o.metadata.name === sts.spec.serviceName);
        expect(sts.spec.serviceName, where).toBe(`${sts.metadata.name}-headless`);
        expect(governing?.spec.clusterIP, where).toBe('None');
        expect(governing?.spec.publishNotReadyAddresses, where).toBe(true);
        const podLabels = sts.spec.template.metadata.labels;
        expect(labelsMatch(governing!.spec.selector, podLabels), where).toBe(true);
        const port = sts.spec.template.spec.containers[0].ports[0].containerPort;
        expect(governing!.spec.ports.map((p: { targetPort: number }) => p.targetPort)).toEqual([
          port,
        ]);
        // Clients keep the Service named after the component, which lists ready pods only.
        const client = services.find((o) => o.metadata.name === sts.metadata.name);
        expect(client, where).toBeDefined();
        expect(client!.spec.publishNotReadyAddresses, where).toBeUndefined();
        expect(labelsMatch(client!.spec.selector, podLabels), where).toBe(true);
      }
    }
  });

  it('takes ephemeral storage from spec resources key by key', () => {
    const t = minimal();
    const spec = structuredClone(t.spec) as Record<string, Record<string, unknown>>;
    spec.api = { ...spec.api, resources: { limits: { 'ephemeral-storage': '4Gi' } } };
    spec.postgres = { resources: { requests: { 'ephemeral-storage': '1Gi' } } };
    const objects = renderTrench({ ...t, spec });
    const resources = (kind: string, name: string) =>
      objects.find((o) => o.kind === kind && o.metadata.name === name)!.spec.template.spec
        .containers[0].resources;
    // Key by key: the other defaults stay.
    expect(resources('Deployment', 'demo-api')).toEqual({
      requests: { cpu: '100m', 'ephemeral-storage': '128Mi', memory: '128Mi' },
      limits: { cpu: '1', 'ephemeral-storage': '4Gi', memory: '512Mi' },
    });
    expect(resources('StatefulSet', 'demo-postgres').requests['ephemeral-storage']).toBe('1Gi');
    expect(resources('StatefulSet', 'demo-postgres').limits['ephemeral-storage']).toBe('1Gi');
  });

  it('tells the API and the worker the ports their probes and Services use', () => {
    const env = (objects: Manifest[], name: string) =>
      Object.fromEntries(
        (
          objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name)!.spec.template
            .spec.containers[0].env as { name: string; value?: string }[]
        ).map((e) => [e.name, e.value]),
      );
    // The full sample: port 8080, metrics on 9464, worker metrics on 9100.
    const full_ = renderTrench(full());
    expect(env(full_, 'shop-api')).toMatchObject({ PORT: '8080', METRICS_PORT: '9464' });
    expect(env(full_, 'shop-worker')).toMatchObject({ METRICS_PORT: '9100' });
    // Defaults: metrics on the API port (no METRICS_PORT), no worker metrics server.
    const min = renderTrench(minimal());
    expect(env(min, 'demo-api').PORT).toBe('3000');
    expect(env(min, 'demo-api')).not.toHaveProperty('METRICS_PORT');
    expect(env(min, 'demo-worker')).not.toHaveProperty('METRICS_PORT');
    // The spec's own env wins over what the chart sets.
    const t = minimal();
    const spec = structuredClone(t.spec) as Record<string, Record<string, unknown>>;
    spec.api = { ...spec.api, env: [{ name: 'PORT', value: '1234' }] };
    expect(env(renderTrench({ ...t, spec }), 'demo-api').PORT).toBe('1234');
  });

  it('tells the API and the workers the BullMQ prefix the scaler counts under', () => {
    const t = minimal();
    const spec = structuredClone(t.spec) as Record<string, Record<string, unknown>>;
    spec.worker = { ...spec.worker, prefix: 'shop' };
    const objects = renderTrench({ ...t, spec });
    for (const name of ['demo-api', 'demo-worker']) {
      const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name)!;
      expect(d.spec.template.spec.containers[0].env).toContainEqual({
        name: 'BULLMQ_PREFIX',
        value: 'shop',
      });
    }
    const plain = renderTrench(minimal()).find((o) => o.metadata.name === 'demo-worker')!;
    expect(JSON.stringify(plain)).not.toContain('BULLMQ_PREFIX');
  });

  it('references the Postgres password Secret without containing it', () => {
    const objects = renderTrench(minimal());
    const api = objects.find((o) => o.metadata.name === 'demo-api' && o.kind === 'Deployment')!;
    const env = api.spec.template.spec.containers[0].env as { name: string; valueFrom?: unknown }[];
    expect(env.find((e) => e.name === 'PGPASSWORD')?.valueFrom).toEqual({
      secretKeyRef: { name: 'demo-postgres', key: 'password' },
    });
    const names = env.map((e) => e.name);
    expect(names.indexOf('PGPASSWORD')).toBeLessThan(names.indexOf('DATABASE_URL'));
  });

  it('makes managed Redis require the generated password, and clients send it', () => {
    const objects = renderTrench(minimal());
    const ref = { secretKeyRef: { name: 'demo-redis', key: 'password' } };
    const redis = objects.find(
      (o) => o.kind === 'StatefulSet' && o.metadata.name === 'demo-redis',
    )!;
    const server = redis.spec.template.spec.containers[0];
    const args = server.args as string[];
    expect(args[args.indexOf('--requirepass') + 1]).toBe('$(REDIS_PASSWORD)');
    expect(server.env).toEqual(
      expect.arrayContaining([
        { name: 'REDIS_PASSWORD', valueFrom: ref },
        { name: 'REDISCLI_AUTH', valueFrom: ref },
      ]),
    );
    for (const name of ['demo-api', 'demo-worker']) {
      const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name)!;
      const env = d.spec.template.spec.containers[0].env as { name: string; value?: string }[];
      const names = env.map((e) => e.name);
      expect(names.indexOf('REDIS_PASSWORD')).toBeLessThan(names.indexOf('REDIS_URL'));
      expect(env.find((e) => e.name === 'REDIS_URL')?.value).toBe(
        'redis://:$(REDIS_PASSWORD)@demo-redis:6379',
      );
    }
    expect(JSON.stringify(objects)).not.toMatch(/"kind":"Secret"/);
  });

  it('renders nothing for external Redis and wires its Secret', () => {
    const objects = renderTrench(full());
    expect(objects.find((o) => o.metadata.name === 'shop-redis')).toBeUndefined();
    const worker = objects.find(
      (o) => o.metadata.name === 'shop-worker' && o.kind === 'Deployment',
    )!;
    const env = worker.spec.template.spec.containers[0].env as {
      name: string;
      valueFrom?: unknown;
    }[];
    expect(env.find((e) => e.name === 'REDIS_URL')?.valueFrom).toEqual({
      secretKeyRef: { name: 'shop-redis-url', key: 'url' },
    });
  });

  it('is deterministic', () => {
    expect(JSON.stringify(renderTrench(full()))).toBe(JSON.stringify(renderTrench(full())));
  });

  it('refuses a bad spec naming every bad field', () => {
    const bad = minimal();
    const spec = structuredClone(bad.spec) as Record<string, Record<string, unknown>>;
    spec.api!.replicas = -1;
    spec.worker!.scaling = { minReplicas: 9, maxReplicas: 3 };
    spec.backup = { schedule: 'every day' };
    expect(() => renderTrench({ ...bad, spec })).toThrow(InvalidTrenchError);
    try {
      renderTrench({ ...bad, spec });
    } catch (error) {
      const paths = (error as InvalidTrenchError).problems.map((p) => p.path);
      expect(paths).toEqual(
        expect.arrayContaining([
          'spec.api.replicas',
          'spec.worker.scaling.minReplicas',
          'spec.backup.schedule',
        ]),
      );
      expect((error as Error).message).toContain('(got -1)');
    }
  });

  it('refuses a Trench name that children cannot carry', () => {
    const t = minimal();
    expect(() => renderTrench({ ...t, metadata: { ...t.metadata, name: '9lives' } })).toThrow(
      'metadata.name',
    );
    expect(() => renderTrench({ ...t, metadata: { ...t.metadata, name: 'a'.repeat(41) } })).toThrow(
      'metadata.name',
    );
  });

  it('keeps its invariants for any valid name, replica count and queue list', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/),
        fc.integer({ min: 0, max: 50 }),
        fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/), { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        (name, replicas, queues, external) => {
          const spec = {
            api: { image: 'api:1', replicas },
            worker: { image: 'worker:1', queues },
            ...(external
              ? { postgres: { external: { urlSecretRef: { name: 'db', key: 'url' } } } }
              : {}),
          };
          const objects = renderTrench({ metadata: { name, namespace: 'ns' }, spec });
          for (const o of objects) {
            expect(o.metadata.name.length).toBeLessThanOrEqual(63);
            expect(o.metadata.namespace).toBe('ns');
          }
          const api = objects.find(
            (o) => o.kind === 'Deployment' && o.metadata.name === `${name}-api`,
          );
          expect(api?.spec.replicas).toBe(replicas);
          expect(objects.some((o) => o.metadata.name === `${name}-postgres`)).toBe(!external);
          const worker = objects.find((o) => o.metadata.name === `${name}-worker`);
          const env = worker?.spec.template.spec.containers[0].env as {
            name: string;
            value?: string;
          }[];
          expect(env.find((e) => e.name === 'TRENCH_WORKER_QUEUES')?.value).toBe(queues.join(','));
        },
      ),
      { numRuns: 50 },
    );
  });
});
