// What the scaler needs of one Trench, read from its spec, and where its Redis is. Pure.
import type { Trench } from '../../charts/api/trench.js';
import { REDIS_PASSWORD_KEY, REDIS_PORT } from '../../charts/constructs/redis.js';
import type { Recommendation } from './decision.js';

/** BullMQ's default key prefix, unless spec.worker.prefix names another. */
export const DEFAULT_PREFIX = 'bull';

export type RedisSource =
  /** The Trench's own Redis: its Service, with the password from the generated Secret. */
  | {
      readonly kind: 'managed';
      readonly host: string;
      readonly secret: string;
      readonly key: string;
    }
  /** A server the user runs: the whole URL from a Secret they name. */
  | { readonly kind: 'external'; readonly secret: string; readonly key: string };

export interface ScalingTarget {
  readonly namespace: string;
  readonly name: string;
  readonly queues: readonly string[];
  readonly prefix: string;
  readonly concurrency: number;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly targetBacklogPerReplica: number;
  readonly pollIntervalMs: number;
  readonly scaleDownStabilizationSeconds: number;
  readonly redis: RedisSource;
  /** The window a previous operator left in status. */
  readonly recommendations: readonly Recommendation[];
}

type TrenchLike = Pick<Trench, 'metadata' | 'spec' | 'status'>;

export function scalingTargetOf(trench: TrenchLike): ScalingTarget | undefined {
  const { name, namespace } = trench.metadata;
  const worker = trench.spec.worker;
  if (!worker || !namespace) return undefined;
  const s = worker.scaling ?? {};
  const external = trench.spec.redis?.external?.urlSecretRef;
  const recommendations = (trench.status?.worker?.recommendations ?? []).flatMap((r) => {
    const at = Date.parse(r.time);
    return Number.isFinite(at) ? [{ at, replicas: r.replicas }] : [];
  });
  return {
    namespace,
    name,
    queues: [...new Set(worker.queues)],
    prefix: worker.prefix ?? DEFAULT_PREFIX,
    concurrency: worker.concurrency ?? 5,
    minReplicas: s.minReplicas ?? 1,
    maxReplicas: s.maxReplicas ?? 10,
    targetBacklogPerReplica: s.targetBacklogPerReplica ?? 100,
    pollIntervalMs: (s.pollIntervalSeconds ?? 5) * 1000,
    scaleDownStabilizationSeconds: s.scaleDownStabilizationSeconds ?? 300,
    redis: external
      ? { kind: 'external', secret: external.name, key: external.key }
      : {
          kind: 'managed',
          host: `${name}-redis.${namespace}.svc`,
          secret: `${name}-redis`,
          key: REDIS_PASSWORD_KEY,
        },
    recommendations,
  };
}

/** The URL to connect with, from the Secret value the source names (already decoded). */
export function redisUrlOf(source: RedisSource, secretValue: string): string {
  if (source.kind === 'external') return secretValue.trim();
  return `redis://:${encodeURIComponent(secretValue)}@${source.host}:${REDIS_PORT}`;
}
