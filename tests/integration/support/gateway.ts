// The Gateway API's CRDs (standard channel) in the test cluster, from the sigs.k8s.io/gateway-api
// Go module at a pinned version: the Go module proxy serves it like any module (no download
// site), and the Go module cache keeps it for warm runs. No Gateway controller runs: the tests
// check the weights the operator writes on an HTTPRoute, which is what a controller would read.
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { kubectl, waitFor } from './cluster.js';

const run = promisify(execFile);

export const GATEWAY_API_MODULE = 'sigs.k8s.io/gateway-api';
export const GATEWAY_API_VERSION = 'v1.6.3';
const STANDARD = ['gatewayclasses', 'gateways', 'httproutes', 'referencegrants', 'grpcroutes'];

/** The module's folder in the Go module cache, fetched from the proxy when missing. */
export async function gatewayApiModuleDir(): Promise<string> {
  const { stdout } = await run(
    'go',
    ['mod', 'download', '-json', `${GATEWAY_API_MODULE}@${GATEWAY_API_VERSION}`],
    // Outside any module (the repository's Go modules are the control plane's).
    { cwd: tmpdir(), maxBuffer: 4 << 20 },
  );
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!info.Dir) {
    throw new Error(`go mod download ${GATEWAY_API_MODULE}@${GATEWAY_API_VERSION}: ${info.Error}`);
  }
  return info.Dir;
}

/** Applies the standard channel's CRDs and waits until HTTPRoutes are served. */
export async function installGatewayApiCrds(): Promise<void> {
  const dir = join(await gatewayApiModuleDir(), 'config', 'crd', 'standard');
  const files = STANDARD.map((r) => join(dir, `gateway.networking.k8s.io_${r}.yaml`));
  // Server-side: the HTTPRoute CRD is too large for client-side apply's annotation.
  const applied = await kubectl([
    'apply',
    '--server-side',
    '--force-conflicts',
    ...files.flatMap((f) => ['-f', f]),
  ]);
  if (applied.code !== 0)
    throw new Error(`Applying the Gateway API CRDs failed: ${applied.stderr}`);
  // Polled rather than `kubectl wait --for=condition=Established`, which fails at once on a
  // CRD the API server has not listed yet.
  await waitFor(
    async () => ((await kubectl(['get', 'httproutes', '-A'])).code === 0 ? true : undefined),
    { what: 'HTTPRoutes to be served', timeoutMs: 60_000 },
  );
}
