import { describe, expect, it } from 'vitest';
import type { AlertsResult, PrometheusAlert } from '../../../operator/cli/alerts.js';
import {
  backupsOf,
  EXIT,
  formatAge,
  formatList,
  formatStatus,
  type LiveTrench,
  type LiveTrenchBackup,
  newestFirst,
  notReadyReason,
  statusExitCode,
  table,
  toJson,
  toYaml,
} from '../../../operator/cli/format.js';

const NOW = new Date('2026-11-22T10:00:00Z');
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000).toISOString();
const UNCONFIGURED: AlertsResult = { kind: 'unconfigured' };

const ready: LiveTrench = {
  apiVersion: 'playtrenches.xyz/v1alpha1',
  kind: 'Trench',
  metadata: { name: 'shop', namespace: 'prod', generation: 3, creationTimestamp: ago(3 * 86400) },
  status: {
    observedGeneration: 3,
    phase: 'Ready',
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'AllReady',
        message: 'API 2/2, workers 1/1',
        lastTransitionTime: ago(300),
      },
      {
        type: 'Degraded',
        status: 'False',
        reason: 'AsExpected',
        message: '',
        lastTransitionTime: ago(3 * 3600),
      },
    ],
    api: { replicas: 2, readyReplicas: 2, summary: '2/2' },
    worker: { replicas: 1, desiredReplicas: 3, backlog: 250 },
  },
};

function backup(
  name: string,
  secondsAgo: number,
  trench = 'shop',
  extra: Partial<LiveTrenchBackup> = {},
): LiveTrenchBackup {
  return {
    metadata: { name, namespace: 'prod', creationTimestamp: ago(secondsAgo) },
    spec: { trench, reason: 'scheduled' },
    ...extra,
  };
}

describe('formatAge: kubectl HumanDuration', () => {
  it.each([
    [0, '0s'],
    [-1, '0s'],
    [-2, '<invalid>'],
    [59, '59s'],
    [119, '119s'],
    [120, '2m'],
    [330, '5m30s'],
    [599, '9m59s'],
    [600, '10m'],
    [179 * 60 + 59, '179m'],
    [3 * 3600, '3h'],
    [2 * 3600 + 15 * 60 + 120 * 60, '4h15m'],
    [7 * 3600 + 59 * 60, '7h59m'],
    [8 * 3600, '8h'],
    [47 * 3600 + 3599, '47h'],
    [48 * 3600, '2d'],
    [3 * 86400 + 4 * 3600, '3d4h'],
    [8 * 86400, '8d'],
    [400 * 86400, '400d'],
    [(2 * 365 + 30) * 86400, '2y30d'],
    [3 * 365 * 86400, '3y'],
    [10 * 365 * 86400 + 50 * 86400, '10y'],
  ])('%i s -> %s', (seconds, expected) => {
    expect(formatAge(ago(seconds), NOW)).toBe(expected);
  });

  it('says <unknown> for a missing or unparseable timestamp', () => {
    expect(formatAge(undefined, NOW)).toBe('<unknown>');
    expect(formatAge('yesterday-ish', NOW)).toBe('<unknown>');
  });
});

describe('exit code', () => {
  it('is 0 for a Ready Trench whose status observed the current generation', () => {
    expect(notReadyReason(ready)).toBeUndefined();
    expect(statusExitCode(ready)).toBe(EXIT.ok);
  });

  it.each<[string, LiveTrench, RegExp]>([
    ['no status', { ...ready, status: undefined }, /no status yet/],
    [
      'a status without observedGeneration',
      { ...ready, status: { phase: 'Ready' } },
      /no status yet/,
    ],
    [
      'status behind the generation, even with phase Ready',
      { ...ready, metadata: { ...ready.metadata, generation: 4 } },
      /status is behind: observedGeneration 3 < generation 4/,
    ],
    [
      'phase Progressing',
      { ...ready, status: { ...ready.status, phase: 'Progressing' } },
      /phase is Progressing/,
    ],
    [
      'phase Degraded',
      { ...ready, status: { ...ready.status, phase: 'Degraded' } },
      /phase is Degraded/,
    ],
    ['no phase', { ...ready, status: { observedGeneration: 3 } }, /phase is unset/],
  ])('is 1 for %s', (_, trench, reason) => {
    expect(notReadyReason(trench)).toMatch(reason);
    expect(statusExitCode(trench)).toBe(EXIT.notReady);
  });

  it('keeps the documented numbers', () => {
    expect(EXIT).toEqual({
      ok: 0,
      notReady: 1,
      usage: 2,
      notFound: 3,
      unreachable: 4,
      internal: 5,
    });
  });
});

describe('formatStatus', () => {
  it('lists the queues the scaler counted, with the active jobs', () => {
    const t: LiveTrench = {
      ...ready,
      status: {
        ...ready.status,
        worker: {
          replicas: 2,
          desiredReplicas: 2,
          backlog: 12,
          active: 3,
          queues: [
            { name: 'emails', waiting: 12, active: 3, exists: true },
            { name: 'reports', waiting: 0, active: 0, exists: false, paused: true },
          ],
        },
      },
    };
    const text = formatStatus(t, [], UNCONFIGURED, NOW);
    expect(text).toContain('Workers:     2 running, 2 desired, backlog 12, 3 active\n');
    expect(text).toContain('  Queue emails: 12 waiting, 3 active\n');
    expect(text).toContain('  Queue reports: 0 waiting, 0 active (never used, paused)\n');
  });

  it('prints a Ready Trench: identity, generation, every condition with its age, replicas', () => {
    expect(formatStatus(ready, [], UNCONFIGURED, NOW)).toBe(
      [
        'Trench:      prod/shop',
        'Phase:       Ready',
        'Generation:  3 (observed 3)',
        'Age:         3d',
        'Conditions:',
        '  TYPE       STATUS   REASON       AGE   MESSAGE',
        '  Ready      True     AllReady     5m    API 2/2, workers 1/1',
        '  Degraded   False    AsExpected   3h    -',
        'API:         2/2 ready',
        'Workers:     1 running, 3 desired, backlog 250',
        'Rollout:',
        '  none',
        'Backups:',
        '  none',
        'Alerts:',
        '  (no spec.rollout.analysis.prometheusUrl: no Prometheus to ask)',
        '',
      ].join('\n'),
    );
  });

  it('says the status is behind when observedGeneration < generation', () => {
    const out = formatStatus(
      { ...ready, metadata: { ...ready.metadata, generation: 5 } },
      [],
      UNCONFIGURED,
      NOW,
    );
    expect(out).toContain(
      'Generation:  5 (observed 3): status is behind: observedGeneration 3 < generation 5',
    );
  });

  it('prints none for every empty section of a Trench without status', () => {
    const out = formatStatus(
      { metadata: { name: 'new', namespace: 'dev', generation: 1 } },
      [],
      UNCONFIGURED,
      NOW,
    );
    expect(out).toBe(
      [
        'Trench:      dev/new',
        'Phase:       <unset>',
        'Generation:  1 (observed none): no status yet: the operator has not observed this Trench',
        'Age:         <unknown>',
        'Conditions:',
        '  none',
        'API:         none',
        'Workers:     none',
        'Rollout:',
        '  none',
        'Backups:',
        '  none',
        'Alerts:',
        '  (no spec.rollout.analysis.prometheusUrl: no Prometheus to ask)',
        '',
      ].join('\n'),
    );
  });

  it('prints what status.rollout and status.backup hold', () => {
    const out = formatStatus(
      {
        ...ready,
        status: {
          ...ready.status,
          rollout: {
            phase: 'Paused',
            reason: 'WaitingForPromote',
            stepIndex: 1,
            step: '2/3',
            weight: 20,
            achievedWeight: 25,
            canaryReplicas: { api: 1, worker: 2 },
            stableRevision: 'abc123',
            canaryRevision: 'def456',
            message: 'Step 2 of 3: waiting for promote',
            consecutiveFailures: 0,
            lastRequestResult: 'pause by alice done',
            measurements: [
              {
                time: '2026-11-23T10:00:00Z',
                verdict: 'pass',
                detail: 'canary-error-rate 0 <= 0.0500',
              },
            ],
          },
          backup: {
            lastSuccessfulBackup: 'shop-202611220300',
            lastSuccessfulTime: ago(7 * 3600),
            nextScheduleTime: '2026-11-23T03:00:00Z',
            lastVerification: {
              backup: 'shop-202611010300',
              passed: false,
              time: '2026-11-01T05:00:09Z',
              message: 'checksum mismatch',
            },
            nextVerifyTime: '2026-12-01T05:00:00Z',
          },
        },
      },
      [],
      UNCONFIGURED,
      NOW,
    );
    expect(out).toContain(
      [
        'Rollout:',
        '  Phase:           Paused (WaitingForPromote)',
        '  Step:            2/3',
        '  Weight:          20% asked, 25% of API pods',
        '  Canary pods:     1 API, 2 worker',
        '  Stable revision: abc123',
        '  Canary revision: def456',
        '  Message:         Step 2 of 3: waiting for promote',
        '  Last request:    pause by alice done',
        '  Measured 2026-11-23T10:00:00Z: pass: canary-error-rate 0 <= 0.0500',
        'Backups:',
        '  Last successful:      shop-202611220300',
        `  Last successful time: ${ago(7 * 3600)} (7h ago)`,
        '  Next schedule time:   2026-11-23T03:00:00Z',
        '  Last restore drill:   FAILED: shop-202611010300 at 2026-11-01T05:00:09Z (checksum mismatch)',
        '  Next restore drill:   2026-12-01T05:00:00Z',
        '',
      ].join('\n'),
    );
  });

  it('shows the weight an HTTPRoute carries, and why a route cannot be used', () => {
    const out = formatStatus(
      {
        ...ready,
        status: {
          ...ready.status,
          rollout: {
            phase: 'Progressing',
            weight: 20,
            route: {
              name: 'shop',
              stableWeight: 100,
              canaryWeight: 0,
              error: 'HTTPRoute shop not found in namespace prod',
            },
          },
        },
      },
      [],
      UNCONFIGURED,
      NOW,
    );
    expect(out).toContain('  Weight:        20% asked, 0% on HTTPRoute shop\n');
    expect(out).toContain('  Route problem: HTTPRoute shop not found in namespace prod\n');
  });

  it('lists the TrenchBackups newest first', () => {
    const out = formatStatus(
      ready,
      [
        backup('shop-old', 2 * 86400, 'shop', {
          status: { phase: 'Completed', sizeBytes: 1536, verified: false },
        }),
        backup('shop-mid', 7200, 'shop', {
          status: {
            phase: 'Completed',
            sizeBytes: 1536,
            verified: true,
            verification: { request: 'manual/x', phase: 'Running' },
          },
        }),
        backup('shop-new', 3600, 'shop', { status: { phase: 'Running' } }),
      ],
      UNCONFIGURED,
      NOW,
    );
    expect(out).toContain(
      [
        'Backups:',
        '  NAME       REASON      PHASE       SIZE      VERIFIED   AGE',
        '  shop-new   scheduled   Running     -         -          60m',
        '  shop-mid   scheduled   Completed   1.5 KiB   running    120m',
        '  shop-old   scheduled   Completed   1.5 KiB   no         2d',
        '',
      ].join('\n'),
    );
  });

  it('says why TrenchBackups could not be listed, and still prints the rest', () => {
    const out = formatStatus(ready, { error: 'forbidden' }, UNCONFIGURED, NOW);
    expect(out).toMatch(/Backups:\n {2}\(TrenchBackups not listed: forbidden\)\nAlerts:\n/);
  });
});

describe('formatStatus: Alerts', () => {
  const alert = (
    alertname: string,
    severity: string,
    secondsAgo: number,
    state: PrometheusAlert['state'] = 'firing',
  ): PrometheusAlert => ({
    labels: { alertname, severity, namespace: 'prod', trench: 'shop' },
    annotations: { summary: `${alertname} summary`, description: 'long text' },
    state,
    activeAt: ago(secondsAgo),
  });
  const alertsOf = (out: string) => out.slice(out.indexOf('Alerts:\n'));

  it('prints one row per alert, critical first, then by name, pending ones marked', () => {
    const out = formatStatus(
      ready,
      [],
      {
        kind: 'alerts',
        url: 'http://prometheus.mon.svc:9090',
        alerts: [
          alert('TrenchQueueBacklogHigh', 'warning', 330),
          alert('TrenchHighLatency', 'warning', 45, 'pending'),
          alert('TrenchHighErrorRate', 'critical', 3 * 3600),
        ],
      },
      NOW,
    );
    expect(alertsOf(out)).toBe(
      [
        'Alerts:',
        '  SEVERITY   ALERT                    STATE     FOR     SUMMARY',
        '  critical   TrenchHighErrorRate      firing    3h      TrenchHighErrorRate summary',
        '  warning    TrenchHighLatency        pending   45s     TrenchHighLatency summary',
        '  warning    TrenchQueueBacklogHigh   firing    5m30s   TrenchQueueBacklogHigh summary',
        '',
      ].join('\n'),
    );
  });

  it('prints dashes for an alert without severity or summary', () => {
    const out = formatStatus(
      ready,
      [],
      {
        kind: 'alerts',
        url: 'http://p',
        alerts: [{ labels: { alertname: 'X' }, annotations: {}, state: 'firing' }],
      },
      NOW,
    );
    expect(alertsOf(out)).toContain('\n  -          X       firing   <unknown>   -\n');
  });

  it('keeps a multi-line summary on its row', () => {
    const out = formatStatus(
      ready,
      [],
      {
        kind: 'alerts',
        url: 'http://p',
        alerts: [{ ...alert('X', 'warning', 5), annotations: { summary: 'two\n  lines\n' } }],
      },
      NOW,
    );
    expect(alertsOf(out)).toMatch(/\n {2}warning +X +firing +5s +two lines\n$/);
  });

  it.each<[string, AlertsResult, string]>([
    ['nothing active', { kind: 'alerts', url: 'http://p', alerts: [] }, '  none'],
    [
      'no Prometheus URL',
      UNCONFIGURED,
      '  (no spec.rollout.analysis.prometheusUrl: no Prometheus to ask)',
    ],
    [
      'an unreachable Prometheus',
      {
        kind: 'unreachable',
        url: 'http://127.0.0.1:1',
        reason: 'connect ECONNREFUSED 127.0.0.1:1',
      },
      '  (Prometheus http://127.0.0.1:1 not reachable: connect ECONNREFUSED 127.0.0.1:1)',
    ],
  ])('says so in one line for %s', (_, alerts, line) => {
    expect(alertsOf(formatStatus(ready, [], alerts, NOW))).toBe(`Alerts:\n${line}\n`);
  });
});

describe('TrenchBackups of a Trench', () => {
  it('keeps only those whose spec.trench names the Trench', () => {
    const all = [backup('a', 1), backup('b', 2, 'other'), backup('c', 3)];
    expect(backupsOf(all, 'shop').map((b) => b.metadata.name)).toEqual(['a', 'c']);
  });

  it('sorts newest first, ties by name descending', () => {
    const sorted = newestFirst([backup('x-1', 50), backup('x-3', 10), backup('x-2', 10)]);
    expect(sorted.map((b) => b.metadata.name)).toEqual(['x-3', 'x-2', 'x-1']);
  });
});

describe('formatList', () => {
  const pending: LiveTrench = {
    metadata: { name: 'api', namespace: 'dev', generation: 1, creationTimestamp: ago(45) },
  };

  it('prints one row per Trench sorted by name, with the Ready reason', () => {
    expect(
      formatList(
        [ready, { ...pending, metadata: { ...pending.metadata, namespace: 'prod' } }],
        false,
        NOW,
      ),
    ).toBe(
      [
        'NAME   PHASE    API      WORKERS   BACKLOG   READY      AGE',
        'api    <none>   <none>   <none>    <none>    <none>     45s',
        'shop   Ready    2/2      1/3       250       AllReady   3d',
        '',
      ].join('\n'),
    );
  });

  it('adds NAMESPACE first with --all-namespaces', () => {
    expect(formatList([ready, pending], true, NOW)).toBe(
      [
        'NAMESPACE   NAME   PHASE    API      WORKERS   BACKLOG   READY      AGE',
        'dev         api    <none>   <none>   <none>    <none>    <none>     45s',
        'prod        shop   Ready    2/2      1/3       250       AllReady   3d',
        '',
      ].join('\n'),
    );
  });

  it('falls back to ready/desired when the summary is missing', () => {
    const t: LiveTrench = { ...ready, status: { api: { replicas: 3, readyReplicas: 1 } } };
    expect(formatList([t], false, NOW).split('\n')[1]).toMatch(/^shop {3}<none> {3}1\/3 /);
  });
});

describe('table, JSON and YAML', () => {
  it('pads columns by three spaces and leaves no trailing blanks', () => {
    expect(
      table(
        ['A', 'LONGER'],
        [
          ['xxxx', ''],
          ['y', 'z'],
        ],
      ),
    ).toEqual(['A      LONGER', 'xxxx', 'y      z']);
  });

  it('prints objects whole', () => {
    expect(JSON.parse(toJson({ items: [ready] }))).toEqual({ items: [ready] });
    expect(toYaml(ready)).toContain('name: shop\n');
  });
});
