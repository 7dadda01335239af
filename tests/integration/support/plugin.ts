// The `kubectl trench` plugin run as users run it: the operator/cli/kubectl-trench executable,
// against the test cluster's kubeconfig (never $KUBECONFIG), in one namespace.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../hack/lib/cluster.js';
import { testCluster } from './cluster.js';

export interface PluginRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function plugin(namespace: string, ...args: string[]): Promise<PluginRun> {
  return startPlugin(namespace, ...args).done;
}

export interface RunningPlugin {
  /** What it printed on stderr so far: the progress lines of --wait. */
  stderr(): string;
  readonly done: Promise<PluginRun>;
}

/** The plugin started, its progress readable while it runs. */
export function startPlugin(namespace: string, ...args: string[]): RunningPlugin {
  const { KUBECONFIG: _, ...env } = process.env;
  let err = '';
  const done = new Promise<PluginRun>((resolve) => {
    const child = execFile(
      join(REPO_ROOT, 'operator', 'cli', 'kubectl-trench'),
      [...args, '-n', namespace, '--kubeconfig', testCluster().kubeconfigPath],
      { env, timeout: 120_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : -1) : 0,
          stdout,
          stderr,
        }),
    );
    child.stderr?.on('data', (c: Buffer | string) => (err += c.toString()));
  });
  return { stderr: () => err, done };
}
