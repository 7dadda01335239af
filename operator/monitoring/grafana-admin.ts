// Grafana's admin Secret, generated at operator startup when it is missing and never
// overwritten (see charts/lib/grafana-admin.ts). Every replica runs this, leader or not: the
// create is its own lock (the API server lets one create win, the others get 409 and keep
// the winner's value), so no Lease is needed for it.
import { type GrafanaAdminSecretRef, grafanaAdminSecret } from '../../charts/lib/grafana-admin.js';
import { isConflict, type KubeClient } from '../runtime/client.js';
import { type Logger, nullLogger } from '../runtime/log.js';
import { generatePassword } from '../trench/credentials.js';

export type EnsureOutcome = 'created' | 'kept';

/** One attempt: creates the Secret with a fresh password, or keeps the one that exists. */
export async function ensureGrafanaAdminSecret(
  client: KubeClient,
  ref: GrafanaAdminSecretRef,
  options: { password?: () => string; signal?: AbortSignal } = {},
): Promise<EnsureOutcome> {
  const secret = grafanaAdminSecret(ref, (options.password ?? generatePassword)());
  try {
    await client.create(secret, options.signal ? { signal: options.signal } : {});
    return 'created';
  } catch (error) {
    if (isConflict(error)) return 'kept';
    throw error;
  }
}

export interface KeepTryingOptions {
  readonly log?: Logger;
  readonly password?: () => string;
  /** Stops the retries; the promise then resolves with undefined. */
  readonly signal?: AbortSignal;
  /** First wait after a failure; doubled up to maxDelayMs. Default 1 s. */
  readonly initialDelayMs?: number;
  /** Default 60 s. */
  readonly maxDelayMs?: number;
}

/**
 * ensureGrafanaAdminSecret until it succeeds. At install the operator may start before the
 * monitoring namespace or its Role exist (dist/ applies them in the same wave), so a 404 or
 * 403 is expected for a while, not fatal. The waits do not keep the process alive.
 */
export async function ensureGrafanaAdminSecretUntilDone(
  client: KubeClient,
  ref: GrafanaAdminSecretRef,
  options: KeepTryingOptions = {},
): Promise<EnsureOutcome | undefined> {
  const log = options.log ?? nullLogger;
  const secret = `${ref.namespace}/${ref.name}`;
  let delay = options.initialDelayMs ?? 1000;
  const maxDelay = options.maxDelayMs ?? 60_000;
  for (;;) {
    if (options.signal?.aborted) return undefined;
    try {
      const outcome = await ensureGrafanaAdminSecret(client, ref, options);
      if (outcome === 'created') log.info('Created Secret', { secret, for: 'grafana admin' });
      else log.debug('Kept existing Secret', { secret, for: 'grafana admin' });
      return outcome;
    } catch (error) {
      if (options.signal?.aborted) return undefined;
      log.warn('Failed to create Secret, retrying', { secret, retryInMs: delay, error });
    }
    await sleep(delay, options.signal);
    delay = Math.min(delay * 2, maxDelay);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    timer.unref();
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
