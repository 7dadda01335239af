// events.k8s.io/v1 Events on an object, for notable transitions (never per reconcile).
// Identical events (same object, type, reason, action, note) within `dedupeWindowMs` are
// dropped here rather than sent as series updates: an event is a write, and a reconcile loop
// that keeps failing the same way must not turn into an event storm.

import { isNamespaceTerminating, type KubeClient } from './client.js';
import type { Logger } from './log.js';
import { nullLogger } from './log.js';
import type { KubeObject } from './types.js';
import { formatMicroTime, refOf } from './types.js';

export const REPORTING_CONTROLLER = 'playtrenches.xyz/trench-operator';

export type EventType = 'Normal' | 'Warning';

export interface EventInput {
  readonly type: EventType;
  /** CamelCase, e.g. 'RolloutStarted'. */
  readonly reason: string;
  /** What was done or failed, CamelCase, e.g. 'Apply', 'Backup'. */
  readonly action: string;
  /** Human-readable; cut to 1 kB as the API requires. */
  readonly note: string;
}

/**
 * Remembers recently sent events; pure apart from the map it owns (time is passed in).
 * shouldSend returns true and records the event, or false if an identical one was sent within
 * the window.
 */
export class EventDeduper {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  shouldSend(key: string, now: number): boolean {
    const last = this.seen.get(key);
    if (last !== undefined && now - last < this.windowMs) return false;
    this.seen.delete(key); // re-insert at the end: Map order doubles as LRU order
    this.seen.set(key, now);
    if (this.seen.size > this.maxEntries) this.evict(now);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private evict(now: number): void {
    for (const [k, t] of this.seen) {
      if (now - t >= this.windowMs || this.seen.size > this.maxEntries) this.seen.delete(k);
      else break;
    }
  }
}

export function eventKey(obj: KubeObject, e: EventInput): string {
  const ref = refOf(obj);
  return [
    obj.metadata?.uid ?? `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`,
    e.type,
    e.reason,
    e.action,
    e.note,
  ].join('\u0000');
}

/** The Event object (pure); its name follows client-go: `<object name>.<hex nanoseconds>`. */
export function buildEvent(
  obj: KubeObject,
  e: EventInput,
  now: number,
  reportingInstance: string,
  seq = 0,
): KubeObject & Record<string, unknown> {
  const ref = refOf(obj);
  const namespace = ref.namespace ?? 'default';
  // `seq` keeps two events on one object within the same millisecond from sharing a name.
  const nanos = BigInt(now) * 1_000_000n + BigInt(seq % 1_000_000);
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: `${ref.name}.${nanos.toString(16)}`, namespace },
    eventTime: formatMicroTime(now),
    reportingController: REPORTING_CONTROLLER,
    reportingInstance: reportingInstance.slice(0, 128),
    action: e.action.slice(0, 128),
    reason: e.reason.slice(0, 128),
    note: e.note.length > 1024 ? `${e.note.slice(0, 1021)}...` : e.note,
    type: e.type,
    regarding: {
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      name: ref.name,
      ...(ref.namespace ? { namespace: ref.namespace } : {}),
      ...(obj.metadata?.uid ? { uid: obj.metadata.uid } : {}),
      ...(obj.metadata?.resourceVersion ? { resourceVersion: obj.metadata.resourceVersion } : {}),
    },
  };
}

export interface EventRecorderOptions {
  readonly client: KubeClient;
  /** The pod name. Default: $POD_NAME, else the host name. */
  readonly reportingInstance?: string;
  /** Default 10 minutes. */
  readonly dedupeWindowMs?: number;
  readonly now?: () => number;
  readonly log?: Logger;
}

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly instance: string;
  private readonly deduper: EventDeduper;
  private readonly now: () => number;
  private readonly log: Logger;
  private seq = 0;

  constructor(options: EventRecorderOptions) {
    this.client = options.client;
    this.instance =
      options.reportingInstance ??
      process.env.POD_NAME ??
      process.env.HOSTNAME ??
      'trench-operator';
    this.deduper = new EventDeduper(options.dedupeWindowMs ?? 10 * 60_000);
    this.now = options.now ?? Date.now;
    this.log = options.log ?? nullLogger;
  }

  /**
   * Records an event on `obj`. Never throws: an event that cannot be written is logged and
   * dropped, so it can never fail a reconcile. Resolves true if an Event was created.
   */
  async record(obj: KubeObject, e: EventInput, signal?: AbortSignal): Promise<boolean> {
    const now = this.now();
    if (!this.deduper.shouldSend(eventKey(obj, e), now)) return false;
    const event = buildEvent(obj, e, now, this.instance, this.seq++);
    try {
      await this.client.create(event, signal ? { signal } : {});
      return true;
    } catch (error) {
      if (isNamespaceTerminating(error)) {
        this.log.debug('Dropped an Event for a namespace being deleted', {
          reason: e.reason,
          regarding: refOf(obj).name,
        });
        return false;
      }
      this.log.warn('Failed to create Event', {
        reason: e.reason,
        regarding: refOf(obj).name,
        error,
      });
      return false;
    }
  }

  normal(
    obj: KubeObject,
    reason: string,
    action: string,
    note: string,
    signal?: AbortSignal,
  ): Promise<boolean> {
    return this.record(obj, { type: 'Normal', reason, action, note }, signal);
  }

  warning(
    obj: KubeObject,
    reason: string,
    action: string,
    note: string,
    signal?: AbortSignal,
  ): Promise<boolean> {
    return this.record(obj, { type: 'Warning', reason, action, note }, signal);
  }
}
