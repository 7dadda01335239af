import { describe, expect, it } from 'vitest';
import { LABEL_COMPONENT, LABEL_REVISION, LABEL_TRACK } from '../../../charts/constructs/common.js';
import { renderTrench, type TrenchInput } from '../../../charts/trench-chart.js';
import { releaseRevision } from '../../../operator/rollout/revision.js';
import { full } from '../charts/fixtures.js';

type Deployment = {
  kind: string;
  metadata: { labels?: Record<string, string> };
  spec: { template: unknown };
};

/** The revision of a Trench as the operator renders it. */
function revisionOf(trench: TrenchInput): string {
  const objects = renderTrench(trench) as unknown as Deployment[];
  const template = (component: string) =>
    objects.find(
      (o) => o.kind === 'Deployment' && o.metadata.labels?.[LABEL_COMPONENT] === component,
    )?.spec.template;
  return releaseRevision({ api: template('api'), worker: template('worker') });
}

type Spec = {
  api: { image?: string; replicas?: number; env?: unknown[]; resources?: unknown };
  worker: { image?: string; command?: string[]; scaling?: Record<string, unknown> };
};
const edit = (f: (spec: Spec) => void): TrenchInput => {
  const t = full();
  f(t.spec as unknown as Spec);
  return t;
};

describe('releaseRevision', () => {
  const base = revisionOf(full());

  it('is 10 hex characters, the same for the same templates', () => {
    expect(base).toMatch(/^[0-9a-f]{10}$/);
    expect(revisionOf(full())).toBe(base);
  });

  it('changes with what the API or the workers run', () => {
    const changed = [
      edit((s) => {
        s.api.image = 'ghcr.io/playtrenches/shop-api:9.9.9';
      }),
      edit((s) => {
        s.worker.image = 'ghcr.io/playtrenches/shop-worker:9.9.9';
      }),
      edit((s) => {
        s.api.env = [...(s.api.env ?? []), { name: 'FEATURE_X', value: 'on' }];
      }),
      edit((s) => {
        s.worker.command = ['node', 'dist/worker/other.js'];
      }),
      edit((s) => {
        s.api.resources = { requests: { cpu: '900m' }, limits: { cpu: '2' } };
      }),
    ].map(revisionOf);
    for (const r of changed) expect(r).not.toBe(base);
    expect(new Set(changed).size).toBe(changed.length);
  });

  it('does not change with replica counts or scaling settings', () => {
    expect(
      revisionOf(
        edit((s) => {
          s.api.replicas = 7;
          s.worker.scaling = { ...s.worker.scaling, minReplicas: 3, maxReplicas: 30 };
        }),
      ),
    ).toBe(base);
  });

  it('leaves out the track and revision labels the rollout puts on pods', () => {
    const template = { metadata: { labels: { app: 'x' } }, spec: { containers: [{ image: 'a' }] } };
    const labelled = {
      ...template,
      metadata: { labels: { app: 'x', [LABEL_TRACK]: 'canary', [LABEL_REVISION]: 'abc' } },
    };
    expect(releaseRevision({ api: labelled })).toBe(releaseRevision({ api: template }));
    expect(releaseRevision({ api: template, worker: template })).not.toBe(
      releaseRevision({ api: template }),
    );
  });
});
