// The one list of kinds the operator touches, and what it does with each. The operator's
// informers, what prune may delete, and the RBAC that OperatorChart grants are all derived from
// it, and tests/unit/charts/operator-kinds.test.ts renders a maximal Trench to prove that every
// kind rendered is here and that nothing here goes unused.
import { API_VERSION } from './api/trench.js';

export interface OperatorKind {
  readonly apiVersion: string;
  readonly kind: string;
  /** The resource name RBAC uses. */
  readonly plural: string;
  /**
   * rendered: a child of a Trench (applied, pruned); generated: created once, never changed;
   * retired: rendered by an older version and no longer, watched only so that prune deletes
   * what an upgraded Trench still owns (the per-Trench rule and dashboard ConfigMaps and
   * PrometheusRules, before one rule set covered every Trench).
   */
  readonly role: 'rendered' | 'generated' | 'retired';
  /** Only where the Prometheus Operator is installed (its CRDs exist). */
  readonly prometheusOperator?: boolean;
}

export const TRENCH_KIND = { apiVersion: API_VERSION, kind: 'Trench', plural: 'trenches' } as const;

export const OPERATOR_KINDS: readonly OperatorKind[] = [
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', role: 'rendered' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet', plural: 'statefulsets', role: 'rendered' },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', role: 'rendered' },
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', role: 'retired' },
  {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    plural: 'persistentvolumeclaims',
    role: 'rendered',
  },
  {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    plural: 'poddisruptionbudgets',
    role: 'rendered',
  },
  {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    plural: 'networkpolicies',
    role: 'rendered',
  },
  { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', role: 'generated' },
  {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    plural: 'servicemonitors',
    role: 'rendered',
    prometheusOperator: true,
  },
  {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    plural: 'podmonitors',
    role: 'rendered',
    prometheusOperator: true,
  },
  {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    plural: 'prometheusrules',
    role: 'retired',
    prometheusOperator: true,
  },
];

/** The kinds this operator runs with: the Prometheus Operator's only in that mode. */
export function operatorKinds(prometheusOperator: boolean): readonly OperatorKind[] {
  return OPERATOR_KINDS.filter((k) => prometheusOperator || !k.prometheusOperator);
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

const READ = ['get', 'list', 'watch'];
const OWN = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];
const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0]! : '');

/**
 * The backup and restore controllers': TrenchBackups (created by the schedule, deleted by
 * retention), their status, TrenchRestores and theirs, the dump, verify and restore Jobs (created once, never changed) and their pods (read for the
 * termination message). Jobs are not in the list above: no Trench renders one, and prune must
 * never touch them.
 */
export const BACKUP_RULES: readonly PolicyRule[] = [
  {
    apiGroups: [groupOf(TRENCH_KIND.apiVersion)],
    resources: ['trenchbackups'],
    // patch: the finalizer that holds a deleted backup until its file is removed.
    verbs: [...READ, 'create', 'delete', 'patch'],
  },
  {
    apiGroups: [groupOf(TRENCH_KIND.apiVersion)],
    resources: ['trenchbackups/status'],
    verbs: ['get', 'update', 'patch'],
  },
  // The dump Job's ownerReference sets blockOwnerDeletion (see the Trench's finalizers below).
  {
    apiGroups: [groupOf(TRENCH_KIND.apiVersion)],
    resources: ['trenchbackups/finalizers'],
    verbs: ['update'],
  },
  // The restore controller's: TrenchRestores (read) and their status; its Jobs are owned by them.
  {
    apiGroups: [groupOf(TRENCH_KIND.apiVersion)],
    resources: ['trenchrestores'],
    verbs: READ,
  },
  {
    apiGroups: [groupOf(TRENCH_KIND.apiVersion)],
    resources: ['trenchrestores/status'],
    verbs: ['get', 'update', 'patch'],
  },
  {
    apiGroups: [groupOf(TRENCH_KIND.apiVersion)],
    resources: ['trenchrestores/finalizers'],
    verbs: ['update'],
  },
  { apiGroups: ['batch'], resources: ['jobs'], verbs: [...READ, 'create', 'delete'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
];

/**
 * Exactly what the operator reads or writes: Trenches (read) and their status, every kind in
 * the list above, and events. Nothing else: a grant for a kind nothing uses fails the test.
 */
export function operatorClusterRules(prometheusOperator: boolean): PolicyRule[] {
  const rules: PolicyRule[] = [
    // It never creates, edits or deletes a Trench: people and GitOps do.
    { apiGroups: [groupOf(TRENCH_KIND.apiVersion)], resources: [TRENCH_KIND.plural], verbs: READ },
    {
      apiGroups: [groupOf(TRENCH_KIND.apiVersion)],
      resources: [`${TRENCH_KIND.plural}/status`],
      verbs: ['get', 'update', 'patch'],
    },
    // Children's ownerReferences set blockOwnerDeletion, which the
    // OwnerReferencesPermissionEnforcement admission plugin allows only with update on the
    // owner's finalizers.
    {
      apiGroups: [groupOf(TRENCH_KIND.apiVersion)],
      resources: [`${TRENCH_KIND.plural}/finalizers`],
      verbs: ['update'],
    },
  ];
  for (const k of operatorKinds(prometheusOperator)) {
    // Generated Secrets are created once and never changed or deleted by the operator;
    // retired kinds are only ever deleted.
    const verbs = { rendered: OWN, generated: [...READ, 'create'], retired: [...READ, 'delete'] };
    rules.push({ apiGroups: [groupOf(k.apiVersion)], resources: [k.plural], verbs: verbs[k.role] });
  }
  rules.push(...BACKUP_RULES);
  // Gateway API canaries: the weights of the user's HTTPRoute (operator/rollout/route.ts), read
  // and patched, never created or deleted.
  rules.push({
    apiGroups: ['gateway.networking.k8s.io'],
    resources: ['httproutes'],
    verbs: ['get', 'patch'],
  });
  rules.push({ apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] });
  return rules;
}
