// Reading the environment the operator gives the pods (see charts/constructs: PORT,
// METRICS_PORT, DATABASE_URL, REDIS_URL, TRENCH_WORKER_QUEUES, TRENCH_WORKER_CONCURRENCY).
// Pure: takes the env as a record, so every rule is unit-tested. A bad value is an error that
// names the variable and shows the value; the entry points print it and exit 2.

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function raw(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

export function required(env: Env, name: string): string {
  const v = raw(env, name);
  if (v === undefined) throw new ConfigError(`${name} is required and is not set`);
  return v;
}

export function integer(
  env: Env,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const v = raw(env, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${v}"`);
  }
  return n;
}

export function fraction(env: Env, name: string): number {
  const v = raw(env, name);
  if (v === undefined) return 0;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1) {
    throw new ConfigError(`${name} must be a number from 0 to 1, got "${v}"`);
  }
  return n;
}

/** A URL of one of `protocols`, checked so that a typo fails at start, not at first use. */
export function url(env: Env, name: string, protocols: readonly string[]): string {
  const v = required(env, name);
  let parsed: URL;
  try {
    parsed = new URL(v);
  } catch {
    throw new ConfigError(`${name} is not a URL (expected ${protocols.join(' or ')})`);
  }
  if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) {
    // The value may hold a password: show the scheme only.
    throw new ConfigError(
      `${name} must start with ${protocols.map((p) => `${p}://`).join(' or ')}, got ${parsed.protocol}//...`,
    );
  }
  return v;
}

const QUEUE_NAME = /^[A-Za-z0-9._:-]+$/;

export function queues(env: Env, name: string, fallback: readonly string[]): string[] {
  const v = raw(env, name);
  if (v === undefined) return [...fallback];
  const list = v.split(',').map((q) => q.trim());
  const bad = list.find((q) => !QUEUE_NAME.test(q));
  if (bad !== undefined) {
    throw new ConfigError(
      `${name} must be a comma-separated list of queue names (letters, digits, . _ : -), got "${bad}"`,
    );
  }
  return [...new Set(list)];
}

export interface ApiConfig {
  readonly port: number;
  /** Where /metrics is served; equal to `port` when METRICS_PORT is unset. */
  readonly metricsPort: number;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  /** BullMQ key prefix; the operator's backlog count reads the same keys. */
  readonly prefix: string;
  /** Queue that POST /jobs uses when the body names none. */
  readonly defaultQueue: string;
  /** Share of application requests answered 500 on purpose, to simulate a bad release. */
  readonly faultErrorRate: number;
  /** Added to every application request, to simulate a slow release. */
  readonly faultLatencyMs: number;
  readonly migrateOnStart: boolean;
  readonly version: string;
}

export interface WorkerConfig {
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly jobTimeoutSeconds: number;
  /** Undefined: no metrics server (the Trench sets no worker metricsPort). */
  readonly metricsPort: number | undefined;
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly migrateOnStart: boolean;
  /** Share of jobs failed on purpose: a bad worker release, for canary analysis to catch. */
  readonly faultJobFailureRate: number;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const v = raw(env, name);
  if (v === undefined) return fallback;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ConfigError(`${name} must be true or false, got "${v}"`);
}

const DATABASE_PROTOCOLS = ['postgres', 'postgresql'];
const REDIS_PROTOCOLS = ['redis', 'rediss'];

export function apiConfig(env: Env): ApiConfig {
  const port = integer(env, 'PORT', 3000, 1, 65535);
  return {
    port,
    metricsPort: integer(env, 'METRICS_PORT', port, 1, 65535),
    databaseUrl: url(env, 'DATABASE_URL', DATABASE_PROTOCOLS),
    redisUrl: url(env, 'REDIS_URL', REDIS_PROTOCOLS),
    prefix: raw(env, 'BULLMQ_PREFIX') ?? 'bull',
    defaultQueue: queues(env, 'SHOP_DEFAULT_QUEUE', ['default'])[0] ?? 'default',
    faultErrorRate: fraction(env, 'FAULT_ERROR_RATE'),
    faultLatencyMs: integer(env, 'FAULT_LATENCY_MS', 0, 0, 600_000),
    migrateOnStart: bool(env, 'SHOP_MIGRATE_ON_START', true),
    version: raw(env, 'SHOP_VERSION') ?? '0.1.0',
  };
}

export function workerConfig(env: Env): WorkerConfig {
  const metrics = raw(env, 'METRICS_PORT');
  return {
    // The operator's names first; the short ones for running the worker by hand.
    queues: queues(env, 'TRENCH_WORKER_QUEUES', queues(env, 'QUEUES', ['default'])),
    concurrency: integer(
      env,
      'TRENCH_WORKER_CONCURRENCY',
      integer(env, 'CONCURRENCY', 5, 1, 1000),
      1,
      1000,
    ),
    jobTimeoutSeconds: integer(env, 'JOB_TIMEOUT', 300, 1, 86_400),
    metricsPort: metrics === undefined ? undefined : integer(env, 'METRICS_PORT', 0, 1, 65535),
    databaseUrl: url(env, 'DATABASE_URL', DATABASE_PROTOCOLS),
    redisUrl: url(env, 'REDIS_URL', REDIS_PROTOCOLS),
    prefix: raw(env, 'BULLMQ_PREFIX') ?? 'bull',
    migrateOnStart: bool(env, 'SHOP_MIGRATE_ON_START', true),
    faultJobFailureRate: fraction(env, 'FAULT_JOB_FAILURE_RATE'),
  };
}
