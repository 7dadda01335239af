// A release's database migration (spec.rollout.migration), before its first step: a
// TrenchBackup with reason pre-migration must complete (unless backupFirst is false), then one
// Job runs the command with the new API image and the API's environment, once per revision
// (the names are the revision's, so a second pass finds the first's objects instead of making
// more). Pure: what exists in, what to create and what the rollout should be told out; the
// rollout step (step.ts) does the reads and creates.
//
// The migration runs while stable keeps serving on the old revision, against the same database:
// it must be backward compatible with stable (expand now, contract in a later release).
import { createHash } from 'node:crypto';
import { componentLabels, LABEL_REVISION } from '../../charts/constructs/common.js';
import type { KubeObject } from '../runtime/types.js';
import type { MigrationGate } from './canary.js';
import type { Deployment } from './tracks.js';

/** A migration that runs longer than this fails with DeadlineExceeded. */
export const MIGRATION_DEADLINE_SECONDS = 3600;

/** `<trench>-<suffix>-<revision>`, hashed down to the 63 characters a label value allows. */
function revisionName(trench: string, suffix: string, revision: string): string {
  const name = `${trench}-${suffix}-${revision}`;
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(trench).digest('hex').slice(0, 8);
  return `${trench.slice(0, 63 - 2 - suffix.length - revision.length - 9).replace(/-+$/, '')}-${hash}-${suffix}-${revision}`;
}

export const preMigrationBackupName = (trench: string, revision: string) =>
  revisionName(trench, 'premigrate', revision);
export const migrationJobName = (trench: string, revision: string) =>
  revisionName(trench, 'migrate', revision);

type Container = {
  name?: string;
  image?: string;
  imagePullPolicy?: string;
  env?: unknown[];
  envFrom?: unknown[];
  resources?: unknown;
  securityContext?: unknown;
  volumeMounts?: unknown[];
};
type PodSpec = {
  containers?: Container[];
  securityContext?: unknown;
  volumes?: unknown[];
};

/**
 * The migration Job from the API Deployment the spec renders: its image, environment
 * (connection Secrets included), resources and restricted security context; none of its ports,
 * probes or lifecycle. One attempt: a migration half-applied and retried blind could do harm,
 * so a failure stops the rollout and waits for a person.
 */
export function migrationJob(input: {
  readonly trench: string;
  readonly namespace: string;
  readonly revision: string;
  readonly api: Deployment;
  readonly command: readonly string[];
}): KubeObject {
  const pod = (input.api.spec.template.spec ?? {}) as PodSpec;
  const c = pod.containers?.[0] ?? {};
  const labels = {
    ...componentLabels('migration', input.trench),
    [LABEL_REVISION]: input.revision,
  };
  const container: Record<string, unknown> = {
    name: 'migrate',
    image: c.image,
    command: [...input.command],
  };
  for (const key of [
    'imagePullPolicy',
    'env',
    'envFrom',
    'resources',
    'securityContext',
    'volumeMounts',
  ] as const) {
    if (c[key] !== undefined) container[key] = structuredClone(c[key]);
  }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: migrationJobName(input.trench, input.revision),
      namespace: input.namespace,
      labels,
      // The Trench's: deleting the Trench deletes its migrations' record.
      ...(input.api.metadata?.ownerReferences
        ? { ownerReferences: structuredClone(input.api.metadata.ownerReferences) }
        : {}),
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: MIGRATION_DEADLINE_SECONDS,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          ...(pod.securityContext ? { securityContext: structuredClone(pod.securityContext) } : {}),
          ...(pod.volumes ? { volumes: structuredClone(pod.volumes) } : {}),
          containers: [container],
        },
      },
    },
  } as KubeObject;
}

export interface JobView {
  readonly status?: {
    readonly conditions?: readonly {
      type: string;
      status: string;
      reason?: string;
      message?: string;
    }[];
  };
}

export interface BackupView {
  readonly status?: { readonly phase?: string; readonly failureReason?: string };
}

export type MigrationPhase = 'BackingUp' | 'Migrating' | 'Succeeded' | 'Failed';

export interface MigrationStep {
  /** What the rollout is told. */
  readonly gate: MigrationGate;
  /** What status.rollout.migration records. */
  readonly record: {
    readonly revision: string;
    readonly phase: MigrationPhase;
    readonly backup?: string;
    readonly job?: string;
    readonly message: string;
  };
  /** Create the pre-migration TrenchBackup, or the Job, now. */
  readonly create?: 'backup' | 'job';
}

/** Where a revision's migration stands, from its backup and Job as they are. */
export function migrationStep(input: {
  readonly trench: string;
  readonly revision: string;
  readonly backupFirst: boolean;
  readonly backup?: BackupView;
  readonly job?: JobView;
}): MigrationStep {
  const { trench, revision } = input;
  const backup = input.backupFirst ? preMigrationBackupName(trench, revision) : undefined;
  const job = migrationJobName(trench, revision);
  const record = (phase: MigrationPhase, message: string) => ({
    revision,
    phase,
    ...(backup ? { backup } : {}),
    ...(phase !== 'BackingUp' ? { job } : {}),
    message,
  });
  // A Job that exists has the last word: its backup was done before it was created.
  const condition = (type: string) =>
    input.job?.status?.conditions?.find((c) => c.type === type && c.status === 'True');
  const failed = condition('Failed');
  if (failed) {
    const message = `Migration Job ${job} failed${failed.reason ? ` (${failed.reason}${failed.message ? `: ${failed.message}` : ''})` : ''}; see kubectl logs job/${job}. A migration runs once per revision: delete the Job to run it again, then kubectl trench retry`;
    return {
      gate: { state: 'failed', reason: 'MigrationFailed', message },
      record: record('Failed', message),
    };
  }
  if (condition('Complete')) {
    const message = `Migration Job ${job} completed`;
    return { gate: { state: 'done', message }, record: record('Succeeded', message) };
  }
  if (input.job) {
    const message = `Migration Job ${job} is running`;
    return { gate: { state: 'running', message }, record: record('Migrating', message) };
  }
  if (backup) {
    const phase = input.backup?.status?.phase;
    if (!input.backup) {
      const message = `Backing up before the migration: TrenchBackup ${backup} created`;
      return {
        gate: { state: 'running', message },
        record: record('BackingUp', message),
        create: 'backup',
      };
    }
    if (phase === 'Failed') {
      const message = `Pre-migration TrenchBackup ${backup} failed${input.backup.status?.failureReason ? `: ${input.backup.status.failureReason}` : ''}; the migration did not run`;
      return {
        gate: { state: 'failed', reason: 'MigrationBackupFailed', message },
        record: record('Failed', message),
      };
    }
    if (phase !== 'Completed') {
      const message = `Backing up before the migration: TrenchBackup ${backup} is ${phase ?? 'Pending'}`;
      return { gate: { state: 'running', message }, record: record('BackingUp', message) };
    }
  }
  const message = `Migration Job ${job} created`;
  return {
    gate: { state: 'running', message },
    record: record('Migrating', message),
    create: 'job',
  };
}
