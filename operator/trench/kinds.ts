// What the Trench controller owns and how it finds it.
import { API_VERSION } from '../../charts/api/trench.js';
import { DEFAULT_MANAGED_BY, LABEL_MANAGED_BY } from '../../charts/constructs/common.js';

export const TRENCH = { apiVersion: API_VERSION, kind: 'Trench' } as const;

/** Every kind TrenchChart renders plus the generated Secret: informers watch these. */
export const OWNED_KINDS = [
  { apiVersion: 'apps/v1', kind: 'Deployment' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet' },
  { apiVersion: 'v1', kind: 'Service' },
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'v1', kind: 'Secret' },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget' },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
] as const;

/** Kinds that exist only where the Prometheus Operator is installed. */
export const PROMETHEUS_OPERATOR_KINDS = [
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor' },
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'PodMonitor' },
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule' },
] as const;

/** Informers cache only objects carrying this label, not every Secret in the cluster. */
export const OWNED_SELECTOR = `${LABEL_MANAGED_BY}=${DEFAULT_MANAGED_BY}`;

/** Field manager for the worker replica count, apart from the one that applies the children. */
export const SCALER_FIELD_MANAGER = 'trench-operator-scaler';
