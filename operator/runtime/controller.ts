// Runs N workers that pull keys from a WorkQueue and reconcile them.
// Success: forget the key's backoff, then requeueAfter if asked. Failure: rate-limited requeue.
// The signal given to reconcile aborts when the controller stops (leadership lost, SIGTERM):
// reconcile steps pass it to every write so a deposed leader stops writing at once.

import { isNamespaceTerminating } from './client.js';
import type { Clock } from './clock.js';
import { realClock } from './clock.js';
import type { Logger } from './log.js';
import { nullLogger } from './log.js';
import type { WorkQueue } from './workqueue.js';

export interface ReconcileResult {
  /** Reconcile this key again after this long (a pause end, a poll, a schedule slot). */
  readonly requeueAfterMs?: number;
}

export interface ReconcileContext {
  /** Aborted when the controller stops; pass it to writes. */
  readonly signal: AbortSignal;
}

export type Reconciler = (
  key: string,
  ctx: ReconcileContext,
) => Promise<ReconcileResult | undefined>;

export type ReconcileOutcome = 'success' | 'requeue' | 'error';

export interface ControllerMetricsHooks {
  reconciled?(outcome: ReconcileOutcome, durationMs: number): void;
}

export interface ControllerOptions {
  /** For logs, e.g. 'trench'. */
  readonly name: string;
  readonly queue: WorkQueue;
  readonly reconcile: Reconciler;
  /** Concurrent reconciles (of distinct keys). Default 4. */
  readonly workers?: number;
  readonly clock?: Clock;
  readonly log?: Logger;
  readonly metrics?: ControllerMetricsHooks;
  /**
   * Stops the controller when aborted, synchronously: the leadership term's signal, so that
   * losing the Lease aborts in-flight writes without waiting for anything.
   */
  readonly signal?: AbortSignal;
}

export class Controller {
  readonly queue: WorkQueue;
  private readonly opts: ControllerOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private workers: Promise<void>[] = [];

  constructor(options: ControllerOptions) {
    const workers = options.workers ?? 4;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new Error(`Controller ${options.name} needs workers >= 1, got ${workers}`);
    }
    this.opts = options;
    this.queue = options.queue;
    this.clock = options.clock ?? realClock;
    this.log = options.log ?? nullLogger;
    const external = options.signal;
    if (external) {
      const onAbort = () => {
        this.queue.shutdown();
        this.abort.abort(external.reason);
      };
      if (external.aborted) onAbort();
      else external.addEventListener('abort', onAbort, { once: true });
    }
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Starts the workers; returns at once. */
  start(): void {
    if (this.workers.length > 0) return;
    const n = this.opts.workers ?? 4;
    for (let i = 0; i < n; i++) this.workers.push(this.work());
  }

  /**
   * Stops taking keys, aborts the signal given to in-flight reconciles and waits up to
   * `timeoutMs` for them to return. Resolves true if all finished in time.
   */
  async stop(timeoutMs = 30_000): Promise<boolean> {
    this.queue.shutdown();
    this.abort.abort(new Error(`Controller ${this.opts.name} stopped`));
    const drained = await this.queue.drain(timeoutMs);
    if (drained) await Promise.all(this.workers);
    return drained;
  }

  /** Reconciles one key (exported for tests and for callers with their own loop). */
  async processOne(key: string): Promise<ReconcileOutcome> {
    const started = this.clock.now();
    let outcome: ReconcileOutcome;
    try {
      const result = await this.opts.reconcile(key, { signal: this.abort.signal });
      this.queue.forget(key);
      const after = result?.requeueAfterMs;
      if (after !== undefined && after >= 0) {
        this.queue.addAfter(key, after);
        outcome = 'requeue';
      } else {
        outcome = 'success';
      }
    } catch (error) {
      outcome = 'error';
      if (!this.abort.signal.aborted) {
        this.queue.addRateLimited(key);
        const fields = { key, retries: this.queue.numRequeues(key) };
        // The API server refuses every create in a namespace being deleted (403); what the
        // pass wanted goes with the namespace, so this is no failure to warn of. Retried with
        // backoff all the same: a finalizer of ours may wait for the namespace's claims to go.
        if (isNamespaceTerminating(error)) {
          this.log.debug(
            `Deferred reconcile ${this.opts.name}: its namespace is being deleted`,
            fields,
          );
        } else {
          this.log.warn(`Failed to reconcile ${this.opts.name}`, { ...fields, error });
        }
      }
    }
    this.opts.metrics?.reconciled?.(outcome, this.clock.now() - started);
    return outcome;
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.processOne(key);
      } finally {
        this.queue.done(key);
      }
    }
  }
}
