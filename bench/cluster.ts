// Prints the local control plane's warm start time and the API server's own write throughput
// (1000 ConfigMaps at several concurrencies): the baseline later benchmarks are compared to.
//   node --import tsx bench/cluster.ts [--starts 3] [--objects 1000] [--concurrency 1,8,32]
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { argv } from 'zx';
import { ensureBinaries } from '../hack/lib/binaries.js';
import { down, REPO_ROOT, up } from '../hack/lib/cluster.js';

const stateDir = join(REPO_ROOT, '.trench', 'bench-cluster');
const starts = Number(argv.starts ?? 3);
const objects = Number(argv.objects ?? 1000);
const concurrencies = String(argv.concurrency ?? '1,8,32')
  .split(',')
  .map(Number);

const seconds = (ms: number) => (ms / 1000).toFixed(2);
const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight. */
async function pool(count: number, concurrency: number, task: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

await ensureBinaries((line) => console.error(line));
const startTimes: number[] = [];
const apiReadyTimes: number[] = [];
try {
  for (let i = 0; i < starts; i++) {
    const t0 = performance.now();
    // up() logs this line the moment /readyz answers 200, before the nodes and controllers.
    const log = (line: string) => {
      if (line.startsWith('API server ready')) apiReadyTimes.push(performance.now() - t0);
    };
    await up({ stateDir, nodes: 3, log });
    startTimes.push(performance.now() - t0);
    if (i < starts - 1) await down(stateDir);
  }
  const report = (what: string, xs: number[]) =>
    console.log(
      `warm up to ${what}: median ${seconds(median(xs))} s (runs: ${xs.map(seconds).join(', ')} s)`,
    );
  report('a ready API server (/readyz 200)', apiReadyTimes);
  report('Ready nodes, StorageClass and default ServiceAccount', startTimes);

  const kc = new KubeConfig();
  kc.loadFromFile(join(stateDir, 'kubeconfig'));
  const core = kc.makeApiClient(CoreV1Api);
  for (const concurrency of concurrencies) {
    const namespace = `bench-c${concurrency}`;
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const t0 = performance.now();
    await pool(objects, concurrency, (i) =>
      core.createNamespacedConfigMap({
        namespace,
        body: {
          metadata: { name: `cm-${i}`, labels: { bench: 'cluster' } },
          data: { index: String(i) },
        },
      }),
    );
    const ms = performance.now() - t0;
    console.log(
      `create ${objects} ConfigMaps, concurrency ${String(concurrency).padStart(2)}: ${seconds(ms)} s, ` +
        `${((objects / ms) * 1000).toFixed(0)} writes/s`,
    );
  }
} finally {
  await down(stateDir);
}
