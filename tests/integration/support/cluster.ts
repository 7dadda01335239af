// Helpers every integration test file uses: the shared control plane that globalSetup
// provides, a namespace of the file's own, kubectl at the cluster's own version, and polling.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of the kubeconfig for the shared test cluster (cluster-admin). */
    kubeconfigPath: string;
    /** kubectl to use: the one built at the cluster's version, or `kubectl` from PATH. */
    kubectlPath: string;
    /** The API server's audit log of writes; empty for a cluster the tests did not start. */
    auditLogPath: string;
    /** State directory of the local cluster; empty for a cluster the tests did not start. */
    clusterStateDir: string;
  }
}

export interface TestCluster {
  readonly kubeconfigPath: string;
  readonly kubectlPath: string;
  /** A fresh KubeConfig loaded from kubeconfigPath (cluster-admin). */
  readonly kc: KubeConfig;
}

export function testCluster(): TestCluster {
  const kubeconfigPath = inject('kubeconfigPath');
  const kubectlPath = inject('kubectlPath');
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return { kubeconfigPath, kubectlPath, kc };
}

export interface TestNamespace {
  /** Set in beforeAll; read it inside tests and hooks only. */
  readonly name: string;
}

/**
 * Gives the calling test file a namespace of its own, created before its tests and deleted
 * (without waiting for finalization) after them.
 */
export function useNamespace(prefix: string, labels: Record<string, string> = {}): TestNamespace {
  const ns = { name: '' };
  beforeAll(async () => {
    const core = testCluster().kc.makeApiClient(CoreV1Api);
    ns.name = `${prefix}-${randomBytes(3).toString('hex')}`;
    await core.createNamespace({ body: { metadata: { name: ns.name, labels } } });
    // Pods are refused until the controller-manager has made the namespace's default
    // ServiceAccount, and a refused ReplicaSet backs off for long: wait for it here.
    await waitFor(
      () => core.readNamespacedServiceAccount({ name: 'default', namespace: ns.name }),
      {
        what: `the default ServiceAccount in ${ns.name}`,
        timeoutMs: 30_000,
      },
    );
  });
  afterAll(async () => {
    if (!ns.name) return;
    const core = testCluster().kc.makeApiClient(CoreV1Api);
    await core.deleteNamespace({ name: ns.name }).catch(() => undefined);
  });
  return ns;
}

export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs kubectl against the test cluster; never throws on a non-zero exit. */
export function kubectl(args: readonly string[], input?: string): Promise<KubectlResult> {
  const { kubeconfigPath, kubectlPath } = testCluster();
  return new Promise((resolve) => {
    const child = execFile(
      kubectlPath,
      ['--kubeconfig', kubeconfigPath, ...args],
      { maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Runs kubectl and returns its stdout; throws with the command and stderr on a non-zero exit. */
export async function mustKubectl(args: readonly string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Creates one of this project's objects (Trench, TrenchBackup, TrenchRestore) with kubectl. */
export function createOwn(
  kind: 'Trench' | 'TrenchBackup' | 'TrenchRestore',
  namespace: string,
  name: string,
  spec: unknown,
): Promise<string> {
  return mustKubectl(
    ['create', '-f', '-'],
    JSON.stringify({
      apiVersion: 'playtrenches.xyz/v1alpha1',
      kind,
      metadata: { name, namespace },
      spec,
    }),
  );
}

export interface EventView {
  readonly reason: string;
  readonly message: string;
  readonly type: string;
}

/** The events of `namespace` that `fieldSelector` picks (involvedObject.name=…, and so on). */
export async function eventsWhere(namespace: string, fieldSelector: string): Promise<EventView[]> {
  const out = await mustKubectl([
    'get',
    'events',
    '-n',
    namespace,
    '--field-selector',
    fieldSelector,
    '-o',
    'json',
  ]);
  return (JSON.parse(out) as { items: EventView[] }).items;
}

/** `kubectl patch KIND NAME -n NAMESPACE --type=merge -p PATCH`, failing loudly. */
export function mergePatch(
  kind: string,
  name: string,
  namespace: string,
  patch: unknown,
): Promise<string> {
  return mustKubectl([
    'patch',
    kind,
    name,
    '-n',
    namespace,
    '--type=merge',
    '-p',
    JSON.stringify(patch),
  ]);
}

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  /** Says what was awaited, for the error when it never happened. */
  readonly what: string;
}

/** Polls `probe` until it returns a value other than undefined; throws with `what` on timeout. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  { timeoutMs = 60_000, intervalMs = 250, what }: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? `: last error: ${lastError.message}` : '';
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
