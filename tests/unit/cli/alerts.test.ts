import { describe, expect, it } from 'vitest';
import {
  alertOrder,
  decodeAlerts,
  type PrometheusAlert,
  type PrometheusTarget,
  prometheusTarget,
  prometheusUrlOf,
  redact,
  trenchAlerts,
} from '../../../operator/cli/alerts.js';

function target(raw: string): PrometheusTarget {
  const r = prometheusTarget(raw);
  if (!r.ok) throw new Error(`expected ${raw} to be usable, got: ${r.error}`);
  return r.target;
}

describe('prometheusTarget', () => {
  it.each<[string, string, string, number, string]>([
    [
      'http://prometheus.trench-monitoring.svc:9090',
      'trench-monitoring',
      'prometheus',
      9090,
      '/api/v1/namespaces/trench-monitoring/services/prometheus:9090/proxy/api/v1/alerts',
    ],
    [
      'http://prometheus.trench-monitoring.svc.cluster.local:9090/',
      'trench-monitoring',
      'prometheus',
      9090,
      '/api/v1/namespaces/trench-monitoring/services/prometheus:9090/proxy/api/v1/alerts',
    ],
    [
      'http://prom.mon.svc.cluster.local.:9090',
      'mon',
      'prom',
      9090,
      '/api/v1/namespaces/mon/services/prom:9090/proxy/api/v1/alerts',
    ],
    [
      'https://prom.mon.svc:8443',
      'mon',
      'prom',
      8443,
      '/api/v1/namespaces/mon/services/https:prom:8443/proxy/api/v1/alerts',
    ],
    [
      'http://prom.mon.svc',
      'mon',
      'prom',
      80,
      '/api/v1/namespaces/mon/services/prom:80/proxy/api/v1/alerts',
    ],
    [
      'https://prom.mon.svc.cluster.local',
      'mon',
      'prom',
      443,
      '/api/v1/namespaces/mon/services/https:prom:443/proxy/api/v1/alerts',
    ],
    [
      'http://prom.mon.svc:80',
      'mon',
      'prom',
      80,
      '/api/v1/namespaces/mon/services/prom:80/proxy/api/v1/alerts',
    ],
    [
      'http://Prom.Mon.SVC:9090/prometheus/?x=1#top',
      'mon',
      'prom',
      9090,
      '/api/v1/namespaces/mon/services/prom:9090/proxy/prometheus/api/v1/alerts',
    ],
  ])('proxies the in-cluster %s through the API server', (raw, namespace, service, port, path) => {
    expect(target(raw)).toMatchObject({ via: 'proxy', namespace, service, port, path });
  });

  it.each<[string, string]>([
    ['http://127.0.0.1:9090', 'http://127.0.0.1:9090/api/v1/alerts'],
    ['http://127.0.0.1:9090/', 'http://127.0.0.1:9090/api/v1/alerts'],
    ['https://prometheus.example.com', 'https://prometheus.example.com/api/v1/alerts'],
    [
      'https://prometheus.example.com:443/prom/',
      'https://prometheus.example.com/prom/api/v1/alerts',
    ],
    ['http://[::1]:9090', 'http://[::1]:9090/api/v1/alerts'],
    // Another cluster domain, or a name the pod's search path would complete: not guessed.
    [
      'http://prometheus.mon.svc.example.org:9090',
      'http://prometheus.mon.svc.example.org:9090/api/v1/alerts',
    ],
    ['http://prometheus.mon:9090', 'http://prometheus.mon:9090/api/v1/alerts'],
    ['http://prometheus:9090', 'http://prometheus:9090/api/v1/alerts'],
    ['http://a.b.mon.svc:9090', 'http://a.b.mon.svc:9090/api/v1/alerts'],
  ])('asks %s directly', (raw, url) => {
    expect(target(raw)).toEqual({ via: 'direct', url, display: expect.any(String) });
  });

  it('moves a URL password into basic auth and out of what is printed', () => {
    expect(target('https://bob:s%40cret@prom.example.com/')).toEqual({
      via: 'direct',
      url: 'https://prom.example.com/api/v1/alerts',
      basicAuth: { username: 'bob', password: 's@cret' },
      display: 'https://prom.example.com',
    });
    expect(target('http://bob:pw@prom.mon.svc:9090').display).toBe('http://prom.mon.svc:9090');
  });

  it('prints the URL as given, minus credentials, query and a trailing slash', () => {
    expect(target('http://prom.mon.svc.cluster.local:9090/').display).toBe(
      'http://prom.mon.svc.cluster.local:9090',
    );
    expect(target('http://127.0.0.1:9090/prom/?q=1').display).toBe('http://127.0.0.1:9090/prom');
  });

  it.each<[string, string]>([
    ['not a url', 'not a valid URL'],
    ['http://', 'not a valid URL'],
    ['http://bad host:9090', 'not a valid URL'],
    ['ftp://prom.mon.svc', 'not an http or https URL'],
  ])('refuses %j', (raw, error) => {
    expect(prometheusTarget(raw)).toEqual({ ok: false, error });
  });
});

describe('redact', () => {
  it.each([
    ['http://bob:pw@host:9090/x', 'http://host:9090/x'],
    ['http://host:9090/a@b', 'http://host:9090/a@b'],
    ['no scheme@all', 'no scheme@all'],
  ])('%s -> %s', (raw, shown) => {
    expect(redact(raw)).toBe(shown);
  });
});

describe('prometheusUrlOf', () => {
  const meta = { name: 'shop', namespace: 'prod' };
  it('reads spec.rollout.analysis.prometheusUrl, else undefined', () => {
    expect(
      prometheusUrlOf({
        metadata: meta,
        spec: { rollout: { analysis: { prometheusUrl: 'http://p:9090' } } },
      }),
    ).toBe('http://p:9090');
    expect(prometheusUrlOf({ metadata: meta })).toBeUndefined();
    expect(
      prometheusUrlOf({ metadata: meta, spec: { rollout: { analysis: {} } } }),
    ).toBeUndefined();
    expect(
      prometheusUrlOf({ metadata: meta, spec: { rollout: { analysis: { prometheusUrl: '' } } } }),
    ).toBeUndefined();
  });
});

describe('decodeAlerts', () => {
  const firing = {
    labels: {
      alertname: 'TrenchHighErrorRate',
      namespace: 'prod',
      trench: 'shop',
      severity: 'critical',
    },
    annotations: { summary: 'errors', description: 'many', runbook_url: 'https://runbooks/x' },
    state: 'firing',
    activeAt: '2026-11-22T09:55:00.123456789Z',
    value: '1e+00',
  };

  it('reads the firing and pending alerts of a success', () => {
    const body = JSON.stringify({
      status: 'success',
      data: { alerts: [firing, { ...firing, state: 'pending', annotations: undefined }] },
    });
    expect(decodeAlerts(200, body)).toEqual({
      ok: true,
      alerts: [firing, { ...firing, state: 'pending', annotations: {} }],
    });
  });

  it('skips entries it cannot match or show, and non-string label values', () => {
    const body = JSON.stringify({
      status: 'success',
      data: {
        alerts: [
          null,
          { state: 'firing' },
          { ...firing, state: 'inactive' },
          { labels: { alertname: 'A', odd: 3 }, state: 'firing', activeAt: 7 },
        ],
      },
    });
    expect(decodeAlerts(200, body)).toEqual({
      ok: true,
      alerts: [{ labels: { alertname: 'A' }, annotations: {}, state: 'firing' }],
    });
  });

  it.each<[string, number, string, string]>([
    [
      'the proxy to a Service without endpoints',
      503,
      JSON.stringify({
        kind: 'Status',
        message: 'no endpoints available for service "prometheus"',
      }),
      'HTTP 503: no endpoints available for service "prometheus"',
    ],
    [
      'a refused proxy request',
      403,
      JSON.stringify({
        kind: 'Status',
        message:
          'services "prometheus" is forbidden: User "bob" cannot get resource "services/proxy"',
      }),
      'HTTP 403: services "prometheus" is forbidden: User "bob" cannot get resource "services/proxy"',
    ],
    ['a missing Service', 404, '404 page not found\n', 'HTTP 404: 404 page not found'],
    ['an empty error', 502, '', 'HTTP 502'],
    [
      'Prometheus refusing the request',
      422,
      JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'invalid parameter' }),
      'HTTP 422: invalid parameter',
    ],
    [
      'a login page',
      200,
      `<html>\n  <body>Sign in ${'x'.repeat(200)}`,
      `the answer is not JSON: "<html> <body>Sign in ${'x'.repeat(99)}..."`,
    ],
    [
      'an error status with 200',
      200,
      JSON.stringify({ status: 'error', error: 'overloaded' }),
      'the answer is not a success: overloaded',
    ],
    ['JSON that is not an answer', 200, '[]', 'the answer is not a success'],
    [
      'a success without alerts',
      200,
      JSON.stringify({ status: 'success', data: {} }),
      'the answer has no data.alerts list',
    ],
  ])('says what went wrong for %s', (_, status, body, error) => {
    expect(decodeAlerts(status, body)).toEqual({ ok: false, error });
  });
});

const alert = (
  labels: Record<string, string>,
  state: PrometheusAlert['state'] = 'firing',
  activeAt = '2026-11-22T09:00:00Z',
): PrometheusAlert => ({ labels, annotations: {}, state, activeAt });

describe('trenchAlerts', () => {
  it('keeps the alerts labelled with the Trench and its namespace', () => {
    const mine = alert({ alertname: 'A', namespace: 'prod', trench: 'shop' });
    const all = [
      mine,
      alert({ alertname: 'B', namespace: 'prod', trench: 'other' }),
      alert({ alertname: 'C', namespace: 'dev', trench: 'shop' }),
      alert({ alertname: 'D', trench: 'shop' }),
      alert({ alertname: 'TrenchOperatorDown' }),
    ];
    expect(trenchAlerts(all, 'prod', 'shop')).toEqual([mine]);
  });
});

describe('alertOrder', () => {
  it('sorts critical, warning, other severities; then name, firing first, oldest first', () => {
    const sorted = alertOrder([
      alert({ alertname: 'Z', severity: 'info' }),
      alert({ alertname: 'B', severity: 'warning' }, 'firing', '2026-11-22T09:30:00Z'),
      alert({ alertname: 'B', severity: 'warning' }, 'pending', '2026-11-22T08:00:00Z'),
      alert({ alertname: 'B', severity: 'warning' }, 'firing', '2026-11-22T09:00:00Z'),
      alert({ alertname: 'A', severity: 'warning' }),
      alert({ alertname: 'Y' }),
      alert({ alertname: 'C', severity: 'critical' }),
    ]);
    expect(
      sorted.map(
        (a) => `${a.labels.severity ?? '-'} ${a.labels.alertname} ${a.state} ${a.activeAt}`,
      ),
    ).toEqual([
      'critical C firing 2026-11-22T09:00:00Z',
      'warning A firing 2026-11-22T09:00:00Z',
      'warning B firing 2026-11-22T09:00:00Z',
      'warning B firing 2026-11-22T09:30:00Z',
      'warning B pending 2026-11-22T08:00:00Z',
      '- Y firing 2026-11-22T09:00:00Z',
      'info Z firing 2026-11-22T09:00:00Z',
    ]);
  });
});
