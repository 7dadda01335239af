// One snapshot per construct, each with the properties it is there for (objects, image,
// ports), plus its validation: a bad prop throws an error naming the
// construct, the prop and the value.
import { App, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { Api } from '../../../charts/constructs/api.js';
import { BackupStorage } from '../../../charts/constructs/backup.js';
import { type Manifest, manifestsOf } from '../../../charts/constructs/common.js';
import { Monitoring } from '../../../charts/constructs/monitoring.js';
import { Network } from '../../../charts/constructs/network.js';
import { Postgres } from '../../../charts/constructs/postgres.js';
import { Redis } from '../../../charts/constructs/redis.js';
import { Worker } from '../../../charts/constructs/worker.js';

function synth(build: (scope: Construct) => void) {
  const chart = new Chart(new App(), 'test', { namespace: 'ns' });
  build(chart);
  return manifestsOf(chart);
}

const names = (objects: readonly Manifest[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`);

describe('constructs', () => {
  it('Api', () => {
    const objects = synth(
      (s) => new Api(s, 'api', { trench: 'web', image: 'api:1', metricsPort: 9464 }),
    );
    expect(objects).toMatchSnapshot();
    expect(names(objects)).toEqual([
      'Deployment/web-api',
      'Service/web-api',
      'PodDisruptionBudget/web-api',
    ]);
    const container = objects[0]!.spec.template.spec.containers[0];
    expect(container.image).toBe('api:1');
    expect(container.ports).toContainEqual(expect.objectContaining({ containerPort: 9464 }));
  });

  it('Api rolls without ever going below its replicas', () => {
    const objects = synth((s) => new Api(s, 'api', { trench: 'web', image: 'api:1' }));
    const d = objects.find((o) => o.kind === 'Deployment')!;
    expect(d.spec.strategy.rollingUpdate).toEqual({ maxSurge: '25%', maxUnavailable: 0 });
    expect(d.spec.selector.matchLabels['playtrenches.xyz/track']).toBe('stable');
    const svc = objects.find((o) => o.kind === 'Service');
    expect(svc?.spec.selector).not.toHaveProperty('playtrenches.xyz/track');
  });

  it('Worker', () => {
    const objects = synth(
      (s) => new Worker(s, 'worker', { trench: 'web', image: 'worker:1', queues: ['a', 'b'] }),
    );
    expect(objects).toMatchSnapshot();
    expect(names(objects)).toEqual(['Deployment/web-worker', 'PodDisruptionBudget/web-worker']);
    expect(objects[0]!.spec.template.spec.containers[0].env).toContainEqual({
      name: 'TRENCH_WORKER_QUEUES',
      value: 'a,b',
    });
  });

  it('Redis', () => {
    const objects = synth((s) => new Redis(s, 'redis', { trench: 'web' }));
    expect(objects).toMatchSnapshot();
    expect(names(objects)).toEqual([
      'Service/web-redis',
      'Service/web-redis-headless',
      'StatefulSet/web-redis',
    ]);
    expect(objects[0]!.spec.ports).toContainEqual(expect.objectContaining({ port: 6379 }));
  });

  it('Postgres', () => {
    const objects = synth(
      (s) => new Postgres(s, 'pg', { trench: 'web', storage: '5Gi', storageClassName: 'fast' }),
    );
    expect(objects).toMatchSnapshot();
    expect(names(objects)).toEqual([
      'Service/web-postgres',
      'Service/web-postgres-headless',
      'StatefulSet/web-postgres',
    ]);
    const [claim] = objects[2]!.spec.volumeClaimTemplates;
    expect(claim.spec).toMatchObject({
      resources: { requests: { storage: '5Gi' } },
      storageClassName: 'fast',
    });
  });

  it('BackupStorage', () => {
    const objects = synth((s) => new BackupStorage(s, 'b', { trench: 'web' }));
    expect(objects).toMatchSnapshot();
    expect(names(objects)).toEqual(['PersistentVolumeClaim/web-backups']);
    expect(objects[0]!.spec.resources.requests.storage).toBe('20Gi');
  });

  it('Monitoring (plain Prometheus): nothing per Trench, the stack discovers its pods', () => {
    const objects = synth(
      (s) => new Monitoring(s, 'm', { trench: 'web', namespace: 'ns', apiMetricsPort: 3000 }),
    );
    // Rules and the dashboard cover every Trench at once (charts/lib/alerts.ts, dashboard.ts).
    expect(objects).toEqual([]);
  });

  it('Monitoring (Prometheus Operator)', () => {
    const kinds = synth(
      (s) =>
        new Monitoring(s, 'm', {
          trench: 'web',
          namespace: 'ns',
          apiMetricsPort: 3000,
          workerMetricsPort: 9100,
          prometheusOperator: true,
        }),
    ).map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds).toEqual(['ServiceMonitor/web-api', 'PodMonitor/web-worker']);
  });

  it('Network', () => {
    const objects = synth(
      (s) =>
        new Network(s, 'n', {
          trench: 'web',
          apiPort: 3000,
          apiMetricsPort: 9464,
          workerMetricsPort: 9100,
          redis: 'managed',
          postgres: 'external',
        }),
    );
    expect(objects).toMatchSnapshot();
    // External Postgres has no pods here to admit traffic to: no policy of its own.
    expect(names(objects)).toEqual([
      'NetworkPolicy/web-default-deny',
      'NetworkPolicy/web-api',
      'NetworkPolicy/web-worker',
      'NetworkPolicy/web-jobs',
      'NetworkPolicy/web-redis',
    ]);
    const api = objects.find((o) => o.metadata.name === 'web-api')!;
    expect(api.spec.ingress).toContainEqual({ ports: [{ port: 3000, protocol: 'TCP' }] });
  });

  it('Network: default deny covers every pod of the Trench, and only those', () => {
    const objects = synth(
      (s) =>
        new Network(s, 'n', {
          trench: 'web',
          apiPort: 3000,
          apiMetricsPort: 3000,
          redis: 'managed',
          postgres: 'managed',
        }),
    );
    const deny = objects.find((o) => o.metadata.name === 'web-default-deny')!;
    expect(deny.spec).toEqual({
      podSelector: {
        matchLabels: { 'app.kubernetes.io/instance': 'web', 'app.kubernetes.io/part-of': 'trench' },
      },
      policyTypes: ['Ingress', 'Egress'],
    });
    const redis = objects.find((o) => o.metadata.name === 'web-redis')!;
    expect(redis.spec.ingress[0].ports).toEqual([{ port: 6379, protocol: 'TCP' }]);
    const api = objects.find((o) => o.metadata.name === 'web-api')!;
    expect(api.spec.egress).toContainEqual({
      ports: [
        { port: 53, protocol: 'UDP' },
        { port: 53, protocol: 'TCP' },
      ],
    });
  });
});

describe('construct validation', () => {
  const cases: [string, (s: Construct) => void, string][] = [
    ['Api image', (s) => new Api(s, 'a', { trench: 'web', image: '' }), 'Api: prop image'],
    [
      'Api replicas',
      (s) => new Api(s, 'a', { trench: 'web', image: 'i', replicas: -1 }),
      'Api: prop replicas must be an integer from 0 to 1000 (got -1)',
    ],
    [
      'Api port',
      (s) => new Api(s, 'a', { trench: 'web', image: 'i', port: 70000 }),
      'Api: prop port must be an integer from 1 to 65535 (got 70000)',
    ],
    [
      'Api healthPath',
      (s) => new Api(s, 'a', { trench: 'web', image: 'i', healthPath: 'health' }),
      `Api: prop healthPath must start with '/' (got "health")`,
    ],
    [
      'Api livenessPath',
      (s) => new Api(s, 'a', { trench: 'web', image: 'i', livenessPath: 'livez' }),
      `Api: prop livenessPath must start with '/' (got "livez")`,
    ],
    [
      'Api resources',
      (s) => new Api(s, 'a', { trench: 'web', image: 'i', resources: { requests: { cpu: '2' } } }),
      'Api: prop resources.requests.cpu must not exceed limits.cpu "1" (got "2")',
    ],
    [
      'Api trench name',
      (s) => new Api(s, 'a', { trench: 'Web', image: 'i' }),
      'Api: prop trench must be at most 40 characters, start with a letter',
    ],
    [
      'Worker queues',
      (s) => new Worker(s, 'w', { trench: 'web', image: 'i', queues: [] }),
      'Worker: prop queues must list at least one queue name',
    ],
    [
      'Worker concurrency',
      (s) => new Worker(s, 'w', { trench: 'web', image: 'i', queues: ['q'], concurrency: 0 }),
      'Worker: prop concurrency must be an integer from 1 to 1000 (got 0)',
    ],
    [
      'Worker grace period',
      (s) =>
        new Worker(s, 'w', {
          trench: 'web',
          image: 'i',
          queues: ['q'],
          terminationGracePeriodSeconds: 5,
        }),
      'Worker: prop terminationGracePeriodSeconds must be an integer from 30 to 86400 (got 5)',
    ],
    [
      'Redis storage',
      (s) => new Redis(s, 'r', { trench: 'web', storage: 'lots' }),
      'Redis: prop storage must be a positive quantity such as 1Gi (got "lots")',
    ],
    [
      'Postgres database',
      (s) => new Postgres(s, 'p', { trench: 'web', database: 'My-DB' }),
      'Postgres: prop database must be a lower-case SQL identifier of at most 63 characters (got "My-DB")',
    ],
    [
      'BackupStorage size',
      (s) => new BackupStorage(s, 'b', { trench: 'web', size: '-1Gi' }),
      'BackupStorage: prop size must be a positive quantity such as 1Gi (got "-1Gi")',
    ],
    [
      'Monitoring apiMetricsPort',
      (s) => new Monitoring(s, 'm', { trench: 'web', namespace: 'ns', apiMetricsPort: 70000 }),
      'Monitoring: prop apiMetricsPort must be an integer from 1 to 65535 (got 70000)',
    ],
    [
      'Network apiPort',
      (s) =>
        new Network(s, 'n', {
          trench: 'web',
          apiPort: 0,
          apiMetricsPort: 1,
          redis: 'managed',
          postgres: 'managed',
        }),
      'Network: prop apiPort must be an integer from 1 to 65535 (got 0)',
    ],
  ];

  it.each(cases)('%s', (_, build, message) => {
    expect(() => synth(build)).toThrow(message);
  });
});
