// Every workload TrenchChart renders for the samples is admitted in a namespace that
// enforces the `restricted` Pod Security Standard and becomes Ready under kwok. The Trench
// objects exist first, so the children's ownerReferences point at real owners.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Manifest } from '../../../charts/constructs/common.js';
import { toYamlStream } from '../../../charts/lib/yaml.js';
import { renderTrench } from '../../../charts/trench-chart.js';
import { kubectl, useNamespace, waitFor } from '../support/cluster.js';

const ns = useNamespace('synth-restricted', {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/warn': 'restricted',
});

const SAMPLES = ['trench-minimal.yaml', 'trench-full.yaml'];

async function ok(args: string[], input?: string) {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return r;
}

const rendered: Manifest[] = [];

beforeAll(async () => {
  await ok([
    'apply',
    '--server-side',
    '--field-manager=trench-deploy',
    '-f',
    'dist/0000-crds.k8s.yaml',
  ]);
  await ok([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/trenches.playtrenches.xyz',
  ]);
  for (const file of SAMPLES) {
    const doc = parse(readFileSync(`manifests/samples/${file}`, 'utf8'));
    doc.metadata.namespace = ns.name;
    const created = JSON.parse(
      (await ok(['create', '-o', 'json', '-f', '-'], JSON.stringify(doc))).stdout,
    );
    rendered.push(
      ...renderTrench({
        metadata: { name: created.metadata.name, namespace: ns.name, uid: created.metadata.uid },
        spec: doc.spec,
      }),
    );
  }
  // What the operator creates besides the rendered children: the Postgres password, and
  // (for the full sample) the Secret of the external Redis that users provide.
  for (const [name, key] of [
    ['demo-postgres', 'password'],
    ['shop-postgres', 'password'],
    ['shop-redis-url', 'url'],
  ] as const) {
    await ok([
      'create',
      'secret',
      'generic',
      name,
      '-n',
      ns.name,
      `--from-literal=${key}=not-a-real-secret`,
    ]);
  }
}, 180_000);

describe('TrenchChart output in a restricted namespace', () => {
  it('is admitted with no Pod Security warning', async () => {
    const r = await ok(
      ['apply', '--server-side', '--field-manager=trench-operator', '-n', ns.name, '-f', '-'],
      toYamlStream(rendered),
    );
    expect(r.stderr).not.toContain('PodSecurity');
    expect(r.stderr).not.toMatch(/warning/i);
    expect(r.stdout.trim().split('\n')).toHaveLength(rendered.length);
  });

  it('brings every Deployment to Ready', async () => {
    const deployments = rendered.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name);
    expect(deployments).toEqual(['demo-api', 'demo-worker', 'shop-api', 'shop-worker']);
    for (const name of deployments) {
      await waitFor(
        async () => {
          const d = JSON.parse(
            (await ok(['get', 'deployment', name, '-n', ns.name, '-o', 'json'])).stdout,
          );
          const want = d.spec.replicas ?? 1;
          return d.status?.readyReplicas === want && d.status?.updatedReplicas === want
            ? d
            : undefined;
        },
        { what: `Deployment ${name} to be Ready`, timeoutMs: 120_000 },
      );
    }
  });

  it('creates and admits the StatefulSet pods, which become Ready once their claims bind', async () => {
    const statefulSets = rendered
      .filter((o) => o.kind === 'StatefulSet')
      .map((o) => o.metadata.name);
    expect(statefulSets).toEqual(['demo-redis', 'demo-postgres', 'shop-postgres']);
    for (const name of statefulSets) {
      // Admission: the pod object exists (a restricted violation would leave FailedCreate).
      await waitFor(
        async () => {
          const r = await kubectl(['get', 'pod', `${name}-0`, '-n', ns.name, '-o', 'json']);
          return r.code === 0 ? true : undefined;
        },
        { what: `pod ${name}-0 to be created`, timeoutMs: 60_000 },
      );
      // Readiness needs the data claim bound; the local cluster's provisioner binds it.
      await waitFor(
        async () => {
          const s = JSON.parse(
            (await ok(['get', 'statefulset', name, '-n', ns.name, '-o', 'json'])).stdout,
          );
          return s.status?.readyReplicas === 1 ? s : undefined;
        },
        { what: `StatefulSet ${name} to be Ready`, timeoutMs: 120_000 },
      );
    }
  });

  it('gives each StatefulSet pod its DNS name through the headless governing Service', async () => {
    for (const name of ['demo-redis', 'demo-postgres', 'shop-postgres']) {
      const sts = JSON.parse(
        (await ok(['get', 'statefulset', name, '-n', ns.name, '-o', 'json'])).stdout,
      );
      expect(sts.spec.serviceName).toBe(`${name}-headless`);
      const svc = JSON.parse(
        (await ok(['get', 'service', sts.spec.serviceName, '-n', ns.name, '-o', 'json'])).stdout,
      );
      expect(svc.spec.clusterIP).toBe('None');
      // The EndpointSlice controller gives an endpoint a hostname only when the pod's
      // subdomain (set by the StatefulSet controller from serviceName) names this Service:
      // that hostname is the per-pod DNS record `<pod>.<service>`.
      await waitFor(
        async () => {
          const slices = JSON.parse(
            (
              await ok([
                'get',
                'endpointslices',
                '-n',
                ns.name,
                '-l',
                `kubernetes.io/service-name=${sts.spec.serviceName}`,
                '-o',
                'json',
              ])
            ).stdout,
          );
          const hostnames = slices.items.flatMap((s: { endpoints?: { hostname?: string }[] }) =>
            (s.endpoints ?? []).map((e) => e.hostname),
          );
          return hostnames.includes(`${name}-0`) ? true : undefined;
        },
        { what: `an endpoint ${name}-0 in Service ${sts.spec.serviceName}`, timeoutMs: 60_000 },
      );
    }
  });

  it('leaves no FailedCreate event behind', async () => {
    const events = JSON.parse((await ok(['get', 'events', '-n', ns.name, '-o', 'json'])).stdout);
    const failed = events.items.filter((e: { reason: string }) => e.reason === 'FailedCreate');
    expect(failed.map((e: { message: string }) => e.message)).toEqual([]);
  });

  it('is garbage-collected with its Trench (the ownerReferences are real)', async () => {
    await ok(['delete', 'trenches.playtrenches.xyz', 'demo', '-n', ns.name, '--wait=false']);
    await waitFor(
      async () => {
        const r = await kubectl(['get', 'deployment', 'demo-api', '-n', ns.name]);
        return r.code !== 0 && r.stderr.includes('NotFound') ? true : undefined;
      },
      { what: 'Deployment demo-api to be deleted with Trench demo', timeoutMs: 60_000 },
    );
  });
});
