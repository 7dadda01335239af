// One canary measurement against Prometheus: every check's query at once over its HTTP API,
// each judged (analysis.ts), combined into one verdict. A Prometheus that cannot be reached or
// does not answer in time makes each check inconclusive, never failed: the rollout holds, it
// does not abort on a monitoring outage.
import {
  type CheckResult,
  combine,
  judge,
  type MetricCheck,
  parseQueryResponse,
  type QueryContext,
  type QueryResult,
  renderQuery,
} from './analysis.js';

export interface MeasureOptions {
  /** Per query. @default 5000 */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface MeasureResult {
  readonly verdict: 'pass' | 'fail' | 'inconclusive';
  readonly detail: string;
  readonly checks: readonly CheckResult[];
}

/** The base URL without credentials, for messages. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(an invalid URL)';
  }
}

export async function queryPrometheus(
  baseUrl: string,
  query: string,
  opts: MeasureOptions = {},
): Promise<QueryResult> {
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 5000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const url = `${baseUrl.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(query)}`;
  try {
    const res = await fetch(url, { signal });
    return parseQueryResponse(res.status, await res.text());
  } catch (error) {
    const e = error as Error & { cause?: { message?: string } };
    const why = timeout.aborted
      ? `no answer within ${(opts.timeoutMs ?? 5000) / 1000} s`
      : (e.cause?.message ?? e.message);
    return { ok: false, error: `Prometheus ${shown(baseUrl)} not reachable: ${why}` };
  }
}

export async function measure(
  baseUrl: string,
  checks: readonly MetricCheck[],
  ctx: QueryContext,
  opts: MeasureOptions = {},
): Promise<MeasureResult> {
  const results = await Promise.all(
    checks.map(async (c) =>
      judge(c, await queryPrometheus(baseUrl, renderQuery(c.query, ctx), opts)),
    ),
  );
  return { ...combine(results), checks: results };
}
