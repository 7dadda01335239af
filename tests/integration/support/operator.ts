// Runs the real operator as a child process of the test (stopped by its pid), under exactly
// the RBAC that OperatorChart grants: the kubeconfig impersonates its ServiceAccount.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterEach, inject } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { API_VERSION } from '../../../charts/api/trench.js';
import {
  DEFAULT_MANAGED_BY,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
} from '../../../charts/constructs/common.js';
import { REPO_ROOT } from '../../../hack/lib/cluster.js';
import { freePorts } from '../../../hack/lib/processes.js';
import { kubectl, testCluster, waitFor } from './cluster.js';

export const OPERATOR_USER = 'system:serviceaccount:trench-system:trench-operator';
const RBAC_KINDS = new Set([
  'Namespace',
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
]);

/** Installs the CRDs and the operator's Namespace, ServiceAccount and RBAC from dist/. */
export async function installCrdsAndRbac(): Promise<void> {
  const crds = await kubectl([
    'apply',
    '--server-side',
    '--force-conflicts',
    '-f',
    join(REPO_ROOT, 'crds'),
  ]);
  if (crds.code !== 0) throw new Error(`Applying crds/ failed: ${crds.stderr}`);
  const docs = parseAllDocuments(
    readFileSync(join(REPO_ROOT, 'dist', '0001-operator.k8s.yaml'), 'utf8'),
  )
    .map((d) => d.toJS() as { kind?: string })
    .filter((d) => d?.kind && RBAC_KINDS.has(d.kind));
  const rbac = await kubectl(
    ['apply', '--server-side', '--force-conflicts', '-f', '-'],
    docs.map((d) => JSON.stringify(d)).join('\n'),
  );
  if (rbac.code !== 0) throw new Error(`Applying the operator RBAC failed: ${rbac.stderr}`);
  const established = await kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/trenches.playtrenches.xyz',
  ]);
  if (established.code !== 0) throw new Error(`CRD not established: ${established.stderr}`);
}

/** A kubeconfig file for the test cluster that acts as `user`. */
export function impersonatingKubeconfig(user: string): string {
  const kc = new KubeConfig();
  kc.loadFromString(testCluster().kc.exportConfig());
  const cfg = JSON.parse(kc.exportConfig()) as { users: { user: Record<string, unknown> }[] };
  for (const u of cfg.users) u.user.as = user;
  const file = join(mkdtempSync(join(tmpdir(), 'trench-op-')), 'kubeconfig');
  writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
  return file;
}

export interface RunningOperator {
  readonly pid: number;
  readonly port: number;
  /** Everything the process printed so far. */
  logs(): string;
  metrics(): Promise<string>;
  /** Sends `signal` (unless it exited already) and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<OperatorExit>;
}

/** How the process ended: its exit code, or the signal that killed it. */
export interface OperatorExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * After a failed test, prints the operator's last log lines: what it decided is often the
 * only record of why a wait timed out.
 */
export function showOperatorLogsOnFailure(
  current: () => RunningOperator | undefined,
  lines = 300,
): void {
  afterEach((ctx) => {
    const op = current();
    if (ctx.task.result?.state !== 'fail' || !op) return;
    const tail = op.logs().trimEnd().split('\n').slice(-lines).join('\n');
    console.error(`The operator's last ${lines} log lines:\n${tail}`);
  });
}

export async function startOperator(env: Record<string, string> = {}): Promise<RunningOperator> {
  const [port] = await freePorts(1);
  const kubeconfig = impersonatingKubeconfig(OPERATOR_USER);
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'operator', 'main.ts')],
    {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        KUBECONFIG: kubeconfig,
        TRENCH_METRICS_PORT: String(port),
        TRENCH_WORKERS: '4',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<OperatorExit>((resolve) =>
    child.once('exit', (code, signal) => {
      rmSync(dirname(kubeconfig), { recursive: true, force: true });
      resolve({ code, signal });
    }),
  );
  const op: RunningOperator = {
    pid: child.pid!,
    port: port!,
    logs: () => out,
    metrics: async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`Operator exited early:\n${out}`);
      const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      return res?.ok ? true : undefined;
    },
    { what: 'the operator to report /readyz', timeoutMs: 60_000 },
  ).catch(async (error) => {
    await op.stop('SIGKILL');
    throw error;
  });
  return op;
}

/** The value of one unlabelled or labelled sample in Prometheus text format, or 0. */
export function metricValue(text: string, name: string, labels = ''): number {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(labels ? `${name}{${labels}` : `${name} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

export interface AuditEvent {
  verb: string;
  user: { username: string };
  impersonatedUser?: { username: string };
  objectRef?: {
    resource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
    subresource?: string;
  };
  responseStatus?: { code?: number; details?: { causes?: { reason?: string }[] } };
  stageTimestamp: string;
}

/**
 * Refused by authorization: a 403 that is not a namespace being deleted (the API server refuses
 * new content there with 403 too, whatever the RBAC, and another file's namespace may be
 * terminating while an operator watching every namespace writes an Event into it).
 */
export function isRbacRefusal(e: AuditEvent): boolean {
  return (
    e.responseStatus?.code === 403 &&
    !e.responseStatus.details?.causes?.some((c) => c.reason === 'NamespaceTerminating')
  );
}

/** Write requests `user` made (directly or by impersonation) since `sinceMs`, from the audit log. */
export function writesBy(user: string, sinceMs: number): AuditEvent[] {
  const path = inject('auditLogPath');
  if (!path) throw new Error('No audit log: the tests did not start this cluster');
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter(
      (e) =>
        (e.impersonatedUser?.username ?? e.user.username) === user &&
        Date.parse(e.stageTimestamp) >= sinceMs,
    );
}

/**
 * A ConfigMap as an older operator rendered it for a Trench (the per-Trench rules and
 * dashboard): owned by the Trench, labelled as managed. This version renders none, so prune
 * must delete it.
 */
export async function plantRetiredConfigMap(
  trench: { name: string; namespace: string; uid: string },
  name: string,
): Promise<void> {
  await testCluster()
    .kc.makeApiClient(CoreV1Api)
    .createNamespacedConfigMap({
      namespace: trench.namespace,
      body: {
        metadata: {
          name,
          labels: { [LABEL_MANAGED_BY]: DEFAULT_MANAGED_BY, [LABEL_INSTANCE]: trench.name },
          ownerReferences: [
            {
              apiVersion: API_VERSION,
              kind: 'Trench',
              name: trench.name,
              uid: trench.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        data: { 'rules.yaml': 'groups: []\n' },
      },
    });
}

/** The password the operator generated into Secret `secret` (its key `password`), waited for. */
export function generatedPassword(namespace: string, secret: string): Promise<string> {
  return waitFor(
    async () => {
      const r = await kubectl([
        'get',
        'secret',
        secret,
        '-n',
        namespace,
        '-o',
        'jsonpath={.data.password}',
      ]);
      return r.code === 0 && r.stdout
        ? Buffer.from(r.stdout, 'base64').toString('utf8')
        : undefined;
    },
    { what: `the operator to generate ${secret}` },
  );
}
