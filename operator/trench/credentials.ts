// The Secrets the operator generates. Created once and never overwritten: a password is written
// into the database (or required by Redis) at its first start, so a new value would lock
// clients out.
import { randomBytes } from 'node:crypto';
import type { Trench } from '../../charts/api/trench.js';
import {
  DEFAULT_MANAGED_BY,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
  LABEL_PART_OF,
} from '../../charts/constructs/common.js';
import { POSTGRES_PASSWORD_KEY } from '../../charts/constructs/postgres.js';
import { REDIS_PASSWORD_KEY } from '../../charts/constructs/redis.js';
import type { KubeObject } from '../runtime/types.js';

export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

/** 32 random bytes, URL-safe: no character that needs quoting in a connection URL. */
export function generatePassword(random: (n: number) => Buffer = randomBytes): string {
  return random(32).toString('base64url');
}

function passwordSecret(
  trench: Pick<Trench, 'metadata'>,
  component: 'postgres' | 'redis',
  key: string,
  password: string,
): Secret {
  const { name, namespace } = trench.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: `${name}-${component}`,
      namespace,
      labels: {
        [LABEL_INSTANCE]: name,
        [LABEL_PART_OF]: 'trench',
        [LABEL_MANAGED_BY]: DEFAULT_MANAGED_BY,
        'app.kubernetes.io/component': component,
      },
    },
    type: 'Opaque',
    data: { [key]: Buffer.from(password).toString('base64') },
  };
}

/**
 * The Secret managed Postgres reads its password from, or undefined when Postgres is external.
 * It carries no ownerReference on purpose: the database volumes outlive a deleted Trench
 * (the StatefulSet retains its claims), so the password that opens them must outlive it too.
 */
export function postgresSecret(
  trench: Pick<Trench, 'metadata' | 'spec'>,
  password: string,
): Secret | undefined {
  if (trench.spec.postgres?.external) return undefined;
  return passwordSecret(trench, 'postgres', POSTGRES_PASSWORD_KEY, password);
}

/** The Secret managed Redis requires its password from; kept like postgresSecret's. */
export function redisSecret(
  trench: Pick<Trench, 'metadata' | 'spec'>,
  password: string,
): Secret | undefined {
  if (trench.spec.redis?.external) return undefined;
  return passwordSecret(trench, 'redis', REDIS_PASSWORD_KEY, password);
}

/** Every Secret the operator generates for this Trench, each with a fresh password. */
export function generatedSecrets(
  trench: Pick<Trench, 'metadata' | 'spec'>,
  password: () => string = generatePassword,
): Secret[] {
  return [postgresSecret(trench, password()), redisSecret(trench, password())].filter(
    (s): s is Secret => s !== undefined,
  );
}
