// The plugin's only I/O: load the kubeconfig as kubectl would, read Trenches and
// TrenchBackups, and turn every failure into one CliError with the exit code scripts rely on
// and a message that names the server, object or file. Also asks a Trench's Prometheus for
// its alerts, directly or through the API server's service proxy.
import http from 'node:http';
import https from 'node:https';
import {
  ApiException,
  AuthenticationV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../charts/api/trench.js';
import type { PrometheusTarget } from './alerts.js';
import { EXIT, type LiveTrench, type LiveTrenchBackup, type LiveTrenchRestore } from './format.js';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface Connection {
  readonly server: string;
  /** The namespace to use when -n is not given: the context's, else `default`. */
  readonly defaultNamespace: string;
  readonly api: CustomObjectsApi;
  /** The loaded kubeconfig, for requests the generated clients do not make (service proxy). */
  readonly kc: KubeConfig;
  readonly timeoutMs: number;
}

export interface ConnectOptions {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly timeoutMs?: number;
}

export function connect({ kubeconfig, context, timeoutMs = 30_000 }: ConnectOptions): Connection {
  const kc = new KubeConfig();
  try {
    if (kubeconfig !== undefined) kc.loadFromFile(kubeconfig);
    else kc.loadFromDefault();
  } catch (error) {
    const where = kubeconfig ?? process.env.KUBECONFIG ?? '~/.kube/config';
    throw new CliError(`cannot load kubeconfig ${where}: ${messageOf(error)}`, EXIT.usage);
  }
  if (context !== undefined) {
    if (!kc.getContextObject(context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new CliError(
        `context ${JSON.stringify(context)} not found in kubeconfig` +
          (known.length > 0 ? ` (contexts: ${known.join(', ')})` : ''),
        EXIT.usage,
      );
    }
    kc.setCurrentContext(context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new CliError(
      `kubeconfig has no cluster for context ${JSON.stringify(kc.getCurrentContext())}`,
      EXIT.usage,
    );
  }
  return {
    server: cluster.server,
    defaultNamespace: kc.getContextObject(kc.getCurrentContext())?.namespace || 'default',
    api: kc.makeApiClient(CustomObjectsApi),
    kc,
    timeoutMs,
  };
}

const TRENCHES = { group: GROUP, version: VERSION, plural: 'trenches' } as const;
const BACKUPS = { group: GROUP, version: VERSION, plural: 'trenchbackups' } as const;
const RESTORES = { group: GROUP, version: VERSION, plural: 'trenchrestores' } as const;

export async function getTrench(
  conn: Connection,
  namespace: string,
  name: string,
): Promise<LiveTrench> {
  try {
    return (await bounded(
      conn,
      conn.api.getNamespacedCustomObject({ ...TRENCHES, namespace, name }),
    )) as LiveTrench;
  } catch (error) {
    throw toCliError(
      error,
      conn,
      `Trench ${JSON.stringify(name)} in namespace ${JSON.stringify(namespace)}`,
      {
        notFound: `Trench ${JSON.stringify(name)} not found in namespace ${JSON.stringify(namespace)}`,
      },
    );
  }
}

/** Sets annotations on a Trench with a merge patch: its spec is never touched. */
export async function annotateTrench(
  conn: Connection,
  namespace: string,
  name: string,
  annotations: Readonly<Record<string, string>>,
): Promise<LiveTrench> {
  try {
    return (await bounded(
      conn,
      conn.api.patchNamespacedCustomObject(
        { ...TRENCHES, namespace, name, body: { metadata: { annotations } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    )) as LiveTrench;
  } catch (error) {
    throw toCliError(error, conn, `Trench ${JSON.stringify(name)}`, {
      action: 'annotating',
      notFound: `Trench ${JSON.stringify(name)} not found in namespace ${JSON.stringify(namespace)}`,
    });
  }
}

/**
 * Who the API server takes us for (a SelfSubjectReview), for the record of who asked; the
 * kubeconfig's user name when the server cannot say (older than 1.28, or the review forbidden).
 */
export async function whoAmI(conn: Connection): Promise<string> {
  try {
    const review = await bounded(
      conn,
      conn.kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      }),
    );
    const name = review.status?.userInfo?.username;
    if (name) return name;
  } catch {
    // The fallback below says as much as we know.
  }
  return conn.kc.getCurrentUser()?.name ?? 'unknown';
}

/** Every Trench of one namespace, or of all of them when `namespace` is undefined. */
export async function listTrenches(
  conn: Connection,
  namespace: string | undefined,
): Promise<LiveTrench[]> {
  const where =
    namespace === undefined ? 'all namespaces' : `namespace ${JSON.stringify(namespace)}`;
  try {
    const list = (await bounded(
      conn,
      namespace === undefined
        ? conn.api.listClusterCustomObject(TRENCHES)
        : conn.api.listNamespacedCustomObject({ ...TRENCHES, namespace }),
    )) as { items: LiveTrench[] };
    return list.items;
  } catch (error) {
    throw toCliError(error, conn, `Trenches in ${where}`, {});
  }
}

export async function listBackups(
  conn: Connection,
  namespace: string,
): Promise<LiveTrenchBackup[]> {
  try {
    const list = (await bounded(
      conn,
      conn.api.listNamespacedCustomObject({ ...BACKUPS, namespace }),
    )) as { items: LiveTrenchBackup[] };
    return list.items;
  } catch (error) {
    throw toCliError(error, conn, `TrenchBackups in namespace ${JSON.stringify(namespace)}`, {});
  }
}

/** Creates a TrenchBackup; a name already taken is an error that says so. */
export async function createBackup(
  conn: Connection,
  body: { metadata: { name: string; namespace: string } },
): Promise<LiveTrenchBackup> {
  const { name, namespace } = body.metadata;
  try {
    return (await bounded(
      conn,
      conn.api.createNamespacedCustomObject({ ...BACKUPS, namespace, body }),
    )) as LiveTrenchBackup;
  } catch (error) {
    throw toCliError(error, conn, `TrenchBackup ${JSON.stringify(name)}`, { action: 'creating' });
  }
}

/** `waiting`: the backup was there a moment ago; `named`: a name the user gave. */
export async function getBackup(
  conn: Connection,
  namespace: string,
  name: string,
  context: 'waiting' | 'named' = 'waiting',
): Promise<LiveTrenchBackup> {
  try {
    return (await bounded(
      conn,
      conn.api.getNamespacedCustomObject({ ...BACKUPS, namespace, name }),
    )) as LiveTrenchBackup;
  } catch (error) {
    throw toCliError(error, conn, `TrenchBackup ${JSON.stringify(name)}`, {
      notFound:
        context === 'waiting'
          ? `TrenchBackup ${JSON.stringify(name)} was deleted in namespace ${JSON.stringify(namespace)}`
          : `TrenchBackup ${JSON.stringify(name)} not found in namespace ${JSON.stringify(namespace)}`,
    });
  }
}

/** Sets annotations on a TrenchBackup (a merge patch: the others stay as they are). */
export async function annotateBackup(
  conn: Connection,
  namespace: string,
  name: string,
  annotations: Readonly<Record<string, string>>,
): Promise<LiveTrenchBackup> {
  try {
    return (await bounded(
      conn,
      conn.api.patchNamespacedCustomObject(
        { ...BACKUPS, namespace, name, body: { metadata: { annotations } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    )) as LiveTrenchBackup;
  } catch (error) {
    throw toCliError(error, conn, `TrenchBackup ${JSON.stringify(name)}`, {
      action: 'annotating',
      notFound: `TrenchBackup ${JSON.stringify(name)} not found in namespace ${JSON.stringify(namespace)}`,
    });
  }
}

/** Creates a TrenchRestore; a name already taken is an error that says so. */
export async function createRestore(
  conn: Connection,
  body: { metadata: { name: string; namespace: string } },
): Promise<LiveTrenchRestore> {
  const { name, namespace } = body.metadata;
  try {
    return (await bounded(
      conn,
      conn.api.createNamespacedCustomObject({ ...RESTORES, namespace, body }),
    )) as LiveTrenchRestore;
  } catch (error) {
    throw toCliError(error, conn, `TrenchRestore ${JSON.stringify(name)}`, { action: 'creating' });
  }
}

export async function getRestore(
  conn: Connection,
  namespace: string,
  name: string,
): Promise<LiveTrenchRestore> {
  try {
    return (await bounded(
      conn,
      conn.api.getNamespacedCustomObject({ ...RESTORES, namespace, name }),
    )) as LiveTrenchRestore;
  } catch (error) {
    throw toCliError(error, conn, `TrenchRestore ${JSON.stringify(name)}`, {
      notFound: `TrenchRestore ${JSON.stringify(name)} was deleted in namespace ${JSON.stringify(namespace)}`,
    });
  }
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

/**
 * Prometheus's answer to `GET /api/v1/alerts`, whatever its status; rejects only when there is
 * no answer (refused, unknown host, TLS failure, nothing within `timeoutMs`). Through the
 * proxy the request carries the kubeconfig's credentials and TLS settings, as every other
 * request of the plugin does. Not CoreV1Api's connectGetNamespacedServiceProxyWithPath: it
 * percent-encodes the slashes of the path (`api%2Fv1%2Falerts`) and turns a failure's body
 * into an ApiException; here every answer is decoded in one place (decodeAlerts).
 */
export async function getAlerts(
  conn: Pick<Connection, 'server' | 'kc'>,
  target: PrometheusTarget,
  timeoutMs: number,
): Promise<HttpAnswer> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (target.via === 'direct') {
    const { basicAuth } = target;
    if (basicAuth) {
      headers.Authorization = `Basic ${Buffer.from(`${basicAuth.username}:${basicAuth.password}`).toString('base64')}`;
    }
    return httpGet(new URL(target.url), { headers }, timeoutMs);
  }
  const options: https.RequestOptions = { headers };
  await conn.kc.applyToHTTPSOptions(options);
  // The server URL may carry a path (Rancher's /k8s/clusters/ID): the proxy path goes after it.
  return httpGet(new URL(`${conn.server.replace(/\/+$/, '')}${target.path}`), options, timeoutMs);
}

function httpGet(url: URL, options: https.RequestOptions, timeoutMs: number): Promise<HttpAnswer> {
  const request = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(url, { ...options, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    // One deadline for connecting and reading the whole body: a Prometheus that answers the
    // headers and then stalls must not hold the status either.
    const timer = setTimeout(() => {
      reject(new Error(`no answer within ${timeoutMs / 1000} s`));
      req.destroy();
    }, timeoutMs);
    req.on('error', fail);
    req.end();
  });
}

/**
 * A server that accepts the connection and never answers (a firewall that drops, a stopped
 * VM) would otherwise hang the script that called us; kubectl gives up on such servers too.
 */
async function bounded<T>(conn: Connection, request: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${conn.timeoutMs / 1000} s`)),
      conn.timeoutMs,
    );
  });
  try {
    return await Promise.race([request, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface StatusBody {
  message?: string;
  reason?: string;
  details?: { name?: string; kind?: string };
}

function statusBody(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return { message: body };
    }
  }
  return body && typeof body === 'object' ? (body as StatusBody) : {};
}

export function toCliError(
  error: unknown,
  conn: Pick<Connection, 'server'>,
  what: string,
  messages: { notFound?: string; action?: string },
): CliError {
  const action = messages.action ?? 'reading';
  if (error instanceof CliError) return error;
  if (error instanceof ApiException) {
    const code = error.code;
    const body = statusBody(error.body);
    const said = body.message ? `: ${body.message}` : '';
    if (code === 404) {
      // A 404 without the object's name in its details is the API server not knowing the
      // resource at all: the CRDs are not installed, which a script should tell apart.
      if (messages.notFound && body.details?.name)
        return new CliError(messages.notFound, EXIT.notFound);
      return new CliError(
        `the API server ${conn.server} does not serve ${GROUP}/${VERSION} (are the Trench CRDs installed?)${said}`,
        EXIT.notFound,
      );
    }
    if (code === 401) {
      return new CliError(
        `the API server ${conn.server} refused the credentials (401 Unauthorized)${said}`,
        EXIT.unreachable,
      );
    }
    if (code === 403) {
      return new CliError(
        `the API server ${conn.server} forbids ${action} ${what} (403 Forbidden)${said}`,
        EXIT.unreachable,
      );
    }
    return new CliError(
      `the API server ${conn.server} failed ${action} ${what} (HTTP ${code})${said}`,
      EXIT.unreachable,
    );
  }
  return new CliError(
    `cannot reach the API server ${conn.server}: ${messageOf(error)}`,
    EXIT.unreachable,
  );
}

export function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // node-fetch's FetchError carries the system code (ECONNREFUSED...) apart from its message.
  const code = (error as Error & { code?: unknown }).code;
  return typeof code === 'string' && !error.message.includes(code)
    ? `${error.message} (${code})`
    : error.message;
}
