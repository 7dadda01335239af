// Grafana's admin login: the pure Secret builder, the operator's setting for it, and how
// dist/ wires the two (Grafana reads the Secret, the operator may create it, dist/ holds no
// value).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { Manifest } from '../../../charts/constructs/common.js';
import {
  formatGrafanaAdminSecretRef,
  GRAFANA_ADMIN_PASSWORD_KEY,
  GRAFANA_ADMIN_USER_KEY,
  grafanaAdminSecret,
  parseGrafanaAdminSecretRef,
} from '../../../charts/lib/grafana-admin.js';
import { synthesize } from '../../../charts/synth.js';
import { parseValues } from '../../../charts/values.js';
import { readConfig } from '../../../operator/main.js';

const decode = (s: string) => Buffer.from(s, 'base64').toString('utf8');

describe('grafanaAdminSecret', () => {
  it('holds the user admin and the given password under the keys Grafana reads', () => {
    const s = grafanaAdminSecret({ namespace: 'mon', name: 'login' }, 'p'.repeat(43));
    expect(s.metadata).toMatchObject({ name: 'login', namespace: 'mon' });
    expect(s.type).toBe('Opaque');
    expect(Object.keys(s.data).sort()).toEqual([
      GRAFANA_ADMIN_PASSWORD_KEY,
      GRAFANA_ADMIN_USER_KEY,
    ]);
    expect(decode(s.data[GRAFANA_ADMIN_USER_KEY]!)).toBe('admin');
    expect(decode(s.data[GRAFANA_ADMIN_PASSWORD_KEY]!)).toBe('p'.repeat(43));
  });

  it('refuses a short password, naming the Secret', () => {
    expect(() => grafanaAdminSecret({ namespace: 'mon', name: 'login' }, 'admin')).toThrow(
      'Grafana admin password for Secret mon/login must have at least 16 characters (got 5)',
    );
  });
});

describe('TRENCH_GRAFANA_ADMIN_SECRET', () => {
  it('is <namespace>/<name>, or empty for none', () => {
    expect(readConfig({}).grafanaAdminSecret).toBeUndefined();
    expect(readConfig({ TRENCH_GRAFANA_ADMIN_SECRET: '' }).grafanaAdminSecret).toBeUndefined();
    expect(
      readConfig({ TRENCH_GRAFANA_ADMIN_SECRET: 'trench-monitoring/grafana-admin' })
        .grafanaAdminSecret,
    ).toEqual({ namespace: 'trench-monitoring', name: 'grafana-admin' });
  });

  it.each(['grafana-admin', 'a/b/c', '/name', 'ns/', 'Mon/login', 'mon/Login'])(
    'refuses %j naming the variable',
    (value) => {
      expect(() => readConfig({ TRENCH_GRAFANA_ADMIN_SECRET: value })).toThrow(
        `TRENCH_GRAFANA_ADMIN_SECRET must be <namespace>/<secret name> or empty, got ${JSON.stringify(value)}`,
      );
    },
  );

  it('round-trips through the format the OperatorChart writes', () => {
    const ref = { namespace: 'mon', name: 'grafana.login' };
    expect(parseGrafanaAdminSecretRef(formatGrafanaAdminSecretRef(ref), 'x')).toEqual(ref);
    expect(formatGrafanaAdminSecretRef(undefined)).toBe('');
  });
});

describe('dist/ and Grafana’s admin login', () => {
  const base = readFileSync('values.yaml', 'utf8');
  const objects = (text = base) =>
    [...synthesize(parseValues(text, 'values.yaml')).dist.values()].flatMap((t) =>
      parseAllDocuments(t).map((d) => d.toJS() as Manifest),
    );
  const find = (all: Manifest[], kind: string, name: string) =>
    all.find((o) => o.kind === kind && o.metadata.name === name);
  const operatorEnv = (all: Manifest[]) =>
    find(all, 'Deployment', 'trench-operator')!.spec.template.spec.containers[0].env as {
      name: string;
      value?: string;
    }[];

  it('has Grafana read the Secret the operator is told to make', () => {
    const all = objects();
    const env = find(all, 'Deployment', 'grafana')!.spec.template.spec.containers[0].env;
    const ref = (key: string) => ({ secretKeyRef: { name: 'grafana-admin', key } });
    expect(env).toEqual(
      expect.arrayContaining([
        { name: 'GF_SECURITY_ADMIN_USER', valueFrom: ref('admin-user') },
        { name: 'GF_SECURITY_ADMIN_PASSWORD', valueFrom: ref('admin-password') },
      ]),
    );
    expect(operatorEnv(all)).toContainEqual({
      name: 'TRENCH_GRAFANA_ADMIN_SECRET',
      value: 'trench-monitoring/grafana-admin',
    });
    expect(all.map((o) => o.kind)).not.toContain('Secret');
  });

  it('lets the operator create Secrets in the monitoring namespace only, after it exists', () => {
    const text = [...synthesize(parseValues(base, 'values.yaml')).dist.entries()];
    const [file, content] = text.find(([, c]) => c.includes('trench-operator-grafana-admin'))!;
    expect(file).toBe('0002-monitoring.k8s.yaml');
    const docs = parseAllDocuments(content).map((d) => d.toJS() as Manifest);
    const ns = docs.findIndex((d) => d.kind === 'Namespace');
    const role = docs.findIndex((d) => d.kind === 'Role');
    expect(ns).toBeGreaterThanOrEqual(0);
    expect(role).toBeGreaterThan(ns);
    expect(docs[role]!.metadata.namespace).toBe('trench-monitoring');
    expect(docs[role]!.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ]);
    const binding = docs.find((d) => d.kind === 'RoleBinding')!;
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: docs[role]!.metadata.name,
    });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'trench-operator', namespace: 'trench-system' },
    ]);
  });

  it('follows monitoring.grafana.adminSecret, and names nothing without the monitoring stack', () => {
    const renamed = objects(base.replace('adminSecret: grafana-admin', 'adminSecret: ops-login'));
    const env = find(renamed, 'Deployment', 'grafana')!.spec.template.spec.containers[0].env;
    expect(JSON.stringify(env)).toContain('"name":"ops-login"');
    expect(operatorEnv(renamed)).toContainEqual({
      name: 'TRENCH_GRAFANA_ADMIN_SECRET',
      value: 'trench-monitoring/ops-login',
    });
    const off = objects(base.replace(/^ {2}enabled: true$/m, '  enabled: false'));
    expect(find(off, 'Deployment', 'grafana')).toBeUndefined();
    expect(operatorEnv(off)).toContainEqual({ name: 'TRENCH_GRAFANA_ADMIN_SECRET', value: '' });
  });

  it('refuses an adminSecret that is no Secret name, naming the field', () => {
    expect(() =>
      parseValues(base.replace('adminSecret: grafana-admin', 'adminSecret: Not_A_Name'), 'v.yaml'),
    ).toThrow('monitoring.grafana.adminSecret');
  });
});
