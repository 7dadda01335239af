// A process-wide bound on the DNS lookups of the scaler's Redis connects.
//
// Node resolves a host name with getaddrinfo on libuv's thread pool (four threads). A lookup
// that has started cannot be cancelled: when a socket gives up (ioredis' connectTimeout), its
// lookup stays queued until the resolver answers. With a thousand Redis servers whose names
// resolve slowly (a resolver that answers a few lookups a second, or a DNS outage), the
// reconnects start lookups faster than they finish and the queue, and the heap with it, grows
// until the process dies. Here at most `concurrency` lookups run at once; the others wait in a
// queue of our own, where a lookup that waited `maxWaitMs` (the connect timeout) fails with
// EAI_AGAIN and goes, so what waits is bounded by the connect rate times that wait. With a
// resolver that answers in a millisecond the queue drains at once and nothing is refused.
//
// ioredis takes no lookup function for a standalone server, so LimitedLookupConnector (its
// public Connector option) makes the socket as ioredis' own connector does, with this lookup.
import { lookup as dnsLookup } from 'node:dns';
import { createConnection, type LookupFunction, type NetConnectOpts, type Socket } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { AbstractConnector } from 'ioredis';

type LookupCallback = Parameters<LookupFunction>[2];
type LookupOptions = Parameters<LookupFunction>[1];

export interface LookupLimiterOptions {
  /** Lookups running at once: libuv's thread pool has four threads. Default 4. */
  readonly concurrency?: number;
  /** How long a lookup may wait for a free slot before it fails. Default 2000 ms. */
  readonly maxWaitMs?: number;
  /** The resolver; Node's dns.lookup (getaddrinfo) by default. */
  readonly lookup?: LookupFunction;
  readonly now?: () => number;
}

interface Waiting {
  readonly hostname: string;
  readonly options: LookupOptions;
  readonly callback: LookupCallback;
  readonly since: number;
}

export class LookupLimiter {
  private readonly concurrency: number;
  private readonly maxWaitMs: number;
  private readonly resolve: LookupFunction;
  private readonly now: () => number;
  private readonly queue: Waiting[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = 0;
  /** Lookups started, and those refused after waiting maxWaitMs (for tests and metrics). */
  started = 0;
  refused = 0;

  constructor(options: LookupLimiterOptions = {}) {
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.maxWaitMs = options.maxWaitMs ?? 2_000;
    this.resolve = options.lookup ?? (dnsLookup as unknown as LookupFunction);
    this.now = options.now ?? Date.now;
  }

  /** Lookups running, and waiting for a slot. */
  get inFlight(): number {
    return this.running;
  }
  get waiting(): number {
    return this.queue.length;
  }

  /** A net.LookupFunction: pass it as `lookup` to net.connect or tls.connect. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.queue.push({ hostname, options, callback, since: this.now() });
    this.pump();
  };

  private pump(): void {
    this.expire();
    while (this.running < this.concurrency && this.queue.length > 0) {
      const next = this.queue.shift()!;
      this.running++;
      this.started++;
      this.resolve(next.hostname, next.options, (...result: Parameters<LookupCallback>) => {
        this.running--;
        next.callback(...result);
        this.pump();
      });
    }
    // The oldest waiter's deadline, so that one that waits in a quiet moment still goes.
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const oldest = this.queue[0];
    if (oldest) {
      this.timer = setTimeout(() => this.pump(), oldest.since + this.maxWaitMs - this.now() + 1);
      this.timer.unref();
    }
  }

  /** Fails (asynchronously, as a lookup must) each lookup that waited maxWaitMs. */
  private expire(): void {
    const limit = this.now() - this.maxWaitMs;
    while (this.queue.length > 0 && this.queue[0]!.since <= limit) {
      const w = this.queue.shift()!;
      this.refused++;
      const error = Object.assign(
        new Error(
          `DNS lookup of ${w.hostname} not started within ${this.maxWaitMs} ms: ${this.concurrency} lookups were in flight (the resolver answers slower than Redis reconnects ask)`,
        ),
        { code: 'EAI_AGAIN', hostname: w.hostname },
      );
      process.nextTick(() => w.callback(error, '', 0));
    }
  }
}

/** The scaler's lookups, shared by every Redis connection of the process. */
export const redisLookups = new LookupLimiter();

/** What ioredis hands a Connector for a standalone server (its parsed options). */
interface StandaloneOptions {
  readonly host?: string;
  readonly port?: number;
  readonly family?: number;
  readonly path?: string;
  readonly tls?: ConnectionOptions;
  readonly disconnectTimeout?: number;
}

/**
 * ioredis' standalone connector with the shared, bounded lookup: the same socket options
 * (host, port, family, or a Unix path; TLS options merged in), made on the next tick and
 * refused when the client was closed meanwhile, as ioredis' own does.
 */
export class LimitedLookupConnector extends AbstractConnector {
  private readonly options: StandaloneOptions;

  /** `options`: ioredis' parsed RedisOptions (its ConnectorConstructor types them unknown). */
  constructor(
    options: unknown,
    private readonly limiter: LookupLimiter = redisLookups,
  ) {
    const o = options as StandaloneOptions;
    super(o.disconnectTimeout ?? 2_000);
    this.options = o;
  }

  connect(): Promise<Socket | TLSSocket> {
    const o = this.options;
    this.connecting = true;
    const target: NetConnectOpts = o.path
      ? { path: o.path }
      : {
          port: o.port ?? 6379,
          ...(o.host !== undefined ? { host: o.host } : {}),
          ...(o.family !== undefined ? { family: o.family } : {}),
          lookup: this.limiter.lookup,
        };
    return new Promise((resolve, reject) => {
      process.nextTick(() => {
        if (!this.connecting) {
          reject(new Error('Connection is closed.'));
          return;
        }
        try {
          this.stream = o.tls
            ? tlsConnect({ ...target, ...o.tls } as ConnectionOptions)
            : createConnection(target);
        } catch (error) {
          reject(error);
          return;
        }
        this.stream.once('error', (error: Error) => {
          this.firstError = error;
        });
        resolve(this.stream);
      });
    });
  }
}
