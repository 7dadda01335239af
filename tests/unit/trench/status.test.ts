import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../operator/main.js';
import {
  generatedSecrets,
  generatePassword,
  postgresSecret,
} from '../../../operator/trench/credentials.js';
import {
  boundedWorkerReplicas,
  computeStatus,
  notReadyReason,
  type Workload,
} from '../../../operator/trench/status.js';

const NOW = Date.parse('2026-11-22T10:00:00Z');
const trench = {
  metadata: { name: 'shop', namespace: 'prod', generation: 3, uid: 'u' },
  spec: {
    api: { image: 'a' },
    worker: { image: 'w', scaling: { minReplicas: 2, maxReplicas: 5 } },
  },
} as unknown as Parameters<typeof computeStatus>[0]['trench'];

function deployment(component: string, replicas: number, ready: number, generation = 1): Workload {
  return {
    kind: 'Deployment',
    metadata: {
      name: `shop-${component}`,
      generation,
      labels: { 'app.kubernetes.io/component': component },
    },
    spec: { replicas },
    status: {
      observedGeneration: generation,
      replicas,
      readyReplicas: ready,
      availableReplicas: ready,
      updatedReplicas: replicas,
    },
  };
}
const redis: Workload = {
  kind: 'StatefulSet',
  metadata: {
    name: 'shop-redis',
    generation: 1,
    labels: { 'app.kubernetes.io/component': 'redis' },
  },
  spec: { replicas: 1 },
  status: {
    observedGeneration: 1,
    replicas: 1,
    readyReplicas: 1,
    currentRevision: 'r1',
    updateRevision: 'r1',
  },
};

describe('computeStatus', () => {
  it('reports Ready with the printer-column fields once every workload is ready', () => {
    const s = computeStatus({
      trench,
      workloads: [deployment('api', 2, 2), deployment('worker', 2, 2), redis],
      missing: [],
      now: NOW,
    });
    expect(s.phase).toBe('Ready');
    expect(s.observedGeneration).toBe(3);
    expect(s.api).toEqual({ replicas: 2, readyReplicas: 2, summary: '2/2' });
    expect(s.worker).toMatchObject({ replicas: 2, desiredReplicas: 2 });
    const ready = s.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({
      status: 'True',
      reason: 'AllWorkloadsReady',
      observedGeneration: 3,
    });
    expect(s.conditions?.find((c) => c.type === 'Degraded')?.status).toBe('False');
  });

  it('says which workload holds it back while progressing', () => {
    const s = computeStatus({
      trench,
      workloads: [deployment('api', 3, 1), redis],
      missing: ['Deployment shop-worker'],
      now: NOW,
    });
    expect(s.phase).toBe('Progressing');
    const ready = s.conditions?.find((c) => c.type === 'Ready');
    expect(ready?.status).toBe('False');
    expect(ready?.message).toContain('Deployment shop-worker not created yet');
    expect(ready?.message).toContain('Deployment shop-api has 1/3 available');
    expect(s.api?.summary).toBe('1/3');
  });

  it('keeps lastTransitionTime while a condition keeps its status', () => {
    const first = computeStatus({
      trench,
      workloads: [deployment('api', 1, 1)],
      missing: [],
      now: NOW,
    });
    const again = computeStatus({
      trench: { ...trench, status: first },
      workloads: [deployment('api', 1, 1)],
      missing: [],
      now: NOW + 60_000,
    });
    expect(again).toEqual(first);
    const broken = computeStatus({
      trench: { ...trench, status: first },
      workloads: [deployment('api', 1, 0)],
      missing: [],
      now: NOW + 60_000,
    });
    expect(broken.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(
      '2026-11-22T10:01:00Z',
    );
  });

  it('marks an invalid spec Failed and Degraded with the message', () => {
    const s = computeStatus({
      trench,
      workloads: [],
      missing: [],
      invalid: 'spec.api.replicas: must be >= 0',
      now: NOW,
    });
    expect(s.phase).toBe('Failed');
    expect(s.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'InvalidSpec',
      message: 'spec.api.replicas: must be >= 0',
    });
  });

  it('keeps the rollout and backup progress other steps own', () => {
    const withRollout = {
      ...trench,
      status: {
        rollout: { phase: 'Paused', stepIndex: 1 },
        backup: { lastSuccessfulBackup: 'b1' },
      },
    };
    const s = computeStatus({ trench: withRollout, workloads: [], missing: [], now: NOW });
    expect(s.rollout).toEqual({ phase: 'Paused', stepIndex: 1 });
    expect(s.backup).toEqual({ lastSuccessfulBackup: 'b1' });
  });
});

describe('notReadyReason', () => {
  it('waits for the controller to observe the latest generation', () => {
    const d = deployment('api', 1, 1, 2);
    expect(notReadyReason({ ...d, status: { ...d.status, observedGeneration: 1 } })).toBe(
      'Deployment shop-api not yet observed',
    );
  });
  it('waits for old pods to go', () => {
    const d = deployment('api', 2, 2);
    expect(notReadyReason({ ...d, status: { ...d.status, replicas: 3 } })).toBe(
      'Deployment shop-api is removing old pods',
    );
  });
  it('waits for a StatefulSet update to finish', () => {
    expect(notReadyReason({ ...redis, status: { ...redis.status, updateRevision: 'r2' } })).toBe(
      'StatefulSet shop-redis is updating',
    );
  });
});

describe('boundedWorkerReplicas', () => {
  it('starts at the minimum and stays within the bounds', () => {
    expect(boundedWorkerReplicas(undefined, 2, 5)).toBe(2);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 0, max: 20 }),
        (cur, a, b) => {
          const [min, max] = a <= b ? [a, b] : [b, a];
          const n = boundedWorkerReplicas(cur, min, max);
          return n >= min && n <= max && (cur < min || cur > max || n === cur);
        },
      ),
    );
  });
});

describe('credentials', () => {
  it('generates distinct URL-safe passwords of 256 bits', () => {
    const a = generatePassword();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generatePassword()).not.toBe(a);
  });

  it('makes no Secret for an external database and no ownerReference for a managed one', () => {
    expect(
      postgresSecret(
        {
          ...trench,
          spec: {
            ...trench.spec,
            postgres: { external: { urlSecretRef: { name: 'x', key: 'y' } } },
          },
        },
        'p',
      ),
    ).toBeUndefined();
    const s = postgresSecret(trench, 'secret-value');
    expect(s?.metadata?.name).toBe('shop-postgres');
    expect(s?.metadata?.ownerReferences).toBeUndefined();
    expect(Buffer.from(s?.data?.password ?? '', 'base64').toString()).toBe('secret-value');
  });

  it('generates one Secret per managed store, each with its own password', () => {
    let n = 0;
    const secrets = generatedSecrets(trench, () => `pw${n++}`);
    expect(secrets.map((s) => s.metadata?.name)).toEqual(['shop-postgres', 'shop-redis']);
    expect(secrets.map((s) => Buffer.from(s.data?.password ?? '', 'base64').toString())).toEqual([
      'pw0',
      'pw1',
    ]);
    const external = { external: { urlSecretRef: { name: 'x', key: 'y' } } };
    const onlyPostgres = generatedSecrets({ ...trench, spec: { ...trench.spec, redis: external } });
    expect(onlyPostgres.map((s) => s.metadata?.name)).toEqual(['shop-postgres']);
    const none = generatedSecrets({
      ...trench,
      spec: { ...trench.spec, redis: external, postgres: external },
    });
    expect(none).toEqual([]);
  });
});

describe('readConfig', () => {
  it('has defaults for a pod', () => {
    expect(readConfig({})).toEqual({
      leaderElection: true,
      leaseNamespace: 'trench-system',
      workers: 8,
      port: 8080,
      prometheusOperator: false,
      networkPolicies: true,
      prometheusNamespace: 'trench-monitoring',
      prometheusUrl: 'http://prometheus.trench-monitoring.svc:9090',
      operatorNamespace: 'trench-system',
      logLevel: 'info',
    });
  });
  it('takes the namespaces NetworkPolicies admit from the pod and OperatorChart', () => {
    expect(
      readConfig({ POD_NAMESPACE: 'ops', TRENCH_PROMETHEUS_NAMESPACE: 'observability' }),
    ).toMatchObject({
      leaseNamespace: 'ops',
      operatorNamespace: 'ops',
      prometheusNamespace: 'observability',
      // Canary analysis asks the same Prometheus, unless told another.
      prometheusUrl: 'http://prometheus.observability.svc:9090',
    });
    expect(readConfig({ TRENCH_PROMETHEUS_URL: 'https://prom.example:443' }).prometheusUrl).toBe(
      'https://prom.example:443',
    );
  });
  it('names the variable and the bad value', () => {
    expect(() => readConfig({ TRENCH_WORKERS: 'many' })).toThrow(
      'TRENCH_WORKERS must be an integer >= 1, got "many"',
    );
    expect(() => readConfig({ TRENCH_LOG_LEVEL: 'loud' })).toThrow(
      'TRENCH_LOG_LEVEL must be debug, info, warn or error, got "loud"',
    );
    expect(() => readConfig({ TRENCH_PROMETHEUS_URL: 'prometheus:9090' })).toThrow(
      'TRENCH_PROMETHEUS_URL must be an http(s) URL, got "prometheus:9090"',
    );
    expect(() => readConfig({ TRENCH_LEADER_ELECTION: 'yes' })).toThrow(
      'TRENCH_LEADER_ELECTION must be "true" or "false", got "yes"',
    );
  });
});
