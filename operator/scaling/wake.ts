// Waking the scaler when a queue changes, instead of polling fast: BullMQ appends every job
// event (added, waiting, active, completed, failed, delayed, drained...) to the stream
// `<prefix>:<queue>:events`. One blocking XREAD per Redis server covers every queue of every
// Trench on it; an entry queues a check of the Trenches of that queue. The poll interval stays
// as the safety net (a delayed job coming due emits nothing while no worker runs).
// A blocking read holds its connection, so it gets one of its own beside the command one.
import { Redis } from 'ioredis';
import { connectionKey, connectorFor, reconnectDelayMs } from './connections.js';
import { redisLookups } from './lookup.js';

interface Registration {
  readonly url: string;
  readonly streams: readonly string[];
}

export interface QueueWakeOptions {
  /** How long one XREAD blocks before it looks at the registrations again. Default 2000 ms. */
  readonly blockMs?: number;
  /** Coalesces the events of a burst into one check: the delay of the queued key. Default 50 ms. */
  readonly coalesceMs?: number;
}

export const eventsStream = (prefix: string, queue: string) => `${prefix}:${queue}:events`;

export class QueueWake {
  private readonly registrations = new Map<string, Registration>();
  private readonly loops = new Map<string, { stop: () => void }>();
  private enqueue: ((key: string, delayMs?: number) => void) | undefined;
  private signal: AbortSignal | undefined;
  private readonly blockMs: number;
  private readonly coalesceMs: number;
  private readonly create: (url: string) => Redis;

  constructor(options: QueueWakeOptions = {}) {
    this.blockMs = options.blockMs ?? 2_000;
    this.coalesceMs = options.coalesceMs ?? 50;
    this.create = (url) =>
      new Redis(url, {
        maxRetriesPerRequest: 0,
        connectTimeout: 2_000,
        lazyConnect: false,
        retryStrategy: (times) => reconnectDelayMs(times),
        // Its host name is looked up in the same bounded queue as the command connections'.
        Connector: connectorFor(redisLookups),
      });
  }

  /** Watches `streams` on `url` for the Trench `key` (replacing what it watched before). */
  set(key: string, url: string, streams: readonly string[]): void {
    const before = this.registrations.get(key);
    if (before && before.url === url && before.streams.join() === streams.join()) return;
    this.registrations.set(key, { url, streams });
    this.reconcileLoops();
  }

  delete(key: string): void {
    if (this.registrations.delete(key)) this.reconcileLoops();
  }

  /** A KeySource for the Manager: runs while `signal` holds. */
  readonly source = (enqueue: (key: string, delayMs?: number) => void, signal: AbortSignal) => {
    this.enqueue = enqueue;
    this.signal = signal;
    signal.addEventListener('abort', () => {
      for (const loop of this.loops.values()) loop.stop();
      this.loops.clear();
      this.enqueue = undefined;
    });
    this.reconcileLoops();
  };

  private reconcileLoops(): void {
    if (!this.enqueue || this.signal?.aborted) return;
    const wanted = new Map<string, string>();
    for (const r of this.registrations.values()) wanted.set(connectionKey(r.url), r.url);
    for (const [server, loop] of this.loops) {
      if (!wanted.has(server)) {
        loop.stop();
        this.loops.delete(server);
      }
    }
    for (const [server, url] of wanted) {
      if (!this.loops.has(server)) this.loops.set(server, this.startLoop(server, url));
    }
  }

  private startLoop(server: string, url: string): { stop: () => void } {
    const client = this.create(url);
    client.on('error', () => undefined);
    let stopped = false;
    const lastIds = new Map<string, string>();
    const run = async () => {
      while (!stopped) {
        const byStream = new Map<string, string[]>();
        for (const [key, r] of this.registrations) {
          if (connectionKey(r.url) !== server) continue;
          for (const s of r.streams) byStream.set(s, [...(byStream.get(s) ?? []), key]);
        }
        const streams = [...byStream.keys()];
        try {
          // Start each new stream at its newest entry: '$' on every call would lose what
          // arrives between two reads.
          const fresh = streams.filter((s) => !lastIds.has(s));
          if (fresh.length > 0) {
            const pipeline = client.pipeline();
            for (const s of fresh) pipeline.xrevrange(s, '+', '-', 'COUNT', 1);
            const results = (await pipeline.exec()) ?? [];
            fresh.forEach((s, i) => {
              const entries = results[i]?.[1] as [string, string[]][] | undefined;
              lastIds.set(s, entries?.[0]?.[0] ?? '0-0');
              // What arrived between the registration and now is behind that entry: check
              // these Trenches once, so nothing that happened meanwhile waits for the poll.
              for (const key of byStream.get(s) ?? []) this.enqueue?.(key, this.coalesceMs);
            });
          }
          if (streams.length === 0) {
            await new Promise((r) => setTimeout(r, this.blockMs));
            continue;
          }
          const reply = (await client.xread(
            'COUNT',
            100,
            'BLOCK',
            this.blockMs,
            'STREAMS',
            ...streams,
            ...streams.map((s) => lastIds.get(s) ?? '0-0'),
          )) as [string, [string, string[]][]][] | null;
          for (const [stream, entries] of reply ?? []) {
            const last = entries[entries.length - 1];
            if (last) lastIds.set(stream, last[0]);
            for (const key of byStream.get(stream) ?? []) this.enqueue?.(key, this.coalesceMs);
          }
        } catch {
          // The checks report an unreachable Redis; this only waits to try again.
          if (!stopped) await new Promise((r) => setTimeout(r, 1_000));
        }
      }
    };
    void run();
    return {
      stop: () => {
        stopped = true;
        client.disconnect();
      },
    };
  }
}
