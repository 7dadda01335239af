// Canary analysis: which Prometheus queries judge a canary, their template variables, reading
// Prometheus' answer, and the verdict of one measurement. Pure; the rollout step sends the
// queries (query.ts) every intervalSeconds for the whole canary.
//
// A verdict is `pass`, `fail` or `inconclusive`. Inconclusive is anything that is not a
// measurement of the canary: Prometheus unreachable, a query error, no series (no traffic yet,
// or the canary's pods not scraped yet) or NaN (0/0, an error rate with no requests). The
// state machine holds on it and never promotes (canary.ts); only a `fail` counts towards
// failureLimit.
import {
  HTTP_DURATION_BUCKET,
  HTTP_REQUESTS,
  TEMPLATE_VARIABLE,
  TEMPLATE_VARIABLES,
  unknownVariables,
  WORKER_JOBS_COMPLETED,
  WORKER_JOBS_FAILED,
} from '../../charts/lib/metrics.js';

export interface MetricCheck {
  readonly name: string;
  /** PromQL with {{namespace}}, {{trench}}, {{track}} and {{revision}}; one or more series. */
  readonly query: string;
  /** The worst series may be at most this. */
  readonly max?: number;
  /** The worst series must be at least this. */
  readonly min?: number;
}

/** The values a query's template variables take. */
export interface QueryContext {
  readonly namespace: string;
  readonly trench: string;
  readonly track: 'canary' | 'stable';
  readonly revision: string;
}

export { TEMPLATE_VARIABLES, unknownVariables };

const VARIABLE = TEMPLATE_VARIABLE;

/** The labels that pick one Trench's canary track in a selector. */
const CANARY = 'namespace="{{namespace}}",trench="{{trench}}",track="{{track}}"';

/**
 * The checks a Trench with steps gets when it lists no metrics: the canary's share of 5xx
 * responses against monitoring.alerts.errorRate, its p95 latency against p95LatencySeconds and,
 * with workers, the canary workers' share of failed jobs against the same error rate. Two
 * minutes of rate: four scrapes at the stack's 30 s, steady enough, short enough to catch a bad
 * release within a step.
 */
export function defaultChecks(
  alerts: { readonly errorRate: number; readonly p95LatencySeconds: number },
  withWorkers: boolean,
): MetricCheck[] {
  const rate = (metric: string, extra = '') => `sum(rate(${metric}{${CANARY}${extra}}[2m]))`;
  // A counter nothing has incremented has no series: with `or vector(0)`, no 5xx (or no failed
  // job) reads 0, while no traffic at all still reads no data.
  const orZero = (expr: string) => `(${expr} or vector(0))`;
  const checks: MetricCheck[] = [
    {
      name: 'canary-error-rate',
      query: `${orZero(rate(HTTP_REQUESTS, ',code=~"5.."'))} / ${rate(HTTP_REQUESTS)}`,
      max: alerts.errorRate,
    },
    {
      name: 'canary-p95-latency',
      query: `histogram_quantile(0.95, sum by (le) (rate(${HTTP_DURATION_BUCKET}{${CANARY}}[2m])))`,
      max: alerts.p95LatencySeconds,
    },
  ];
  if (withWorkers) {
    checks.push({
      name: 'canary-job-failure-rate',
      // No job finished at all reads 0, not NaN: a quiet queue says nothing against the
      // release, and holding every release of a quiet worker as inconclusive would stop them
      // all. The API's checks still need traffic to pass.
      query: `${orZero(rate(WORKER_JOBS_FAILED))} / clamp_min(${orZero(rate(WORKER_JOBS_COMPLETED))} + ${orZero(rate(WORKER_JOBS_FAILED))}, 1e-9)`,
      max: alerts.errorRate,
    });
  }
  return checks;
}

/** The query with its variables filled in, each escaped for a PromQL string. */
export function renderQuery(query: string, ctx: QueryContext): string {
  return query.replace(VARIABLE, (_whole, name: string) => {
    if (!(TEMPLATE_VARIABLES as readonly string[]).includes(name)) {
      throw new Error(
        `unknown template variable {{${name}}} in ${JSON.stringify(query.slice(0, 200))}: use ${TEMPLATE_VARIABLES.map((v) => `{{${v}}}`).join(', ')}`,
      );
    }
    const value = ctx[name as keyof QueryContext];
    return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  });
}

/** What one query returned: numbers, or why there are none. */
export type QueryResult =
  | { readonly ok: true; readonly values: readonly number[] }
  | { readonly ok: false; readonly error: string };

/**
 * Reads Prometheus' answer to GET /api/v1/query: a vector (one value per series) or a scalar;
 * anything else, an error status or a body that is not Prometheus' is an error naming it.
 */
export function parseQueryResponse(status: number, body: string): QueryResult {
  let doc: {
    status?: string;
    error?: string;
    data?: { resultType?: string; result?: unknown };
  };
  try {
    doc = JSON.parse(body);
  } catch {
    return { ok: false, error: `HTTP ${status}, not a Prometheus answer: ${body.slice(0, 200)}` };
  }
  if (status !== 200 || doc.status !== 'success') {
    return { ok: false, error: `HTTP ${status}: ${doc.error ?? body.slice(0, 200)}` };
  }
  const { resultType, result } = doc.data ?? {};
  const num = (v: unknown) =>
    Array.isArray(v) && typeof v[1] === 'string' ? Number(v[1]) : Number.NaN;
  if (resultType === 'scalar') return { ok: true, values: [num(result)] };
  if (resultType === 'vector' && Array.isArray(result)) {
    return { ok: true, values: result.map((s: { value?: unknown }) => num(s?.value)) };
  }
  return {
    ok: false,
    error: `the query returned a ${resultType ?? 'malformed'} result, not a vector`,
  };
}

export interface CheckResult {
  readonly name: string;
  readonly verdict: 'pass' | 'fail' | 'inconclusive';
  /** The worst value, when there was one. */
  readonly value?: number;
  readonly detail: string;
}

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(3));

export function judge(check: MetricCheck, result: QueryResult): CheckResult {
  const { name } = check;
  if (!result.ok) return { name, verdict: 'inconclusive', detail: `${name}: ${result.error}` };
  const values = result.values.filter((v) => !Number.isNaN(v));
  if (values.length === 0) {
    return {
      name,
      verdict: 'inconclusive',
      detail: `${name}: no data${result.values.length > 0 ? ' (NaN: nothing to divide by yet)' : ''}`,
    };
  }
  if (check.max !== undefined) {
    const worst = Math.max(...values);
    return worst > check.max
      ? { name, verdict: 'fail', value: worst, detail: `${name} ${fmt(worst)} > ${fmt(check.max)}` }
      : {
          name,
          verdict: 'pass',
          value: worst,
          detail: `${name} ${fmt(worst)} <= ${fmt(check.max)}`,
        };
  }
  const bound = check.min ?? Number.NEGATIVE_INFINITY;
  const worst = Math.min(...values);
  return worst < bound
    ? { name, verdict: 'fail', value: worst, detail: `${name} ${fmt(worst)} < ${fmt(bound)}` }
    : { name, verdict: 'pass', value: worst, detail: `${name} ${fmt(worst)} >= ${fmt(bound)}` };
}

/**
 * One measurement from its checks: fail when any failed (the failures named), else
 * inconclusive when any was (named), else pass.
 */
export function combine(results: readonly CheckResult[]): {
  verdict: 'pass' | 'fail' | 'inconclusive';
  detail: string;
} {
  const of = (v: CheckResult['verdict']) => results.filter((r) => r.verdict === v);
  const failed = of('fail');
  if (failed.length > 0) return { verdict: 'fail', detail: failed.map((r) => r.detail).join('; ') };
  const unsure = of('inconclusive');
  if (unsure.length > 0 || results.length === 0) {
    return {
      verdict: 'inconclusive',
      detail: unsure.map((r) => r.detail).join('; ') || 'no checks',
    };
  }
  return { verdict: 'pass', detail: results.map((r) => r.detail).join('; ') };
}
