#!/usr/bin/env -S npx tsx
// zx CLI for users who have Docker: a kind cluster from manifests/kind/cluster.yaml.
//   create   create it (or report the existing one) and print its kubeconfig path
//   delete   delete it
// Point the tests at it with TRENCH_TEST_KUBECONFIG=$(node --import tsx hack/kind.ts kubeconfig).
import { join } from 'node:path';
import { $, argv, chalk, which } from 'zx';
import { REPO_ROOT } from './lib/cluster.js';

const NAME = 'trench';
const config = join(REPO_ROOT, 'manifests', 'kind', 'cluster.yaml');
const kubeconfig = join(REPO_ROOT, '.trench', 'kind-kubeconfig');

try {
  if (!(await which('kind', { nothrow: true })) || !(await which('docker', { nothrow: true }))) {
    throw new Error(
      'kind and a running Docker engine are needed; without Docker use `make cluster-up`',
    );
  }
  const clusters = (await $`kind get clusters`.quiet()).stdout.split('\n');
  switch (argv._[0]) {
    case 'create':
      if (!clusters.includes(NAME))
        await $`kind create cluster --name ${NAME} --config ${config} --wait 120s`;
      await $`mkdir -p ${join(REPO_ROOT, '.trench')}`;
      await $`kind get kubeconfig --name ${NAME} > ${kubeconfig}`;
      console.log(kubeconfig);
      break;
    case 'delete':
      if (clusters.includes(NAME)) await $`kind delete cluster --name ${NAME}`;
      break;
    case 'kubeconfig':
      console.log(kubeconfig);
      break;
    default:
      console.error('Usage: hack/kind.ts create | delete | kubeconfig');
      process.exitCode = 2;
  }
} catch (error) {
  console.error(chalk.red(`Error: ${(error as Error).message}`));
  process.exitCode = 1;
}
