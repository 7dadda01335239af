// The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
// kwok with fake nodes, started from real binaries on loopback ports, stopped by pid.

import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig, StorageV1Api } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { type Binaries, ensureBinaries } from './binaries.js';
import { kwokStagesConfig } from './kwok-stages.js';
import { base64File, createPki, type Identity, type Pki } from './pki.js';
import {
  freePorts,
  isRunning,
  type ProcessRecord,
  startProcess,
  stopProcess,
} from './processes.js';
import { PROVISIONER } from './provisioner.js';
import { KWOK_VERSION } from './versions.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_STATE_DIR = join(REPO_ROOT, '.trench', 'cluster');
export const SERVICE_CIDR = '10.96.0.0/16';
export const POD_CIDR = '10.244.0.0/16';
export const FAKE_NODE_ANNOTATION = 'kwok.x-k8s.io/node';
/** The default StorageClass; the cluster's provisioner binds its claims to hostPath volumes. */
export const STORAGE_CLASS = 'standard';

export interface UpOptions {
  readonly stateDir?: string;
  /** Fake kwok nodes to create. */
  readonly nodes?: number;
  readonly log?: (line: string) => void;
  /** How long to wait for the API server and the nodes. */
  readonly timeoutMs?: number;
}

export interface ClusterState {
  readonly version: 1;
  readonly stateDir: string;
  readonly kubeconfig: string;
  readonly server: string;
  readonly binDir: string;
  readonly kubectl: string;
  /** One JSON line per write request (audit.k8s.io/v1 Event, Metadata level). */
  readonly auditLog: string;
  readonly ports: Readonly<Record<string, number>>;
  readonly processes: readonly ProcessRecord[];
  readonly nodes: number;
}

export interface ClusterStatus {
  readonly state: ClusterState | undefined;
  readonly processes: readonly (ProcessRecord & { readonly running: boolean })[];
  readonly ready: boolean;
}

const statePath = (stateDir: string) => join(stateDir, 'state.json');

/**
 * Processes started beside the cluster (the operator of `make up`) record themselves here, one
 * JSON ProcessRecord a file, so that `down` stops them too, before the API server goes away.
 */
export const addonDir = (stateDir: string) => join(stateDir, 'addons');

/** Written whole or not at all: a crash mid-write must not leave a state nobody can read. */
export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, file);
}

export function readState(stateDir: string = DEFAULT_STATE_DIR): ClusterState | undefined {
  const file = statePath(stateDir);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ClusterState;
  } catch (error) {
    throw new Error(
      `${file} is not valid JSON (${(error as Error).message}); run 'down' to clear it`,
    );
  }
}

const IDENTITIES: readonly Identity[] = [
  {
    name: 'apiserver',
    commonName: 'kube-apiserver',
    usage: 'server',
    altNames: [
      'IP:127.0.0.1',
      'IP:10.96.0.1',
      'DNS:localhost',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster.local',
    ],
  },
  { name: 'admin', commonName: 'trench-admin', organization: 'system:masters', usage: 'client' },
  { name: 'controller-manager', commonName: 'system:kube-controller-manager', usage: 'client' },
  { name: 'scheduler', commonName: 'system:kube-scheduler', usage: 'client' },
  { name: 'apiserver-etcd', commonName: 'kube-apiserver-etcd-client', usage: 'client' },
];

/** A kubeconfig with embedded credentials, so it can be copied anywhere. Pure. */
export function kubeconfigYaml(
  server: string,
  caData: string,
  certData: string,
  keyData: string,
  user: string,
): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'trench-local', cluster: { server, 'certificate-authority-data': caData } }],
    users: [
      { name: user, user: { 'client-certificate-data': certData, 'client-key-data': keyData } },
    ],
    contexts: [{ name: 'trench-local', context: { cluster: 'trench-local', user } }],
    'current-context': 'trench-local',
  });
}

function writeKubeconfig(pki: Pki, server: string, name: string, file: string): string {
  const { cert, key } = pki.cert(name);
  writeFileSync(
    file,
    kubeconfigYaml(server, base64File(pki.caCert), base64File(cert), base64File(key), name),
    { mode: 0o600 },
  );
  return file;
}

/** Command lines for every component. Pure: paths and ports in, argv out. */
export function componentArgs(
  dir: string,
  ports: Readonly<Record<string, number>>,
  kubeconfigs: Readonly<Record<'controllerManager' | 'scheduler' | 'admin', string>>,
): Record<
  'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok',
  string[]
> {
  const pki = (f: string) => join(dir, 'pki', f);
  const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
  const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
  return {
    etcd: [
      '--name=trench',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=trench=${peerUrl}`,
      `--listen-metrics-urls=http://127.0.0.1:${ports.etcdMetrics}`,
      // A throwaway development cluster: durability across power loss is not worth the fsyncs.
      '--unsafe-no-fsync',
      '--quota-backend-bytes=8589934592',
      '--log-level=warn',
    ],
    'kube-apiserver': [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${ports.apiserver}`,
      `--cert-dir=${join(dir, 'apiserver')}`,
      `--tls-cert-file=${pki('apiserver.crt')}`,
      `--tls-private-key-file=${pki('apiserver.key')}`,
      `--client-ca-file=${pki('ca.crt')}`,
      `--service-account-key-file=${pki('sa.pub')}`,
      `--service-account-signing-key-file=${pki('sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--authorization-mode=Node,RBAC',
      // The default plugins (PodSecurity, NamespaceLifecycle, ServiceAccount, ...) stay on.
      '--enable-admission-plugins=NodeRestriction',
      '--allow-privileged=true',
      '--profiling=false',
      // Every write, with who made it: tests count an operator's writes from it.
      `--audit-policy-file=${join(dir, 'audit-policy.yaml')}`,
      `--audit-log-path=${join(dir, 'logs', 'audit.log')}`,
      '--audit-log-maxsize=1024',
      '--audit-log-format=json',
      '--v=0',
    ],
    'kube-controller-manager': [
      `--kubeconfig=${kubeconfigs.controllerManager}`,
      `--authentication-kubeconfig=${kubeconfigs.controllerManager}`,
      `--authorization-kubeconfig=${kubeconfigs.controllerManager}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${ports.controllerManager}`,
      '--leader-elect=false',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${pki('sa.key')}`,
      `--root-ca-file=${pki('ca.crt')}`,
      `--cluster-signing-cert-file=${pki('ca.crt')}`,
      `--cluster-signing-key-file=${pki('ca.key')}`,
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--controllers=*',
      // The default 20 QPS makes garbage collection and namespace deletion crawl at scale.
      '--kube-api-qps=200',
      '--kube-api-burst=400',
      '--v=0',
    ],
    'kube-scheduler': [
      `--kubeconfig=${kubeconfigs.scheduler}`,
      `--authentication-kubeconfig=${kubeconfigs.scheduler}`,
      `--authorization-kubeconfig=${kubeconfigs.scheduler}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${ports.scheduler}`,
      '--leader-elect=false',
      '--v=0',
    ],
    kwok: [
      `--kubeconfig=${kubeconfigs.admin}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-annotation-selector=${FAKE_NODE_ANNOTATION}=fake`,
      `--cidr=${POD_CIDR}`,
      '--node-ip=10.0.0.1',
      `--server-address=127.0.0.1:${ports.kwok}`,
      '--node-lease-duration-seconds=40',
    ],
  };
}

/** Audit policy: one Metadata-level line per write, none for reads. */
export const AUDIT_POLICY = stringify({
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [
    { level: 'Metadata', verbs: ['create', 'update', 'patch', 'delete', 'deletecollection'] },
    { level: 'None' },
  ],
});

/** A fake node kwok keeps Ready. Pure. */
export function fakeNode(index: number) {
  const name = `kwok-node-${index}`;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [FAKE_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node-role.kubernetes.io/agent': '',
        type: 'kwok',
        'topology.kubernetes.io/zone': `zone-${index % 3}`,
      },
    },
    spec: {},
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods: '250', 'ephemeral-storage': '1Ti' },
      capacity: { cpu: '32', memory: '256Gi', pods: '250', 'ephemeral-storage': '1Ti' },
    },
  };
}

/** GETs `path` on the API server with the admin client certificate; resolves the status code. */
function probe(server: string, path: string, pki: { ca: string; cert: string; key: string }) {
  return new Promise<number>((resolve) => {
    const req = request(
      `${server}${path}`,
      {
        ca: readFileSync(pki.ca),
        cert: readFileSync(pki.cert),
        key: readFileSync(pki.key),
        timeout: 2000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  what: string,
  deadline: number,
  processes: readonly ProcessRecord[],
  stateDir: string,
  check: () => Promise<T | undefined>,
): Promise<T> {
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    const dead = processes.find((p) => !isRunning(p));
    if (dead) {
      const log = join(stateDir, 'logs', `${dead.name}.log`);
      const tail = existsSync(log)
        ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n')
        : '';
      throw new Error(
        `${dead.name} exited while waiting for ${what}; last lines of ${log}:\n${tail}`,
      );
    }
    if (Date.now() > deadline)
      throw new Error(`Timed out waiting for ${what} (logs in ${stateDir}/logs)`);
    await sleep(100);
  }
}

/** Healthy means every recorded process runs and the API server answers /readyz. */
export async function status(stateDir: string = DEFAULT_STATE_DIR): Promise<ClusterStatus> {
  const state = readState(stateDir);
  if (!state) return { state, processes: [], ready: false };
  const processes = state.processes.map((p) => ({ ...p, running: isRunning(p) }));
  const pki = join(stateDir, 'pki');
  const code = processes.every((p) => p.running)
    ? await probe(state.server, '/readyz', {
        ca: join(pki, 'ca.crt'),
        cert: join(pki, 'admin.crt'),
        key: join(pki, 'admin.key'),
      })
    : 0;
  return { state, processes, ready: code === 200 };
}

/** Stops exactly the processes this state directory recorded, newest first, and removes it. */
export async function down(
  stateDir: string = DEFAULT_STATE_DIR,
  log: (line: string) => void = () => {},
): Promise<void> {
  const records: ProcessRecord[] = [];
  const readRecord = <T>(file: string): T | undefined => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as T;
    } catch (error) {
      // Unreadable: its processes cannot be known, but the directory must not block `up`.
      log(`Ignored ${file}: ${(error as Error).message}`);
      return undefined;
    }
  };
  if (existsSync(addonDir(stateDir))) {
    for (const f of readdirSync(addonDir(stateDir)).filter((f) => f.endsWith('.json'))) {
      const record = readRecord<ProcessRecord>(join(addonDir(stateDir), f));
      if (record) records.push(record);
    }
  }
  if (existsSync(statePath(stateDir))) {
    const state = readRecord<ClusterState>(statePath(stateDir));
    records.push(...[...(state?.processes ?? [])].reverse());
  }
  for (const p of records) {
    if (await stopProcess(p)) log(`Stopped ${p.name} (pid ${p.pid})`);
  }
  rmSync(stateDir, { recursive: true, force: true });
}

/**
 * Starts the cluster, or returns the running one. A directory left by a crashed run is cleared
 * first (its processes stopped by pid), so it never blocks the next start.
 */
export async function up(options: UpOptions = {}): Promise<ClusterState> {
  const stateDir = resolve(options.stateDir ?? DEFAULT_STATE_DIR);
  const log = options.log ?? (() => {});
  const nodeCount = options.nodes ?? 3;
  // An unreadable state (a crash mid-write) counts as a leftover to clear, not an error.
  const current = await status(stateDir).catch(() => undefined);
  if (current?.ready && current.state) {
    log(`Cluster already up (${current.state.server})`);
    return current.state;
  }
  if (existsSync(stateDir)) {
    log(`Clearing ${stateDir} left by an earlier run`);
    await down(stateDir, log);
  }
  const bins: Binaries = await ensureBinaries(log);
  log(`Using control-plane binaries from ${bins.dir} (${bins.source})`);
  for (const sub of ['pki', 'etcd', 'logs', 'apiserver', 'kubeconfigs', 'volumes']) {
    mkdirSync(join(stateDir, sub), { recursive: true, mode: 0o700 });
  }
  const [etcd, etcdPeer, etcdMetrics, apiserver, controllerManager, scheduler, kwok] =
    await freePorts(7);
  const ports = {
    etcd,
    etcdPeer,
    etcdMetrics,
    apiserver,
    controllerManager,
    scheduler,
    kwok,
  } as Record<string, number>;
  const server = `https://127.0.0.1:${apiserver}`;
  const pki = await createPki(join(stateDir, 'pki'), IDENTITIES);
  const kcDir = join(stateDir, 'kubeconfigs');
  const kubeconfig = writeKubeconfig(pki, server, 'admin', join(stateDir, 'kubeconfig'));
  const kubeconfigs = {
    admin: kubeconfig,
    controllerManager: writeKubeconfig(pki, server, 'controller-manager', join(kcDir, 'kcm')),
    scheduler: writeKubeconfig(pki, server, 'scheduler', join(kcDir, 'scheduler')),
  };
  writeFileSync(join(stateDir, 'audit-policy.yaml'), AUDIT_POLICY);
  const args = componentArgs(stateDir, ports, kubeconfigs);
  const processes: ProcessRecord[] = [];
  const state: ClusterState = {
    version: 1,
    stateDir,
    kubeconfig,
    server,
    binDir: bins.dir,
    kubectl: bins.paths.kubectl,
    auditLog: join(stateDir, 'logs', 'audit.log'),
    ports,
    processes,
    nodes: nodeCount,
  };
  const save = () => writeJsonAtomic(statePath(stateDir), state);
  const start = (name: keyof typeof args) => {
    processes.push(
      startProcess(name, bins.paths[name], args[name], join(stateDir, 'logs', `${name}.log`)),
    );
    save();
  };
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const adminPki = { ca: pki.caCert, ...pki.cert('admin') };
  try {
    start('etcd');
    start('kube-apiserver');
    await until('the API server to report /readyz', deadline, processes, stateDir, async () =>
      (await probe(server, '/readyz', adminPki)) === 200 ? true : undefined,
    );
    log(`API server ready at ${server}`);
    start('kube-controller-manager');
    start('kube-scheduler');
    try {
      const stages = join(stateDir, 'kwok-stages.yaml');
      writeFileSync(stages, await kwokStagesConfig(KWOK_VERSION));
      args.kwok.push(`--config=${stages}`);
    } catch (error) {
      log(`kwok keeps its default stages, completing every Job's pod at once: ${error}`);
    }
    start('kwok');
    processes.push(
      startProcess(
        'provisioner',
        process.execPath,
        [
          '--import',
          'tsx',
          join(REPO_ROOT, 'hack', 'provisioner.ts'),
          kubeconfig,
          STORAGE_CLASS,
          join(stateDir, 'volumes'),
        ],
        join(stateDir, 'logs', 'provisioner.log'),
        process.env,
        REPO_ROOT,
      ),
    );
    save();
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    await kc.makeApiClient(StorageV1Api).createStorageClass({
      body: {
        metadata: {
          name: STORAGE_CLASS,
          annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
        },
        provisioner: PROVISIONER,
        reclaimPolicy: 'Delete',
        volumeBindingMode: 'Immediate',
      },
    });
    await Promise.all(
      Array.from({ length: nodeCount }, (_, i) => core.createNode({ body: fakeNode(i) })),
    );
    await until(`${nodeCount} nodes to become Ready`, deadline, processes, stateDir, async () => {
      const nodes = await core.listNode();
      const ready = nodes.items.filter((n) =>
        n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return ready.length >= nodeCount ? true : undefined;
    });
    await until('the default ServiceAccount', deadline, processes, stateDir, async () =>
      (await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' }))
        ? true
        : undefined,
    );
    log(`Cluster up: ${nodeCount} kwok nodes Ready; kubeconfig ${kubeconfig}`);
    return state;
  } catch (error) {
    // Stop what started but keep the logs for the reader; the next `up` clears the directory.
    for (const p of [...processes].reverse()) await stopProcess(p).catch(() => undefined);
    throw error;
  }
}
