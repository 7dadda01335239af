// A Grafana dashboard for one Trench: traffic, errors, latency, queue backlog, pods, backups.
import { createHash } from 'node:crypto';
import {
  BACKUP_LAST_SUCCESS,
  HTTP_DURATION_BUCKET,
  HTTP_REQUESTS,
  WORKER_BACKLOG,
} from './metrics.js';

interface Panel {
  id: number;
  title: string;
  type: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { type: string; uid: string };
  targets: { refId: string; expr: string; legendFormat: string }[];
  fieldConfig: { defaults: { unit: string }; overrides: never[] };
}

/** Grafana uids are at most 40 characters; a hash keeps them short, unique and stable. */
export function dashboardUid(namespace: string, trench: string): string {
  return `trench-${createHash('sha256').update(`${namespace}/${trench}`).digest('hex').slice(0, 16)}`;
}

export function trenchDashboard(namespace: string, trench: string): Record<string, unknown> {
  const sel = `namespace="${namespace}",trench="${trench}"`;
  // A Grafana template variable, not a JavaScript placeholder.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana syntax
  const ds = { type: 'prometheus', uid: '${datasource}' };
  const specs: [string, string, string, string][] = [
    [
      'Requests per second',
      `sum by (code) (rate(${HTTP_REQUESTS}{${sel}}[5m]))`,
      '{{code}}',
      'reqps',
    ],
    [
      'Error rate (5xx)',
      // `or vector(0)`: with no 5xx series at all the ratio would be empty, and a healthy API
      // would show "No data" instead of 0 %.
      `(sum(rate(${HTTP_REQUESTS}{${sel},code=~"5.."}[5m])) or vector(0)) / sum(rate(${HTTP_REQUESTS}{${sel}}[5m]))`,
      'errors',
      'percentunit',
    ],
    [
      'Latency p95',
      `histogram_quantile(0.95, sum by (le) (rate(${HTTP_DURATION_BUCKET}{${sel}}[5m])))`,
      'p95',
      's',
    ],
    ['Queue backlog', `max(${WORKER_BACKLOG}{${sel}})`, 'backlog', 'short'],
    [
      'Worker replicas',
      `kube_deployment_status_replicas{namespace="${namespace}",deployment="${trench}-worker"}`,
      'workers',
      'short',
    ],
    ['Backup age', `time() - max(${BACKUP_LAST_SUCCESS}{${sel}})`, 'age', 's'],
  ];
  const panels: Panel[] = specs.map(([title, expr, legendFormat, unit], i) => ({
    id: i + 1,
    title,
    type: 'timeseries',
    gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
    datasource: ds,
    targets: [{ refId: 'A', expr, legendFormat }],
    fieldConfig: { defaults: { unit }, overrides: [] },
  }));
  return {
    uid: dashboardUid(namespace, trench),
    title: `Trench ${namespace}/${trench}`,
    tags: ['trench'],
    timezone: 'utc',
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: {
      list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Data source' }],
    },
    panels,
  };
}
