// The three CustomResourceDefinitions, built from the TypeBox schemas in this folder.
import type { TSchema } from '@sinclair/typebox';
import {
  BACKUP_PRINTER_COLUMNS,
  RESTORE_PRINTER_COLUMNS,
  TrenchBackupSchema,
  TrenchRestoreSchema,
} from './backup.js';
import { toOpenApi } from './kit.js';
import { GROUP, TRENCH_PRINTER_COLUMNS, TrenchSchema, VERSION } from './trench.js';

export interface CrdObject {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

interface CrdInput {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  schema: TSchema;
  columns: { name: string; type: string; jsonPath: string; description?: string }[];
}

/** `kubectl get playtrenches` lists Trenches, TrenchBackups and TrenchRestores together. */
export const CATEGORY = 'playtrenches';

function crd(input: CrdInput): CrdObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${input.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'trench' },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: input.kind,
        listKind: `${input.kind}List`,
        plural: input.plural,
        singular: input.singular,
        shortNames: input.shortNames,
        // Not `trench`: kubectl resolves a word that names a category before the singular of a
        // resource, so `kubectl get trench NAME` would list all three kinds and then fail with
        // "you must specify only one resource". A category must never equal a resource name.
        categories: [CATEGORY],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: input.columns,
          schema: { openAPIV3Schema: toOpenApi(input.schema) },
        },
      ],
    },
  };
}

/** Trench, TrenchBackup and TrenchRestore, in that order. */
export function trenchCrds(): CrdObject[] {
  return [
    crd({
      kind: 'Trench',
      plural: 'trenches',
      singular: 'trench',
      shortNames: ['tr'],
      schema: TrenchSchema,
      columns: TRENCH_PRINTER_COLUMNS,
    }),
    crd({
      kind: 'TrenchBackup',
      plural: 'trenchbackups',
      singular: 'trenchbackup',
      shortNames: ['trb'],
      schema: TrenchBackupSchema,
      columns: BACKUP_PRINTER_COLUMNS,
    }),
    crd({
      kind: 'TrenchRestore',
      plural: 'trenchrestores',
      singular: 'trenchrestore',
      shortNames: ['trr'],
      schema: TrenchRestoreSchema,
      columns: RESTORE_PRINTER_COLUMNS,
    }),
  ];
}
