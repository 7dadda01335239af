// Finds or builds the control-plane binaries. Users with their own binaries name a directory
// in TRENCH_K8S_BIN (or KUBEBUILDER_ASSETS) and nothing is built; otherwise they are built
// with Go from their modules into a cache keyed by version, once.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { compareGoVersions, GO_DIR, KWOK_MODULE, readVersions, type Versions } from './versions.js';

const run = promisify(execFile);

export const CONTROL_PLANE = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
] as const;
export type ControlPlaneBinary = (typeof CONTROL_PLANE)[number];

export interface Binaries {
  readonly dir: string;
  readonly paths: Readonly<Record<ControlPlaneBinary | 'kubectl', string>>;
  /** Where they came from: "env TRENCH_K8S_BIN", "cache" or "built". */
  readonly source: string;
}

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TRENCH_CACHE_DIR) return env.TRENCH_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'trench');
}

export function binaryCacheDir(versions: Versions, env: NodeJS.ProcessEnv = process.env): string {
  const key = `k8s-${versions.kubernetes}_etcd-${versions.etcd}_kwok-${versions.kwok}_${versions.fingerprint}`;
  return join(cacheRoot(env), 'bin', key);
}

/** Which directory the user named, if any, and through which variable. */
export function userBinDir(env: NodeJS.ProcessEnv): { dir: string; variable: string } | undefined {
  for (const variable of ['TRENCH_K8S_BIN', 'KUBEBUILDER_ASSETS']) {
    const dir = env[variable];
    if (dir) return { dir, variable };
  }
  return undefined;
}

function findOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function pathsIn(dir: string, env: NodeJS.ProcessEnv): Binaries['paths'] | string[] {
  const missing = CONTROL_PLANE.filter((b) => !existsSync(join(dir, b)));
  if (missing.length > 0) return missing;
  const kubectl = existsSync(join(dir, 'kubectl'))
    ? join(dir, 'kubectl')
    : (findOnPath('kubectl', env) ?? 'kubectl');
  const paths = Object.fromEntries(CONTROL_PLANE.map((b) => [b, join(dir, b)]));
  return { ...paths, kubectl } as Binaries['paths'];
}

/** Fails at once, saying what to install or set, when Go is missing or older than needed. */
export async function checkGo(minimum: string): Promise<string> {
  let version: string;
  try {
    version = (await run('go', ['env', 'GOVERSION'])).stdout.trim();
  } catch {
    throw new Error(
      `Go ${minimum} or newer is needed to build the local control plane, and 'go' was not found on PATH. ` +
        'Install Go (https://go.dev/dl/ or your package manager), or set TRENCH_K8S_BIN to a directory ' +
        'holding etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.',
    );
  }
  const found = version.replace(/^go/, '').split(/[^0-9.]/)[0] ?? '';
  if (compareGoVersions(found, minimum) < 0) {
    throw new Error(
      `Go ${minimum} or newer is needed to build the local control plane; found ${version}. ` +
        'Upgrade Go, or set TRENCH_K8S_BIN to a directory holding the binaries.',
    );
  }
  return version;
}

function goRun(args: string[], cwd: string, env: NodeJS.ProcessEnv, log: (line: string) => void) {
  return new Promise<void>((resolve, reject) => {
    log(`go ${args.join(' ')}`);
    const child = spawn('go', args, { cwd, env, stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      process.stderr.write(chunk);
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(
            new Error(`go ${args[0]} failed in ${cwd} (exit ${code}):\n${stderr.slice(-4000)}`),
          ),
    );
  });
}

/** Linker flags that make `--version` print the pinned release instead of v0.0.0. */
export function versionLdflags(kubernetes: string): string {
  const [major, minor] = kubernetes.replace(/^v/, '').split('.');
  const flags = ['-s', '-w'];
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    flags.push(
      `-X ${pkg}.gitVersion=${kubernetes}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitTreeState=clean`,
    );
  }
  return flags.join(' ');
}

async function build(versions: Versions, dir: string, log: (line: string) => void): Promise<void> {
  await checkGo(versions.minimumGo);
  // Build next to the final directory and rename at the end, so an interrupted build never
  // leaves a directory that looks complete.
  const staging = `${dir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly -trimpath' };
  try {
    await goRun(
      [
        'build',
        '-ldflags',
        versionLdflags(versions.kubernetes),
        '-o',
        `${staging}/`,
        'k8s.io/kubernetes/cmd/kube-apiserver',
        'k8s.io/kubernetes/cmd/kube-controller-manager',
        'k8s.io/kubernetes/cmd/kube-scheduler',
        'k8s.io/kubernetes/cmd/kubectl',
      ],
      join(GO_DIR, 'kubernetes'),
      env,
      log,
    );
    await goRun(
      ['build', '-ldflags', '-s -w', '-o', join(staging, 'etcd'), '.'],
      join(GO_DIR, 'etcd'),
      env,
      log,
    );
    await goRun(
      ['install', `${KWOK_MODULE}/cmd/kwok@${versions.kwok}`],
      GO_DIR,
      { ...env, GOBIN: staging, GOFLAGS: '-trimpath' },
      log,
    );
    writeFileSync(join(staging, 'VERSIONS'), `${JSON.stringify(versions, null, 2)}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}

/** Returns the binaries to run, building them first when neither the user nor the cache has them. */
export async function ensureBinaries(
  log: (line: string) => void = () => {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<Binaries> {
  const user = userBinDir(env);
  if (user) {
    const found = pathsIn(user.dir, env);
    if (Array.isArray(found)) {
      throw new Error(
        `${user.variable}=${user.dir} lacks ${found.join(', ')}; it must hold ${CONTROL_PLANE.join(', ')} ` +
          `(unset ${user.variable} to build them from Go modules instead)`,
      );
    }
    return { dir: user.dir, paths: found, source: `env ${user.variable}` };
  }
  const versions = readVersions();
  const dir = binaryCacheDir(versions, env);
  const cached = pathsIn(dir, env);
  if (!Array.isArray(cached)) return { dir, paths: cached, source: 'cache' };
  log(
    `Building the control plane (Kubernetes ${versions.kubernetes}, etcd ${versions.etcd}, kwok ${versions.kwok}) into ${dir}`,
  );
  await build(versions, dir, log);
  const built = pathsIn(dir, env);
  if (Array.isArray(built)) throw new Error(`Build finished but ${dir} lacks ${built.join(', ')}`);
  return { dir, paths: built, source: 'built' };
}
