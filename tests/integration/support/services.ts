// Real Redis, PostgreSQL and Prometheus servers from Debian's packages, started by the test
// file that needs them and stopped by their pids (share one per file: each takes a second or
// more to start on two cores). Data lives in a temporary directory removed on stop.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../../hack/lib/cluster.js';
import { freePorts } from '../../../hack/lib/processes.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Service {
  readonly pid: number;
  /** Everything the server printed so far. */
  logs(): string;
  /** SIGTERM by pid, SIGKILL after 10 s; resolves when the process has exited. */
  stop(): Promise<void>;
}

export interface HostProcess extends Service {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `command` as a child of the test (never detached, so it cannot outlive a crashed
 * run's parent unnoticed) and keeps its output. `cleanup` runs after it exits.
 */
export function spawnHost(
  name: string,
  command: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; cleanup?: () => void } = {},
): HostProcess {
  const child: ChildProcess = spawn(command, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`Could not start ${name} (${command})`);
  const pid = child.pid;
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let done = false;
  void exited.then(() => {
    done = true;
    opts.cleanup?.();
  });
  return {
    pid,
    exited,
    logs: () => output,
    async stop() {
      if (!done) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // Already gone.
        }
        const killer = setTimeout(() => {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Exited meanwhile.
          }
        }, 10_000);
        await exited;
        clearTimeout(killer);
      }
    },
  };
}

async function waitUntil(what: string, service: HostProcess, probe: () => Promise<boolean>) {
  const deadline = Date.now() + 30_000;
  let exit: unknown;
  void service.exited.then((e) => {
    exit = e;
  });
  while (Date.now() < deadline) {
    if (exit) throw new Error(`${what} exited before it was ready: ${service.logs()}`);
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  await service.stop();
  throw new Error(`${what} was not ready within 30 s: ${service.logs()}`);
}

export interface RedisServer extends Service {
  readonly port: number;
  readonly password: string;
  /** As the operator builds it: redis://:<password>@127.0.0.1:<port> */
  readonly url: string;
  /** Runs redis-cli against this server and returns its output. */
  cli(...args: string[]): Promise<string>;
}

/** `port`: start again where a stopped one listened (an outage and its end). */
export async function startRedis(
  password = 'test-redis-password',
  port?: number,
): Promise<RedisServer> {
  port ??= (await freePorts(1))[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'trench-redis-'));
  const proc = spawnHost(
    'redis-server',
    '/usr/bin/redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--requirepass',
      password,
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { cleanup: () => rmSync(dir, { recursive: true, force: true }) },
  );
  const cli = async (...args: string[]) =>
    (await run('redis-cli', ['-p', String(port), '--no-auth-warning', '-a', password, ...args]))
      .stdout;
  await waitUntil('redis-server', proc, async () => (await cli('PING')).trim() === 'PONG');
  return { ...proc, port, password, url: `redis://:${password}@127.0.0.1:${port}`, cli };
}

export interface PostgresServer extends Service {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** As the operator builds it: postgres://trench:<password>@127.0.0.1:<port>/<database> */
  readonly url: string;
  /** Runs one SQL statement with psql and returns its unaligned, tuples-only output. */
  sql(statement: string): Promise<string>;
}

/** The newest PostgreSQL of Debian's packages (15 on bookworm). */
export function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest)
    throw new Error(`No PostgreSQL under ${root}: run make deps (apt-get install postgresql)`);
  return join(root, newest, 'bin');
}

// PostgreSQL refuses to run as root: as root, run it as Debian's postgres user. setpriv execs
// in place (runuser and su fork), so the pid we hold is the postmaster's own.
export async function asPostgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  return { uid, gid };
}

export function wrap(
  owner: { uid: number; gid: number } | undefined,
  command: string,
  args: string[],
) {
  return owner
    ? {
        command: 'setpriv',
        args: [
          `--reuid=${owner.uid}`,
          `--regid=${owner.gid}`,
          '--clear-groups',
          '--',
          command,
          ...args,
        ],
      }
    : { command, args };
}

export async function startPostgres(
  opts: { database?: string; password?: string } = {},
): Promise<PostgresServer> {
  const database = opts.database ?? 'trench';
  const password = opts.password ?? 'test-postgres-password';
  const user = 'trench';
  const bin = postgresBin();
  const [port] = (await freePorts(1)) as [number];
  const dir = mkdtempSync(join(tmpdir(), 'trench-postgres-'));
  const owner = await asPostgresUser();
  writeFileSync(join(dir, 'pwfile'), `${password}\n`, { mode: 0o600 });
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
    chownSync(join(dir, 'pwfile'), owner.uid, owner.gid);
  }
  const data = join(dir, 'data');
  const init = wrap(owner, join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    user,
    `--pwfile=${join(dir, 'pwfile')}`,
    '--auth=scram-sha-256',
    '--encoding=UTF8',
    '--no-sync',
  ]);
  await run(init.command, init.args, { cwd: dir }).catch((err: { stderr?: string }) => {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${err.stderr ?? String(err)}`);
  });
  const server = wrap(owner, join(bin, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'max_connections=200',
  ]);
  const proc = spawnHost('postgres', server.command, server.args, {
    cwd: dir,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
  const env = { ...process.env, PGPASSWORD: password };
  const psql = (db: string, statement: string) =>
    run(
      'psql',
      ['-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', db, '-XAtqc', statement],
      {
        env,
      },
    );
  await waitUntil(
    'postgres',
    proc,
    async () => (await psql('postgres', 'SELECT 1')).stdout.trim() === '1',
  );
  await psql('postgres', `CREATE DATABASE ${database}`);
  return {
    ...proc,
    port,
    user,
    password,
    database,
    url: `postgres://${user}:${password}@127.0.0.1:${port}/${database}`,
    sql: async (statement) => (await psql(database, statement)).stdout.trim(),
  };
}

export interface PrometheusServer extends Service {
  readonly url: string;
  /** An instant query; returns the result vector. */
  query(expr: string): Promise<PromSample[]>;
}

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

export interface ScrapeTarget {
  readonly job: string;
  readonly address: string;
  readonly labels?: Record<string, string>;
  readonly metricsPath?: string;
  /** Keep the target's own namespace and trench labels (the operator's series carry them). */
  readonly honorLabels?: boolean;
}

/**
 * Prometheus scraping `targets` every second, with `rules` (a rule file's YAML) loaded and
 * alerts sent to `alertmanager` (host:port) when given.
 * `host` is the address it listens on and `url` names, 127.0.0.1 unless a test needs another
 * (Endpoints for the API server's service proxy may not be loopback addresses).
 */
export async function startPrometheus(
  targets: readonly ScrapeTarget[],
  opts: { rules?: string; evaluationInterval?: string; alertmanager?: string; host?: string } = {},
): Promise<PrometheusServer> {
  const host = opts.host ?? '127.0.0.1';
  const [port] = (await freePorts(1)) as [number];
  const dir = mkdtempSync(join(tmpdir(), 'trench-prometheus-'));
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: opts.evaluationInterval ?? '1s' },
    ...(opts.rules ? { rule_files: [join(dir, 'rules.yaml')] } : {}),
    ...(opts.alertmanager
      ? { alerting: { alertmanagers: [{ static_configs: [{ targets: [opts.alertmanager] }] }] } }
      : {}),
    scrape_configs: targets.map((t) => ({
      job_name: t.job,
      metrics_path: t.metricsPath ?? '/metrics',
      ...(t.honorLabels ? { honor_labels: true } : {}),
      static_configs: [{ targets: [t.address], labels: t.labels ?? {} }],
    })),
  };
  if (opts.rules) writeFileSync(join(dir, 'rules.yaml'), opts.rules);
  writeFileSync(join(dir, 'prometheus.yaml'), JSON.stringify(config));
  const proc = spawnHost(
    'prometheus',
    '/usr/bin/prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yaml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=${host}:${port}`,
    ],
    { cleanup: () => rmSync(dir, { recursive: true, force: true }) },
  );
  const url = `http://${host}:${port}`;
  await waitUntil('prometheus', proc, async () => (await fetch(`${url}/-/ready`)).ok);
  const server: PrometheusServer = {
    ...proc,
    url,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: {
          resultType: string;
          result: { metric: Record<string, string>; value: [number, string] }[];
        };
      };
      if (body.status !== 'success' || !body.data) {
        throw new Error(`Prometheus refused ${expr}: ${body.error ?? res.status}`);
      }
      if (body.data.resultType !== 'vector') {
        throw new Error(`Expected a vector from ${expr}, got ${body.data.resultType}`);
      }
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
  };
  // Ready is not scraping: the scrape manager applies new targets up to 5 s later. Traffic
  // sent before the first scrape would never show in a rate().
  await waitUntil('prometheus scrapes', proc, async () => {
    const up = await server.query('up');
    return targets.every((t) => up.some((s) => s.metric.job === t.job));
  });
  return server;
}

export interface AlertmanagerServer extends Service {
  readonly url: string;
  /** host:port, for Prometheus's alerting config. */
  readonly address: string;
}

/** Debian's Alertmanager on loopback with `config` (alertmanager.yml text), alone (no peers). */
export async function startAlertmanager(config: string): Promise<AlertmanagerServer> {
  const [port] = (await freePorts(1)) as [number];
  const dir = mkdtempSync(join(tmpdir(), 'trench-alertmanager-'));
  writeFileSync(join(dir, 'alertmanager.yml'), config);
  const proc = spawnHost(
    'alertmanager',
    '/usr/bin/prometheus-alertmanager',
    [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
    ],
    { cleanup: () => rmSync(dir, { recursive: true, force: true }) },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntil('alertmanager', proc, async () => (await fetch(`${url}/-/ready`)).ok);
  return { ...proc, url, address: `127.0.0.1:${port}` };
}

/** The sample product's API or worker (examples/shop) as a host process, with only `env`. */
export function startShop(
  entry: 'api/main.ts' | 'worker/main.ts',
  env: Record<string, string>,
): HostProcess {
  const file = join(REPO_ROOT, 'examples', 'shop', entry);
  return spawnHost(`shop ${entry}`, process.execPath, ['--import', 'tsx', file], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  });
}

/**
 * The sample worker on `queues` for jobs that never finish (sleep jobs): it never writes, so
 * its database URL points nowhere. Stop it with SIGKILL: a graceful close waits for the jobs.
 */
export function startIdleShopWorker(redisUrl: string, queues: string, concurrency: number) {
  return startShop('worker/main.ts', {
    REDIS_URL: redisUrl,
    DATABASE_URL: 'postgres://trench:unused@127.0.0.1:1/shop',
    SHOP_MIGRATE_ON_START: 'false',
    TRENCH_WORKER_QUEUES: queues,
    TRENCH_WORKER_CONCURRENCY: String(concurrency),
  });
}
