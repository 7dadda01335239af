// The operator's threshold metrics (operator/monitoring/thresholds.ts) for a fixed set of
// Trenches, served on loopback: for tests that scrape the rules' inputs without running an
// operator. The text is the operator's own code's, from the same registry calls.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import type { Trench } from '../../../charts/api/trench.js';
import { registerThresholdMetrics } from '../../../operator/monitoring/thresholds.js';
import type { KubeObject } from '../../../operator/runtime/types.js';

export interface ThresholdServer {
  /** host:port, for a scrape target. */
  readonly address: string;
  close(): Promise<void>;
}

/** A Trench object as the cache holds it, with `spec` merged over a minimal valid one. */
export function trenchObject(
  at: { namespace: string; trench: string },
  spec: Record<string, unknown> = {},
): Trench & KubeObject {
  return {
    apiVersion: 'playtrenches.xyz/v1alpha1',
    kind: 'Trench',
    metadata: { name: at.trench, namespace: at.namespace },
    spec: { api: { image: 'api' }, worker: { image: 'worker', queues: ['default'] }, ...spec },
  } as unknown as Trench & KubeObject;
}

export async function serveThresholds(
  trenches: readonly (Trench & KubeObject)[],
): Promise<ThresholdServer> {
  const registry = new Registry();
  registerThresholdMetrics(registry, () => trenches);
  const server = createServer((_req, res) => {
    void registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
