import { describe, expect, it } from 'vitest';
import { apiConfig, ConfigError, workerConfig } from '../../../examples/shop/lib/env.js';

const base = {
  DATABASE_URL: 'postgres://trench:secret@demo-postgres:5432/trench',
  REDIS_URL: 'redis://:secret@demo-redis:6379',
};

describe('shop env', () => {
  it('reads what the operator sets, with defaults for the rest', () => {
    expect(apiConfig({ ...base, PORT: '8080', METRICS_PORT: '9464' })).toMatchObject({
      port: 8080,
      metricsPort: 9464,
      prefix: 'bull',
      defaultQueue: 'default',
      faultErrorRate: 0,
      faultLatencyMs: 0,
    });
    expect(apiConfig(base)).toMatchObject({ port: 3000, metricsPort: 3000 });
    expect(
      workerConfig({
        ...base,
        TRENCH_WORKER_QUEUES: 'emails, invoices,emails',
        TRENCH_WORKER_CONCURRENCY: '10',
      }),
    ).toMatchObject({
      queues: ['emails', 'invoices'],
      concurrency: 10,
      jobTimeoutSeconds: 300,
      metricsPort: undefined,
    });
  });

  it('prefers the operator’s names over the short ones', () => {
    expect(
      workerConfig({ ...base, QUEUES: 'a', TRENCH_WORKER_QUEUES: 'b', CONCURRENCY: '2' }),
    ).toMatchObject({
      queues: ['b'],
      concurrency: 2,
    });
  });

  it('accepts rediss:// and postgresql://', () => {
    expect(
      apiConfig({ DATABASE_URL: 'postgresql://u@h/d', REDIS_URL: 'rediss://user:pw@h:6380' })
        .redisUrl,
    ).toBe('rediss://user:pw@h:6380');
  });

  it.each([
    [{ PORT: '0' }, 'PORT must be an integer from 1 to 65535, got "0"'],
    [{ PORT: '80.5' }, 'PORT must be an integer from 1 to 65535, got "80.5"'],
    [{ FAULT_ERROR_RATE: '1.5' }, 'FAULT_ERROR_RATE must be a number from 0 to 1, got "1.5"'],
    [{ FAULT_LATENCY_MS: '-1' }, 'FAULT_LATENCY_MS must be an integer from 0 to 600000, got "-1"'],
    [{ DATABASE_URL: '' }, 'DATABASE_URL is required and is not set'],
    [
      { REDIS_URL: 'localhost:6379' },
      'REDIS_URL must start with redis:// or rediss://, got localhost://...',
    ],
    [{ SHOP_MIGRATE_ON_START: 'yes' }, 'SHOP_MIGRATE_ON_START must be true or false, got "yes"'],
  ])('refuses %o with a message that names the variable', (bad, message) => {
    expect(() => apiConfig({ ...base, ...bad })).toThrow(new ConfigError(message));
  });

  it('never shows a URL’s password in an error', () => {
    expect(() => apiConfig({ ...base, DATABASE_URL: 'mysql://root:hunter2@db/x' })).toThrow(
      /^DATABASE_URL must start with postgres:\/\/ or postgresql:\/\/, got mysql:\/\/\.\.\.$/,
    );
  });

  it.each([
    [
      { TRENCH_WORKER_QUEUES: 'emails,bad queue' },
      'TRENCH_WORKER_QUEUES must be a comma-separated list of queue names (letters, digits, . _ : -), got "bad queue"',
    ],
    [
      { TRENCH_WORKER_CONCURRENCY: '0' },
      'TRENCH_WORKER_CONCURRENCY must be an integer from 1 to 1000, got "0"',
    ],
    [{ JOB_TIMEOUT: '1m' }, 'JOB_TIMEOUT must be an integer from 1 to 86400, got "1m"'],
    [{ METRICS_PORT: 'x' }, 'METRICS_PORT must be an integer from 1 to 65535, got "x"'],
  ])('refuses a worker env %o', (bad, message) => {
    expect(() => workerConfig({ ...base, ...bad })).toThrow(new ConfigError(message));
  });
});
