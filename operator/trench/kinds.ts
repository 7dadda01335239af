// What the Trench controller owns and how it finds it. The list itself is charts/operator-kinds.ts,
// shared with the RBAC that OperatorChart grants.
import { DEFAULT_MANAGED_BY, LABEL_MANAGED_BY } from '../../charts/constructs/common.js';
import { TRENCH_KIND } from '../../charts/operator-kinds.js';

export const TRENCH = { apiVersion: TRENCH_KIND.apiVersion, kind: TRENCH_KIND.kind } as const;

/** Informers cache only objects carrying this label, not every Secret in the cluster. */
export const OWNED_SELECTOR = `${LABEL_MANAGED_BY}=${DEFAULT_MANAGED_BY}`;

/** Field manager for the worker replica count, apart from the one that applies the children. */
export const SCALER_FIELD_MANAGER = 'trench-operator-scaler';
