// One Redis connection per server, shared by every Trench whose queues live there and closed
// when the last of them lets go. ioredis has no pool of its own for this: a client is one
// connection, so the sharing (and its reference count) is ours.
import { Redis } from 'ioredis';

/** The identity of a server for sharing: scheme, user, password, host, port and database. */
export function connectionKey(url: string): string {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new Error(`A Redis URL must start with redis:// or rediss://, got ${u.protocol}//...`);
  }
  const db = u.pathname.replace(/^\//, '') || '0';
  return `${u.protocol}//${u.username}:${u.password}@${u.hostname}:${u.port || '6379'}/${db}`;
}

export interface RedisConnectionsOptions {
  /** Per command; a dead server must not hold a scaling check for long. Default 2000 ms. */
  readonly commandTimeoutMs?: number;
}

export class RedisConnections {
  private readonly entries = new Map<string, { client: Redis; users: Set<string> }>();
  private readonly create: (url: string) => Redis;

  constructor(options: RedisConnectionsOptions = {}) {
    const timeout = options.commandTimeoutMs ?? 2_000;
    this.create = (url) =>
      new Redis(url, {
        // Fail a check instead of queueing it behind a reconnect: the caller holds the
        // replicas and reports RedisUnreachable; the next check tries again.
        maxRetriesPerRequest: 0,
        commandTimeout: timeout,
        connectTimeout: timeout,
        enableOfflineQueue: true,
        lazyConnect: false,
        // The checks of several Trenches on one server within the same tick go out as one
        // pipeline: one round trip per server, however many Trenches wake together.
        enableAutoPipelining: true,
      });
  }

  /** The shared client for `url`, counted for `user` (a Trench key) until released. */
  acquire(url: string, user: string): Redis {
    const key = connectionKey(url);
    let entry = this.entries.get(key);
    if (!entry) {
      const client = this.create(url);
      // Errors reach the checks through failed commands; without a listener ioredis would
      // print every reconnect attempt.
      client.on('error', () => undefined);
      entry = { client, users: new Set() };
      this.entries.set(key, entry);
    }
    // One user never holds a server twice, so a Trench that re-acquires is still one reference.
    for (const [k, e] of this.entries) if (k !== key && e.users.has(user)) this.releaseKey(k, user);
    entry.users.add(user);
    return entry.client;
  }

  /** Lets go of whatever `user` holds; the connection closes when nobody else holds it. */
  release(user: string): void {
    for (const key of [...this.entries.keys()]) this.releaseKey(key, user);
  }

  /** Servers with an open connection. */
  get size(): number {
    return this.entries.size;
  }

  async closeAll(): Promise<void> {
    const clients = [...this.entries.values()].map((e) => e.client);
    this.entries.clear();
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
  }

  private releaseKey(key: string, user: string): void {
    const entry = this.entries.get(key);
    if (!entry?.users.delete(user) || entry.users.size > 0) return;
    this.entries.delete(key);
    entry.client.quit().catch(() => entry.client.disconnect());
  }
}
