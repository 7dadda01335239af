// What each job name does. `sleep` stands for real work that takes time (scaling tests hold
// workers busy with it), `fail` for a job that throws; every other name just records itself.
// Every job that succeeds is written to processed_jobs, so a test can count that none was lost.

export interface JobInput {
  readonly queue: string;
  readonly id: string;
  readonly name: string;
  readonly data: Record<string, unknown>;
  readonly attempts: number;
}

export interface JobContext {
  readonly signal: AbortSignal;
  record(job: JobInput): Promise<void>;
}

export class JobTimeoutError extends Error {
  override readonly name = 'JobTimeoutError';
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

export async function runJob(job: JobInput, ctx: JobContext): Promise<{ recorded: true }> {
  if (job.name === 'fail') {
    const message = typeof job.data.message === 'string' ? job.data.message : 'Job asked to fail';
    throw new Error(message);
  }
  if (job.name === 'sleep') {
    const ms = job.data.ms;
    if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0) {
      throw new Error(
        `Job ${job.id}: data.ms must be a whole number of milliseconds, got ${JSON.stringify(ms)}`,
      );
    }
    await sleep(ms, ctx.signal);
  }
  await ctx.record(job);
  return { recorded: true };
}

/**
 * Runs `fn` with a signal that aborts after `seconds`; rejects with JobTimeoutError then.
 * BullMQ 5 has no job timeout of its own, and a job stuck forever would hold a worker slot
 * (and, through the active-jobs floor, a replica) for good.
 */
export async function withJobTimeout<T>(
  seconds: number,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const error = new JobTimeoutError(`Job timed out after ${seconds} s (JOB_TIMEOUT)`);
  const timer = setTimeout(() => controller.abort(error), seconds * 1000);
  try {
    return await Promise.race([
      fn(controller.signal),
      new Promise<never>((_, reject) =>
        controller.signal.addEventListener('abort', () => reject(error), { once: true }),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
