import { describe, expect, it } from 'vitest';
import {
  type JobInput,
  JobTimeoutError,
  runJob,
  withJobTimeout,
} from '../../../examples/shop/worker/jobs.js';

const job = (name: string, data: Record<string, unknown> = {}): JobInput => ({
  queue: 'emails',
  id: '7',
  name,
  data,
  attempts: 1,
});

function recorder() {
  const recorded: JobInput[] = [];
  return {
    recorded,
    ctx: {
      signal: new AbortController().signal,
      record: async (j: JobInput) => void recorded.push(j),
    },
  };
}

describe('shop jobs', () => {
  it('records a job of any other name once it succeeds', async () => {
    const { recorded, ctx } = recorder();
    await expect(runJob(job('welcome'), ctx)).resolves.toEqual({ recorded: true });
    expect(recorded.map((j) => j.name)).toEqual(['welcome']);
  });

  it('fails a `fail` job with its message and records nothing', async () => {
    const { recorded, ctx } = recorder();
    await expect(runJob(job('fail', { message: 'boom' }), ctx)).rejects.toThrow('boom');
    expect(recorded).toEqual([]);
  });

  it('refuses a `sleep` job without whole milliseconds, naming the job', async () => {
    const { ctx } = recorder();
    await expect(runJob(job('sleep', { ms: 'soon' }), ctx)).rejects.toThrow(
      'Job 7: data.ms must be a whole number of milliseconds, got "soon"',
    );
  });

  it('aborts a job past its timeout and stops its sleep', async () => {
    const { recorded } = recorder();
    let inner: Promise<unknown> | undefined;
    await expect(
      withJobTimeout(1, (signal) => {
        inner = runJob(job('sleep', { ms: 60_000 }), {
          signal,
          record: async (j) => void recorded.push(j),
        });
        return inner;
      }),
    ).rejects.toBeInstanceOf(JobTimeoutError);
    // The sleep itself ended with the abort: a sleep that ignored the signal would still be
    // pending here, and this would never settle.
    await expect(inner).rejects.toBeInstanceOf(JobTimeoutError);
    expect(recorded).toEqual([]);
  });

  it('returns what a job returns within its timeout', async () => {
    await expect(withJobTimeout(5, async () => 42)).resolves.toBe(42);
  });
});
