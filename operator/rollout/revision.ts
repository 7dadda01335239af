// A release's revision: the hash of what defines it, the API's and the workers' pod templates
// as rendered (image, command, args, env, resources, probes, everything a pod runs with), taken
// together, so the API and the workers that consume its jobs are released and rolled back as one
// unit. Replica counts and scaling settings live outside the templates and never change it; the
// track and revision labels the rollout puts on pods are left out, so the hash does not depend
// on its own result. Pure.
import { createHash } from 'node:crypto';
import { LABEL_TRACK } from '../../charts/constructs/common.js';
import { canonicalJson, isObject } from '../../charts/lib/json.js';

/** On a canary's pods and Deployments: the revision they run. */
export const LABEL_REVISION = 'playtrenches.xyz/revision';

const OWN_LABELS = [LABEL_TRACK, LABEL_REVISION];

export interface ReleaseTemplates {
  /** spec.template of the rendered API Deployment. */
  readonly api: unknown;
  /** spec.template of the rendered worker Deployment; none when the Trench has no workers. */
  readonly worker?: unknown;
}

/** 10 hex characters: short enough for names and labels, 40 bits against collisions. */
export function releaseRevision(templates: ReleaseTemplates): string {
  const body = canonicalJson({
    api: withoutOwnLabels(templates.api),
    worker: templates.worker === undefined ? null : withoutOwnLabels(templates.worker),
  });
  return createHash('sha256').update(body).digest('hex').slice(0, 10);
}

function withoutOwnLabels(template: unknown): unknown {
  if (!isObject(template) || !isObject(template.metadata)) return template;
  const labels = template.metadata.labels;
  if (!isObject(labels)) return template;
  const kept = Object.fromEntries(Object.entries(labels).filter(([k]) => !OWN_LABELS.includes(k)));
  return { ...template, metadata: { ...template.metadata, labels: kept } };
}
