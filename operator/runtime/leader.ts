// Leader election on a coordination.k8s.io/v1 Lease. client-node has no leader election, so
// this is our own, following client-go's leaderelection semantics:
// - a lease held by someone else counts as expired only after leaseDuration has passed on OUR
//   clock since we last saw its record change (clocks of different nodes are never compared);
// - the leader renews every retryPeriod and stops leading at once when renewDeadline passes
//   without a successful renew (renewDeadline < leaseDuration, so it stops before anybody else
//   may take over);
// - every write is an update carrying the resourceVersion we read (optimistic concurrency),
//   so two candidates can never both win one round;
// - on graceful shutdown the leader releases the lease (empty holder, 1 s duration) and the
//   next candidate takes over on its next try instead of waiting out the lease.

import type { KubeClient } from './client.js';
import { isConflict } from './client.js';
import type { Cancel, Clock } from './clock.js';
import { realClock, sleep } from './clock.js';
import type { Logger } from './log.js';
import { nullLogger } from './log.js';
import type { KubeObject } from './types.js';
import { formatMicroTime } from './types.js';

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export type LeaseDecision =
  | { readonly action: 'create'; readonly spec: LeaseSpec }
  | { readonly action: 'acquire'; readonly spec: LeaseSpec }
  | { readonly action: 'renew'; readonly spec: LeaseSpec }
  | { readonly action: 'wait'; readonly holder: string; readonly expiresAt: number };

export interface LeaseDecisionInput {
  /** The Lease's spec, or undefined when no Lease object exists. */
  readonly spec: LeaseSpec | undefined;
  readonly identity: string;
  readonly now: number;
  /** When we (on our clock) first saw this exact lease record. */
  readonly observedAt: number;
  /** What we write as leaseDurationSeconds. */
  readonly leaseDurationSeconds: number;
}

/** What to do with the lease now: pure, time passed in. */
export function decideLease(input: LeaseDecisionInput): LeaseDecision {
  const { spec, identity, now, observedAt, leaseDurationSeconds } = input;
  const stamp = formatMicroTime(now);
  if (spec === undefined) {
    return {
      action: 'create',
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: stamp,
        renewTime: stamp,
        leaseTransitions: 0,
      },
    };
  }
  const holder = spec.holderIdentity ?? '';
  if (holder === identity) {
    return {
      action: 'renew',
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: spec.acquireTime ?? stamp,
        renewTime: stamp,
        leaseTransitions: spec.leaseTransitions ?? 0,
      },
    };
  }
  const duration = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
  const expiresAt = observedAt + duration;
  if (holder !== '' && now < expiresAt) return { action: 'wait', holder, expiresAt };
  return {
    action: 'acquire',
    spec: {
      holderIdentity: identity,
      leaseDurationSeconds,
      acquireTime: stamp,
      renewTime: stamp,
      leaseTransitions: (spec.leaseTransitions ?? 0) + 1,
    },
  };
}

/** The spec that hands the lease back: no holder, expiring in a second. */
export function releasedSpec(spec: LeaseSpec, now: number): LeaseSpec {
  const stamp = formatMicroTime(now);
  return {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTime: stamp,
    renewTime: stamp,
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

export interface LeaderElectorOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  /** Lease name, e.g. 'trench-operator'. */
  readonly name: string;
  /** Unique per process: the pod name plus a random suffix. */
  readonly identity: string;
  /** Default 15 s. */
  readonly leaseDurationMs?: number;
  /** Default 10 s; must be below leaseDuration. */
  readonly renewDeadlineMs?: number;
  /** Default 2 s. */
  readonly retryPeriodMs?: number;
  /** Called when we become leader; `signal` aborts when leadership ends. */
  readonly onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called when leadership ends (lost or stopped); awaited before any new term starts. */
  readonly onStoppedLeading: () => void | Promise<void>;
  /** Called when the observed holder changes (including to ourselves). */
  readonly onNewLeader?: (identity: string) => void;
  readonly clock?: Clock;
  readonly log?: Logger;
}

export class LeaderElector {
  private readonly o: Required<
    Pick<LeaderElectorOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>
  > &
    LeaderElectorOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private leading = false;
  private term: AbortController | undefined;
  private watchdog: Cancel | undefined;
  private observedJson: string | undefined;
  private observedAt = 0;
  private observedHolder: string | undefined;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  // Leadership callbacks run one after another: a new term never starts before the previous
  // onStoppedLeading has finished.
  private callbacks: Promise<void> = Promise.resolve();

  constructor(options: LeaderElectorOptions) {
    const o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      ...options,
    };
    if (!(o.renewDeadlineMs < o.leaseDurationMs) || !(o.retryPeriodMs < o.renewDeadlineMs)) {
      throw new Error(
        `Leader election needs retryPeriod < renewDeadline < leaseDuration, got ${o.retryPeriodMs} ms, ${o.renewDeadlineMs} ms, ${o.leaseDurationMs} ms`,
      );
    }
    this.o = o;
    this.clock = options.clock ?? realClock;
    this.log = (options.log ?? nullLogger).child({
      lease: `${options.namespace}/${options.name}`,
      identity: options.identity,
    });
  }

  isLeader(): boolean {
    return this.leading;
  }

  get identity(): string {
    return this.o.identity;
  }

  /** Starts campaigning in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Stops campaigning. A leader ends its term (onStoppedLeading, awaited) and then, if
   * `release`, hands the lease back. release: false is how tests simulate a crash.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.stopping.abort();
    await this.loop;
    this.lose('Stopped');
    await this.callbacks;
    // Also when not leading: a write that won the lease may have landed while stopping.
    // release() checks that we are the holder before touching the lease.
    if (options.release ?? true) await this.release();
  }

  /** Resolves after every leadership callback queued so far has run. */
  settled(): Promise<void> {
    return this.callbacks;
  }

  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      try {
        await this.tryAcquireOrRenew();
      } catch (error) {
        if (!this.stopping.signal.aborted) {
          if (isConflict(error)) this.log.debug('Lost Lease update race', {});
          else this.log.warn('Failed to update Lease', { error });
        }
      }
      await sleep(this.clock, this.o.retryPeriodMs, this.stopping.signal);
    }
  }

  private requestOptions(): { signal: AbortSignal } {
    // A hung request must not outlive the renew deadline; the watchdog covers the rest.
    return {
      signal: AbortSignal.any([
        this.stopping.signal,
        AbortSignal.timeout(this.o.renewDeadlineMs / 2),
      ]),
    };
  }

  private leaseRef() {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      namespace: this.o.namespace,
      name: this.o.name,
    };
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = this.clock.now();
    const lease = await this.o.client.get<Lease>(this.leaseRef(), this.requestOptions().signal);
    if (this.stopping.signal.aborted) return;
    const spec = lease ? (lease.spec ?? {}) : undefined;
    const json = JSON.stringify(spec ?? null);
    if (json !== this.observedJson) {
      this.observedJson = json;
      this.observedAt = now;
    }
    this.noteHolder(spec?.holderIdentity ?? '');
    const decision = decideLease({
      spec,
      identity: this.o.identity,
      now,
      observedAt: this.observedAt,
      leaseDurationSeconds: Math.round(this.o.leaseDurationMs / 1000),
    });
    if (decision.action === 'wait') {
      if (this.leading) this.lose(`Lease taken by ${decision.holder}`);
      return;
    }
    let written: Lease;
    if (decision.action === 'create') {
      written = await this.o.client.create<Lease>(
        {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: decision.spec,
        },
        this.requestOptions(),
      );
    } else {
      // lease is defined here: only a missing Lease leads to 'create'.
      written = await this.o.client.replace<Lease>(
        { ...(lease as Lease), spec: decision.spec },
        this.requestOptions(),
      );
    }
    // Stopped while the write was in flight: stop() releases if we ended up holding it.
    this.observedJson = JSON.stringify(written.spec ?? null);
    this.observedAt = now;
    this.noteHolder(this.o.identity);
    this.renewed(now);
  }

  private noteHolder(holder: string): void {
    if (holder === this.observedHolder) return;
    this.observedHolder = holder;
    if (holder) this.log.info('Observed new Lease holder', { holder });
    this.o.onNewLeader?.(holder);
  }

  private renewed(at: number): void {
    this.watchdog?.();
    // Measured from when the renew was SENT: others may count the lease from then on.
    const remaining = at + this.o.renewDeadlineMs - this.clock.now();
    this.watchdog = this.clock.setTimer(() => this.lose('Renew deadline passed'), remaining);
    if (this.leading || this.stopping.signal.aborted) return;
    this.leading = true;
    const term = new AbortController();
    this.term = term;
    this.log.info('Acquired Lease', {});
    this.callbacks = this.callbacks.then(async () => {
      if (term.signal.aborted) return;
      try {
        await this.o.onStartedLeading(term.signal);
      } catch (error) {
        this.log.error('Failed to start leading', { error });
      }
    });
  }

  private lose(reason: string): void {
    this.watchdog?.();
    this.watchdog = undefined;
    if (!this.leading) return;
    this.leading = false;
    this.term?.abort(new Error(reason));
    this.term = undefined;
    this.log.info('Lost Lease', { reason });
    this.callbacks = this.callbacks.then(async () => {
      try {
        await this.o.onStoppedLeading();
      } catch (error) {
        this.log.error('Failed to stop leading', { error });
      }
    });
  }

  private async release(): Promise<void> {
    try {
      const signal = AbortSignal.timeout(this.o.renewDeadlineMs / 2);
      const lease = await this.o.client.get<Lease>(this.leaseRef(), signal);
      if (!lease?.spec || lease.spec.holderIdentity !== this.o.identity) return;
      await this.o.client.replace<Lease>(
        { ...lease, spec: releasedSpec(lease.spec, this.clock.now()) },
        { signal },
      );
      this.log.info('Released Lease', {});
    } catch (error) {
      this.log.warn('Failed to release Lease', { error });
    }
  }
}
