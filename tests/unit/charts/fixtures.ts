// Trenches the chart tests render: the samples from manifests/samples plus edge cases.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Manifest } from '../../../charts/constructs/common.js';
import type { TrenchInput } from '../../../charts/trench-chart.js';

export function sample(file: string): TrenchInput {
  const doc = parse(readFileSync(`manifests/samples/${file}`, 'utf8'));
  return {
    metadata: { ...doc.metadata, uid: '00000000-0000-4000-8000-000000000001' },
    spec: doc.spec,
  };
}

export const minimal = (): TrenchInput => sample('trench-minimal.yaml');
export const full = (): TrenchInput => sample('trench-full.yaml');

/** Every pod template (Deployment, StatefulSet) with where it came from. */
export function podTemplates(objects: Manifest[]): { where: string; spec: Manifest['spec'] }[] {
  return objects
    .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
    .map((o) => ({ where: `${o.kind}/${o.metadata.name}`, spec: o.spec.template.spec }));
}

export function labelsMatch(selector: Record<string, string>, labels: Record<string, string>) {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}
