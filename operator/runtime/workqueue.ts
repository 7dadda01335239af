// A keyed, de-duplicating work queue in the manner of client-go's workqueue:
// - a key is queued at most once (dirty set) and processed by at most one worker at a time
//   (processing set); a key added while it is being processed is re-queued when done(key);
// - addAfter(key, ms) for requeueAfter; the earliest pending deadline wins;
// - addRateLimited(key) for failures: the larger of a per-key exponential backoff and an
//   overall token bucket, as client-go's default controller rate limiter does. Plain add()
//   is not throttled: informer events must reach the queue at once.

import type { Cancel, Clock } from './clock.js';
import { backoffDelay, realClock } from './clock.js';

export interface QueueMetricsHooks {
  /** Keys ready to be handed out (not counting delayed or in-flight keys). */
  depth?(depth: number): void;
  /** From the add that made a key ready to the get that handed it out. */
  waitMs?(ms: number): void;
  /** From get to done. */
  workMs?(ms: number): void;
  /** A failure re-queued with backoff. */
  retry?(): void;
}

export interface RateLimiterOptions {
  /** First retry delay. Default 5 ms. */
  readonly baseDelayMs?: number;
  /** Retry delays double up to this. Default 1000 s. */
  readonly maxDelayMs?: number;
  /** Overall retries per second. Default 10. */
  readonly qps?: number;
  /** Token bucket size. Default 100. */
  readonly burst?: number;
}

export interface WorkQueueOptions extends RateLimiterOptions {
  readonly clock?: Clock;
  readonly metrics?: QueueMetricsHooks;
}

/**
 * Token bucket that hands out reservations: a caller that finds the bucket empty is told how
 * long to wait for its token, and that token is spoken for (tokens may go negative), so a burst
 * of failures is spread out at `qps` instead of retrying in lockstep.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    now: number,
  ) {
    if (!(qps > 0) || !(burst >= 1)) {
      throw new Error(`TokenBucket needs qps > 0 and burst >= 1, got qps=${qps} burst=${burst}`);
    }
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token; returns the delay in ms until it is actually available (0 = now). */
  reserve(now: number): number {
    const elapsed = Math.max(0, now - this.last);
    this.last = Math.max(this.last, now);
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.qps) / 1000);
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.qps);
  }
}

/** Per-key exponential backoff: baseDelay * 2^(failures-1), capped; forget() resets. */
export class ItemBackoff {
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
  ) {}

  /** Counts a failure of `key` and returns the delay before its retry. */
  next(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    return backoffDelay(n, this.baseMs, this.maxMs);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly metrics: QueueMetricsHooks;
  private readonly backoff: ItemBackoff;
  private readonly bucket: TokenBucket;

  private queue: string[] = [];
  private head = 0; // index of the next key in `queue`; avoids O(n) shift()
  private readonly dirty = new Set<string>();
  private readonly processing = new Map<string, number>(); // key -> start time
  private readonly readyAt = new Map<string, number>(); // key -> time it became ready
  private readonly delayed = new Map<string, { at: number; cancel: Cancel }>();
  private waiters: Array<(key: string | undefined) => void> = [];
  private drainWaiters: Array<() => void> = [];
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? realClock;
    this.metrics = options.metrics ?? {};
    this.backoff = new ItemBackoff(options.baseDelayMs ?? 5, options.maxDelayMs ?? 1_000_000);
    this.bucket = new TokenBucket(options.qps ?? 10, options.burst ?? 100, this.clock.now());
  }

  /** Queues `key` unless it is already queued; ignored after shutdown. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.readyAt.set(key, this.clock.now());
    if (this.processing.has(key)) return; // done() re-queues it
    this.push(key);
  }

  /** Queues `key` after `ms`; if the key already waits for an earlier deadline, that one stays. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const pending = this.delayed.get(key);
    if (pending) {
      if (pending.at <= at) return;
      pending.cancel();
    }
    const cancel = this.clock.setTimer(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, cancel });
  }

  /** Re-queues a failed key after max(per-key backoff, overall token-bucket delay). */
  addRateLimited(key: string): void {
    if (this.shuttingDown) return;
    const delay = Math.max(this.backoff.next(key), this.bucket.reserve(this.clock.now()));
    this.metrics.retry?.();
    this.addAfter(key, delay);
  }

  /** Ends backoff tracking of `key` (call after a successful reconcile). */
  forget(key: string): void {
    this.backoff.forget(key);
  }

  numRequeues(key: string): number {
    return this.backoff.retries(key);
  }

  /** Waits for a key; undefined once the queue shuts down. The caller must call done(key). */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.pop();
    if (key !== undefined) return Promise.resolve(this.start(key));
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` finished; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    const started = this.processing.get(key);
    if (started === undefined) return;
    this.processing.delete(key);
    this.metrics.workMs?.(this.clock.now() - started);
    if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
    if (this.processing.size === 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Stops handing out keys: get() returns undefined from now on and pending delays are dropped
   * (after a restart or a new leader, a full resync re-queues everything anyway).
   * Keys in flight finish normally; await drain() for them.
   */
  shutdown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const d of this.delayed.values()) d.cancel();
    this.delayed.clear();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(undefined);
  }

  /** Resolves true when nothing is in flight, or false if `timeoutMs` passes first. */
  drain(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    if (this.processing.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let cancel: Cancel | undefined;
      const onDrained = () => {
        cancel?.();
        resolve(true);
      };
      this.drainWaiters.push(onDrained);
      if (Number.isFinite(timeoutMs)) {
        cancel = this.clock.setTimer(() => {
          this.drainWaiters = this.drainWaiters.filter((w) => w !== onDrained);
          resolve(false);
        }, timeoutMs);
      }
    });
  }

  /** shutdown() then drain(timeoutMs). */
  shutdownWithDrain(timeoutMs?: number): Promise<boolean> {
    this.shutdown();
    return this.drain(timeoutMs);
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Keys ready to be handed out. */
  len(): number {
    return this.queue.length - this.head;
  }

  inFlight(): string[] {
    return [...this.processing.keys()];
  }

  /** Keys waiting for an addAfter deadline. */
  delayedCount(): number {
    return this.delayed.size;
  }

  private push(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter(this.start(key));
      return;
    }
    this.queue.push(key);
    this.metrics.depth?.(this.len());
  }

  private pop(): string | undefined {
    if (this.head >= this.queue.length) return undefined;
    const key = this.queue[this.head++];
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.metrics.depth?.(this.len());
    return key;
  }

  private start(key: string): string {
    const now = this.clock.now();
    this.dirty.delete(key);
    this.processing.set(key, now);
    this.metrics.waitMs?.(now - (this.readyAt.get(key) ?? now));
    this.readyAt.delete(key);
    return key;
  }
}
