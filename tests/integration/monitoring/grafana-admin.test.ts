// Grafana's admin Secret on a real API server: the operator's startup step creates it with a
// random password once, keeps it on every later call (its own or one people made), and
// waits for a namespace that does not exist yet.
import { randomBytes } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import { App, Chart } from 'cdk8s';
import { afterAll, describe, expect, it } from 'vitest';
import { manifestsOf } from '../../../charts/constructs/common.js';
import {
  GRAFANA_ADMIN_PASSWORD_KEY,
  GRAFANA_ADMIN_USER_KEY,
} from '../../../charts/lib/grafana-admin.js';
import { toYamlStream } from '../../../charts/lib/yaml.js';
import { grafanaAdminSecretRbac, OPERATOR_NAME } from '../../../charts/operator-chart.js';
import {
  ensureGrafanaAdminSecret,
  ensureGrafanaAdminSecretUntilDone,
} from '../../../operator/monitoring/grafana-admin.js';
import { KubeClient } from '../../../operator/runtime/client.js';
import { kubectl, testCluster, useNamespace } from '../support/cluster.js';

const ns = useNamespace('grafana-admin');
let client: KubeClient | undefined;
const kube = () => {
  client ??= new KubeClient(testCluster().kc);
  return client;
};
const extraNamespaces: string[] = [];

afterAll(async () => {
  const core = testCluster().kc.makeApiClient(CoreV1Api);
  for (const name of extraNamespaces) await core.deleteNamespace({ name }).catch(() => undefined);
  client?.close();
});

async function readLogin(namespace: string, name: string) {
  const r = await kubectl(['get', 'secret', name, '-n', namespace, '-o', 'json']);
  if (r.code !== 0) throw new Error(r.stderr);
  const secret = JSON.parse(r.stdout) as { data: Record<string, string>; type: string };
  const text = (key: string) => Buffer.from(secret.data[key] ?? '', 'base64').toString('utf8');
  return {
    type: secret.type,
    user: text(GRAFANA_ADMIN_USER_KEY),
    password: text(GRAFANA_ADMIN_PASSWORD_KEY),
  };
}

describe('the Grafana admin Secret', () => {
  it('is created once with a random password and kept by every later call', async () => {
    const ref = { namespace: ns.name, name: 'grafana-admin' };
    expect(await ensureGrafanaAdminSecret(kube(), ref)).toBe('created');
    const first = await readLogin(ns.name, 'grafana-admin');
    expect(first.type).toBe('Opaque');
    expect(first.user).toBe('admin');
    // 32 random bytes, base64url: 43 characters, never Grafana's default.
    expect(first.password).toMatch(/^[A-Za-z0-9_-]{43}$/);

    expect(await ensureGrafanaAdminSecret(kube(), ref)).toBe('kept');
    expect(await ensureGrafanaAdminSecretUntilDone(kube(), ref)).toBe('kept');
    expect(await readLogin(ns.name, 'grafana-admin')).toEqual(first);

    // A second namespace's Secret gets a password of its own.
    const other = { namespace: ns.name, name: 'grafana-admin-2' };
    expect(await ensureGrafanaAdminSecret(kube(), other)).toBe('created');
    expect((await readLogin(ns.name, 'grafana-admin-2')).password).not.toBe(first.password);
  });

  it('keeps a Secret that people made themselves', async () => {
    const made = await kubectl([
      'create',
      'secret',
      'generic',
      'own-login',
      '-n',
      ns.name,
      '--from-literal=admin-user=ops',
      '--from-literal=admin-password=chosen-by-a-person',
    ]);
    expect(made.code, made.stderr).toBe(0);
    expect(await ensureGrafanaAdminSecret(kube(), { namespace: ns.name, name: 'own-login' })).toBe(
      'kept',
    );
    expect(await readLogin(ns.name, 'own-login')).toMatchObject({
      user: 'ops',
      password: 'chosen-by-a-person',
    });
  });

  it('fails one attempt in a missing namespace, and the startup loop waits for it', async () => {
    const missing = `grafana-admin-later-${randomBytes(3).toString('hex')}`;
    extraNamespaces.push(missing);
    const ref = { namespace: missing, name: 'grafana-admin' };
    await expect(ensureGrafanaAdminSecret(kube(), ref)).rejects.toMatchObject({
      statusCode: 404,
    });

    const done = ensureGrafanaAdminSecretUntilDone(kube(), ref, {
      initialDelayMs: 50,
      maxDelayMs: 200,
    });
    const core = testCluster().kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: missing } } });
    expect(await done).toBe('created');
    expect((await readLogin(missing, 'grafana-admin')).password).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('may be created by the operator through its Role, which grants nothing more', async () => {
    // The operator's ServiceAccount and Role, here in the test's namespace: the real
    // ClusterRole is not applied, so only the Role can grant anything.
    const chart = new Chart(new App(), 'rbac', { namespace: ns.name });
    grafanaAdminSecretRbac(chart, { operatorNamespace: ns.name, labels: { test: 'rbac' } });
    const sa = await kubectl(['create', 'serviceaccount', OPERATOR_NAME, '-n', ns.name]);
    expect(sa.code, sa.stderr).toBe(0);
    const applied = await kubectl(
      ['apply', '--server-side', '-f', '-'],
      toYamlStream(manifestsOf(chart)),
    );
    expect(applied.code, applied.stderr).toBe(0);
    const can = async (verb: string, namespace: string) => {
      const r = await kubectl([
        'auth',
        'can-i',
        verb,
        'secrets',
        '-n',
        namespace,
        `--as=system:serviceaccount:${ns.name}:${OPERATOR_NAME}`,
      ]);
      return r.stdout.trim();
    };
    expect(await can('create', ns.name)).toBe('yes');
    for (const verb of ['get', 'list', 'update', 'delete'])
      expect(await can(verb, ns.name)).toBe('no');
    expect(await can('create', 'default')).toBe('no');
  });

  it('stops retrying when its signal aborts', async () => {
    const controller = new AbortController();
    const ref = { namespace: `never-${randomBytes(3).toString('hex')}`, name: 'grafana-admin' };
    const done = ensureGrafanaAdminSecretUntilDone(kube(), ref, {
      signal: controller.signal,
      initialDelayMs: 50,
      maxDelayMs: 50,
    });
    controller.abort();
    expect(await done).toBeUndefined();
  });
});
