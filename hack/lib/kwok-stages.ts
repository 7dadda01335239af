// kwok's pod stages for the local cluster: kwok's own "fast" set (ready, complete, delete),
// read from its Go module at the pinned version, except that the pods of Jobs the Trench
// operator made are never completed by kwok. kwok runs no containers, so a backup or restore
// Job "completed" by kwok would have done nothing; the tests run those pods' commands on the
// host and report the result as a kubelet would (tests/integration/support/jobs.ts), and kwok
// must not race them. On a local cluster such a pod stays Running until its Job's deadline.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { DEFAULT_MANAGED_BY, LABEL_MANAGED_BY } from '../../charts/constructs/common.js';
import { KWOK_MODULE } from './versions.js';

const FAST_POD_STAGES = ['pod-ready.yaml', 'pod-complete.yaml', 'pod-delete.yaml'];

interface Stage {
  metadata?: { name?: string };
  spec?: {
    selector?: { matchExpressions?: { key: string; operator: string; values?: string[] }[] };
  };
}

/**
 * kwok's stage documents with the pod-complete stage kept off the operator's Job pods, as one
 * multi-document YAML for `kwok --config`. Pure: the stage files' text in, YAML out.
 */
export function holdOperatorJobPods(stageFiles: readonly string[]): string {
  const stages = stageFiles.flatMap((text) =>
    parseAllDocuments(text).map((d) => d.toJS() as Stage),
  );
  const complete = stages.find((s) => s.metadata?.name === 'pod-complete');
  const expressions = complete?.spec?.selector?.matchExpressions;
  if (!expressions) throw new Error("kwok's stages have no pod-complete selector to extend");
  expressions.push({
    key: `.metadata.labels["${LABEL_MANAGED_BY}"]`,
    operator: 'NotIn',
    values: [DEFAULT_MANAGED_BY],
  });
  return stages.map((s) => stringify(s)).join('---\n');
}

/** Reads kwok's fast pod stages from its module (the Go module proxy serves it). */
export async function kwokStagesConfig(version: string): Promise<string> {
  const { stdout } = await promisify(execFile)(
    'go',
    ['mod', 'download', '-json', `${KWOK_MODULE}@${version}`],
    { maxBuffer: 1 << 20 },
  );
  const dir = (JSON.parse(stdout) as { Dir: string }).Dir;
  return holdOperatorJobPods(
    FAST_POD_STAGES.map((f) =>
      readFileSync(join(dir, 'kustomize', 'stage', 'pod', 'fast', f), 'utf8'),
    ),
  );
}
