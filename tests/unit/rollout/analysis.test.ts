import { describe, expect, it } from 'vitest';
import {
  combine,
  defaultChecks,
  judge,
  type MetricCheck,
  parseQueryResponse,
  renderQuery,
  unknownVariables,
} from '../../../operator/rollout/analysis.js';

const ctx = { namespace: 'prod', trench: 'shop', track: 'canary' as const, revision: 'abc123' };
const vector = (...values: string[]) =>
  JSON.stringify({
    status: 'success',
    data: { resultType: 'vector', result: values.map((v) => ({ metric: {}, value: [1, v] })) },
  });

describe('queries', () => {
  it('fills the template variables, escaped for a PromQL string', () => {
    expect(
      renderQuery('up{namespace="{{namespace}}",trench="{{ trench }}",rev="{{revision}}"}', ctx),
    ).toBe('up{namespace="prod",trench="shop",rev="abc123"}');
    expect(renderQuery('x{a="{{trench}}"}', { ...ctx, trench: 'a"b\\c' })).toBe(
      'x{a="a\\"b\\\\c"}',
    );
  });

  it('names an unknown variable', () => {
    expect(unknownVariables('up{a="{{namespace}}",b="{{pod}}",c="{{ job }}"}')).toEqual([
      'pod',
      'job',
    ]);
    expect(() => renderQuery('up{a="{{pod}}"}', ctx)).toThrow(
      'unknown template variable {{pod}} in "up{a=\\"{{pod}}\\"}": use {{namespace}}, {{trench}}, {{track}}, {{revision}}',
    );
  });

  it('judges the canary by default on its 5xx share, p95 latency and, with workers, failed jobs', () => {
    const checks = defaultChecks({ errorRate: 0.05, p95LatencySeconds: 2 }, true);
    expect(checks.map((c) => [c.name, c.max])).toEqual([
      ['canary-error-rate', 0.05],
      ['canary-p95-latency', 2],
      ['canary-job-failure-rate', 0.05],
    ]);
    expect(renderQuery(checks[0]!.query, ctx)).toBe(
      '(sum(rate(http_requests_total{namespace="prod",trench="shop",track="canary",code=~"5.."}[2m])) or vector(0)) / sum(rate(http_requests_total{namespace="prod",trench="shop",track="canary"}[2m]))',
    );
    expect(defaultChecks({ errorRate: 0.05, p95LatencySeconds: 2 }, false)).toHaveLength(2);
    for (const c of checks) expect(unknownVariables(c.query)).toEqual([]);
  });
});

describe('parseQueryResponse', () => {
  it('reads a vector and a scalar', () => {
    expect(parseQueryResponse(200, vector('0.5', '0.25'))).toEqual({
      ok: true,
      values: [0.5, 0.25],
    });
    expect(
      parseQueryResponse(
        200,
        JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [1, '3'] } }),
      ),
    ).toEqual({ ok: true, values: [3] });
    expect(parseQueryResponse(200, vector('NaN')).ok).toBe(true);
  });

  it("says what is wrong with an error, a matrix or a body that is not Prometheus'", () => {
    expect(
      parseQueryResponse(
        400,
        JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'parse error at char 5' }),
      ),
    ).toEqual({ ok: false, error: 'HTTP 400: parse error at char 5' });
    expect(
      parseQueryResponse(
        200,
        JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] } }),
      ),
    ).toEqual({ ok: false, error: 'the query returned a matrix result, not a vector' });
    expect(parseQueryResponse(502, '<html>Bad Gateway</html>')).toEqual({
      ok: false,
      error: 'HTTP 502, not a Prometheus answer: <html>Bad Gateway</html>',
    });
  });
});

describe('judge and combine', () => {
  const max: MetricCheck = { name: 'errors', query: 'q', max: 0.05 };
  const min: MetricCheck = { name: 'throughput', query: 'q', min: 10 };
  const ok = (...values: number[]) => ({ ok: true as const, values });

  it('fails the worst series past its bound, and passes at the bound', () => {
    expect(judge(max, ok(0.01, 0.2))).toEqual({
      name: 'errors',
      verdict: 'fail',
      value: 0.2,
      detail: 'errors 0.200 > 0.0500',
    });
    expect(judge(max, ok(0.05)).verdict).toBe('pass');
    expect(judge(min, ok(12, 9))).toMatchObject({
      verdict: 'fail',
      value: 9,
      detail: 'throughput 9 < 10',
    });
    expect(judge(min, ok(10)).verdict).toBe('pass');
  });

  it('is inconclusive with no data, NaN only, or an error', () => {
    expect(judge(max, ok())).toMatchObject({ verdict: 'inconclusive', detail: 'errors: no data' });
    expect(judge(max, ok(Number.NaN))).toMatchObject({
      verdict: 'inconclusive',
      detail: 'errors: no data (NaN: nothing to divide by yet)',
    });
    expect(judge(max, { ok: false, error: 'connect ECONNREFUSED 127.0.0.1:9090' })).toMatchObject({
      verdict: 'inconclusive',
      detail: 'errors: connect ECONNREFUSED 127.0.0.1:9090',
    });
  });

  it('fails when any check fails, else is inconclusive when any is, else passes', () => {
    const pass = judge(max, ok(0.01));
    const fail = judge(min, ok(1));
    const unsure = judge(max, ok());
    expect(combine([pass, unsure, fail])).toEqual({ verdict: 'fail', detail: 'throughput 1 < 10' });
    expect(combine([pass, unsure])).toEqual({ verdict: 'inconclusive', detail: 'errors: no data' });
    expect(combine([pass])).toEqual({ verdict: 'pass', detail: 'errors 0.0100 <= 0.0500' });
    expect(combine([])).toEqual({ verdict: 'inconclusive', detail: 'no checks' });
  });
});
