// Trenches the chart tests render: the samples from manifests/samples plus edge cases.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Manifest } from '../../../charts/constructs/common.js';
import { parseQuantity } from '../../../charts/lib/quantity.js';
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

/**
 * Names of containers (init containers too) whose ephemeral-storage request or limit is
 * missing, or whose request exceeds the limit.
 */
export function withoutEphemeralStorage(objects: Manifest[]): string[] {
  const bad: string[] = [];
  for (const { where, spec } of podTemplates(objects)) {
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      const request = parseQuantity(c.resources?.requests?.['ephemeral-storage'] ?? '');
      const limit = parseQuantity(c.resources?.limits?.['ephemeral-storage'] ?? '');
      if (request === undefined || limit === undefined || request > limit) {
        bad.push(`${where}/${c.name}`);
      }
    }
  }
  return bad;
}

export function labelsMatch(selector: Record<string, string>, labels: Record<string, string>) {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}
