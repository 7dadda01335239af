// Graceful termination: on SIGTERM (or SIGINT) run the shutdown steps in order, each bounded
// by its own timeout, then exit. The order matters and is the caller's: typically stop the
// controllers (drain in-flight reconciles), stop the informers, release the Lease (so the next
// leader starts at once, after we stopped writing), close the HTTP server.
// A second signal exits at once.

import type { Logger } from './log.js';
import { nullLogger } from './log.js';

export interface ShutdownStep {
  readonly name: string;
  readonly run: () => Promise<unknown> | unknown;
  /** Default 10 s. */
  readonly timeoutMs?: number;
}

export interface ShutdownReport {
  readonly name: string;
  readonly outcome: 'done' | 'timeout' | 'error';
}

/** Runs the steps one after another; a failing or hanging step does not stop the others. */
export async function runShutdown(
  steps: readonly ShutdownStep[],
  log: Logger = nullLogger,
): Promise<ShutdownReport[]> {
  const report: ShutdownReport[] = [];
  for (const step of steps) {
    const timeoutMs = step.timeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    let outcome: ShutdownReport['outcome'];
    try {
      const r = await Promise.race([
        Promise.resolve()
          .then(step.run)
          .then(() => 'done' as const),
        timeout,
      ]);
      outcome = r;
    } catch (error) {
      outcome = 'error';
      log.warn(`Failed to stop ${step.name}`, { error });
    } finally {
      clearTimeout(timer);
    }
    if (outcome === 'timeout') log.warn(`Timed out stopping ${step.name}`, { timeoutMs });
    else if (outcome === 'done') log.info(`Stopped ${step.name}`, {});
    report.push({ name: step.name, outcome });
  }
  return report;
}

export interface SignalHandlerOptions {
  readonly steps: readonly ShutdownStep[];
  readonly log?: Logger;
  /** Default: ['SIGTERM', 'SIGINT']. */
  readonly signals?: readonly NodeJS.Signals[];
  /** Default: process.exit. */
  readonly exit?: (code: number) => void;
}

/** Installs the handlers; returns a function that removes them (for tests). */
export function onTerminate(options: SignalHandlerOptions): () => void {
  const log = options.log ?? nullLogger;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let terminating = false;
  const handler = (signal: NodeJS.Signals) => {
    if (terminating) {
      log.warn('Received second signal, exited at once', { signal });
      exit(1);
      return;
    }
    terminating = true;
    log.info('Received termination signal', { signal });
    void runShutdown(options.steps, log).then((report) => {
      exit(report.every((r) => r.outcome === 'done') ? 0 : 1);
    });
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}
