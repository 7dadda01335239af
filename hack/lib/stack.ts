// `make up`: the local cluster, the CRDs, the operator as a background process, dist/
// applied, and the sample Trenches Ready. `make down` stops the operator by pid, then the
// cluster.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { formatGrafanaAdminSecretRef } from '../../charts/lib/grafana-admin.js';
import { grafanaAdminSecretRef } from '../../charts/synth.js';
import { parseValues } from '../../charts/values.js';
import {
  addonDir,
  type ClusterState,
  down as clusterDown,
  up as clusterUp,
  DEFAULT_STATE_DIR,
  REPO_ROOT,
  writeJsonAtomic,
} from './cluster.js';
import { freePorts, isRunning, type ProcessRecord, startProcess } from './processes.js';
import { refString, trenchesInDir, waitForTrenches } from './ready.js';

const run = promisify(execFile);
// Recorded as an add-on of the cluster, so that `make cluster-down` stops it too.
const operatorRecord = (stateDir: string) => join(addonDir(stateDir), 'operator.json');

export interface StackOptions {
  readonly stateDir?: string;
  readonly log?: (line: string) => void;
  /** How long to wait for the Trenches in dist/ to become Ready. Default 180 s. */
  readonly timeoutMs?: number;
}

async function kubectl(state: ClusterState, args: string[]): Promise<string> {
  try {
    return (
      await run(state.kubectl, ['--kubeconfig', state.kubeconfig, ...args], { maxBuffer: 64 << 20 })
    ).stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** The operator process `up` started, if it still runs. */
export function runningOperator(stateDir: string = DEFAULT_STATE_DIR): ProcessRecord | undefined {
  const file = operatorRecord(stateDir);
  if (!existsSync(file)) return undefined;
  const record = JSON.parse(readFileSync(file, 'utf8')) as ProcessRecord;
  return isRunning(record) ? record : undefined;
}

export async function upStack(options: StackOptions = {}): Promise<ClusterState> {
  const stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
  const log = options.log ?? (() => {});
  const state = await clusterUp({ stateDir, log });
  log('Applying the CRDs');
  await kubectl(state, [
    'apply',
    '--server-side',
    '--force-conflicts',
    '-f',
    join(REPO_ROOT, 'dist', '0000-crds.k8s.yaml'),
  ]);
  await kubectl(state, [
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd',
    '-l',
    'app.kubernetes.io/part-of=trench',
  ]);
  if (!runningOperator(stateDir)) {
    const [port] = await freePorts(1);
    // As OperatorChart sets it in the pod: the operator makes Grafana's admin Secret.
    const values = parseValues(readFileSync(join(REPO_ROOT, 'values.yaml'), 'utf8'), 'values.yaml');
    const record = startProcess(
      'operator',
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'operator', 'main.ts')],
      join(stateDir, 'logs', 'operator.log'),
      {
        ...process.env,
        KUBECONFIG: state.kubeconfig,
        TRENCH_LEADER_ELECTION: 'false',
        TRENCH_METRICS_PORT: String(port),
        TRENCH_GRAFANA_ADMIN_SECRET: formatGrafanaAdminSecretRef(grafanaAdminSecretRef(values)),
      },
      REPO_ROOT,
    );
    mkdirSync(addonDir(stateDir), { recursive: true });
    writeJsonAtomic(operatorRecord(stateDir), record);
    log(
      `Started the operator (pid ${record.pid}, metrics on http://127.0.0.1:${port}/metrics, log ${join(stateDir, 'logs', 'operator.log')})`,
    );
  }
  log('Applying dist/');
  await kubectl(state, [
    'apply',
    '--server-side',
    '--force-conflicts',
    '-f',
    join(REPO_ROOT, 'dist'),
  ]);
  const trenches = trenchesInDir(join(REPO_ROOT, 'dist'));
  log(`Waiting for the Trenches of dist/ to become Ready: ${trenches.map(refString).join(', ')}`);
  await waitForTrenches(state, trenches, { timeoutMs: options.timeoutMs ?? 180_000, log });
  return state;
}

export async function downStack(
  stateDir: string = DEFAULT_STATE_DIR,
  log: (line: string) => void = () => {},
) {
  // The cluster's down stops its add-ons, the operator among them, before the cluster.
  await clusterDown(stateDir, log);
}

export async function trenchesTable(state: ClusterState): Promise<string> {
  return kubectl(state, ['get', 'trenches.playtrenches.xyz', '--all-namespaces']);
}
