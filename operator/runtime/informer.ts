// Informers: a local cache of one kind kept current by list+watch, with change handlers.
//
// Built on client-node's ListWatch, whose behaviour (read in cache.js/watch.js, v1.4.0) is:
// - a watch that ends cleanly (server timeout, connection closed) is re-opened from the last
//   resourceVersion by ListWatch itself;
// - 410 Gone, either as the HTTP status of the watch or as an ERROR event in the stream, resets
//   the resourceVersion and ListWatch relists by itself; the relist reports objects that vanished
//   meanwhile as deletes;
// - any OTHER failure (list error, connection refused, 5xx, 403) only calls the 'error' callbacks
//   and ListWatch stays stopped. This class restarts it with exponential backoff, which resumes
//   the watch from the last resourceVersion (or relists if that is too old).
// - stop() aborts the request, which surfaces as an AbortError through 'error': ignored here.
//
// Handlers get the object and nothing else: controllers are level-triggered and never branch
// on whether it was an add, an update or a delete.

import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { ListWatch, Watch } from '@kubernetes/client-node';
import type { KubeClient } from './client.js';
import type { Cancel, Clock } from './clock.js';
import { backoffDelay, realClock, sleep } from './clock.js';
import type { Logger } from './log.js';
import { nullLogger } from './log.js';
import type { KubeObject } from './types.js';
import { controllerOf, groupOf, objectKey } from './types.js';

export type Handler<T> = (obj: T) => void;

export interface InformerOptions<T extends KubeObject> {
  readonly client: KubeClient;
  readonly apiVersion: string;
  readonly kind: string;
  /** Watch one namespace only. Default: all namespaces. */
  readonly namespace?: string;
  readonly labelSelector?: string;
  /**
   * Applied to every object before it is cached. Default: drop metadata.managedFields, which is
   * often half an object's size and which the runtime does not read (memory at 1000 Trenches).
   */
  readonly transform?: (obj: T) => T;
  /**
   * Server-side watch timeout. Default: random in [300, 600) s, as client-go does, so hung
   * connections are recycled and many informers do not reconnect in lockstep.
   */
  readonly watchTimeoutSeconds?: number;
  /** Restart backoff after an error. Default 500 ms doubling to 30 s. */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  readonly clock?: Clock;
  readonly log?: Logger;
}

export function stripManagedFields<T extends KubeObject>(obj: T): T {
  if (obj?.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
}

/** client-node's Watch with the query parameters ListWatch cannot pass, and a transform. */
class TunedWatch extends Watch {
  constructor(
    kc: ConstructorParameters<typeof Watch>[0],
    private readonly timeoutSeconds: () => number,
    private readonly transform: (obj: KubeObject) => KubeObject,
  ) {
    super(kc);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    // biome-ignore lint/suspicious/noExplicitAny: mirrors client-node's own signature
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    // biome-ignore lint/suspicious/noExplicitAny: mirrors client-node's own signature
    done: (err: any) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      {
        ...queryParams,
        // Bookmarks keep our resourceVersion fresh on quiet kinds, so a reconnect rarely
        // hits 410 and forces a relist.
        allowWatchBookmarks: true,
        timeoutSeconds: this.timeoutSeconds(),
      },
      (phase, obj, raw) =>
        callback(
          phase,
          phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED'
            ? this.transform(obj)
            : obj,
          raw,
        ),
      done,
    );
  }
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly apiVersion: string;
  readonly kind: string;
  private readonly opts: InformerOptions<T>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly handlers: Handler<T>[] = [];
  private lw: ListWatch<KubernetesObject> | undefined;
  private stopped = false;
  private started = false;
  private synced = false;
  private listed = false;
  private syncWaiters: Array<() => void> = [];
  private attempts = 0;
  private errorsSinceStart = 0;
  private restartTimer: Cancel | undefined;
  /** Count of restarts after errors; for tests and metrics. */
  restarts = 0;
  // Owner UID -> (object UID -> object): children by parent without scanning the cache.
  private readonly byOwner = new Map<string, Map<string, T>>();
  private readonly ownerOf = new Map<string, string>();

  constructor(options: InformerOptions<T>) {
    this.opts = options;
    this.apiVersion = options.apiVersion;
    this.kind = options.kind;
    this.clock = options.clock ?? realClock;
    this.log = (options.log ?? nullLogger).child({ informer: options.kind });
  }

  /** Calls `handler` with every added, updated or deleted object (deletes: the last state). */
  onChange(handler: Handler<T>): void {
    this.handlers.push(handler);
  }

  /** Starts listing and watching; returns at once. Use waitForSync() for the first list. */
  start(): void {
    if (this.started) return;
    this.started = true;
    void this.boot();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.restartTimer?.();
    this.restartTimer = undefined;
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w();
    await this.lw?.stop();
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once the first list is in the cache; false if stopped or `signal` aborts. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.stopped || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => resolve(false);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(this.synced);
      });
    });
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw?.get(name, namespace) as T | undefined;
  }

  list(namespace?: string): T[] {
    return (this.lw?.list(namespace) ?? []) as unknown as T[];
  }

  /** Cached objects whose controller ownerReference has this UID. */
  listByOwner(ownerUid: string): T[] {
    return [...(this.byOwner.get(ownerUid)?.values() ?? [])];
  }

  private async boot(): Promise<void> {
    const { client, apiVersion, kind } = this.opts;
    let path: string | undefined;
    // Discovery can fail while the API server or the CRD is not there yet: retry with backoff.
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        path = await client.path(
          this.opts.namespace
            ? { apiVersion, kind, namespace: this.opts.namespace }
            : { apiVersion, kind },
        );
        break;
      } catch (error) {
        const delay = backoffDelay(
          attempt,
          this.opts.backoffBaseMs ?? 500,
          this.opts.backoffMaxMs ?? 30_000,
        );
        this.log.warn(`Failed to discover ${kind}`, { apiVersion, error, retryInMs: delay });
        await sleep(this.clock, delay);
      }
    }
    if (this.stopped || path === undefined) return;
    const transform = (this.opts.transform ?? stripManagedFields) as unknown as (
      o: KubeObject,
    ) => KubeObject;
    const watch = new TunedWatch(
      client.kc,
      () => this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300),
      transform,
    );
    const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      const list = await client.list<T>(apiVersion, kind, {
        ...(this.opts.namespace ? { namespace: this.opts.namespace } : {}),
        ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
      });
      list.items = list.items.map((o) => transform(o) as T);
      this.listed = true;
      return list as unknown as KubernetesListObject<KubernetesObject>;
    };
    const lw = new ListWatch<KubernetesObject>(path, watch, listFn, false, this.opts.labelSelector);
    this.lw = lw;
    lw.on('add', (o) => this.dispatch(o as unknown as T, false));
    lw.on('update', (o) => this.dispatch(o as unknown as T, false));
    lw.on('delete', (o) => this.dispatch(o as unknown as T, true));
    lw.on('error', (err) => this.onError(err));
    await this.run();
  }

  private async run(): Promise<void> {
    const lw = this.lw;
    if (!lw || this.stopped) return;
    this.errorsSinceStart = 0;
    try {
      await lw.start();
    } catch (error) {
      this.onError(error);
    }
    // ListWatch.start() resolves once the list is cached and the watch is open, or after a
    // failure was reported through onError (synchronously within start()).
    if (this.listed && !this.synced) {
      this.synced = true;
      this.log.info(`Synced ${this.opts.kind} cache`, { objects: lw.list().length });
      const waiters = this.syncWaiters;
      this.syncWaiters = [];
      for (const w of waiters) w();
    }
    if (this.errorsSinceStart === 0) this.attempts = 0;
  }

  private onError(error: unknown): void {
    this.errorsSinceStart++;
    if (this.stopped || this.restartTimer) return;
    const delay = backoffDelay(
      this.attempts++,
      this.opts.backoffBaseMs ?? 500,
      this.opts.backoffMaxMs ?? 30_000,
    );
    this.log.warn(`Lost ${this.opts.kind} watch`, { error, retryInMs: delay });
    this.restartTimer = this.clock.setTimer(() => {
      this.restartTimer = undefined;
      this.restarts++;
      void this.run();
    }, delay);
  }

  private dispatch(obj: T, deleted: boolean): void {
    this.index(obj, deleted);
    for (const h of this.handlers) {
      try {
        h(obj);
      } catch (error) {
        this.log.error(`Failed to handle ${this.opts.kind} change`, { key: objectKey(obj), error });
      }
    }
  }

  private index(obj: T, deleted: boolean): void {
    const uid = obj.metadata?.uid;
    if (!uid) return;
    const previous = this.ownerOf.get(uid);
    if (previous !== undefined) {
      const m = this.byOwner.get(previous);
      m?.delete(uid);
      if (m?.size === 0) this.byOwner.delete(previous);
      this.ownerOf.delete(uid);
    }
    if (deleted) return;
    const owner = controllerOf(obj)?.uid;
    if (!owner) return;
    let m = this.byOwner.get(owner);
    if (!m) {
      m = new Map();
      this.byOwner.set(owner, m);
    }
    m.set(uid, obj);
    this.ownerOf.set(uid, owner);
  }
}

/** The queue key of `obj`'s controller owner if that owner is of the given group and kind. */
export function ownerKeyOf(
  obj: KubeObject,
  owner: { readonly apiVersion: string; readonly kind: string },
): string | undefined {
  const ref = controllerOf(obj);
  // Compare groups, not versions: an owner written as v1alpha1 is the same owner after v1beta1.
  if (!ref || ref.kind !== owner.kind || groupOf(ref.apiVersion) !== groupOf(owner.apiVersion)) {
    return undefined;
  }
  const ns = obj.metadata?.namespace;
  // Namespaced owners of namespaced children share the namespace (owner references cannot
  // cross namespaces).
  return ns ? `${ns}/${ref.name}` : ref.name;
}

/** Resolves true when every informer has synced; false on abort or timeout. */
export async function waitForCacheSync(
  informers: readonly { waitForSync(signal?: AbortSignal): Promise<boolean> }[],
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<boolean> {
  const signals = [
    options.signal,
    options.timeoutMs ? AbortSignal.timeout(options.timeoutMs) : undefined,
  ].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length > 0 ? AbortSignal.any(signals) : undefined;
  const results = await Promise.all(informers.map((i) => i.waitForSync(signal)));
  return results.every(Boolean);
}
