#!/usr/bin/env -S npx tsx
// zx CLI over hack/lib/stack.ts: the main job.
//   up     the local cluster, the CRDs, the operator in the background, dist/ applied, and
//          `kubectl get trenches` once every Trench of dist/ is Ready (others in the cluster are
//          not waited for)
//   down   stop the operator and the cluster, by pid
import { argv, chalk } from 'zx';
import { DEFAULT_STATE_DIR } from './lib/cluster.js';
import { downStack, trenchesTable, upStack } from './lib/stack.js';

const stateDir: string = argv['state-dir'] ?? process.env.TRENCH_CLUSTER_DIR ?? DEFAULT_STATE_DIR;
const log = (line: string) => console.error(chalk.dim(line));

try {
  switch (argv._[0]) {
    case 'up': {
      const started = Date.now();
      const state = await upStack({ stateDir, log });
      console.log(await trenchesTable(state));
      console.error(`Stack up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      console.error(`export KUBECONFIG=${state.kubeconfig}`);
      break;
    }
    case 'down':
      await downStack(stateDir, log);
      console.error('Stack down');
      break;
    default:
      console.error('Usage: hack/stack.ts up | down [--state-dir DIR]');
      process.exitCode = 2;
  }
} catch (error) {
  console.error(chalk.red(`Error: ${(error as Error).message}`));
  process.exitCode = 1;
}
