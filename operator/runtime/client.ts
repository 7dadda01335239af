// A small JSON client for the Kubernetes API on top of client-node's KubeConfig.
//
// Why not client-node's KubernetesObjectApi: it (1) round-trips bodies through the generated
// model classes, which turn timestamps into Date objects and drop fields the models do not know,
// so its objects differ from the raw JSON that watches deliver, and (2) builds a new TLS agent
// per request, so every call pays a handshake; at 1000 Trenches that dominates. This client
// keeps one keep-alive agent and sends and returns the API server's JSON untouched.
// Authentication (certs, tokens, exec plugins, impersonation) still comes from KubeConfig.

import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeList, KubeObject, ObjectRef } from './types.js';
import { groupOf, refOf } from './types.js';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * A create refused because its namespace is being deleted (403, cause NamespaceTerminating):
 * nothing the operator writes there matters any more, and it is not an RBAC refusal.
 */
export function isNamespaceTerminating(e: unknown): boolean {
  if (!(e instanceof ApiError) || e.statusCode !== 403) return false;
  const causes = (e.body as { details?: { causes?: { reason?: string }[] } } | undefined)?.details
    ?.causes;
  return (
    causes?.some((c) => c.reason === 'NamespaceTerminating') === true ||
    /because it is being terminated/.test(e.message)
  );
}

export function isNotFound(e: unknown): boolean {
  return e instanceof ApiError && e.statusCode === 404;
}
export function isConflict(e: unknown): boolean {
  return e instanceof ApiError && e.statusCode === 409;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  readonly query?: Query;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  /** Default: the client's timeout (30 s). */
  readonly timeoutMs?: number;
}

export interface ResourceInfo {
  readonly plural: string;
  readonly namespaced: boolean;
}

export interface ApplyOptions {
  /** Default: 'trench-operator'. */
  readonly fieldManager?: string;
  /** Default: true (take over fields another manager set; we are the controller). */
  readonly force?: boolean;
  readonly signal?: AbortSignal;
  /** Apply to a subresource ('status'): only the fields given, merged by their list keys. */
  readonly subresource?: string;
}

export interface DeleteOptions {
  /** Delete only if the object still has this UID (a recreated namesake is left alone). */
  readonly uid?: string;
  /** Default: 'Background'. */
  readonly propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  readonly signal?: AbortSignal;
}

export interface ListOptions {
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Page size; the client follows `continue` until the end. Default 500. */
  readonly limit?: number;
  readonly signal?: AbortSignal;
}

export const FIELD_MANAGER = 'trench-operator';

export class KubeClient {
  readonly kc: KubeConfig;
  private readonly server: URL;
  private agent: http.Agent | undefined;
  private readonly timeoutMs: number;
  private readonly discovery = new Map<string, Map<string, ResourceInfo>>();
  private readonly userAgent: string;

  constructor(kc: KubeConfig, options: { timeoutMs?: number; userAgent?: string } = {}) {
    this.kc = kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('Kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? 'trench-operator';
  }

  /** Sends one request; returns the parsed JSON body, throws ApiError on a non-2xx status. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const opts: https.RequestOptions = { headers: {} };
    // Re-applied per request: tokens from files or exec plugins may rotate.
    await this.kc.applyToHTTPSOptions(opts);
    const cluster = this.kc.getCurrentCluster();
    if (!cluster?.proxyUrl) {
      // One keep-alive agent for the client's lifetime; TLS material read once (client
      // certificate rotation needs a new client).
      this.agent ??= this.makeAgent(opts);
      opts.agent = this.agent;
    }
    const url = new URL(this.server.href.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'User-Agent': this.userAgent,
    };
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (typeof v === 'string' || typeof v === 'number') headers[k] = String(v);
    }
    let payload: string | undefined;
    if (options.body !== undefined) {
      payload = JSON.stringify(options.body);
      headers['Content-Type'] = options.contentType ?? 'application/json';
      // Explicit length, not chunked: the API server answered a request that followed a
      // chunked DELETE on the same keep-alive connection with a bare 400.
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const mod = url.protocol === 'http:' ? http : https;
    return new Promise<T>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason ?? new Error('Aborted'));
        return;
      }
      const req = mod.request(url, { ...opts, method, headers, signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = text;
          }
          if (status >= 200 && status < 300) {
            resolve(parsed as T);
            return;
          }
          const st = (parsed ?? {}) as { message?: string; reason?: string };
          reject(
            new ApiError(
              status,
              st.reason ?? res.statusMessage ?? '',
              `${method} ${path}: ${status} ${st.message ?? res.statusMessage ?? text}`,
              parsed,
            ),
          );
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  private makeAgent(opts: https.RequestOptions): http.Agent {
    const common = { keepAlive: true, maxSockets: 64 };
    if (this.server.protocol === 'http:') return new http.Agent(common);
    return new https.Agent({
      ...common,
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      pfx: opts.pfx,
      passphrase: opts.passphrase,
      servername: opts.servername,
      ...(opts.rejectUnauthorized === undefined
        ? {}
        : { rejectUnauthorized: opts.rejectUnauthorized }),
    });
  }

  /** Closes pooled connections; the client stays usable (a new agent is made on demand). */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  /** Resource name and scope of a kind, from discovery (cached; refetched on a miss, for CRDs). */
  async resourceInfo(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const cached = this.discovery.get(apiVersion)?.get(kind);
    if (cached) return cached;
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const list = await this.request<{
      resources: { name: string; kind: string; namespaced: boolean }[];
    }>('GET', base);
    const byKind = new Map<string, ResourceInfo>();
    for (const r of list.resources) {
      if (r.name.includes('/')) continue; // subresources such as deployments/status
      byKind.set(r.kind, { plural: r.name, namespaced: r.namespaced });
    }
    this.discovery.set(apiVersion, byKind);
    const info = byKind.get(kind);
    if (!info) throw new Error(`API server does not serve kind ${kind} in ${apiVersion}`);
    return info;
  }

  /** Collection path (no name) or object path, optionally a subresource such as 'status'. */
  async path(
    ref: { apiVersion: string; kind: string; namespace?: string; name?: string },
    subresource?: string,
  ): Promise<string> {
    const info = await this.resourceInfo(ref.apiVersion, ref.kind);
    const group = groupOf(ref.apiVersion);
    let p = group ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
    if (info.namespaced && ref.namespace) p += `/namespaces/${encodeURIComponent(ref.namespace)}`;
    p += `/${info.plural}`;
    if (ref.name !== undefined) p += `/${encodeURIComponent(ref.name)}`;
    if (subresource) p += `/${subresource}`;
    return p;
  }

  /** The object, or undefined when it does not exist. */
  async get<T extends KubeObject>(ref: ObjectRef, signal?: AbortSignal): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', await this.path(ref), signal ? { signal } : {});
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** Lists every page; the result carries the resourceVersion of the (consistent) snapshot. */
  async list<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    options: ListOptions = {},
  ): Promise<KubeList<T>> {
    const path = await this.path({
      apiVersion,
      kind,
      ...(options.namespace ? { namespace: options.namespace } : {}),
    });
    const items: T[] = [];
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      const page: KubeList<T> = await this.request<KubeList<T>>('GET', path, {
        query: {
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
          limit: options.limit ?? 500,
          continue: cont,
        },
        ...(options.signal ? { signal: options.signal } : {}),
      });
      // List items come without apiVersion/kind; fill them in so the objects are self-describing.
      for (const item of page.items ?? []) items.push({ apiVersion, kind, ...item });
      rv ??= page.metadata?.resourceVersion;
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return { apiVersion, kind: `${kind}List`, metadata: { resourceVersion: rv ?? '' }, items };
  }

  /**
   * Server-side apply: PATCH with content type application/apply-patch+yaml (JSON is YAML),
   * fieldManager and force. Returns the object as stored.
   */
  async apply<T extends KubeObject>(obj: T, options: ApplyOptions = {}): Promise<T> {
    const ref = { ...refOf(obj) };
    return this.request<T>('PATCH', await this.path(ref, options.subresource), {
      body: obj,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: options.fieldManager ?? FIELD_MANAGER, force: options.force ?? true },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  async create<T extends KubeObject>(
    obj: T,
    options: { signal?: AbortSignal; fieldManager?: string } = {},
  ): Promise<T> {
    // No name needed: objects with metadata.generateName are created here too.
    if (!obj.apiVersion || !obj.kind) throw new Error('Object needs apiVersion and kind');
    const collection = {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      ...(obj.metadata?.namespace ? { namespace: obj.metadata.namespace } : {}),
    };
    return this.request<T>('POST', await this.path(collection), {
      body: obj,
      query: { fieldManager: options.fieldManager ?? FIELD_MANAGER },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** PUT; carries metadata.resourceVersion when the object has one (optimistic concurrency). */
  async replace<T extends KubeObject>(
    obj: T,
    options: { signal?: AbortSignal; fieldManager?: string } = {},
  ): Promise<T> {
    return this.request<T>('PUT', await this.path(refOf(obj)), {
      body: obj,
      query: { fieldManager: options.fieldManager ?? FIELD_MANAGER },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** JSON merge patch, optionally on a subresource ('status'). */
  async mergePatch<T extends KubeObject>(
    ref: ObjectRef,
    patch: unknown,
    options: { subresource?: string; signal?: AbortSignal; fieldManager?: string } = {},
  ): Promise<T> {
    return this.request<T>('PATCH', await this.path(ref, options.subresource), {
      body: patch,
      contentType: 'application/merge-patch+json',
      query: { fieldManager: options.fieldManager ?? FIELD_MANAGER },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /**
   * JSON patch (RFC 6902): with `test` operations, a change to exactly the fields named, and
   * refused (422) when the object is not as the test ops say.
   */
  async jsonPatch<T extends KubeObject>(
    ref: ObjectRef,
    ops: readonly { op: string; path: string; value?: unknown }[],
    options: { signal?: AbortSignal; fieldManager?: string } = {},
  ): Promise<T> {
    return this.request<T>('PATCH', await this.path(ref), {
      body: ops,
      contentType: 'application/json-patch+json',
      query: { fieldManager: options.fieldManager ?? FIELD_MANAGER },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** Deletes; a missing object counts as deleted (returns false). */
  async delete(ref: ObjectRef, options: DeleteOptions = {}): Promise<boolean> {
    const body: Record<string, unknown> = {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      propagationPolicy: options.propagationPolicy ?? 'Background',
    };
    if (options.uid) body.preconditions = { uid: options.uid };
    try {
      await this.request('DELETE', await this.path(ref), {
        body,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }
}
