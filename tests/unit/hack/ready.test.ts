// Which Trenches `make up` waits for (those of dist/, nothing else) and how it reports the ones
// that are not Ready.
import { describe, expect, it } from 'vitest';
import {
  notReadyReport,
  readinessOf,
  type TrenchObject,
  trenchesInDir,
  trenchesInManifests,
} from '../../../hack/lib/ready.js';

const trenchYaml = (name: string, namespace?: string, apiVersion = 'playtrenches.xyz/v1alpha1') =>
  [
    `apiVersion: ${apiVersion}`,
    'kind: Trench',
    'metadata:',
    `  name: ${name}`,
    ...(namespace ? [`  namespace: ${namespace}`] : []),
    'spec: {}',
  ].join('\n');

describe('trenchesInManifests', () => {
  it('finds the Trenches of the committed dist/', () => {
    expect(trenchesInDir('dist')).toEqual([
      { namespace: 'shop-production', name: 'production' },
      { namespace: 'shop-staging', name: 'staging' },
    ]);
  });

  it('keeps file and document order and skips every other kind and group', () => {
    const refs = trenchesInManifests([
      {
        file: 'a.yaml',
        text: [
          'apiVersion: v1\nkind: Namespace\nmetadata: {name: one}',
          trenchYaml('b', 'one'),
          // A kind named Trench in another group is not ours.
          trenchYaml('other', 'one', 'example.com/v1'),
          'apiVersion: playtrenches.xyz/v1alpha1\nkind: TrenchBackup\nmetadata: {name: x, namespace: one}',
        ].join('\n---\n'),
      },
      { file: 'b.yaml', text: `${trenchYaml('a', 'two')}\n---\n` },
    ]);
    expect(refs).toEqual([
      { namespace: 'one', name: 'b' },
      { namespace: 'two', name: 'a' },
    ]);
  });

  it('refuses a Trench without a namespace, naming the file and the Trench', () => {
    expect(() => trenchesInManifests([{ file: 'dist/x.yaml', text: trenchYaml('lost') }])).toThrow(
      'dist/x.yaml: Trench "lost" has no metadata.namespace',
    );
  });

  it('names the file of YAML it cannot parse', () => {
    expect(() => trenchesInManifests([{ file: 'dist/bad.yaml', text: 'a: [' }])).toThrow(
      /^dist\/bad\.yaml: /,
    );
  });
});

const trench = (
  generation: number,
  observedGeneration: number | undefined,
  ready?: { status: string; reason?: string; message?: string },
): TrenchObject => ({
  metadata: { name: 't', namespace: 'ns', generation },
  status: {
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
    conditions: ready
      ? [
          { type: 'Progressing', status: 'True' },
          { type: 'Ready', ...ready },
        ]
      : [],
  },
});

describe('readinessOf', () => {
  it.each<[string, TrenchObject | undefined, ReturnType<typeof readinessOf>]>([
    ['Ready at its generation', trench(2, 2, { status: 'True' }), { ready: true }],
    ['missing', undefined, { ready: false, why: 'not found' }],
    [
      'without a Ready condition',
      trench(1, undefined),
      { ready: false, why: 'no Ready condition yet (is the operator running?)' },
    ],
    [
      'Ready=False',
      trench(1, 1, {
        status: 'False',
        reason: 'WorkloadsNotReady',
        message: 'Deployment t-api 0/2',
      }),
      { ready: false, why: 'Ready=False WorkloadsNotReady: Deployment t-api 0/2' },
    ],
    [
      'Ready=Unknown without reason',
      trench(1, 1, { status: 'Unknown' }),
      { ready: false, why: 'Ready=Unknown' },
    ],
    [
      'Ready of an older generation',
      trench(3, 2, { status: 'True' }),
      { ready: false, why: 'status is of generation 2, the spec is at generation 3' },
    ],
  ])('%s', (_, t, expected) => {
    expect(readinessOf(t)).toEqual(expected);
  });
});

describe('notReadyReport', () => {
  it('names each Trench that is not Ready with why, and leaves the Ready ones out', () => {
    expect(
      notReadyReport([
        { ref: { namespace: 'a', name: 'ok' }, readiness: { ready: true } },
        {
          ref: { namespace: 'b', name: 'broken' },
          readiness: { ready: false, why: 'Ready=False Failed: boom' },
        },
        { ref: { namespace: 'c', name: 'gone' }, readiness: { ready: false, why: 'not found' } },
      ]),
    ).toBe(
      'Trench b/broken is not Ready: Ready=False Failed: boom\nTrench c/gone is not Ready: not found',
    );
  });

  it('is empty when every Trench is Ready', () => {
    expect(
      notReadyReport([{ ref: { namespace: 'a', name: 'ok' }, readiness: { ready: true } }]),
    ).toBe('');
  });
});
