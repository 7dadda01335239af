// TrenchBackup (one PostgreSQL dump of one Trench) and TrenchRestore (loading one backup into
// one Trench). Both are requests: their spec never changes after creation, and their progress
// lives in status so that a restarted operator resumes where the last one stopped.
import { type Static, Type } from '@sinclair/typebox';
import { type Rule, rules, StringEnum } from './kit.js';
import { ConditionsSchema } from './trench.js';

export const RUN_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed'] as const;
export type RunPhase = (typeof RUN_PHASES)[number];

const LocalRef = (what: string) =>
  Type.Object(
    { name: Type.String({ minLength: 1, maxLength: 253, description: `${what} name.` }) },
    { description: `The ${what} in the same namespace.` },
  );

const immutable = (field: string): Rule<unknown> => ({
  rule: 'self == oldSelf',
  message: `${field} is immutable: create a new object instead`,
  holds: () => true,
});

const RunStatus = {
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64' })),
  phase: Type.Optional(StringEnum(RUN_PHASES)),
  startTime: Type.Optional(Type.String({ format: 'date-time' })),
  completionTime: Type.Optional(Type.String({ format: 'date-time' })),
  message: Type.Optional(Type.String()),
  conditions: Type.Optional(ConditionsSchema),
};

export const TrenchBackupSpecSchema = Type.Object(
  {
    trenchRef: LocalRef('Trench'),
    reason: Type.Optional(
      StringEnum(['Scheduled', 'Manual', 'PreMigration'], {
        description: 'Why the backup was taken; retention only prunes Scheduled backups.',
      }),
    ),
  },
  rules(immutable('spec')),
);

export const TrenchBackupStatusSchema = Type.Object({
  ...RunStatus,
  location: Type.Optional(Type.String({ description: 'Path of the dump on the backup PVC.' })),
  sizeBytes: Type.Optional(Type.Integer({ format: 'int64' })),
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
    trenchRef: LocalRef('Trench'),
    backupRef: LocalRef('TrenchBackup'),
  },
  rules(immutable('spec')),
);

export const TrenchRestoreStatusSchema = Type.Object(RunStatus);

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

export const RUN_PRINTER_COLUMNS = (refs: { name: string; jsonPath: string }[]) => [
  ...refs.map((r) => ({ name: r.name, type: 'string', jsonPath: r.jsonPath })),
  { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
  { name: 'Completed', type: 'date', jsonPath: '.status.completionTime' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];
