// One ioredis connection from REDIS_URL (redis:// or rediss://, password or ACL user in the
// URL, as the operator builds it).
import { Redis } from 'ioredis';

export function createRedis(redisUrl: string, purpose: 'client' | 'worker'): Redis {
  return new Redis(redisUrl, {
    // BullMQ's workers block on Redis and must retry forever; a request from the API should
    // fail fast so /health and POST /jobs answer instead of hanging.
    maxRetriesPerRequest: purpose === 'worker' ? null : 1,
    connectTimeout: 2_000,
    lazyConnect: false,
  });
}

/** Resolves within `ms` or rejects: a probe must not wait on a dead dependency. */
export async function withTimeout<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
