// A TCP proxy in front of the test cluster's API server, to cut a client off from it and let
// it back: dropped connections, then refused ones, while everything else still reaches the
// server directly.
import net from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

/** The test cluster's kubeconfig with the server address replaced by the proxy's. */
export function proxyConfig(kc: KubeConfig, port: number): KubeConfig {
  const cluster = kc.getCurrentCluster()!;
  const user = kc.getCurrentUser()!;
  const url = new URL(cluster.server);
  url.port = String(port);
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: [{ ...cluster, name: 'proxied', server: url.origin }],
    users: [user],
    contexts: [{ name: 'proxied', cluster: 'proxied', user: user.name }],
    currentContext: 'proxied',
  });
  return out;
}

/** A TCP proxy (TLS passes through untouched) that can drop connections and refuse new ones. */
export class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly target: URL,
    public port: number,
  ) {}

  static async start(target: URL): Promise<TcpProxy> {
    const p = new TcpProxy(target, 0);
    await p.listen();
    return p;
  }

  private listen(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(this.target.port || 443), this.target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    this.server = server;
    return new Promise((resolve) =>
      server.listen(this.port, '127.0.0.1', () => {
        this.port = (server.address() as net.AddressInfo).port;
        resolve();
      }),
    );
  }

  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** Drops every connection and refuses new ones until resume(). */
  async pause(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.dropConnections();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  resume(): Promise<void> {
    return this.listen();
  }

  async close(): Promise<void> {
    await this.pause();
  }
}
