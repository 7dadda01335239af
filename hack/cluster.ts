#!/usr/bin/env -S npx tsx
// zx CLI over hack/lib/cluster.ts: the local control plane for development and tests.
//   up [--nodes N]   start it (or report the running one)
//   down             stop exactly what `up` started, by pid, and remove its state
//   status           print each process and whether the API server is ready
//   kubeconfig       print the kubeconfig path
//   build            build (or find) the binaries only
// --state-dir DIR (or TRENCH_CLUSTER_DIR) selects another cluster than the default one.
import { argv, chalk } from 'zx';
import { ensureBinaries } from './lib/binaries.js';
import { DEFAULT_STATE_DIR, down, readState, status, up } from './lib/cluster.js';

const stateDir: string = argv['state-dir'] ?? process.env.TRENCH_CLUSTER_DIR ?? DEFAULT_STATE_DIR;
const log = (line: string) => console.error(chalk.dim(line));
const command = argv._[0];

try {
  switch (command) {
    case 'up': {
      const started = Date.now();
      const state = await up({ stateDir, nodes: Number(argv.nodes ?? 3), log });
      console.error(`Ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      console.log(`export KUBECONFIG=${state.kubeconfig}`);
      break;
    }
    case 'down':
      await down(stateDir, log);
      console.error('Cluster down');
      break;
    case 'status': {
      const s = await status(stateDir);
      if (!s.state) {
        console.log(`No cluster in ${stateDir}`);
        process.exitCode = 1;
        break;
      }
      for (const p of s.processes) {
        console.log(
          `${p.name.padEnd(24)} pid ${String(p.pid).padEnd(8)} ${p.running ? 'running' : 'stopped'}`,
        );
      }
      console.log(`API server ${s.state.server} ${s.ready ? 'ready' : 'NOT ready'}`);
      process.exitCode = s.ready ? 0 : 1;
      break;
    }
    case 'kubeconfig': {
      const state = readState(stateDir);
      if (!state) throw new Error(`No cluster in ${stateDir}; run 'make cluster-up' first`);
      console.log(state.kubeconfig);
      break;
    }
    case 'build': {
      const bins = await ensureBinaries(log);
      console.log(bins.dir);
      break;
    }
    default:
      console.error(
        'Usage: hack/cluster.ts up [--nodes N] | down | status | kubeconfig | build [--state-dir DIR]',
      );
      process.exitCode = 2;
  }
} catch (error) {
  console.error(chalk.red(`Error: ${(error as Error).message}`));
  process.exitCode = 1;
}
