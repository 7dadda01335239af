// The `kubectl trench` command as a function of argv: parsing, the API reads and formatting
// wired together (every decision lives in args.ts, format.ts and alerts.ts). main.ts runs it.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ANNOTATION_VERIFY } from '../backup/drill-job.js';
import { ANNOTATION_ROLLOUT_REQUEST, formatRequest, requestId } from '../rollout/request.js';
import {
  type AlertsResult,
  decodeAlerts,
  prometheusTarget,
  prometheusUrlOf,
  redact,
  trenchAlerts,
} from './alerts.js';
import { parseArgs, ROLLOUT_VERBS, type RolloutVerb, USAGE } from './args.js';
import {
  drillProgressLine,
  drillTarget,
  finished,
  manualBackup,
  manualDrillRequest,
  progressLine,
  restoreRefusal,
  restoreRequest,
} from './backup.js';
import {
  annotateBackup,
  annotateTrench,
  CliError,
  type Connection,
  connect,
  createBackup,
  createRestore,
  getAlerts,
  getBackup,
  getRestore,
  getTrench,
  listBackups,
  listTrenches,
  messageOf,
  whoAmI,
} from './client.js';
import {
  backupsOf,
  backupTable,
  EXIT,
  emptyListMessage,
  formatList,
  formatStatus,
  type LiveTrench,
  type LiveTrenchBackup,
  statusExitCode,
  toJson,
  toYaml,
} from './format.js';
import { requestOutcome, rolloutAction, rolloutRefusal } from './rollout.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const PREFIX = 'kubectl-trench: ';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** How long a rollout request waits for the operator's answer. */
const REQUEST_ANSWER_MS = 30_000;

export async function run(
  argv: readonly string[],
  io: Io,
  now = () => new Date(),
  pollMs = 1000,
): Promise<number> {
  const parsed = parseArgs(argv);
  if (!parsed.ok) {
    io.err(`${PREFIX}${parsed.error}\nRun "kubectl trench --help" for usage.\n`);
    return EXIT.usage;
  }
  const o = parsed.options;
  if (o.verb === 'help') {
    io.out(USAGE);
    return EXIT.ok;
  }
  if (o.verb === 'version') {
    io.out(
      o.output === 'text'
        ? `kubectl-trench ${version()}\n`
        : render(o.output, { version: version() }),
    );
    return EXIT.ok;
  }
  try {
    const conn = connect({
      ...(o.kubeconfig !== undefined ? { kubeconfig: o.kubeconfig } : {}),
      ...(o.context !== undefined ? { context: o.context } : {}),
    });
    const namespace = o.namespace ?? conn.defaultNamespace;
    if (o.verb === 'status') {
      const trench = await getTrench(conn, namespace, o.name!);
      if (o.output !== 'text') io.out(render(o.output, trench));
      else {
        const [backups, alerts] = await Promise.all([
          backupsOrError(conn, namespace, o.name!),
          alertsOf(conn, trench),
        ]);
        io.out(formatStatus(trench, backups, alerts, now()));
      }
      return statusExitCode(trench);
    }
    if (o.verb === 'backup') {
      await getTrench(conn, namespace, o.name!);
      const created = await createBackup(conn, manualBackup(namespace, o.name!, now()));
      const name = created.metadata.name;
      if (!o.wait) {
        io.out(
          o.output === 'text'
            ? `trenchbackup.playtrenches.xyz/${name} created\n`
            : render(o.output, created),
        );
        return EXIT.ok;
      }
      io.err(`trenchbackup.playtrenches.xyz/${name} created; waiting for it to finish\n`);
      let last = '';
      for (;;) {
        const b = await getBackup(conn, namespace, name);
        const line = progressLine(name, b.status);
        if (line !== last) io.err(`${line}\n`);
        last = line;
        const code = finished(b.status);
        if (code !== undefined) {
          if (o.output !== 'text') io.out(render(o.output, b));
          return code;
        }
        await new Promise((r) => setTimeout(r, pollMs));
      }
    }
    if (o.verb === 'restore') {
      const trench = await getTrench(conn, namespace, o.name!);
      const backup = await getBackup(conn, namespace, o.from!, 'named');
      const refusal = restoreRefusal(
        backup,
        { name: o.name!, ...(trench.metadata.uid ? { uid: trench.metadata.uid } : {}) },
        o.force === true,
      );
      if (refusal) {
        io.err(`${PREFIX}cannot restore TrenchBackup ${JSON.stringify(o.from)}: ${refusal}\n`);
        return EXIT.notReady;
      }
      const created = await createRestore(
        conn,
        restoreRequest(namespace, o.name!, o.from!, o.force === true, now()),
      );
      const name = created.metadata.name;
      if (!o.wait) {
        io.out(
          o.output === 'text'
            ? `trenchrestore.playtrenches.xyz/${name} created\n`
            : render(o.output, created),
        );
        return EXIT.ok;
      }
      io.err(`trenchrestore.playtrenches.xyz/${name} created; waiting for it to finish\n`);
      let last = '';
      for (;;) {
        const r = await getRestore(conn, namespace, name);
        const line = progressLine(name, r.status);
        if (line !== last) io.err(`${line}\n`);
        last = line;
        const code = finished(r.status);
        if (code !== undefined) {
          if (o.output !== 'text') io.out(render(o.output, r));
          return code;
        }
        await new Promise((res) => setTimeout(res, pollMs));
      }
    }
    if (o.verb === 'verify') {
      await getTrench(conn, namespace, o.name!);
      const candidates =
        o.backup !== undefined
          ? [await getBackup(conn, namespace, o.backup, 'named')]
          : backupsOf(await listBackups(conn, namespace), o.name!);
      const target = drillTarget(candidates, o.name!, o.backup);
      if (typeof target === 'string') {
        io.err(`${PREFIX}cannot verify: ${target}\n`);
        return EXIT.notReady;
      }
      const name = target.metadata.name;
      const request = manualDrillRequest(now());
      const annotated = await annotateBackup(conn, namespace, name, {
        [ANNOTATION_VERIFY]: request,
      });
      if (!o.wait) {
        io.out(
          o.output === 'text'
            ? `trenchbackup.playtrenches.xyz/${name} annotated ${ANNOTATION_VERIFY}=${request}\n`
            : render(o.output, annotated),
        );
        return EXIT.ok;
      }
      io.err(
        `trenchbackup.playtrenches.xyz/${name}: restore drill ${request} requested; waiting for it to finish\n`,
      );
      let last = '';
      for (;;) {
        const b = await getBackup(conn, namespace, name);
        const { line, code } = drillProgressLine(name, b.status, request);
        if (line !== last) io.err(`${line}\n`);
        last = line;
        if (code !== undefined) {
          if (o.output !== 'text') io.out(render(o.output, b));
          return code;
        }
        await new Promise((res) => setTimeout(res, pollMs));
      }
    }
    if ((ROLLOUT_VERBS as readonly string[]).includes(o.verb)) {
      const verb = o.verb as RolloutVerb;
      const trench = await getTrench(conn, namespace, o.name!);
      const refusal = rolloutRefusal(trench, verb);
      if (refusal) {
        io.err(`${PREFIX}cannot ${verb}: ${refusal}\n`);
        return EXIT.notReady;
      }
      const request = {
        id: requestId(now(), randomBytes(3).toString('hex')),
        action: rolloutAction(verb, o.full === true),
        by: await whoAmI(conn),
      };
      await annotateTrench(conn, namespace, o.name!, {
        [ANNOTATION_ROLLOUT_REQUEST]: formatRequest(request),
      });
      io.err(
        `trench.playtrenches.xyz/${o.name} ${request.action} requested; waiting for the operator\n`,
      );
      const deadline = Date.now() + REQUEST_ANSWER_MS;
      for (;;) {
        const t = await getTrench(conn, namespace, o.name!);
        const outcome = requestOutcome(t, request);
        if (outcome) {
          if (o.output !== 'text') io.out(render(o.output, t));
          else if (outcome.code === EXIT.ok) io.out(`${outcome.line}\n`);
          else io.err(`${PREFIX}${outcome.line}\n`);
          return outcome.code;
        }
        if (Date.now() > deadline) {
          io.err(
            `${PREFIX}the operator did not answer ${request.action} within ${REQUEST_ANSWER_MS / 1000} s (is it running?); the request stays on the Trench and is handled when it does\n`,
          );
          return EXIT.notReady;
        }
        await new Promise((res) => setTimeout(res, Math.min(pollMs, 500)));
      }
    }
    if (o.verb === 'backups') {
      await getTrench(conn, namespace, o.name!);
      const items = backupsOf(await listBackups(conn, namespace), o.name!);
      if (o.output !== 'text') io.out(render(o.output, { items }));
      else if (items.length === 0)
        io.err(`No TrenchBackups of Trench ${o.name} in namespace ${namespace}\n`);
      else io.out(`${backupTable(items, now()).join('\n')}\n`);
      return EXIT.ok;
    }
    const items = await listTrenches(conn, o.allNamespaces ? undefined : namespace);
    if (o.output !== 'text') io.out(render(o.output, { items }));
    else if (items.length === 0)
      io.err(`${emptyListMessage(o.allNamespaces ? undefined : namespace)}\n`);
    else io.out(formatList(items, o.allNamespaces, now()));
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CliError) {
      io.err(`${PREFIX}${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}

/**
 * The Backups section is extra detail: a user allowed to read Trenches but not TrenchBackups
 * still gets the status (and its exit code), with the refusal shown in place of the list.
 */
async function backupsOrError(
  conn: Connection,
  namespace: string,
  name: string,
): Promise<LiveTrenchBackup[] | { error: string }> {
  try {
    return backupsOf(await listBackups(conn, namespace), name);
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * Short next to the API server's 30 s: the alerts are extra detail, and a Prometheus that
 * does not answer (a dropped port, a proxy to a pod that hangs) should not hold the status
 * that a script is waiting on for long.
 */
const ALERTS_TIMEOUT_MS = 3_000;

/**
 * The Alerts section, like Backups, never fails the status or changes its exit code: each
 * failure becomes the reason printed in place of the alerts.
 */
async function alertsOf(conn: Connection, trench: LiveTrench): Promise<AlertsResult> {
  const raw = prometheusUrlOf(trench);
  if (raw === undefined) return { kind: 'unconfigured' };
  const parsed = prometheusTarget(raw);
  if (!parsed.ok) return { kind: 'unreachable', url: redact(raw), reason: parsed.error };
  const target = parsed.target;
  const via = target.via === 'proxy' ? `through the service proxy of ${conn.server}: ` : '';
  const unreachable = (reason: string): AlertsResult => ({
    kind: 'unreachable',
    url: target.display,
    reason: `${via}${reason}`,
  });
  let answer: { status: number; body: string };
  try {
    answer = await getAlerts(conn, target, ALERTS_TIMEOUT_MS);
  } catch (error) {
    return unreachable(messageOf(error));
  }
  const decoded = decodeAlerts(answer.status, answer.body);
  if (!decoded.ok) return unreachable(decoded.error);
  const { namespace, name } = trench.metadata;
  return {
    kind: 'alerts',
    url: target.display,
    alerts: trenchAlerts(decoded.alerts, namespace, name),
  };
}

function render(format: 'json' | 'yaml', value: unknown): string {
  return format === 'json' ? toJson(value) : toYaml(value);
}
