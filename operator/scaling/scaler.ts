// The scaling loop: a controller of its own on the shared informers, apart from the render.
// A check of one Trench counts its queues (one pipeline; concurrent checks on one server share
// a pipeline through ioredis's auto-pipelining), decides, writes the worker Deployment's
// replicas only when they change (merge patch under the scaler's field manager) and status only
// when the part it owns changed. It is woken by BullMQ's events streams (wake.ts) and comes
// back every pollIntervalSeconds as the safety net; it never renders the Trench.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Trench } from '../../charts/api/trench.js';
import { restoreHolding, type TrenchRestoreObject } from '../backup/restore.js';
import type { KubeClient } from '../runtime/client.js';
import type { ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import type { EventRecorder } from '../runtime/events.js';
import type { Informer } from '../runtime/informer.js';
import type { Logger } from '../runtime/log.js';
import { type Condition, findCondition, jsonEqual, setCondition } from '../runtime/status.js';
import { type KubeObject, refOf, splitKey } from '../runtime/types.js';
import { SCALER_FIELD_MANAGER, TRENCH } from '../trench/kinds.js';
import { backlogOf, countQueues, type QueueCounts } from './backlog.js';
import { RedisConnections } from './connections.js';
import { decideReplicas, type Recommendation } from './decision.js';
import { type LookupLimiter, redisLookups } from './lookup.js';
import {
  type ScalingVerdict,
  scalerWorkerFields,
  verdictOf,
  type WorkerStatus,
  workerFields,
} from './status.js';
import { redisUrlOf, type ScalingTarget, scalingTargetOf } from './target.js';
import { eventsStream, QueueWake } from './wake.js';

export const SCALING_CONDITION = 'ScalingActive';
const EXTERNAL_SECRET_TTL_MS = 60_000;

export interface ScalingMetrics {
  readonly backlog: Gauge<'namespace' | 'trench' | 'queue'>;
  readonly active: Gauge<'namespace' | 'trench' | 'queue'>;
  readonly desired: Gauge<'namespace' | 'trench'>;
  readonly checkSeconds: Histogram<'result'>;
  readonly lookups: Counter<'result'>;
}

export function createScalingMetrics(
  registry: Registry,
  limiter: LookupLimiter = redisLookups,
): ScalingMetrics {
  return {
    // Read from the limiter at scrape time: refused lookups say the resolver cannot keep up.
    lookups: new Counter({
      name: 'trench_redis_dns_lookups_total',
      help: 'DNS lookups of Redis server names: started, or refused after waiting 2 s for one of the 4 slots.',
      labelNames: ['result'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ result: 'started' }, limiter.started);
        this.inc({ result: 'refused' }, limiter.refused);
      },
    }),
    backlog: new Gauge({
      name: 'trench_worker_backlog',
      help: 'Jobs waiting in a queue of a Trench: wait + prioritized + paused + delayed jobs due.',
      labelNames: ['namespace', 'trench', 'queue'],
      registers: [registry],
    }),
    active: new Gauge({
      name: 'trench_worker_active_jobs',
      help: 'Jobs running now in a queue of a Trench.',
      labelNames: ['namespace', 'trench', 'queue'],
      registers: [registry],
    }),
    desired: new Gauge({
      name: 'trench_worker_desired_replicas',
      help: 'Worker replicas the scaler decided for a Trench.',
      labelNames: ['namespace', 'trench'],
      registers: [registry],
    }),
    checkSeconds: new Histogram({
      name: 'trench_scaling_check_seconds',
      help: 'Time one scaling check took: count, decide and any write.',
      labelNames: ['result'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

export interface ScalerDeps {
  readonly client: KubeClient;
  readonly trenches: Informer<Trench & KubeObject>;
  /** The operator's owned Deployments and Secrets (the generated Redis password among them). */
  readonly deployments: Informer<KubeObject>;
  readonly secrets: Informer<KubeObject>;
  /** TrenchRestores: while one holds the Trench, the scaler leaves the workers alone. */
  readonly restores?: Informer<TrenchRestoreObject>;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly metrics: ScalingMetrics;
  readonly now?: () => number;
}

interface TrenchState {
  history: readonly Recommendation[];
  /** What this process last reported: the cache lags behind our own writes, and an event per
   * transition must not become one per check until it catches up. */
  reported?: { status: string; reason: string };
  queues: readonly string[];
  /** The URL of an external Redis as last read, and when. */
  external?: { url: string; readAt: number };
}

type Deployment = KubeObject & { spec?: { replicas?: number } };
type Secret = KubeObject & { data?: Record<string, string> };

export class Scaler {
  readonly connections = new RedisConnections();
  readonly wake = new QueueWake();
  private readonly state = new Map<string, TrenchState>();

  constructor(private readonly deps: ScalerDeps) {}

  /** One check of the Trench `key`; the controller calls it for every event and requeue. */
  async check(key: string, ctx: ReconcileContext): Promise<ReconcileResult | undefined> {
    const started = performance.now();
    const { namespace, name } = splitKey(key);
    const trench = this.deps.trenches.get(name, namespace);
    const target =
      trench && !trench.metadata.deletionTimestamp ? scalingTargetOf(trench) : undefined;
    if (!trench || !target) {
      this.forget(key);
      return undefined;
    }
    const now = (this.deps.now ?? Date.now)();
    const state = this.stateOf(key, target);
    const deployment = this.deps.deployments.get(`${name}-worker`, namespace) as
      | Deployment
      | undefined;
    // The Trench controller creates it; its creation is an event that brings us back.
    if (!deployment) return { requeueAfterMs: target.pollIntervalMs };
    // A restore stopped the workers and gives them back when it is done; the restore's own
    // phase change brings us back (setup.ts watches TrenchRestores).
    if (this.deps.restores && restoreHolding(this.deps.restores.list(), namespace, name)) {
      return undefined;
    }

    const url = await this.redisUrl(target, state, now, ctx.signal);
    if (typeof url !== 'string') {
      await this.report(trench, key, state, url, undefined, ctx.signal);
      this.observe('error', started);
      return { requeueAfterMs: target.pollIntervalMs };
    }
    const redis = this.connections.acquire(url, key);
    this.wake.set(
      key,
      url,
      target.queues.map((q) => eventsStream(target.prefix, q)),
    );
    let counts: QueueCounts[];
    try {
      counts = await countQueues(
        redis,
        target.queues.map((queue) => ({ prefix: target.prefix, queue })),
        now,
      );
    } catch (error) {
      // A password changed in the Secret is read again at the next check.
      state.external = undefined;
      // Hold the replicas where they are: an outage must never scale the workers to min.
      const where = new URL(url).host;
      await this.report(
        trench,
        key,
        state,
        {
          active: false,
          reason: 'RedisUnreachable',
          message: `Redis at ${where}: ${(error as Error).message}; replicas held at ${deployment.spec?.replicas ?? 0}`,
        },
        undefined,
        ctx.signal,
      );
      this.observe('error', started);
      return { requeueAfterMs: target.pollIntervalMs };
    }
    const current = deployment.spec?.replicas ?? 0;
    const backlog = counts.reduce((n, c) => n + backlogOf(c), 0);
    const active = counts.reduce((n, c) => n + c.active, 0);
    const decision = decideReplicas(
      {
        backlog,
        active,
        concurrency: target.concurrency,
        targetBacklogPerReplica: target.targetBacklogPerReplica,
        minReplicas: target.minReplicas,
        maxReplicas: target.maxReplicas,
        scaleDownStabilizationSeconds: target.scaleDownStabilizationSeconds,
        currentReplicas: current,
      },
      state.history,
      now,
    );
    state.history = decision.history;
    let scaledAt: number | undefined;
    if (decision.desiredReplicas !== current) {
      await this.deps.client.mergePatch(
        refOf(deployment),
        { spec: { replicas: decision.desiredReplicas } },
        { signal: ctx.signal, fieldManager: SCALER_FIELD_MANAGER },
      );
      scaledAt = now;
      this.deps.log.info('Scaled worker Deployment', {
        trench: key,
        from: current,
        to: decision.desiredReplicas,
        backlog,
        active,
        reason: decision.reason,
      });
      void this.deps.events.normal(
        trench,
        decision.reason,
        'Scale',
        `Scaled workers from ${current} to ${decision.desiredReplicas}: ${backlog} jobs waiting, ${active} running`,
        ctx.signal,
      );
    }
    for (const c of counts) {
      const labels = { namespace, trench: name, queue: c.queue };
      this.deps.metrics.backlog.set(labels, backlogOf(c));
      this.deps.metrics.active.set(labels, c.active);
    }
    this.deps.metrics.desired.set({ namespace, trench: name }, decision.desiredReplicas);
    await this.report(
      trench,
      key,
      state,
      verdictOf(counts),
      workerFields({
        previous: trench.status?.worker,
        counts,
        decision,
        ...(scaledAt !== undefined ? { scaledAt } : {}),
      }),
      ctx.signal,
    );
    this.observe('success', started);
    // Back when the hold ends (the window's highest entry expires), or at the next poll.
    const holdMs =
      decision.holdUntil !== undefined ? decision.holdUntil - now + 10 : Number.POSITIVE_INFINITY;
    return { requeueAfterMs: Math.max(10, Math.min(target.pollIntervalMs, holdMs)) };
  }

  /** Ends the Trench's loop: its connection reference, its wake-up and its metrics. */
  forget(key: string): void {
    const state = this.state.get(key);
    this.state.delete(key);
    this.connections.release(key);
    this.wake.delete(key);
    if (!state) return;
    this.removeQueueSeries(key, state.queues);
    const { namespace, name } = splitKey(key);
    this.deps.metrics.desired.remove({ namespace, trench: name });
  }

  private stateOf(key: string, target: ScalingTarget): TrenchState {
    let state = this.state.get(key);
    if (!state) {
      // A restarted operator resumes the window its predecessor wrote to status.
      state = { history: target.recommendations, queues: target.queues };
      this.state.set(key, state);
    }
    this.removeQueueSeries(
      key,
      state.queues.filter((q) => !target.queues.includes(q)),
    );
    state.queues = target.queues;
    return state;
  }

  private removeQueueSeries(key: string, queues: readonly string[]): void {
    const { namespace, name } = splitKey(key);
    for (const queue of queues) {
      this.deps.metrics.backlog.remove({ namespace, trench: name, queue });
      this.deps.metrics.active.remove({ namespace, trench: name, queue });
    }
  }

  private async redisUrl(
    target: ScalingTarget,
    state: TrenchState,
    now: number,
    signal: AbortSignal,
  ): Promise<string | ScalingVerdict> {
    const source = target.redis;
    const missing = (why: string): ScalingVerdict => ({
      active: false,
      reason: 'RedisSecretMissing',
      message: `Secret ${target.namespace}/${source.secret}: ${why}`,
    });
    let secret: Secret | undefined;
    if (source.kind === 'managed') {
      secret = this.deps.secrets.get(source.secret, target.namespace) as Secret | undefined;
    } else {
      // A user's Secret is not in the operator's (label-selected) cache: read it, at most once
      // a minute per Trench (a changed URL is picked up within that, at once after a failed
      // count), so checks every few seconds cost the API server no reads.
      const cached = state.external;
      if (cached && now - cached.readAt < EXTERNAL_SECRET_TTL_MS) return cached.url;
      secret = await this.deps.client.get<Secret>(
        { apiVersion: 'v1', kind: 'Secret', name: source.secret, namespace: target.namespace },
        signal,
      );
    }
    if (!secret) return missing('not found');
    const raw = secret.data?.[source.key];
    if (raw === undefined) return missing(`has no key ${source.key}`);
    const url = redisUrlOf(source, Buffer.from(raw, 'base64').toString('utf8'));
    if (!/^rediss?:\/\//.test(url))
      return missing(`key ${source.key} is not a redis:// or rediss:// URL`);
    if (source.kind === 'external') state.external = { url, readAt: now };
    return url;
  }

  /**
   * Writes the scaler's part of the status when it differs from the live one: server-side
   * apply to the status subresource under the scaler's field manager, so it touches only the
   * ScalingActive entry of the conditions (a map list keyed by type) and status.worker's
   * counts, never the Trench controller's conditions, whatever either cache held. One event
   * per transition of the condition.
   */
  private async report(
    trench: Trench & KubeObject,
    key: string,
    state: TrenchState,
    verdict: ScalingVerdict,
    worker: WorkerStatus | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const now = (this.deps.now ?? Date.now)();
    const before = findCondition(
      trench.status?.conditions as Condition[] | undefined,
      SCALING_CONDITION,
    );
    const status = verdict.active ? 'True' : 'False';
    const [condition] = setCondition(
      before ? [before] : [],
      {
        type: SCALING_CONDITION,
        status,
        reason: verdict.reason,
        // The counts change with every job and an error's text with every try: the message
        // follows the reason, so a steady backlog or a long outage costs no status write.
        message:
          before?.reason === verdict.reason &&
          (verdict.reason === 'BacklogCounted' || verdict.reason === 'RedisUnreachable')
            ? before.message
            : verdict.message,
      },
      now,
    );
    const owned = worker ? scalerWorkerFields(worker) : undefined;
    const live = trench.status?.worker;
    const unchanged =
      jsonEqual(before, condition) &&
      (owned === undefined || jsonEqual(owned, scalerWorkerFields({ ...live })));
    if (!unchanged) {
      await this.deps.client.apply(
        {
          apiVersion: TRENCH.apiVersion,
          kind: TRENCH.kind,
          metadata: { name: trench.metadata.name, namespace: trench.metadata.namespace },
          status: { conditions: [condition], ...(owned ? { worker: owned } : {}) },
        } as KubeObject,
        { subresource: 'status', fieldManager: SCALER_FIELD_MANAGER, force: true, signal },
      );
    }
    const last =
      state.reported ?? (before ? { status: before.status, reason: before.reason } : undefined);
    state.reported = { status, reason: verdict.reason };
    if (last?.status !== status || (status === 'False' && last?.reason !== verdict.reason)) {
      if (status === 'False') {
        this.deps.log.warn('Stopped scaling on queue backlog', {
          trench: key,
          reason: verdict.reason,
          message: verdict.message,
        });
        void this.deps.events.warning(trench, verdict.reason, 'Scale', verdict.message, signal);
      } else if (last) {
        this.deps.log.info('Resumed scaling on queue backlog', { trench: key });
        void this.deps.events.normal(trench, 'ScalingResumed', 'Scale', verdict.message, signal);
      }
    }
  }

  private observe(result: 'success' | 'error', started: number): void {
    this.deps.metrics.checkSeconds.observe({ result }, (performance.now() - started) / 1000);
  }
}
