// The Job that takes one TrenchBackup: `pg_dump --format=custom` onto the Trench's backups
// claim, then its sha256 and size. Pure: the backup, its Trench's connection and images in, a
// Job manifest out.
//
// The dump is written to a hidden partial file and renamed only once it is whole and summed, so
// a killed pod never leaves a file that looks like a backup. The result (path, checksum, size,
// server version) is the container's termination message, which the kubelet copies into the
// pod's status: the operator reads it from there, with no sidecar, no exec and no API access
// from the Job. On failure the message falls back to the last lines of pg_dump's stderr.
import { createHash } from 'node:crypto';
import { componentLabels, type EnvVar, secretEnv } from '../../charts/constructs/common.js';
import { POSTGRES_USER_ID } from '../../charts/constructs/postgres.js';

/** Where the claim is mounted in the Job's pod. */
export const BACKUP_MOUNT = '/backups';
/** Dumps sit in one folder of the claim: `dumps/<backup>.dump` and `dumps/<backup>.dump.sha256`. */
export const DUMP_DIR = 'dumps';
export const TERMINATION_LOG = '/dev/termination-log';
/** The label that ties a Job to its TrenchBackup, for the operator's Job informer. */
export const LABEL_BACKUP = 'playtrenches.xyz/backup';

/** How the Job reaches the database: the Trench's managed Postgres or its external URL. */
export type DumpSource =
  | { readonly managed: { readonly env: readonly EnvVar[] } }
  | { readonly external: { readonly secretName: string; readonly key: string } };

export interface DumpJobInput {
  readonly namespace: string;
  readonly trench: string;
  /** The TrenchBackup's name and uid (the Job is its child, so deleting it deletes the Job). */
  readonly backup: { readonly name: string; readonly uid: string };
  readonly image: string;
  readonly claimName: string;
  readonly source: DumpSource;
  /** A dump that runs longer than this fails with DeadlineExceeded. @default 6 hours */
  readonly activeDeadlineSeconds?: number;
}

/** The result line the script prints as its termination message. */
export interface DumpResult {
  readonly path: string;
  readonly checksum: string;
  readonly sizeBytes: number;
  readonly serverVersion: string;
}

// POSIX sh: the official postgres images (Debian and Alpine) have sh, sha256sum and wc.
// Everything the script needs comes from the environment, so the same text runs in the pod and,
// in tests, on the host with only BACKUP_DIR and the database address changed.
export const DUMP_SCRIPT = `set -eu
dir="$BACKUP_DIR/${DUMP_DIR}"
mkdir -p "$dir"
part="$dir/.$BACKUP_NAME.dump.partial"
trap 'rm -f "$part"' EXIT
version=$(psql --no-psqlrc --no-password --tuples-only --no-align --dbname="$DATABASE_URL" --command='SHOW server_version')
pg_dump --format=custom --no-password --dbname="$DATABASE_URL" --file="$part"
sum=$(sha256sum "$part" | cut -d' ' -f1)
size=$(wc -c < "$part" | tr -d ' ')
mv "$part" "$dir/$BACKUP_NAME.dump"
printf '%s  %s\\n' "$sum" "$BACKUP_NAME.dump" > "$dir/$BACKUP_NAME.dump.sha256"
trap - EXIT
printf '{"path":"${DUMP_DIR}/%s.dump","checksum":"sha256:%s","sizeBytes":%s,"serverVersion":"%s"}\\n' "$BACKUP_NAME" "$sum" "$size" "$version" > "$RESULT_FILE"
`;

/** `<backup>-dump`, or a hashed name when that exceeds the 63 characters a pod label allows. */
export function dumpJobName(backup: string): string {
  return jobName(backup, 'dump');
}

/** `<name>-<suffix>`, or a hashed name when that exceeds the 63 characters a pod label allows. */
export function jobName(backup: string, suffix: string): string {
  const name = `${backup}-${suffix}`;
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(backup).digest('hex').slice(0, 10);
  return `${backup.slice(0, 63 - 12 - suffix.length).replace(/-+$/, '')}-${hash}-${suffix}`;
}

export function dumpPath(backup: string): string {
  return `${DUMP_DIR}/${backup}.dump`;
}

/** The environment that points a Job's psql, pg_dump or pg_restore at the database. */
export function sourceEnv(source: DumpSource): EnvVar[] {
  if ('managed' in source) return [...source.managed.env];
  return [secretEnv('DATABASE_URL', source.external.secretName, source.external.key)];
}

export function dumpJob(input: DumpJobInput): Record<string, unknown> {
  return claimJob({
    name: dumpJobName(input.backup.name),
    namespace: input.namespace,
    trench: input.trench,
    backup: input.backup.name,
    route: { [LABEL_BACKUP]: input.backup.name },
    owner: { kind: 'TrenchBackup', ...input.backup },
    image: input.image,
    claimName: input.claimName,
    container: 'dump',
    script: DUMP_SCRIPT,
    env: sourceEnv(input.source),
    // One attempt: a retried dump could overlap a half-written one, and the next slot (or a
    // person, with kubectl trench backup) is the retry.
    backoffLimit: 0,
    activeDeadlineSeconds: input.activeDeadlineSeconds ?? 6 * 3600,
    ttlSecondsAfterFinished: 7 * 86400,
  });
}

// Removes every file a dump of BACKUP_NAME may have left: the dump, its sum, a partial one.
export const REMOVE_SCRIPT = `set -eu
dir="$BACKUP_DIR/${DUMP_DIR}"
rm -f -- "$dir/$BACKUP_NAME.dump" "$dir/$BACKUP_NAME.dump.sha256" "$dir/.$BACKUP_NAME.dump.partial"
printf '{"removed":"${DUMP_DIR}/%s.dump"}\\n' "$BACKUP_NAME" > "$RESULT_FILE"
`;

/** `<backup>-remove`, hashed like dumpJobName when too long. */
export function removeJobName(backup: string): string {
  return jobName(backup, 'remove');
}

export interface RemoveJobInput {
  readonly namespace: string;
  readonly trench: string;
  readonly backup: string;
  readonly image: string;
  readonly claimName: string;
}

/**
 * The Job that deletes a TrenchBackup's files while the TrenchBackup waits on its finalizer.
 * It has no owner: its TrenchBackup is being deleted, and the garbage collector would delete a
 * child of it at once under foreground deletion. The label routes it back; the TTL removes it.
 */
export function removeJob(input: RemoveJobInput): Record<string, unknown> {
  return claimJob({
    name: removeJobName(input.backup),
    namespace: input.namespace,
    trench: input.trench,
    backup: input.backup,
    route: { [LABEL_BACKUP]: input.backup },
    image: input.image,
    claimName: input.claimName,
    container: 'remove',
    script: REMOVE_SCRIPT,
    env: [],
    // rm -f only fails when the volume does: a few tries, then the TrenchBackup says so.
    backoffLimit: 3,
    activeDeadlineSeconds: 600,
    ttlSecondsAfterFinished: 3600,
  });
}

export interface ClaimJobInput {
  readonly name: string;
  readonly namespace: string;
  readonly trench: string;
  /** The TrenchBackup whose file the Job works on (BACKUP_NAME in its environment). */
  readonly backup: string;
  /** The label that routes the Job back to the object it works for. */
  readonly route: Readonly<Record<string, string>>;
  readonly owner?: {
    readonly kind: 'TrenchBackup' | 'TrenchRestore';
    readonly name: string;
    readonly uid: string;
  };
  readonly image: string;
  readonly claimName: string;
  readonly container: string;
  readonly script: string;
  readonly env: readonly EnvVar[];
  readonly backoffLimit: number;
  readonly activeDeadlineSeconds: number;
  readonly ttlSecondsAfterFinished: number;
  /**
   * A scratch emptyDir at SCRATCH_MOUNT (SCRATCH_DIR in the environment) of at most this size,
   * such as the restore drill's throwaway PostgreSQL. @default none
   */
  readonly scratch?: string;
  /** The container's resources. @default 100m/128Mi requested, 1 CPU/512Mi at most */
  readonly resources?: {
    readonly requests: Record<string, string>;
    readonly limits: Record<string, string>;
  };
}

/** Where a Job's scratch emptyDir is mounted, when it has one. */
export const SCRATCH_MOUNT = '/scratch';

/** A Job whose one container runs `script` with the backups claim at BACKUP_MOUNT. */
export function claimJob(input: ClaimJobInput): Record<string, unknown> {
  const labels = { ...componentLabels('backup', input.trench), ...input.route };
  const securityContext = {
    runAsNonRoot: true,
    runAsUser: POSTGRES_USER_ID,
    runAsGroup: POSTGRES_USER_ID,
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels,
      ...(input.owner
        ? {
            ownerReferences: [
              {
                apiVersion: 'playtrenches.xyz/v1alpha1',
                kind: input.owner.kind,
                name: input.owner.name,
                uid: input.owner.uid,
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      backoffLimit: input.backoffLimit,
      activeDeadlineSeconds: input.activeDeadlineSeconds,
      ttlSecondsAfterFinished: input.ttlSecondsAfterFinished,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: POSTGRES_USER_ID,
            runAsGroup: POSTGRES_USER_ID,
            fsGroup: POSTGRES_USER_ID,
            fsGroupChangePolicy: 'OnRootMismatch',
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: input.container,
              image: input.image,
              command: ['sh', '-c', input.script],
              env: [
                { name: 'BACKUP_NAME', value: input.backup },
                { name: 'BACKUP_DIR', value: BACKUP_MOUNT },
                { name: 'RESULT_FILE', value: TERMINATION_LOG },
                ...(input.scratch ? [{ name: 'SCRATCH_DIR', value: SCRATCH_MOUNT }] : []),
                ...input.env,
              ],
              terminationMessagePath: TERMINATION_LOG,
              terminationMessagePolicy: 'FallbackToLogsOnError',
              securityContext,
              resources: input.resources ?? {
                requests: { cpu: '100m', memory: '128Mi', 'ephemeral-storage': '64Mi' },
                limits: { cpu: '1', memory: '512Mi', 'ephemeral-storage': '256Mi' },
              },
              volumeMounts: [
                { name: 'backups', mountPath: BACKUP_MOUNT },
                { name: 'tmp', mountPath: '/tmp' },
                ...(input.scratch ? [{ name: 'scratch', mountPath: SCRATCH_MOUNT }] : []),
              ],
            },
          ],
          volumes: [
            { name: 'backups', persistentVolumeClaim: { claimName: input.claimName } },
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
            ...(input.scratch ? [{ name: 'scratch', emptyDir: { sizeLimit: input.scratch } }] : []),
          ],
        },
      },
    },
  };
}

/** A Job's termination message as JSON; throws naming the Job's kind (`what`) when it is not. */
export function parseMessageJson(what: string, message: string): unknown {
  try {
    return JSON.parse(message.trim());
  } catch {
    throw new Error(
      `the ${what}'s termination message is not JSON: ${JSON.stringify(message.slice(0, 200))}`,
    );
  }
}

/** Reads the termination message of a finished dump; throws with what is wrong. */
export function parseDumpResult(message: string): DumpResult {
  const r = parseMessageJson('dump', message) as Partial<DumpResult>;
  if (
    typeof r.path !== 'string' ||
    typeof r.checksum !== 'string' ||
    !/^sha256:[0-9a-f]{64}$/.test(r.checksum) ||
    typeof r.sizeBytes !== 'number' ||
    !Number.isInteger(r.sizeBytes) ||
    typeof r.serverVersion !== 'string'
  ) {
    throw new Error(
      `the dump's termination message lacks path, checksum, sizeBytes or serverVersion: ${message.slice(0, 200)}`,
    );
  }
  return {
    path: r.path,
    checksum: r.checksum,
    sizeBytes: r.sizeBytes,
    serverVersion: r.serverVersion,
  };
}
