// How long renderTrench takes, the operator's cost per Trench per reconcile. Prints figures
// (no assertions): ms per render for distinct Trenches, the objects and bytes per Trench,
// and the cost of a full 1000-Trench render pass next to the time to serialize the result.
import { renderTrench, type TrenchInput } from '../charts/trench-chart.js';

const N = Number(process.env.N ?? 1000);

function trench(i: number): TrenchInput {
  return {
    metadata: {
      name: `t${i}`,
      namespace: `ns-${i % 50}`,
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    },
    spec: {
      api: { image: `ghcr.io/playtrenches/shop-api:1.${i % 7}.0`, replicas: 1 + (i % 3) },
      worker: {
        image: 'ghcr.io/playtrenches/shop-worker:1.0.0',
        queues: ['emails', 'reports'],
        metricsPort: 9100,
      },
      ...(i % 4 === 0
        ? { redis: { external: { urlSecretRef: { name: 'redis', key: 'url' } } } }
        : {}),
      rollout: { steps: [{ setWeight: 20 }, { pause: { duration: '1m' } }] },
    },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// Warm-up: JIT, module caches, the cron gap cache.
for (let i = 0; i < 50; i++) renderTrench(trench(i));

const times: number[] = [];
let objects = 0;
let bytes = 0;
let serializeMs = 0;
const started = performance.now();
for (let i = 0; i < N; i++) {
  const t0 = performance.now();
  const out = renderTrench(trench(i));
  times.push(performance.now() - t0);
  objects += out.length;
  const s0 = performance.now();
  bytes += JSON.stringify(out).length;
  serializeMs += performance.now() - s0;
}
const total = performance.now() - started - serializeMs;
times.sort((a, b) => a - b);
const mem = process.memoryUsage();
console.log(`renderTrench x${N} (distinct Trenches, node ${process.version})`);
console.log(`  total           ${total.toFixed(0)} ms`);
console.log(
  `  per render      mean ${(total / N).toFixed(2)} ms, p50 ${percentile(times, 50).toFixed(2)} ms, p95 ${percentile(times, 95).toFixed(2)} ms, p99 ${percentile(times, 99).toFixed(2)} ms`,
);
console.log(
  `  objects         ${(objects / N).toFixed(1)} per Trench, ${(bytes / N / 1024).toFixed(1)} KiB JSON per Trench`,
);
console.log(
  `  JSON.stringify  ${(serializeMs / N).toFixed(3)} ms per Trench (ratio render/serialize ${(total / serializeMs).toFixed(1)}x)`,
);
console.log(
  `  heap used       ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB, rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB`,
);
