// One Grafana dashboard for every Trench: traffic, errors, latency, queue backlog, workers,
// backups, with `namespace` and `trench` variables filled from the Trenches the operator
// reports as monitored, so a Trench made by hand shows up without a new dashboard.
import {
  BACKUP_LAST_SUCCESS,
  HTTP_DURATION_BUCKET,
  HTTP_REQUESTS,
  MONITORED,
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

/** The dashboard's uid (Grafana allows at most 40 characters). */
export const DASHBOARD_UID = 'trench-overview';

export function trenchDashboard(): Record<string, unknown> {
  // Grafana template variables, not JavaScript placeholders.
  const sel = 'namespace="$namespace",trench="$trench"';
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
      'kube_deployment_status_replicas{namespace="$namespace",deployment="$trench-worker"}',
      'workers',
      'short',
    ],
    ['Backup age', `time() - max(${BACKUP_LAST_SUCCESS}{${sel}})`, 'age', 's'],
    [
      'Firing alerts',
      `sum by (alertname, severity) (ALERTS{alertstate="firing",${sel}})`,
      '{{alertname}} {{severity}}',
      'short',
    ],
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
    uid: DASHBOARD_UID,
    title: 'Trench',
    tags: ['trench'],
    timezone: 'utc',
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: {
      list: [
        { name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Data source' },
        variable('namespace', `label_values(${MONITORED}, namespace)`, ds),
        variable('trench', `label_values(${MONITORED}{namespace="$namespace"}, trench)`, ds),
      ],
    },
    panels,
  };
}

function variable(name: string, query: string, datasource: { type: string; uid: string }) {
  return {
    name,
    label: name === 'trench' ? 'Trench' : 'Namespace',
    type: 'query',
    datasource,
    query: { query, refId: name },
    definition: query,
    // On dashboard load: a Trench created a minute ago is in the list.
    refresh: 1,
    sort: 1,
    includeAll: false,
    multi: false,
  };
}
