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
  const { KUBECONFIG: _, ...env } = process.env;
  return new Promise((resolve) =>
    execFile(
      join(REPO_ROOT, 'operator', 'cli', 'kubectl-trench'),
      [...args, '-n', namespace, '--kubeconfig', testCluster().kubeconfigPath],
      { env, timeout: 120_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : -1) : 0,
          stdout,
          stderr,
        }),
    ),
  );
}
