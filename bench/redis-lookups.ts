// The scaler's Redis connections when server names resolve slowly or not at all (a DNS
// outage, or this project's machines, where `<trench>-redis.<ns>.svc` does not resolve from the
// host and the resolver answers a few lookups a second). N clients with the scaler's options
// connect to N names that do not resolve, for S seconds, twice, each time in a child process of
// its own: with ioredis' own connector (the baseline: every reconnect starts a getaddrinfo on
// libuv's four threads, and one that started cannot be cancelled), and with the bounded lookup
// of operator/scaling/lookup.ts. Prints, per run, the heap after a full GC every 10 s, its
// growth per second after the first 10 s (the clients' own set-up), the RSS, and the lookups
// started and refused. Figures only.
//   node --import tsx bench/redis-lookups.ts [--clients 1000] [--seconds 90]
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { argv } from 'zx';
import { connectorFor, scalerClientOptions } from '../operator/scaling/connections.js';
import { LookupLimiter } from '../operator/scaling/lookup.js';

const clients = Number(argv.clients ?? 1000);
const seconds = Number(argv.seconds ?? 90);
for (const [flag, v] of [
  ['--clients', clients],
  ['--seconds', seconds],
] as const) {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${flag} must be a positive integer`);
}

type Mode = 'ioredis' | 'bounded';
interface Sample {
  readonly at: number;
  readonly heapMb: number;
  readonly rssMb: number;
}
interface Result {
  readonly mode: Mode;
  readonly samples: Sample[];
  readonly started?: number;
  readonly refused?: number;
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

async function child(mode: Mode): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the child with --expose-gc');
  const limiter = new LookupLimiter();
  const options = {
    ...scalerClientOptions(),
    ...(mode === 'bounded' ? { Connector: connectorFor(limiter) } : {}),
  };
  // Names under a namespace that does not exist: each is looked up afresh (no two alike).
  const all = Array.from({ length: clients }, (_, i) => {
    const c = new Redis(`redis://:pw@bench${i}-redis.bench-${i % 10}.svc:6379`, options);
    c.on('error', () => undefined);
    return c;
  });
  const samples: Sample[] = [];
  const t0 = Date.now();
  const sample = () => {
    gc();
    const m = process.memoryUsage();
    samples.push({ at: (Date.now() - t0) / 1000, heapMb: mb(m.heapUsed), rssMb: mb(m.rss) });
  };
  sample();
  while (Date.now() - t0 < seconds * 1000) {
    await new Promise((r) => setTimeout(r, 10_000));
    sample();
  }
  for (const c of all) c.disconnect();
  const result: Result = {
    mode,
    samples,
    ...(mode === 'bounded' ? { started: limiter.started, refused: limiter.refused } : {}),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  // Lookups still queued on libuv's threads would hold the process open.
  process.exit(0);
}

function run(mode: Mode): Promise<Result> {
  const self = fileURLToPath(import.meta.url);
  const args = ['--expose-gc', '--import', 'tsx', self, '--child', mode];
  args.push('--clients', String(clients), '--seconds', String(seconds));
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`${mode} run exited ${code}`));
      else resolve(JSON.parse(line) as Result);
    });
  });
}

if (argv.child) {
  await child(String(argv.child) as Mode);
} else {
  console.log(`${clients} clients to names that do not resolve, ${seconds} s each run`);
  const results: Result[] = [];
  for (const mode of ['ioredis', 'bounded'] as const) {
    console.log(`[${new Date().toISOString().slice(11, 19)}] ${mode}...`);
    results.push(await run(mode));
  }
  // From the 10 s sample on: the first 10 s are the clients' own set-up.
  const growth = (r: Result) => {
    const a = r.samples[1] ?? r.samples[0]!;
    const b = r.samples.at(-1)!;
    return b.at > a.at ? (b.heapMb - a.heapMb) / (b.at - a.at) : 0;
  };
  console.log(
    '\n| connector | heap after GC at 0 s, 10 s, end (MB) | growth after 10 s (MB/s) | RSS end (MB) | lookups started / refused |',
  );
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of results) {
    const heap = [r.samples[0], r.samples[1], r.samples.at(-1)].map((s) => s?.heapMb).join(', ');
    const lookups = r.started === undefined ? 'every reconnect' : `${r.started} / ${r.refused}`;
    console.log(
      `| ${r.mode} | ${heap} | ${growth(r).toFixed(3)} | ${r.samples.at(-1)!.rssMb} | ${lookups} |`,
    );
  }
  const [base, bounded] = results;
  console.log(
    `\nheap samples (s: MB):\n${results.map((r) => `${r.mode}: ${r.samples.map((s) => `${Math.round(s.at)}: ${s.heapMb}`).join(', ')}`).join('\n')}`,
  );
  console.log(
    `\nbounded vs ioredis growth: ${growth(bounded!).toFixed(3)} vs ${growth(base!).toFixed(3)} MB/s`,
  );
}
