import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { holdOperatorJobPods } from '../../../hack/lib/kwok-stages.js';

const stage = (name: string) => `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: ${name}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: '.status.phase', operator: 'In', values: ['Running']}
`;

describe('holdOperatorJobPods', () => {
  it("keeps kwok's completion off the pods the Trench operator labels, and the other stages as they are", () => {
    const out = parseAllDocuments(
      holdOperatorJobPods([
        stage('pod-ready'),
        `${stage('pod-complete')}---\n${stage('pod-delete')}`,
      ]),
    ).map(
      (d) =>
        d.toJS() as {
          metadata: { name: string };
          spec: { selector: { matchExpressions: unknown[] } };
        },
    );
    expect(out.map((s) => s.metadata.name)).toEqual(['pod-ready', 'pod-complete', 'pod-delete']);
    expect(out[1]!.spec.selector.matchExpressions).toEqual([
      { key: '.status.phase', operator: 'In', values: ['Running'] },
      {
        key: '.metadata.labels["app.kubernetes.io/managed-by"]',
        operator: 'NotIn',
        values: ['trench-operator'],
      },
    ]);
    expect(out[0]!.spec.selector.matchExpressions).toHaveLength(1);
    expect(out[2]!.spec.selector.matchExpressions).toHaveLength(1);
  });

  it('refuses stage files without a pod-complete stage', () => {
    expect(() => holdOperatorJobPods([stage('pod-ready')])).toThrow(/no pod-complete selector/);
  });
});
