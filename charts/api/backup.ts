// TrenchBackup (one PostgreSQL dump of one Trench) and TrenchRestore (loading one backup into
// one Trench, in place). Both are requests: their spec never changes after creation, and their
// progress lives in status so that a restarted operator resumes where the last one stopped.
import { type Static, Type } from '@sinclair/typebox';
import { type Rule, rules, StringEnum } from './kit.js';
import { ConditionsSchema, MAX_TRENCH_NAME, TRENCH_NAME_PATTERN } from './trench.js';

export const BACKUP_PHASES = ['Pending', 'Running', 'Completed', 'Failed'] as const;
export type BackupPhase = (typeof BACKUP_PHASES)[number];
export const BACKUP_REASONS = ['scheduled', 'manual', 'pre-migration'] as const;
export type BackupReason = (typeof BACKUP_REASONS)[number];

export const VERIFY_PHASES = ['Running', 'Passed', 'Failed'] as const;
export type VerifyPhase = (typeof VERIFY_PHASES)[number];

export const RESTORE_PHASES = [
  'Pending',
  'Verifying',
  'Quiescing',
  'Restoring',
  'Resuming',
  'Completed',
  'Failed',
] as const;
export type RestorePhase = (typeof RESTORE_PHASES)[number];

const TrenchName = Type.String({
  minLength: 1,
  maxLength: MAX_TRENCH_NAME,
  pattern: TRENCH_NAME_PATTERN,
  description: 'The Trench, in the same namespace.',
});

const immutable = (field: string): Rule<unknown> => ({
  rule: 'self == oldSelf',
  message: `${field} is immutable: create a new object instead`,
  holds: () => true,
});

const RunStatus = {
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64' })),
  startTime: Type.Optional(Type.String({ format: 'date-time' })),
  completionTime: Type.Optional(Type.String({ format: 'date-time' })),
  message: Type.Optional(Type.String()),
  conditions: Type.Optional(ConditionsSchema),
};

export const TrenchBackupSpecSchema = Type.Object(
  {
    trench: TrenchName,
    reason: StringEnum(BACKUP_REASONS, {
      default: 'manual',
      description:
        'Why the backup was taken. Retention prunes scheduled and pre-migration backups; manual ones stay until deleted.',
    }),
    image: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 512,
        description:
          "Image of the dump Job. @default the Trench's Postgres image, so pg_dump matches the server's major version",
      }),
    ),
  },
  rules(immutable('spec')),
);

export const TrenchBackupStatusSchema = Type.Object({
  ...RunStatus,
  phase: Type.Optional(StringEnum(BACKUP_PHASES)),
  jobName: Type.Optional(Type.String({ description: 'The dump Job.' })),
  path: Type.Optional(Type.String({ description: 'Path of the dump on the backups claim.' })),
  sizeBytes: Type.Optional(Type.Integer({ format: 'int64' })),
  size: Type.Optional(Type.String({ description: 'sizeBytes for people, such as 12.4 MiB.' })),
  checksum: Type.Optional(Type.String({ description: 'sha256:<hex> of the dump file.' })),
  serverVersion: Type.Optional(
    Type.String({ description: 'The PostgreSQL server version the dump was taken from.' }),
  ),
  trenchUID: Type.Optional(
    Type.String({
      description: 'The Trench the dump was taken from, to refuse restores into another.',
    }),
  ),
  failureReason: Type.Optional(
    Type.String({
      description: 'Why the Job failed, such as DeadlineExceeded or BackoffLimitExceeded.',
    }),
  ),
  verified: Type.Optional(
    Type.Boolean({
      description:
        'The verdict of the newest finished restore drill: the dump restored into a throwaway PostgreSQL and every table read.',
    }),
  ),
  verification: Type.Optional(
    Type.Object(
      {
        request: Type.String({
          description:
            'The playtrenches.xyz/verify annotation this drill answers (scheduled/<slot> or manual/<time>).',
        }),
        phase: StringEnum(VERIFY_PHASES),
        jobName: Type.Optional(Type.String()),
        startTime: Type.Optional(Type.String({ format: 'date-time' })),
        completionTime: Type.Optional(Type.String({ format: 'date-time' })),
        durationSeconds: Type.Optional(
          Type.Integer({ minimum: 0, description: 'The restore and the reads, in the pod.' }),
        ),
        tables: Type.Optional(Type.Integer({ minimum: 0 })),
        rows: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
        largeObjects: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
        tableRows: Type.Optional(
          Type.Array(
            Type.Object({
              table: Type.String(),
              rows: Type.Integer({ minimum: 0, format: 'int64' }),
            }),
            {
              maxItems: 200,
              description:
                'Rows per table, the largest tables first (as many as the pod reported).',
            },
          ),
        ),
        failureReason: Type.Optional(Type.String()),
        message: Type.Optional(Type.String()),
      },
      { description: 'The newest restore drill of this backup.' },
    ),
  ),
});

export const TrenchBackupSchema = Type.Object({
  apiVersion: Type.Optional(Type.String()),
  kind: Type.Optional(Type.String()),
  metadata: Type.Optional(Type.Object({})),
  spec: TrenchBackupSpecSchema,
  status: Type.Optional(TrenchBackupStatusSchema),
});

export const TrenchRestoreSpecSchema = Type.Object(
  {
    trench: TrenchName,
    backup: Type.String({
      minLength: 1,
      maxLength: 253,
      description: 'The TrenchBackup to restore, in the same namespace.',
    }),
    force: Type.Boolean({
      default: false,
      description: 'Restore a backup that was taken from another Trench.',
    }),
  },
  rules(immutable('spec')),
);

export const TrenchRestoreStatusSchema = Type.Object({
  ...RunStatus,
  phase: Type.Optional(StringEnum(RESTORE_PHASES)),
  previousReplicas: Type.Optional(
    Type.Object(
      { api: Type.Integer({ minimum: 0 }), worker: Type.Integer({ minimum: 0 }) },
      { description: 'Replicas before Quiescing, given back at Resuming.' },
    ),
  ),
  jobName: Type.Optional(
    Type.String({
      description: 'The Job of the current step: the verify Job, then the restore Job.',
    }),
  ),
  failureReason: Type.Optional(
    Type.String({
      description:
        'Why the restore failed, such as ChecksumMismatch or RestoreFailed; set as soon as it is known, while the workloads resume.',
    }),
  ),
});

export const TrenchRestoreSchema = Type.Object({
  apiVersion: Type.Optional(Type.String()),
  kind: Type.Optional(Type.String()),
  metadata: Type.Optional(Type.Object({})),
  spec: TrenchRestoreSpecSchema,
  status: Type.Optional(TrenchRestoreStatusSchema),
});

export type TrenchBackupSpec = Static<typeof TrenchBackupSpecSchema>;
export type TrenchBackupStatus = Static<typeof TrenchBackupStatusSchema>;
export type TrenchRestoreSpec = Static<typeof TrenchRestoreSpecSchema>;
export type TrenchRestoreStatus = Static<typeof TrenchRestoreStatusSchema>;

const col = (name: string, jsonPath: string, type = 'string') => ({ name, type, jsonPath });

export const BACKUP_PRINTER_COLUMNS = [
  col('Trench', '.spec.trench'),
  col('Reason', '.spec.reason'),
  col('Phase', '.status.phase'),
  col('Size', '.status.size'),
  col('Verified', '.status.verified', 'boolean'),
  col('Completed', '.status.completionTime', 'date'),
  col('Age', '.metadata.creationTimestamp', 'date'),
];

export const RESTORE_PRINTER_COLUMNS = [
  col('Trench', '.spec.trench'),
  col('Backup', '.spec.backup'),
  col('Phase', '.status.phase'),
  col('Completed', '.status.completionTime', 'date'),
  col('Age', '.metadata.creationTimestamp', 'date'),
];
