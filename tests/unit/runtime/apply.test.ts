import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../charts/lib/json.js';
import { compareQuantities, parseQuantity, quantitiesEqual } from '../../../charts/lib/quantity.js';
import {
  APPLIED_HASH_ANNOTATION,
  desiredHash,
  diffPath,
  isSubset,
  needsApply,
  planPrune,
  withAppliedHash,
} from '../../../operator/runtime/apply.js';
import type { KubeObject } from '../../../operator/runtime/types.js';

describe('quantities', () => {
  it.each([
    ['500m', '0.5', true],
    ['1', '1000m', true],
    ['1Gi', '1024Mi', true],
    ['1.5Gi', '1536Mi', true],
    ['1e3', '1k', true],
    ['1E3', '1000', true],
    [2, '2', true],
    [0.25, '250m', true],
    ['100Mi', '100M', false],
    ['1', '1.0001', false],
    ['1Ki', '1024', true],
    ['abc', 'abc', false],
  ])('%s == %s is %s', (a, b, eq) => {
    expect(quantitiesEqual(a, b)).toBe(eq);
  });

  it.each([
    ['100Mi', '1Gi', -1],
    ['1Gi', '1024Mi', 0],
    ['2', '1500m', 1],
    ['1e3', '999', 1],
    ['x', '1', undefined],
  ])('compares %s with %s as %s', (a, b, order) => {
    expect(compareQuantities(a, b)).toBe(order);
  });

  it('rejects what is not a quantity', () => {
    for (const v of ['', '1.2.3', 'Gi', '1 Gi', '1gi', null, {}, Number.NaN])
      expect(parseQuantity(v)).toBeUndefined();
  });
});

const liveDeployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'api',
    namespace: 'ns',
    uid: 'u1',
    resourceVersion: '42',
    generation: 3,
    labels: { app: 'api', 'app.kubernetes.io/managed-by': 'trench-operator' },
    annotations: { 'deployment.kubernetes.io/revision': '2' },
  },
  spec: {
    replicas: 2,
    revisionHistoryLimit: 10,
    progressDeadlineSeconds: 600,
    selector: { matchLabels: { app: 'api' } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    template: {
      metadata: { labels: { app: 'api' } },
      spec: {
        dnsPolicy: 'ClusterFirst',
        restartPolicy: 'Always',
        containers: [
          {
            name: 'api',
            image: 'app:1',
            imagePullPolicy: 'IfNotPresent',
            terminationMessagePath: '/dev/termination-log',
            ports: [{ containerPort: 3000, name: 'http', protocol: 'TCP' }],
            env: [
              { name: 'A', value: '1' },
              { name: 'INJECTED', value: 'by someone else' },
              { name: 'EMPTY' },
            ],
            resources: {
              limits: { cpu: '500m', memory: '1536Mi' },
              requests: { cpu: '250m', memory: '1Gi' },
            },
            volumeMounts: [
              { name: 'data', mountPath: '/a' },
              { name: 'data', mountPath: '/b', subPath: 'b' },
            ],
          },
        ],
        volumes: [{ name: 'data', emptyDir: {} }],
      },
    },
  },
  status: { readyReplicas: 2 },
};

const desiredDeployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'api', namespace: 'ns', labels: { app: 'api' } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'api' } },
    template: {
      metadata: { labels: { app: 'api' }, creationTimestamp: null },
      spec: {
        hostNetwork: false,
        containers: [
          {
            name: 'api',
            image: 'app:1',
            ports: [{ containerPort: 3000, name: 'http' }],
            env: [
              { name: 'EMPTY', value: '' },
              { name: 'A', value: '1' },
            ],
            resources: {
              limits: { cpu: 0.5, memory: '1.5Gi' },
              requests: { cpu: '0.25', memory: '1024Mi' },
            },
            volumeMounts: [
              { name: 'data', mountPath: '/b', subPath: 'b' },
              { name: 'data', mountPath: '/a' },
            ],
            securityContext: {},
          },
        ],
        volumes: [{ name: 'data', emptyDir: {} }],
      },
    },
  },
};

describe('isSubset / diffPath', () => {
  it('finds a converged Deployment unchanged despite defaults and normalisation', () => {
    expect(diffPath(desiredDeployment, liveDeployment)).toBeUndefined();
  });

  const mutate = (f: (d: typeof liveDeployment) => void) => {
    const live = structuredClone(liveDeployment);
    f(live);
    return live;
  };
  const c0 = (d: typeof liveDeployment) => d.spec.template.spec.containers[0]!;

  it.each([
    [
      'image edited by hand',
      (d: typeof liveDeployment) => (c0(d).image = 'evil:1'),
      '.spec.template.spec.containers[name=api].image',
    ],
    ['replicas edited', (d: typeof liveDeployment) => (d.spec.replicas = 5), '.spec.replicas'],
    [
      'our env var removed',
      (d: typeof liveDeployment) => c0(d).env.splice(0, 1),
      '.spec.template.spec.containers[name=api].env[name=A]',
    ],
    [
      'cpu limit changed',
      (d: typeof liveDeployment) => (c0(d).resources.limits.cpu = '1'),
      '.spec.template.spec.containers[name=api].resources.limits.cpu',
    ],
    [
      'label changed',
      (d: typeof liveDeployment) => (d.metadata.labels.app = 'x'),
      '.metadata.labels.app',
    ],
    [
      'mount moved',
      (d: typeof liveDeployment) => (c0(d).volumeMounts[1]!.subPath = 'c'),
      '.spec.template.spec.containers[name=api].volumeMounts[mountPath=/b].subPath',
    ],
  ])('detects drift: %s', (_name, f, path) => {
    expect(diffPath(desiredDeployment, mutate(f))).toBe(path);
  });

  it.each([
    [
      'another manager added an env var',
      (d: typeof liveDeployment) => c0(d).env.push({ name: 'B', value: '2' }),
    ],
    [
      'another manager added an annotation',
      (d: typeof liveDeployment) => ((d.metadata.annotations as Record<string, string>).x = 'y'),
    ],
    ['status changed', (d: typeof liveDeployment) => (d.status.readyReplicas = 0)],
  ])('ignores what is not ours: %s', (_name, f) => {
    expect(isSubset(desiredDeployment, mutate(f))).toBe(true);
  });

  it.each([
    ['atomic scalar list with an extra element', { args: ['a'] }, { args: ['a', 'b'] }, '.args'],
    ['atomic scalar list reordered', { args: ['a', 'b'] }, { args: ['b', 'a'] }, '.args[0]'],
    [
      'list-map element missing',
      { ports: [{ name: 'x', port: 1 }] },
      { ports: [{ name: 'y', port: 1 }] },
      '.ports[name=x]',
    ],
    ['object replaced by scalar', { a: { b: 1 } }, { a: 1 }, '.a'],
    ['number is not its string', { port: 80 }, { port: '80' }, '.port'],
    [
      'quantity only under resources',
      { labels: { v: '1.0' } },
      { labels: { v: '1' } },
      '.labels.v',
    ],
    ['missing non-empty field', { a: 1 }, {}, '.a'],
  ])('%s', (_name, desired, live, path) => {
    expect(diffPath(desired, live)).toBe(path);
  });

  it.each([
    ['zero values match absent fields', { a: false, b: 0, c: '', d: [], e: {} }, {}],
    ['null in desired is ignored', { a: null }, { a: 'x' }],
    [
      'sizeLimit is a quantity',
      { emptyDir: { sizeLimit: '1Gi' } },
      { emptyDir: { sizeLimit: '1024Mi' } },
    ],
    [
      'ownerReferences keyed by uid',
      { o: [{ uid: 'a', name: 'x' }] },
      {
        o: [
          { uid: 'b', name: 'y' },
          { uid: 'a', name: 'x', controller: true },
        ],
      },
    ],
  ])('%s', (_name, desired, live) => {
    expect(isSubset(desired, live)).toBe(true);
  });

  it('every value is a subset of itself (property)', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => isSubset(v, structuredClone(v))));
  });

  it('adding keys to live objects keeps the subset (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue()),
        fc.string(),
        fc.jsonValue(),
        (d, k, extra) => {
          fc.pre(!(k in d));
          return isSubset(d, { ...structuredClone(d), [k]: extra });
        },
      ),
    );
  });
});

describe('applied hash and needsApply', () => {
  it('the hash ignores key order and its own annotation', () => {
    const a = { kind: 'X', metadata: { name: 'a', labels: { x: '1', y: '2' } } };
    const b = { metadata: { labels: { y: '2', x: '1' }, name: 'a' }, kind: 'X' };
    expect(desiredHash(a)).toBe(desiredHash(b));
    expect(desiredHash(withAppliedHash(a))).toBe(desiredHash(a));
    expect(canonicalJson({ b: 1, a: [1, { d: 1, c: 2 }] })).toBe('{"a":[1,{"c":2,"d":1}],"b":1}');
  });

  it('changes when anything desired changes, removals included', () => {
    const a = { kind: 'X', spec: { env: [{ name: 'A' }, { name: 'B' }] } };
    const b = { kind: 'X', spec: { env: [{ name: 'A' }] } };
    expect(desiredHash(a)).not.toBe(desiredHash(b));
  });

  it('asks to apply a missing object, a drifted one, and one whose desired state changed', () => {
    const desired = withAppliedHash(desiredDeployment as KubeObject);
    const hash = desired.metadata?.annotations?.[APPLIED_HASH_ANNOTATION];
    const live = structuredClone(liveDeployment) as KubeObject & typeof liveDeployment;
    (live.metadata.annotations as Record<string, string>)[APPLIED_HASH_ANNOTATION] = hash!;
    expect(needsApply(desired, undefined)).toBe('missing');
    expect(needsApply(desired, live)).toBeUndefined();
    // Dropping env A from desired: still a subset of live, but the hash tells.
    const smaller = structuredClone(desiredDeployment);
    smaller.spec.template.spec.containers[0]!.env = [{ name: 'EMPTY', value: '' }];
    expect(isSubset(smaller, live)).toBe(true);
    expect(needsApply(withAppliedHash(smaller as KubeObject), live)).toBe(
      `drift at .metadata.annotations.${APPLIED_HASH_ANNOTATION}`,
    );
    const terminating = structuredClone(live);
    (terminating.metadata as { deletionTimestamp?: string }).deletionTimestamp =
      '2024-01-01T00:00:00Z';
    expect(needsApply(desired, terminating)).toBe('deleting');
  });

  it('compares a Secret’s stringData with its data', () => {
    const desired = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      stringData: { p: 'hunter2' },
    };
    const live = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      data: { p: 'aHVudGVyMg==' },
      type: 'Opaque',
    };
    expect(needsApply(desired, live)).toBeUndefined();
    const edited: KubeObject = { ...live, data: { p: 'eA==' } } as KubeObject;
    expect(needsApply(desired, edited)).toBe('drift at .data.p');
  });
});

const PRUNABLE: ReadonlySet<string> = new Set(['apps/Deployment', '/Service', '/ConfigMap']);

describe('planPrune', () => {
  const owned = (kind: string, name: string, uid = 'owner', controller = true): KubeObject => ({
    apiVersion: kind === 'Deployment' ? 'apps/v1' : 'v1',
    kind,
    metadata: {
      name,
      namespace: 'ns',
      uid: `${kind}-${name}`,
      ownerReferences: [
        { apiVersion: 'playtrenches.xyz/v1alpha1', kind: 'Trench', name: 't', uid, controller },
      ],
    },
  });
  const desired = [
    { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'ns', name: 'api' },
    { apiVersion: 'v1', kind: 'Service', namespace: 'ns', name: 'api' },
  ];

  it.each([
    ['keeps desired objects', [owned('Deployment', 'api'), owned('Service', 'api')], []],
    [
      'deletes owned, not desired',
      [owned('Deployment', 'api'), owned('Deployment', 'old')],
      ['Deployment/old'],
    ],
    ['same name, other kind is not desired', [owned('ConfigMap', 'api')], ['ConfigMap/api']],
    ['never another owner’s object', [owned('Deployment', 'x', 'someone-else')], []],
    ['never a non-controller owner reference', [owned('Deployment', 'x', 'owner', false)], []],
    [
      'never an object without owner',
      [
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'x', namespace: 'ns', labels: { 'playtrenches.xyz/trench': 't' } },
        },
      ],
      [],
    ],
    [
      'skips objects already being deleted',
      [
        {
          ...owned('Deployment', 'x'),
          metadata: { ...owned('Deployment', 'x').metadata, deletionTimestamp: 'now' },
        },
      ],
      [],
    ],
  ])('%s', (_name, existing, expected) => {
    expect(
      planPrune(desired, existing as KubeObject[], 'owner', PRUNABLE).map(
        (o) => `${o.kind}/${o.metadata?.name}`,
      ),
    ).toEqual(expected);
  });

  it('matches identities across API versions of one group', () => {
    const old = { ...owned('Deployment', 'api'), apiVersion: 'apps/v1beta2' };
    expect(planPrune(desired, [old], 'owner', PRUNABLE)).toEqual([]);
  });

  it('never returns a kind outside the prunable set, owned or not', () => {
    const stale = [owned('Deployment', 'old'), owned('ConfigMap', 'old')];
    expect(planPrune([], stale, 'owner', new Set(['/ConfigMap'])).map((o) => o.kind)).toEqual([
      'ConfigMap',
    ]);
    expect(planPrune([], stale, 'owner', new Set())).toEqual([]);
  });

  it('an empty owner uid prunes nothing', () => {
    expect(planPrune([], [owned('Deployment', 'api', '')], '', PRUNABLE)).toEqual([]);
  });

  it('only ever returns objects controlled by the owner and not desired (property)', () => {
    const objArb = fc.record({
      kind: fc.constantFrom('Deployment', 'Service', 'ConfigMap'),
      name: fc.constantFrom('a', 'b', 'c'),
      owner: fc.constantFrom('owner', 'other', ''),
      controller: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(objArb), fc.array(objArb), (existingSpecs, desiredSpecs) => {
        const existing = existingSpecs.map((s) => owned(s.kind, s.name, s.owner, s.controller));
        const want = desiredSpecs.map((s) => ({
          apiVersion: s.kind === 'Deployment' ? 'apps/v1' : 'v1',
          kind: s.kind,
          namespace: 'ns',
          name: s.name,
        }));
        for (const o of planPrune(want, existing, 'owner', PRUNABLE)) {
          const ref = o.metadata?.ownerReferences?.[0];
          expect(ref?.uid).toBe('owner');
          expect(ref?.controller).toBe(true);
          expect(want.some((w) => w.kind === o.kind && w.name === o.metadata?.name)).toBe(false);
        }
      }),
    );
  });
});
