// What `kubectl trench` prints and which exit code it ends with, as pure functions of the
// objects read and `now`: no clock, no I/O, so every line has a table test.

import { stringify } from 'yaml';
import type {
  TrenchBackupSpec,
  TrenchBackupStatus,
  TrenchRestoreSpec,
  TrenchRestoreStatus,
} from '../../charts/api/backup.js';
import type { RolloutSpec, TrenchStatus } from '../../charts/api/trench.js';
import { formatBytes } from '../runtime/bytes.js';
import { type AlertsResult, alertOrder } from './alerts.js';

/**
 * A Trench as the API server returns it. Of the spec only the Prometheus URL is read (for the
 * Alerts section); the API server validated it against the CRD schema.
 */
export interface LiveTrench {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    generation?: number;
    creationTimestamp?: string;
  };
  spec?: { readonly rollout?: { readonly analysis?: Partial<RolloutSpec['analysis']> } };
  status?: TrenchStatus;
}

export interface LiveTrenchBackup {
  metadata: { name: string; namespace?: string; creationTimestamp?: string };
  spec: TrenchBackupSpec;
  status?: TrenchBackupStatus;
}

export interface LiveTrenchRestore {
  metadata: { name: string; namespace?: string; creationTimestamp?: string };
  spec: TrenchRestoreSpec;
  status?: TrenchRestoreStatus;
}

export const EXIT = {
  ok: 0,
  notReady: 1,
  usage: 2,
  notFound: 3,
  unreachable: 4,
  /** A bug in the plugin, with its stack on stderr; never one of the codes above. */
  internal: 5,
} as const;

/**
 * kubectl's AGE (k8s.io/apimachinery/pkg/util/duration.HumanDuration), so the two read alike:
 * precision shrinks as the age grows ("90s", "5m30s", "2h15m", "3d4h", "400d", "2y30d").
 * A timestamp up to 1 s ahead counts as now, to tolerate clock skew between the machines;
 * further ahead is "<invalid>", as kubectl prints it.
 */
export function formatAge(timestamp: string | undefined, now: Date): string {
  if (!timestamp) return '<unknown>';
  const then = Date.parse(timestamp);
  if (Number.isNaN(then)) return '<unknown>';
  const seconds = Math.trunc((now.getTime() - then) / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) return withRest(minutes, 'm', seconds % 60, 's');
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) return withRest(hours, 'h', minutes % 60, 'm');
  if (hours < 48) return `${hours}h`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 8) return withRest(days, 'd', hours % 24, 'h');
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.trunc(days / 365);
  if (hours < 24 * 365 * 8) return withRest(years, 'y', days % 365, 'd');
  return `${years}y`;
}

function withRest(major: number, majorUnit: string, minor: number, minorUnit: string): string {
  return minor === 0 ? `${major}${majorUnit}` : `${major}${majorUnit}${minor}${minorUnit}`;
}

/** Why a Trench is not Ready, or undefined when it is (the exit code 0 case). */
export function notReadyReason(trench: LiveTrench): string | undefined {
  const behind = behindBy(trench);
  if (behind) return behind;
  const phase = trench.status?.phase;
  if (phase !== 'Ready') return `phase is ${phase ?? 'unset'}, not Ready`;
  return undefined;
}

export function statusExitCode(trench: LiveTrench): number {
  return notReadyReason(trench) === undefined ? EXIT.ok : EXIT.notReady;
}

/**
 * "status is behind" when the operator has not yet observed the current spec: what status
 * says then describes an older generation, so a Ready phase cannot be trusted.
 */
function behindBy(trench: LiveTrench): string | undefined {
  const generation = trench.metadata.generation;
  const observed = trench.status?.observedGeneration;
  if (observed === undefined) return 'no status yet: the operator has not observed this Trench';
  if (generation !== undefined && observed < generation) {
    return `status is behind: observedGeneration ${observed} < generation ${generation}`;
  }
  return undefined;
}

const NONE = 'none';

export function formatStatus(
  trench: LiveTrench,
  backups: readonly LiveTrenchBackup[] | { readonly error: string },
  alerts: AlertsResult,
  now: Date,
): string {
  const s = trench.status ?? {};
  const { name, namespace, generation } = trench.metadata;
  const lines: string[] = [];
  lines.push(`Trench:      ${namespace}/${name}`);
  lines.push(`Phase:       ${s.phase ?? '<unset>'}`);
  const behind = behindBy(trench);
  lines.push(
    `Generation:  ${generation ?? '?'} (observed ${s.observedGeneration ?? 'none'})` +
      (behind ? `: ${behind}` : ''),
  );
  lines.push(`Age:         ${formatAge(trench.metadata.creationTimestamp, now)}`);

  lines.push('Conditions:');
  const conditions = s.conditions ?? [];
  if (conditions.length === 0) lines.push(`  ${NONE}`);
  else {
    lines.push(
      ...indent(
        table(
          ['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'],
          conditions.map((c) => [
            c.type,
            c.status,
            c.reason || '-',
            formatAge(c.lastTransitionTime, now),
            c.message || '-',
          ]),
        ),
      ),
    );
  }

  const api = s.api;
  lines.push(`API:         ${api ? `${api.readyReplicas ?? 0}/${api.replicas ?? 0} ready` : NONE}`);
  const worker = s.worker;
  lines.push(
    `Workers:     ${
      worker
        ? `${worker.replicas ?? 0} running, ${worker.desiredReplicas ?? '?'} desired, backlog ${worker.backlog ?? '?'}${
            worker.active !== undefined ? `, ${worker.active} active` : ''
          }`
        : NONE
    }`,
  );
  // One line per queue, as the scaler counted it (status.worker.queues).
  for (const q of worker?.queues ?? []) {
    const notes = [q.exists ? undefined : 'never used', q.paused ? 'paused' : undefined].filter(
      Boolean,
    );
    lines.push(
      `  Queue ${q.name}: ${q.waiting} waiting, ${q.active} active${notes.length ? ` (${notes.join(', ')})` : ''}`,
    );
  }

  lines.push('Rollout:');
  const r = s.rollout;
  const canaryPods = r?.canaryReplicas
    ? `${r.canaryReplicas.api} API${r.canaryReplicas.worker !== undefined ? `, ${r.canaryReplicas.worker} worker` : ''}`
    : undefined;
  const rolloutFields = r
    ? fields([
        ['Phase', r.reason && r.reason !== r.phase ? `${r.phase} (${r.reason})` : r.phase],
        ['Step', r.step],
        [
          'Weight',
          r.weight === undefined || r.phase === 'Stable'
            ? undefined
            : r.route
              ? `${r.weight}% asked, ${r.route.canaryWeight}% on HTTPRoute ${r.route.name}`
              : `${r.weight}% asked, ${r.achievedWeight ?? 0}% of API pods`,
        ],
        ['Canary pods', canaryPods],
        ['Stable revision', r.stableRevision],
        ['Canary revision', r.canaryRevision],
        ['Message', r.message],
        ['Failures in a row', r.consecutiveFailures ? String(r.consecutiveFailures) : undefined],
        [
          'Migration',
          r.migration && r.phase !== 'Stable'
            ? `${r.migration.phase}: ${r.migration.message}`
            : undefined,
        ],
        ['Last request', r.lastRequestResult],
        ['Route problem', r.route?.error],
      ])
    : [];
  // The newest measurements, newest last: what the analysis saw, check by check.
  for (const m of (r?.measurements ?? []).slice(-5)) {
    rolloutFields.push(`  Measured ${m.time}: ${m.verdict}: ${m.detail}`);
  }
  lines.push(...(rolloutFields.length > 0 ? rolloutFields : [`  ${NONE}`]));

  lines.push('Backups:');
  const b = s.backup;
  const backupFields = b
    ? fields([
        ['Last successful', b.lastSuccessfulBackup],
        [
          'Last successful time',
          b.lastSuccessfulTime &&
            `${b.lastSuccessfulTime} (${formatAge(b.lastSuccessfulTime, now)} ago)`,
        ],
        ['Next schedule time', b.nextScheduleTime],
        [
          'Last restore drill',
          b.lastVerification &&
            `${b.lastVerification.passed ? 'passed' : 'FAILED'}: ${b.lastVerification.backup} at ${b.lastVerification.time}${b.lastVerification.message ? ` (${b.lastVerification.message})` : ''}`,
        ],
        ['Next restore drill', b.nextVerifyTime],
      ])
    : [];
  lines.push(...backupFields);
  if ('error' in backups) lines.push(`  (TrenchBackups not listed: ${backups.error})`);
  else if (backups.length > 0) {
    lines.push(...indent(backupTable(backups, now)));
  } else if (backupFields.length === 0) lines.push(`  ${NONE}`);

  lines.push('Alerts:');
  lines.push(...alertLines(alerts, now));

  return `${lines.join('\n')}\n`;
}

/**
 * The Trench's active alerts, most urgent first, or one line saying why none can be shown.
 * FOR is the time since the alert became active (for a firing one this includes its pending
 * `for:` duration), in AGE's format.
 */
function alertLines(alerts: AlertsResult, now: Date): string[] {
  switch (alerts.kind) {
    case 'unconfigured':
      return ['  (no spec.rollout.analysis.prometheusUrl: no Prometheus to ask)'];
    case 'unreachable':
      return [`  (Prometheus ${alerts.url} not reachable: ${alerts.reason})`];
    case 'alerts':
      if (alerts.alerts.length === 0) return [`  ${NONE}`];
      return indent(
        table(
          ['SEVERITY', 'ALERT', 'STATE', 'FOR', 'SUMMARY'],
          alertOrder(alerts.alerts).map((a) => [
            a.labels.severity || '-',
            a.labels.alertname || '-',
            a.state,
            formatAge(a.activeAt, now),
            // A multi-line summary would break the table's rows.
            a.annotations.summary?.replace(/\s+/g, ' ').trim() || '-',
          ]),
        ),
      );
  }
}

/** The TrenchBackups of one Trench, newest first; ties (same second) by name, descending. */
export function newestFirst(backups: readonly LiveTrenchBackup[]): LiveTrenchBackup[] {
  const time = (b: LiveTrenchBackup) => Date.parse(b.metadata.creationTimestamp ?? '') || 0;
  return [...backups].sort(
    (a, b) => time(b) - time(a) || b.metadata.name.localeCompare(a.metadata.name),
  );
}

/** The TrenchBackups newest first: name, reason, phase, size, drill verdict, age. */
export function backupTable(backups: readonly LiveTrenchBackup[], now: Date): string[] {
  return table(
    ['NAME', 'REASON', 'PHASE', 'SIZE', 'VERIFIED', 'AGE'],
    newestFirst(backups).map((tb) => [
      tb.metadata.name,
      tb.spec.reason ?? '-',
      tb.status?.phase ?? '-',
      tb.status?.sizeBytes === undefined
        ? '-'
        : (tb.status.size ?? formatBytes(tb.status.sizeBytes)),
      verifiedCell(tb.status),
      formatAge(tb.metadata.creationTimestamp, now),
    ]),
  );
}

/** The newest drill's verdict: yes, no, running, or - when never drilled. */
function verifiedCell(status: LiveTrenchBackup['status']): string {
  if (status?.verification?.phase === 'Running') return 'running';
  if (status?.verified === undefined) return '-';
  return status.verified ? 'yes' : 'no';
}

export function backupsOf(
  backups: readonly LiveTrenchBackup[],
  trench: string,
): LiveTrenchBackup[] {
  return backups.filter((b) => b.spec?.trench === trench);
}

export function formatList(
  trenches: readonly LiveTrench[],
  allNamespaces: boolean,
  now: Date,
): string {
  const header = ['NAME', 'PHASE', 'API', 'WORKERS', 'BACKLOG', 'READY', 'AGE'];
  const sorted = [...trenches].sort(
    (a, b) =>
      a.metadata.namespace.localeCompare(b.metadata.namespace) ||
      a.metadata.name.localeCompare(b.metadata.name),
  );
  const rows = sorted.map((t) => {
    const s = t.status;
    const ready = s?.conditions?.find((c) => c.type === 'Ready');
    const row = [
      t.metadata.name,
      s?.phase ?? '<none>',
      s?.api?.summary ?? (s?.api ? `${s.api.readyReplicas ?? 0}/${s.api.replicas ?? 0}` : '<none>'),
      s?.worker
        ? `${s.worker.replicas ?? 0}/${s.worker.desiredReplicas ?? s.worker.replicas ?? 0}`
        : '<none>',
      s?.worker?.backlog === undefined ? '<none>' : String(s.worker.backlog),
      ready ? ready.reason || ready.status : '<none>',
      formatAge(t.metadata.creationTimestamp, now),
    ];
    return allNamespaces ? [t.metadata.namespace, ...row] : row;
  });
  return `${table(allNamespaces ? ['NAMESPACE', ...header] : header, rows).join('\n')}\n`;
}

/** kubectl's "No resources found" line, for stderr, so that stdout stays a parseable table. */
export function emptyListMessage(namespace: string | undefined): string {
  return namespace === undefined
    ? 'No Trenches found'
    : `No Trenches found in namespace ${JSON.stringify(namespace)}`;
}

export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function toYaml(value: unknown): string {
  return stringify(value);
}

/** Columns padded as kubectl pads them: three spaces between, none after the last. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd(),
  );
}

function indent(lines: readonly string[]): string[] {
  return lines.map((l) => `  ${l}`);
}

function fields(pairs: readonly (readonly [string, string | number | undefined])[]): string[] {
  const present = pairs.filter((p) => p[1] !== undefined && p[1] !== '');
  const width = Math.max(0, ...present.map(([k]) => k.length + 1));
  return present.map(([k, v]) => `  ${`${k}:`.padEnd(width)} ${v}`);
}
