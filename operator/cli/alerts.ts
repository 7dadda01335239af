// The Alerts section of `kubectl trench status`: where to ask Prometheus for the Trench's
// alerts, how to read its answer and which alerts are the Trench's. Pure, so that every URL
// shape and every malformed answer has a table test; client.ts does the request.
import type { LiveTrench } from './format.js';

/** One active alert from Prometheus's `GET /api/v1/alerts`, inactive ones never appear. */
export interface PrometheusAlert {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly state: 'firing' | 'pending';
  /** RFC 3339: when the rule's expression started to hold (pending before firing). */
  readonly activeAt?: string;
  readonly value?: string;
}

/** What the Alerts section prints: the Trench's alerts, or why there are none to show. */
export type AlertsResult =
  | { readonly kind: 'unconfigured' }
  | { readonly kind: 'unreachable'; readonly url: string; readonly reason: string }
  | { readonly kind: 'alerts'; readonly url: string; readonly alerts: readonly PrometheusAlert[] };

/**
 * How to reach a Prometheus. An in-cluster Service name resolves only inside the cluster, so
 * from a laptop the request goes through the API server's service proxy with the
 * kubeconfig's credentials, as `kubectl get --raw` would; any other URL is asked directly.
 */
export type PrometheusTarget =
  | {
      readonly via: 'direct';
      /** The alerts endpoint, without the URL's user and password. */
      readonly url: string;
      /** From `http://user:password@host`: fetch refuses such URLs, Prometheus wants a header. */
      readonly basicAuth?: { readonly username: string; readonly password: string };
      /** The URL as printed: credentials removed. */
      readonly display: string;
    }
  | {
      readonly via: 'proxy';
      /**
       * The alerts endpoint as a path on the API server (appended to its URL). A user and
       * password in the URL are not sent: the Authorization header is the API server's.
       */
      readonly path: string;
      readonly namespace: string;
      readonly service: string;
      readonly port: number;
      readonly display: string;
    };

export type TargetResult =
  | { readonly ok: true; readonly target: PrometheusTarget }
  | { readonly ok: false; readonly error: string };

export const ALERTS_PATH = '/api/v1/alerts';

// `SERVICE.NAMESPACE.svc` and `SERVICE.NAMESPACE.svc.cluster.local` (a trailing dot is the
// same name). A cluster with another DNS domain gets the direct request, which fails from
// outside and says so: guessing the domain could proxy to a Service the URL did not mean.
// Service names are DNS-1035 labels, namespaces DNS-1123 labels.
const SERVICE_HOST =
  /^([a-z](?:[-a-z0-9]*[a-z0-9])?)\.([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.svc(?:\.cluster\.local)?\.?$/;

/**
 * `spec.rollout.analysis.prometheusUrl` as a request target. The URL's path is kept as a
 * prefix (a Prometheus run with `--web.route-prefix=/prometheus` serves `/prometheus/api/...`);
 * its query and fragment are dropped. Examples:
 *   http://prometheus.mon.svc:9090    -> proxy /api/v1/namespaces/mon/services/prometheus:9090/proxy/api/v1/alerts
 *   https://prom.mon.svc.cluster.local -> proxy .../namespaces/mon/services/https:prom:443/proxy/api/v1/alerts
 *   http://127.0.0.1:9090/prom/       -> direct http://127.0.0.1:9090/prom/api/v1/alerts
 */
export function prometheusTarget(raw: string): TargetResult {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, error: 'not a valid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, error: 'not an http or https URL' };
  }
  const prefix = url.pathname.replace(/\/+$/, '');
  const username = decoded(url.username);
  const password = decoded(url.password);
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  const display = url.href.replace(/\/$/, '');

  const service = SERVICE_HOST.exec(url.hostname);
  if (service) {
    const https = url.protocol === 'https:';
    // URL drops a port that is the scheme's default, and the proxy needs it spelled out.
    const port = url.port === '' ? (https ? 443 : 80) : Number(url.port);
    const name = service[1]!;
    const namespace = service[2]!;
    return {
      ok: true,
      target: {
        via: 'proxy',
        // The proxy's `http:` scheme prefix is its default, so it is left out.
        path: `/api/v1/namespaces/${namespace}/services/${https ? 'https:' : ''}${name}:${port}/proxy${prefix}${ALERTS_PATH}`,
        namespace,
        service: name,
        port,
        display,
      },
    };
  }
  return {
    ok: true,
    target: {
      via: 'direct',
      url: `${url.origin}${prefix}${ALERTS_PATH}`,
      ...(username !== '' || password !== '' ? { basicAuth: { username, password } } : {}),
      display,
    },
  };
}

/** A URL fit to print: `user:password@` removed, even from one that does not parse. */
export function redact(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1');
}

/** The Trench's Prometheus, or undefined when it names none. */
export function prometheusUrlOf(trench: LiveTrench): string | undefined {
  const url = trench.spec?.rollout?.analysis?.prometheusUrl;
  return url === undefined || url === '' ? undefined : url;
}

export type DecodeResult =
  | { readonly ok: true; readonly alerts: PrometheusAlert[] }
  | { readonly ok: false; readonly error: string };

/** Longest piece of a foreign body quoted in a message: enough to recognise a login page. */
const QUOTE_CHARS = 120;

/**
 * The alerts in Prometheus's answer. The API server's proxy, an auth proxy in front of
 * Prometheus and Prometheus itself each fail in their own words: the message quotes whichever
 * said something (a Kubernetes Status message, Prometheus's `error`, else the body's start).
 */
export function decodeAlerts(status: number, body: string): DecodeResult {
  let json: unknown;
  let parsed = true;
  try {
    json = JSON.parse(body);
  } catch {
    parsed = false;
  }
  if (status < 200 || status > 299) {
    const said = parsed ? saidIn(json) : quote(body);
    return { ok: false, error: `HTTP ${status}${said ? `: ${said}` : ''}` };
  }
  if (!parsed) {
    return { ok: false, error: `the answer is not JSON: ${JSON.stringify(quote(body))}` };
  }
  if (!isObject(json) || json.status !== 'success') {
    const said = saidIn(json);
    return { ok: false, error: `the answer is not a success${said ? `: ${said}` : ''}` };
  }
  const alerts = isObject(json.data) ? json.data.alerts : undefined;
  if (!Array.isArray(alerts)) return { ok: false, error: 'the answer has no data.alerts list' };
  return { ok: true, alerts: alerts.flatMap((a) => alertOf(a)) };
}

/** An entry without labels or with an unknown state cannot be matched or shown: skipped. */
function alertOf(entry: unknown): PrometheusAlert[] {
  if (!isObject(entry) || !isObject(entry.labels)) return [];
  if (entry.state !== 'firing' && entry.state !== 'pending') return [];
  return [
    {
      labels: strings(entry.labels),
      annotations: isObject(entry.annotations) ? strings(entry.annotations) : {},
      state: entry.state,
      ...(typeof entry.activeAt === 'string' ? { activeAt: entry.activeAt } : {}),
      ...(typeof entry.value === 'string' ? { value: entry.value } : {}),
    },
  ];
}

/** The Trench's own alerts: the stack's rules label each with its namespace and trench. */
export function trenchAlerts(
  alerts: readonly PrometheusAlert[],
  namespace: string,
  trench: string,
): PrometheusAlert[] {
  return alerts.filter((a) => a.labels.namespace === namespace && a.labels.trench === trench);
}

const SEVERITY_RANK: Readonly<Record<string, number>> = { critical: 0, warning: 1 };

/**
 * Most urgent first: critical, warning, then any other severity; within one, by alert name,
 * firing before pending, and the longest active first.
 */
export function alertOrder(alerts: readonly PrometheusAlert[]): PrometheusAlert[] {
  const rank = (a: PrometheusAlert) => SEVERITY_RANK[a.labels.severity ?? ''] ?? 2;
  const since = (a: PrometheusAlert) => Date.parse(a.activeAt ?? '') || Number.MAX_SAFE_INTEGER;
  return [...alerts].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      (a.labels.alertname ?? '').localeCompare(b.labels.alertname ?? '') ||
      (a.state === b.state ? 0 : a.state === 'firing' ? -1 : 1) ||
      since(a) - since(b),
  );
}

function saidIn(json: unknown): string | undefined {
  if (!isObject(json)) return undefined;
  // A Kubernetes Status ({message}) from the proxy, Prometheus's own {errorType, error}.
  if (typeof json.message === 'string' && json.message !== '') return json.message;
  if (typeof json.error === 'string' && json.error !== '') return json.error;
  return undefined;
}

/** URL keeps a malformed escape such as `%zz` as typed, which decodeURIComponent refuses. */
function decoded(component: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    return component;
  }
}

function quote(body: string): string {
  const text = body.trim().replace(/\s+/g, ' ');
  return text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS)}...` : text;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function strings(record: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}
