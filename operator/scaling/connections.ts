// One Redis connection per server, shared by every Trench whose queues live there and closed
// when the last of them lets go. ioredis has no pool of its own for this: a client is one
// connection, so the sharing (and its reference count) is ours.
import { Redis, type RedisOptions } from 'ioredis';
import { LimitedLookupConnector, type LookupLimiter, redisLookups } from './lookup.js';

/** The identity of a server for sharing: scheme, user, password, host, port and database. */
export function connectionKey(url: string): string {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new Error(`A Redis URL must start with redis:// or rediss://, got ${u.protocol}//...`);
  }
  const db = u.pathname.replace(/^\//, '') || '0';
  return `${u.protocol}//${u.username}:${u.password}@${u.hostname}:${u.port || '6379'}/${db}`;
}

/**
 * How long an ioredis client waits before its `times`-th reconnect: doubling from 1 s to at
 * most 30 s, with jitter (half to all of it). ioredis' own default retries every 2 s at most,
 * which with a thousand unreachable servers (a Redis outage, or names that do not resolve)
 * is 500 DNS lookups and connects a second: they queue on libuv's four threads faster than
 * they finish, and the heap grows until the process dies (measured: about 2 MB/s with 2000
 * clients, fatal at 1000 Trenches under the pod's 192 MB heap). A recovered server is seen
 * within 30 s; the scaler holds the replicas meanwhile.
 */
export function reconnectDelayMs(times: number, random: number = Math.random()): number {
  const base = Math.min(30_000, 500 * 2 ** Math.min(Math.max(times, 1), 6));
  return Math.round(base * (0.5 + random / 2));
}

/** Each client's newest connection error, so that a check can say why it is not connected. */
const lastErrors = new WeakMap<Redis, Error>();
const recording = new WeakSet<Redis>();

/**
 * Resolves once `client` can take commands: at once when connected, else when it connects
 * within `timeoutMs`. Rejects with the connection's error (a wrong password, a refused or
 * unresolvable address) when one comes meanwhile, or with the newest one seen when the wait
 * runs out or the client was closed.
 */
export function whenConnected(client: Redis, timeoutMs: number): Promise<void> {
  if (!recording.has(client)) {
    recording.add(client);
    client.on('error', (e: Error) => lastErrors.set(client, e));
  }
  if (client.status === 'ready') return Promise.resolve();
  // A lazy client connects on its first command; with no offline queue, the wait starts it.
  if (client.status === 'wait') client.connect().catch(() => undefined);
  const why = () => {
    const e = lastErrors.get(client);
    return `not connected (${client.status})${e ? `: ${e.message}` : ''}`;
  };
  if (client.status === 'end' || client.status === 'close') return Promise.reject(new Error(why()));
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
    };
    const onReady = () => {
      done();
      resolve();
    };
    const onError = (e: Error) => {
      done();
      reject(e);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(why()));
    }, timeoutMs);
    client.once('ready', onReady);
    client.once('error', onError);
  });
}

export interface RedisConnectionsOptions {
  /** Per command; a dead server must not hold a scaling check for long. Default 2000 ms. */
  readonly commandTimeoutMs?: number;
  /** Where the connects' DNS lookups queue: the process-wide bound by default (lookup.ts). */
  readonly lookups?: LookupLimiter;
}

/**
 * The options of the scaler's clients, but for their connector (RedisConnections adds the
 * bounded lookup's; bench/redis-lookups.ts compares it with ioredis' own).
 */
export function scalerClientOptions(commandTimeoutMs = 2_000): RedisOptions {
  return {
    // Fail a check instead of queueing it behind a reconnect: the caller holds the replicas
    // and reports RedisUnreachable; the next check tries again. No offline queue either:
    // commands sent while a server is unreachable waited there, past commandTimeout (which
    // starts when a command is written), until a reconnect that may never come; a thousand
    // unreachable servers grew the heap without bound. A check waits for the connection
    // instead (whenConnected), for at most commandTimeout.
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: commandTimeoutMs,
    enableOfflineQueue: false,
    lazyConnect: false,
    // The checks of several Trenches on one server within the same tick go out as one
    // pipeline: one round trip per server, however many Trenches wake together.
    enableAutoPipelining: true,
    retryStrategy: (times) => reconnectDelayMs(times),
  };
}

/** An ioredis Connector class whose sockets look names up through `lookups`. */
export function connectorFor(lookups: LookupLimiter): NonNullable<RedisOptions['Connector']> {
  return class extends LimitedLookupConnector {
    constructor(o: unknown) {
      super(o, lookups);
    }
  };
}

export class RedisConnections {
  private readonly entries = new Map<string, { client: Redis; users: Set<string> }>();
  private readonly create: (url: string) => Redis;

  constructor(options: RedisConnectionsOptions = {}) {
    const clientOptions: RedisOptions = {
      ...scalerClientOptions(options.commandTimeoutMs),
      // Host names are looked up through a bounded queue of our own (lookup.ts).
      Connector: connectorFor(options.lookups ?? redisLookups),
    };
    this.create = (url) => new Redis(url, clientOptions);
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
