// The names kubectl users type, against the CRDs of dist/ on a real API server: the singular
// with an object name, the plural, the short name and the category. A category equal to a
// resource name (it was `trench`) makes kubectl resolve `kubectl get trench NAME` to the
// category and fail with "you must specify only one resource".
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, useNamespace } from '../support/cluster.js';

const ns = useNamespace('synth-names');
// A discovery cache of its own: kubectl keeps discovery on disk for hours, and one filled
// against an older CRD of the same cluster would still carry the old category.
const cacheDir = mkdtempSync(join(tmpdir(), 'trench-kubectl-cache-'));

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl([`--cache-dir=${cacheDir}`, ...args], input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return r.stdout;
}

const rows = (out: string) => out.trim().split('\n').slice(1);
const firstColumn = (out: string) => rows(out).map((row) => row.split(/\s+/)[0]);

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
    'crd/trenchbackups.playtrenches.xyz',
    'crd/trenchrestores.playtrenches.xyz',
  ]);
  const objects = [
    {
      apiVersion: 'playtrenches.xyz/v1alpha1',
      kind: 'Trench',
      metadata: { name: 'production', namespace: ns.name },
      spec: {
        api: { image: 'ghcr.io/playtrenches/shop-api:1' },
        worker: { image: 'ghcr.io/playtrenches/shop-worker:1', queues: ['default'] },
      },
    },
    // A second Trench, so that a command that lists instead of getting one would show.
    {
      apiVersion: 'playtrenches.xyz/v1alpha1',
      kind: 'Trench',
      metadata: { name: 'staging', namespace: ns.name },
      spec: {
        api: { image: 'ghcr.io/playtrenches/shop-api:1' },
        worker: { image: 'ghcr.io/playtrenches/shop-worker:1', queues: ['default'] },
      },
    },
    {
      apiVersion: 'playtrenches.xyz/v1alpha1',
      kind: 'TrenchBackup',
      metadata: { name: 'production-manual', namespace: ns.name },
      spec: { trench: 'production', reason: 'manual' },
    },
  ];
  for (const o of objects) await ok(['create', '-f', '-'], JSON.stringify(o));
});

afterAll(() => {
  rmSync(cacheDir, { recursive: true, force: true });
});

describe('kubectl names for the Trench CRDs', () => {
  it('kubectl get trench NAME gets that one Trench with its printer columns', async () => {
    const out = await ok(['get', 'trench', 'production', '-n', ns.name]);
    expect(out.split('\n')[0]!.split(/\s{2,}/)).toEqual([
      'NAME',
      'PHASE',
      'API',
      'WORKERS',
      'BACKLOG',
      'STEP',
      'WEIGHT',
      'LAST BACKUP',
      'AGE',
    ]);
    expect(firstColumn(out)).toEqual(['production']);
  });

  it('kubectl get trenches lists the Trenches, and only them', async () => {
    const out = await ok(['get', 'trenches', '-n', ns.name, '-o', 'name']);
    expect(out.trim().split('\n').sort()).toEqual([
      'trench.playtrenches.xyz/production',
      'trench.playtrenches.xyz/staging',
    ]);
  });

  it('kubectl get tr is the short name of Trench', async () => {
    expect(firstColumn(await ok(['get', 'tr', '-n', ns.name]))).toEqual(['production', 'staging']);
    expect((await ok(['get', 'tr', 'staging', '-n', ns.name, '-o', 'name'])).trim()).toBe(
      'trench.playtrenches.xyz/staging',
    );
  });

  it('kubectl get playtrenches lists every kind of the category', async () => {
    const out = await ok(['get', 'playtrenches', '-n', ns.name, '-o', 'name']);
    expect(out.trim().split('\n').sort()).toEqual([
      'trench.playtrenches.xyz/production',
      'trench.playtrenches.xyz/staging',
      'trenchbackup.playtrenches.xyz/production-manual',
    ]);
    // TrenchRestore is in the category too: discovery lists it with no object to show.
    const resources = await ok(['api-resources', '--categories=playtrenches', '-o', 'name']);
    expect(resources.trim().split('\n').sort()).toEqual([
      'trenchbackups.playtrenches.xyz',
      'trenches.playtrenches.xyz',
      'trenchrestores.playtrenches.xyz',
    ]);
  });
});
