// HTTP endpoints: /metrics (Prometheus), /healthz (the process serves requests), /readyz.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Readiness {
  readonly ready: boolean;
  /** Why not ready, for the /readyz body. */
  readonly reason?: string;
}

export interface ServerOptions {
  /** Default 8080; 0 picks a free port. */
  readonly port?: number;
  /** Default '0.0.0.0'. */
  readonly host?: string;
  readonly registry: Registry;
  readonly readiness: () => Readiness;
}

export interface RunningServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Readiness of an operator replica: ready once its caches have synced, whether it leads or
 * stands by. A standby is ready because it is healthy and will take over; marking it unready
 * would only make rollouts of the operator Deployment hang on the non-leaders.
 */
export function operatorReadiness(parts: {
  readonly informers: readonly { hasSynced(): boolean; readonly kind: string }[];
  readonly shuttingDown?: () => boolean;
}): () => Readiness {
  return () => {
    if (parts.shuttingDown?.()) return { ready: false, reason: 'shutting down' };
    const pending = parts.informers.filter((i) => !i.hasSynced()).map((i) => i.kind);
    return pending.length > 0
      ? { ready: false, reason: `caches not synced: ${pending.join(', ')}` }
      : { ready: true };
  };
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const r = options.readiness();
      res
        .writeHead(r.ready ? 200 : 503, { 'Content-Type': 'text/plain' })
        .end(r.ready ? 'ok\n' : `not ready: ${r.reason ?? 'unknown'}\n`);
      return;
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': options.registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  });
  // Probes are tiny; do not let idle keep-alive sockets hold shutdown up.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
