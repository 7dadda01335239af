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
import type { Handler, Informer } from './informer.js';
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

export interface ControllerSpec {
  /** For logs, e.g. 'trench'. */
  readonly name: string;
  /** Informer of the reconciled kind: its events queue the object's own key. */
  readonly primary: Informer<KubeObject>;
  /** Informers of owned kinds: their events queue the controller owner's key. */
  readonly owned?: readonly Informer<KubeObject>[];
  /** Owner kind for `owned` (group and kind are compared). Default: the primary's. */
  readonly owner?: { readonly apiVersion: string; readonly kind: string };
  readonly reconcile: Reconciler;
  /**
   * Owned-object events queue the owner this much later, the earliest pending deadline winning:
   * a workload's status changes in bursts (observed, updated, ready, available), and one
   * reconcile after the burst writes one status instead of one per step. Default 0: at once.
   */
  readonly ownedEventDelayMs?: number;
  /** Default 4. */
  readonly workers?: number;
  readonly rateLimits?: RateLimiterOptions;
}

export interface ManagerOptions {
  readonly client: KubeClient;
  /** Every informer to run (primary and owned ones, plus any read-only caches). */
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
      // Handlers are registered once; they feed whichever queue the current term has.
      const enqueue = (key: string) => this.queues.get(spec.name)?.add(key);
      const own: Handler<KubeObject> = (obj) => enqueue(objectKey(obj));
      spec.primary.onChange(own);
      const owner = spec.owner ?? { apiVersion: spec.primary.apiVersion, kind: spec.primary.kind };
      const delay = spec.ownedEventDelayMs ?? 0;
      for (const inf of spec.owned ?? []) {
        inf.onChange((obj) => {
          const key = ownerKeyOf(obj, owner);
          if (key !== undefined) this.queues.get(spec.name)?.addAfter(key, delay);
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
