// One Trench -> every child object. Pure (no I/O, clock or randomness), so the operator
// renders with it on every reconcile and `make render` shows exactly what it would apply.

import { App, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { API_VERSION, type TrenchSpec } from './api/trench.js';
import { applyTrenchDefaults, validateTrenchName, validateTrenchSpec } from './api/validate.js';
import { Api } from './constructs/api.js';
import { BackupStorage } from './constructs/backup.js';
import {
  ANNOTATION_RESOURCE_POLICY,
  DEFAULT_MANAGED_BY,
  type EnvVar,
  type Manifest,
  manifestsOf,
  PropError,
  secretEnv,
} from './constructs/common.js';
import { Monitoring } from './constructs/monitoring.js';
import { Network, type PeerSelector } from './constructs/network.js';
import { Postgres } from './constructs/postgres.js';
import { Redis } from './constructs/redis.js';
import { Worker } from './constructs/worker.js';
import { canonical } from './lib/json.js';

/** How the operator and synth differ from one Trench to the next; none of it is in the spec. */
export interface RenderOptions {
  /** Emit ServiceMonitor, PodMonitor and PrometheusRule objects. @default false */
  readonly prometheusOperator?: boolean;
  /** Emit the NetworkPolicies. @default true */
  readonly networkPolicies?: boolean;
  /** Who scrapes metrics. @default pods named prometheus in trench-monitoring */
  readonly prometheus?: PeerSelector;
  /** Where the operator runs. @default pods named trench-operator in trench-system */
  readonly operator?: PeerSelector;
  /** Value of app.kubernetes.io/managed-by. @default 'trench-operator' */
  readonly managedBy?: string;
}

export interface TrenchChartProps extends RenderOptions {
  readonly name: string;
  readonly namespace: string;
  /** The spec with defaults applied (as the API server stores it). */
  readonly spec: TrenchSpec;
  /** The Trench's uid; when set, every child gets a controller ownerReference. */
  readonly uid?: string;
}

export class TrenchChart extends Chart {
  private readonly ownerUid: string | undefined;
  private readonly trenchName: string;

  constructor(scope: Construct, id: string, props: TrenchChartProps) {
    super(scope, id, { namespace: props.namespace });
    this.ownerUid = props.uid;
    this.trenchName = props.name;
    const { spec, name } = props;
    const managedBy = props.managedBy ?? DEFAULT_MANAGED_BY;
    const common = { trench: name, managedBy };

    const connectionEnv: EnvVar[] = [{ name: 'TRENCH_NAME', value: name }];
    // The API enqueues and the workers consume under the prefix the scaler counts.
    if (spec.worker.prefix)
      connectionEnv.push({ name: 'BULLMQ_PREFIX', value: spec.worker.prefix });
    const redisManaged = spec.redis.external === undefined;
    if (redisManaged) {
      const redis = new Redis(this, 'Redis', {
        ...common,
        image: spec.redis.image,
        storage: spec.redis.storage,
        storageClassName: spec.redis.storageClassName,
        resources: spec.redis.resources,
      });
      connectionEnv.push(...redis.clientEnv);
    } else {
      const ref = spec.redis.external!.urlSecretRef;
      connectionEnv.push(secretEnv('REDIS_URL', ref.name, ref.key));
    }

    const postgresManaged = spec.postgres.external === undefined;
    if (postgresManaged) {
      const postgres = new Postgres(this, 'Postgres', {
        ...common,
        image: spec.postgres.image,
        database: spec.postgres.database,
        storage: spec.postgres.storage,
        storageClassName: spec.postgres.storageClassName,
        resources: spec.postgres.resources,
      });
      connectionEnv.push(...postgres.clientEnv);
    } else {
      const ref = spec.postgres.external!.urlSecretRef;
      connectionEnv.push(secretEnv('DATABASE_URL', ref.name, ref.key));
    }

    const metricsPort = spec.api.metricsPort ?? spec.api.port;
    new Api(this, 'Api', {
      ...common,
      image: spec.api.image,
      replicas: spec.api.replicas,
      trackServices: spec.rollout.trafficRouting?.gatewayAPI !== undefined,
      port: spec.api.port,
      metricsPort,
      healthPath: spec.api.healthPath,
      livenessPath: spec.api.livenessPath,
      metricsPath: spec.api.metricsPath,
      command: spec.api.command,
      args: spec.api.args,
      env: spec.api.env as EnvVar[] | undefined,
      envFrom: spec.api.envFrom,
      resources: spec.api.resources,
      connectionEnv,
    });

    new Worker(this, 'Worker', {
      ...common,
      image: spec.worker.image,
      queues: spec.worker.queues,
      concurrency: spec.worker.concurrency,
      command: spec.worker.command,
      args: spec.worker.args,
      metricsPort: spec.worker.metricsPort,
      terminationGracePeriodSeconds: spec.worker.terminationGracePeriodSeconds,
      env: spec.worker.env as EnvVar[] | undefined,
      envFrom: spec.worker.envFrom,
      resources: spec.worker.resources,
      connectionEnv,
    });

    new BackupStorage(this, 'Backup', {
      ...common,
      size: spec.backup.storage.pvc.size,
      storageClassName: spec.backup.storage.pvc.storageClassName,
    });

    if (spec.monitoring.enabled) {
      new Monitoring(this, 'Monitoring', {
        ...common,
        namespace: props.namespace,
        apiMetricsPort: metricsPort,
        apiMetricsPath: spec.api.metricsPath,
        workerMetricsPort: spec.worker.metricsPort,
        prometheusOperator: props.prometheusOperator,
      });
    }

    if (props.networkPolicies ?? true) {
      new Network(this, 'Network', {
        ...common,
        apiPort: spec.api.port,
        apiMetricsPort: metricsPort,
        workerMetricsPort: spec.worker.metricsPort,
        redis: redisManaged ? 'managed' : 'external',
        postgres: postgresManaged ? 'managed' : 'external',
        prometheus: props.prometheus,
        operator: props.operator,
      });
    }
  }

  /**
   * Every child as plain JSON: keys sorted, ownerReferences set when the uid is known, except
   * on children whose resource policy is `keep`.
   */
  public manifests(): Manifest[] {
    const owner = this.ownerUid
      ? [
          {
            apiVersion: API_VERSION,
            kind: 'Trench',
            name: this.trenchName,
            uid: this.ownerUid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ]
      : undefined;
    return manifestsOf(this).map((m) => {
      const kept = m.metadata.annotations?.[ANNOTATION_RESOURCE_POLICY] === 'keep';
      if (owner && !kept) m.metadata.ownerReferences = owner;
      return canonical(m) as Manifest;
    });
  }
}

/** A Trench as the operator reads it, or as a file holds it (defaults not yet applied). */
export interface TrenchInput {
  readonly metadata: { readonly name: string; readonly namespace: string; readonly uid?: string };
  readonly spec: unknown;
}

export class InvalidTrenchError extends Error {
  constructor(
    readonly trench: string,
    readonly problems: readonly { path: string; message: string }[],
  ) {
    super(
      `Trench ${trench} is invalid:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`,
    );
    this.name = 'InvalidTrenchError';
  }
}

/**
 * Every child object of one Trench as plain JSON, in a stable order. Applies the schema
 * defaults, and throws InvalidTrenchError naming each bad field when the spec would not
 * pass the CRD's validation.
 */
export function renderTrench(trench: TrenchInput, options: RenderOptions = {}): Manifest[] {
  const { name, namespace, uid } = trench.metadata;
  const where = `${namespace}/${name}`;
  const problems = [...validateTrenchName(name), ...validateTrenchSpec(trench.spec)];
  if (problems.length > 0) throw new InvalidTrenchError(where, problems);
  const spec = applyTrenchDefaults(trench.spec);
  const app = new App();
  try {
    const chart = new TrenchChart(app, name, { ...options, name, namespace, spec, uid });
    return chart.manifests();
  } catch (error) {
    // What the schema cannot say (a request above the default limit, say) the constructs
    // refuse: it is the spec's fault all the same, and named by its field.
    if (!(error instanceof PropError)) throw error;
    const section = SPEC_SECTIONS[error.construct];
    const path = section
      ? `spec.${section}.${error.prop}`
      : `spec (${error.construct} ${error.prop})`;
    throw new InvalidTrenchError(where, [{ path, message: error.problem }]);
  }
}

/** The spec section each construct's props come from. */
const SPEC_SECTIONS: Readonly<Record<string, string>> = {
  Api: 'api',
  Worker: 'worker',
  Redis: 'redis',
  Postgres: 'postgres',
  BackupStorage: 'backup.storage.pvc',
  Monitoring: 'monitoring',
};
