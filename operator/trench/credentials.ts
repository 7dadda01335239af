// The Secrets the operator generates. Created once and never overwritten: the password is
// written into the database at its first start, so a new value would lock clients out.
import { randomBytes } from 'node:crypto';
import type { Trench } from '../../charts/api/trench.js';
import {
  DEFAULT_MANAGED_BY,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
  LABEL_PART_OF,
} from '../../charts/constructs/common.js';
import { POSTGRES_PASSWORD_KEY } from '../../charts/constructs/postgres.js';
import type { KubeObject } from '../runtime/types.js';

export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

/** 32 random bytes, URL-safe: no character that needs quoting in a connection URL. */
export function generatePassword(random: (n: number) => Buffer = randomBytes): string {
  return random(32).toString('base64url');
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
  const { name, namespace } = trench.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: `${name}-postgres`,
      namespace,
      labels: {
        [LABEL_INSTANCE]: name,
        [LABEL_PART_OF]: 'trench',
        [LABEL_MANAGED_BY]: DEFAULT_MANAGED_BY,
        'app.kubernetes.io/component': 'postgres',
      },
    },
    type: 'Opaque',
    data: { [POSTGRES_PASSWORD_KEY]: Buffer.from(password).toString('base64') },
  };
}
