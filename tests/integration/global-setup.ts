// Starts one real control plane for the whole integration run and stops it afterwards, by
// pid. With TRENCH_TEST_KUBECONFIG set (a kind cluster, say) it uses that cluster instead.
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { down, REPO_ROOT, up } from '../../hack/lib/cluster.js';

const STATE_DIR = join(REPO_ROOT, '.trench', 'test-cluster');

export default async function setup(project: TestProject) {
  const external = process.env.TRENCH_TEST_KUBECONFIG;
  if (external) {
    project.provide('kubeconfigPath', external);
    project.provide('kubectlPath', process.env.TRENCH_TEST_KUBECTL ?? 'kubectl');
    project.provide('auditLogPath', '');
    project.provide('clusterStateDir', '');
    return;
  }
  const started = Date.now();
  const log = (line: string) => console.error(`[cluster] ${line}`);
  const state = await up({ stateDir: STATE_DIR, nodes: 3, log, timeoutMs: 180_000 });
  log(`Control plane ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  project.provide('kubeconfigPath', state.kubeconfig);
  project.provide('kubectlPath', state.kubectl);
  project.provide('auditLogPath', state.auditLog);
  project.provide('clusterStateDir', STATE_DIR);
  return async () => {
    await down(STATE_DIR, log);
  };
}
