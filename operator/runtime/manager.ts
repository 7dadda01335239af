// Wires the runtime together for one operator process:
// - informers run on every replica (warm standby: a new leader needs no cold start, and
//   /readyz means "caches synced" on leader and standby alike);
// - controllers run only during a leadership term: each term gets fresh queues, and every
//   primary object is queued once at its start (level-triggered resync; steady-state passes
//   are reads, needsApply skips the writes);
// - when the term ends (lease lost, SIGTERM) the controllers' signal aborts and queues drain;
// - shutdown order: controllers drained, Lease released, informers stopped, server closed.

import type { KubeClient } from './client.js';
import type { ReconcileResult, Reconciler } from './controller.js';
import { Controller } from './controller.js';
import type { Informer } from './informer.js';
import { ownerKeyOf, waitForCacheSync } from './informer.js';
import { LeaderElector } from './leader.js';
import type { Logger } from './log.js';
import { nullLogger } from './log.js';
import type { OperatorMetrics } from './metrics.js';
import { createMetrics } from './metrics.js';
import type { RunningServer } from './server.js';
import { operatorReadiness, startServer } from './server.js';
import type { ShutdownStep } from './shutdown.js';
import { onTerminate, runShutdown } from './shutdown.js';
import type { KubeObject } from './types.js';
import { objectKey } from './types.js';
import type { RateLimiterOptions } from './workqueue.js';
import { WorkQueue } from './workqueue.js';

/**
 * A source of keys for a controller: every change of an object in `informer` queues the keys
 * `keys` maps it to. This is how a child routes to its Trench through its ownerReference, and
 * how an object that only names its Trench (a TrenchRestore's spec.trench, a data claim's
 * instance label) routes to it.
 */
export interface WatchSpec {
  readonly informer: Informer<KubeObject>;
  readonly keys: (obj: KubeObject) => readonly string[];
  /**
   * Queue the keys this much later, the earliest pending deadline winning: a workload's status
   * changes in bursts (observed, updated, ready, available), and one reconcile after the burst
   * writes one status instead of one per step. Default 0: at once.
   */
  readonly delayMs?: number;
}

export interface ControllerSpec {
  /** For logs and queue metrics, e.g. 'trench'. */
  readonly name: string;
  /** Informer of the reconciled kind: its events queue the object's own key, and every object
   * it holds is queued at the start of a leadership term. */
  readonly primary: Informer<KubeObject>;
  /** Further sources of keys. */
  readonly watches?: readonly WatchSpec[];
  readonly reconcile: Reconciler;
  /** Default 4. */
  readonly workers?: number;
  readonly rateLimits?: RateLimiterOptions;
  /**
   * Sources of keys outside the API server (a Redis events stream, say), started with each
   * leadership term and stopped by its signal. `delayMs` coalesces a burst into one reconcile.
   */
  readonly sources?: readonly KeySource[];
}

export type KeySource = (
  enqueue: (key: string, delayMs?: number) => void,
  signal: AbortSignal,
) => void;

/** Maps a child to its controller owner's key when that owner is of `owner`'s group and kind. */
export function byControllerOwner(owner: {
  readonly apiVersion: string;
  readonly kind: string;
}): (obj: KubeObject) => readonly string[] {
  return (obj) => {
    const key = ownerKeyOf(obj, owner);
    return key === undefined ? [] : [key];
  };
}

export interface ManagerOptions {
  readonly client: KubeClient;
  /**
   * Every informer to run: the shared cache's, one per kind (SharedInformers.all()). Each
   * controller's primary and watched informers must be among them.
   */
  readonly informers: readonly Informer<KubeObject>[];
  readonly controllers: readonly ControllerSpec[];
  /** false: lead from the start (one replica, local runs). */
  readonly leaderElection:
    | false
    | { readonly namespace: string; readonly name: string; readonly identity: string };
  /** HTTP port for /metrics, /healthz, /readyz; undefined: no server. */
  readonly port?: number;
  readonly metrics?: OperatorMetrics;
  readonly log?: Logger;
  /** How long a term's end waits for in-flight reconciles. Default 20 s. */
  readonly drainTimeoutMs?: number;
}

export class Manager {
  readonly metrics: OperatorMetrics;
  private readonly o: ManagerOptions;
  private readonly log: Logger;
  private elector: LeaderElector | undefined;
  private server: RunningServer | undefined;
  private term: { controllers: Controller[]; signal: AbortSignal } | undefined;
  private shuttingDown = false;
  private readonly queues = new Map<string, WorkQueue>();
  private soloTerm: AbortController | undefined;

  constructor(options: ManagerOptions) {
    this.o = options;
    this.log = options.log ?? nullLogger;
    this.metrics = options.metrics ?? createMetrics();
    for (const spec of options.controllers) {
      for (const inf of [spec.primary, ...(spec.watches ?? []).map((w) => w.informer)]) {
        if (!options.informers.includes(inf)) {
          throw new Error(
            `Controller ${spec.name} watches ${inf.kind}, whose informer the Manager does not run`,
          );
        }
      }
      // Handlers are registered once; they feed whichever queue the current term has.
      spec.primary.onChange((obj) => this.queues.get(spec.name)?.add(objectKey(obj)));
      for (const w of spec.watches ?? []) {
        const delay = w.delayMs ?? 0;
        w.informer.onChange((obj) => {
          const queue = this.queues.get(spec.name);
          if (!queue) return;
          for (const key of w.keys(obj)) {
            if (delay > 0) queue.addAfter(key, delay);
            else queue.add(key);
          }
        });
      }
    }
  }

  isLeader(): boolean {
    return this.term !== undefined;
  }

  /** Starts informers, the HTTP server and leader election (or the controllers directly). */
  async start(): Promise<void> {
    for (const i of this.o.informers) i.start();
    if (this.o.port !== undefined) {
      this.server = await startServer({
        port: this.o.port,
        registry: this.metrics.registry,
        readiness: operatorReadiness({
          informers: this.o.informers,
          shuttingDown: () => this.shuttingDown,
        }),
      });
      this.log.info('Started HTTP server', { port: this.server.port });
    }
    const le = this.o.leaderElection;
    if (le === false) {
      this.soloTerm = new AbortController();
      void this.startTerm(this.soloTerm.signal);
      return;
    }
    this.elector = new LeaderElector({
      client: this.o.client,
      namespace: le.namespace,
      name: le.name,
      identity: le.identity,
      log: this.log,
      onStartedLeading: (signal) => this.startTerm(signal),
      onStoppedLeading: () => this.endTerm(),
    });
    this.elector.start();
  }

  /** The shutdown steps in order; for onTerminate or a test. */
  shutdownSteps(): ShutdownStep[] {
    const drain = this.o.drainTimeoutMs ?? 20_000;
    return [
      {
        name: 'controllers and Lease',
        timeoutMs: drain + 10_000,
        run: async () => {
          this.shuttingDown = true;
          if (this.elector) await this.elector.stop({ release: true });
          else {
            this.soloTerm?.abort(new Error('Shutting down'));
            await this.endTerm();
          }
        },
      },
      { name: 'informers', run: () => Promise.all(this.o.informers.map((i) => i.stop())) },
      { name: 'HTTP server', run: () => this.server?.close() },
      { name: 'API connections', run: () => this.o.client.close() },
    ];
  }

  stop(): Promise<unknown> {
    return runShutdown(this.shutdownSteps(), this.log);
  }

  /** SIGTERM/SIGINT run the shutdown steps, then exit. */
  installSignalHandlers(): () => void {
    return onTerminate({ steps: this.shutdownSteps(), log: this.log });
  }

  private async startTerm(signal: AbortSignal): Promise<void> {
    this.metrics.leader.set(1);
    // Reconciling from a half-filled cache would prune children that are merely not listed yet.
    const synced = await waitForCacheSync(this.o.informers, { signal });
    if (!synced || signal.aborted) return;
    const controllers: Controller[] = [];
    for (const spec of this.o.controllers) {
      const queue = new WorkQueue({ ...spec.rateLimits, metrics: this.metrics.queueHooks });
      this.queues.set(spec.name, queue);
      const controller = new Controller({
        name: spec.name,
        queue,
        reconcile: spec.reconcile,
        ...(spec.workers ? { workers: spec.workers } : {}),
        log: this.log,
        metrics: this.metrics.controllerHooks,
        signal,
      });
      controllers.push(controller);
      controller.start();
      for (const obj of spec.primary.list()) queue.add(objectKey(obj));
      for (const source of spec.sources ?? []) {
        source((key, delayMs) => (delayMs ? queue.addAfter(key, delayMs) : queue.add(key)), signal);
      }
    }
    this.term = { controllers, signal };
    this.log.info('Started controllers', { controllers: this.o.controllers.map((c) => c.name) });
  }

  private async endTerm(): Promise<void> {
    this.metrics.leader.set(0);
    const term = this.term;
    this.term = undefined;
    this.queues.clear();
    if (!term) return;
    const drained = await Promise.all(
      term.controllers.map((c) => c.stop(this.o.drainTimeoutMs ?? 20_000)),
    );
    this.log.info('Stopped controllers', { drained: drained.every(Boolean) });
  }
}

export type { ReconcileResult, Reconciler };
