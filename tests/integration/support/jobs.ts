// kwok pods do not run their containers, so a Job whose work matters (a dump, a restore) is run
// here as a host process: its container's exact command, arguments and environment, as the
// kubelet would resolve them (secretKeyRef values read from the real API server, `$(VAR)`
// expanded from earlier entries), with only the addresses and mounted paths a test names
// changed. The binaries come first on PATH, as they do in the image.
import { execFile } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mustKubectl, waitFor } from './cluster.js';
import { asPostgresUser, postgresBin, wrap } from './services.js';

interface EnvEntry {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

interface JobContainer {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvEntry[];
}

export interface JobObject {
  metadata: { name: string; namespace: string; ownerReferences?: unknown[] };
  spec: { template: { spec: { containers: JobContainer[] } } };
}

export interface HostRunOptions {
  /** Folders on PATH before the host's, standing in for the image's. */
  readonly path: readonly string[];
  /** Variables replaced after resolution, such as a mount point moved to a temporary folder. */
  readonly set?: Readonly<Record<string, string>>;
  /** Text replaced in every resolved value: a Service address for the host server's. */
  readonly addresses?: Readonly<Record<string, string>>;
  /** Run as this user, as the pod's runAsUser does (PostgreSQL's initdb refuses root). */
  readonly owner?: { readonly uid: number; readonly gid: number };
}

export interface HostRunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** What was run, for the test to assert it is the Job's own. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

async function secretValue(namespace: string, name: string, key: string): Promise<string> {
  const out = await mustKubectl(['get', 'secret', name, '-n', namespace, '-o', 'json']);
  const data = (JSON.parse(out) as { data?: Record<string, string> }).data ?? {};
  const b64 = data[key];
  if (b64 === undefined) throw new Error(`Secret ${namespace}/${name} has no key ${key}`);
  return Buffer.from(b64, 'base64').toString('utf8');
}

/** The kubelet's `$(VAR)` expansion: earlier entries only; `$$(VAR)` stays literal. */
function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && name in env ? env[name]! : m;
  });
}

/** Resolves the container's environment as the kubelet would. */
export async function resolveEnv(
  namespace: string,
  container: JobContainer,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = expand(e.value, env);
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      env[e.name] = await secretValue(namespace, ref.name, ref.key);
    } else throw new Error(`env ${e.name} has a source this harness does not resolve`);
  }
  return env;
}

/** Runs the Job's first container on the host; resolves with its exit code and output. */
export async function runJobOnHost(job: JobObject, opts: HostRunOptions): Promise<HostRunResult> {
  const container = job.spec.template.spec.containers[0];
  if (!container?.command?.length) throw new Error(`Job ${job.metadata.name} has no command`);
  const resolved = await resolveEnv(job.metadata.namespace, container);
  for (const [name, value] of Object.entries(resolved)) {
    let v = value;
    for (const [from, to] of Object.entries(opts.addresses ?? {})) v = v.split(from).join(to);
    resolved[name] = v;
  }
  Object.assign(resolved, opts.set ?? {});
  const argv = [...container.command, ...(container.args ?? [])];
  const env = { ...resolved, PATH: [...opts.path, process.env.PATH ?? ''].join(':') };
  const exec = wrap(opts.owner, argv[0]!, argv.slice(1));
  return new Promise((resolve) => {
    execFile(
      exec.command,
      exec.args,
      { env, maxBuffer: 16 << 20, timeout: 600_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr, argv, env });
      },
    );
  });
}

/**
 * The termination message the kubelet would report: the message file's text, or with
 * terminationMessagePolicy FallbackToLogsOnError and a failed container an empty file, the
 * log's tail; at most 4096 bytes either way.
 */
export function kubeletMessage(run: HostRunResult, messageFile: string): string {
  let text = existsSync(messageFile) ? readFileSync(messageFile, 'utf8') : '';
  if (text === '' && run.code !== 0) {
    text = `${run.stdout}${run.stderr}`.split('\n').slice(-80).join('\n');
  }
  return text.length > 4096 ? text.slice(-4096) : text;
}

/**
 * Reports a pod's container as terminated, as the kubelet does when its process exits: phase
 * Succeeded or Failed, the exit code and message in the container's status. The Job
 * controller takes it from there.
 */
export async function reportPodExit(
  namespace: string,
  pod: string,
  container: string,
  image: string,
  exit: { readonly code: number; readonly message: string },
): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const status = {
    phase: exit.code === 0 ? 'Succeeded' : 'Failed',
    conditions: [
      { type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: now },
      { type: 'ContainersReady', status: 'False', reason: 'PodCompleted', lastTransitionTime: now },
    ],
    containerStatuses: [
      {
        name: container,
        image,
        imageID: '',
        ready: false,
        started: false,
        restartCount: 0,
        state: {
          terminated: {
            exitCode: exit.code,
            reason: exit.code === 0 ? 'Completed' : 'Error',
            message: exit.message,
            startedAt: now,
            finishedAt: now,
          },
        },
      },
    ],
  };
  await mustKubectl([
    'patch',
    'pod',
    pod,
    '-n',
    namespace,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status }),
  ]);
}

export interface PodRunOptions {
  /** The folder standing in for the backups claim (BACKUP_DIR). */
  readonly claimDir: string;
  /** Text replaced in every resolved value, such as `shop-postgres:5432` for a host server. */
  readonly addresses?: Readonly<Record<string, string>>;
  /**
   * The pod has a scratch emptyDir (SCRATCH_DIR) and starts its own PostgreSQL there, the
   * restore drill: a fresh folder stands in for it, and the command runs as Debian's postgres
   * user when the tests run as root, as the pod runs as its non-root user.
   */
  readonly scratch?: boolean;
}

/**
 * What the kubelet does for one of the operator's Jobs: waits for the Job's pod to be Running
 * (kwok keeps it there, hack/lib/kwok-stages.ts), runs its container on the host with
 * PostgreSQL's binaries first on PATH, and reports the exit and termination message.
 */
export async function runJobPod(job: JobObject, opts: PodRunOptions): Promise<HostRunResult> {
  const { namespace, name } = job.metadata;
  const pod = await waitFor(
    async () => {
      const out = await mustKubectl([
        'get',
        'pods',
        '-n',
        namespace,
        '-l',
        `batch.kubernetes.io/job-name=${name}`,
        '-o',
        'json',
      ]);
      const pods = JSON.parse(out) as {
        items: { metadata: { name: string }; status?: { phase?: string } }[];
      };
      const p = pods.items[0];
      return p?.status?.phase === 'Running' ? p : undefined;
    },
    { what: `the pod of Job ${name} to run` },
  );
  const messageDir = mkdtempSync(join(tmpdir(), 'trench-pod-'));
  const owner = opts.scratch ? await asPostgresUser() : undefined;
  try {
    const messageFile = join(messageDir, 'termination-log');
    const set: Record<string, string> = { BACKUP_DIR: opts.claimDir, RESULT_FILE: messageFile };
    if (opts.scratch) {
      set.SCRATCH_DIR = join(messageDir, 'scratch');
      mkdirSync(set.SCRATCH_DIR);
      if (owner) {
        // The pod's user reads the claim and owns its emptyDirs.
        chmodSync(opts.claimDir, 0o755);
        chownSync(messageDir, owner.uid, owner.gid);
        chownSync(set.SCRATCH_DIR, owner.uid, owner.gid);
      }
    }
    const run = await runJobOnHost(job, {
      path: [postgresBin()],
      set,
      ...(opts.addresses ? { addresses: opts.addresses } : {}),
      ...(owner ? { owner } : {}),
    });
    const container = job.spec.template.spec.containers[0]!;
    await reportPodExit(namespace, pod.metadata.name, container.name, container.image ?? '', {
      code: run.code,
      message: kubeletMessage(run, messageFile),
    });
    return run;
  } finally {
    rmSync(messageDir, { recursive: true, force: true });
  }
}
