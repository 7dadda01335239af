// Grafana's admin login, instead of Grafana's default admin/admin. Grafana reads it from a
// Secret in the monitoring namespace that the operator generates at startup when it is
// missing and never overwrites: dist/ holds no secret value, and a Secret that people made
// themselves (their own login) or already read the password from stays as it is.
// Pure: the password is passed in.

export const DEFAULT_GRAFANA_ADMIN_SECRET = 'grafana-admin';
/** Keys of the Secret, as Grafana's own Helm chart names them. */
export const GRAFANA_ADMIN_USER_KEY = 'admin-user';
export const GRAFANA_ADMIN_PASSWORD_KEY = 'admin-password';
export const GRAFANA_ADMIN_USER = 'admin';

export interface GrafanaAdminSecretRef {
  readonly namespace: string;
  readonly name: string;
}

export interface GrafanaAdminSecret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  type: 'Opaque';
  data: Record<string, string>;
}

/** The Secret with the admin user `admin` and `password`, base64-encoded as the API wants. */
export function grafanaAdminSecret(
  ref: GrafanaAdminSecretRef,
  password: string,
): GrafanaAdminSecret {
  if (password.length < 16) {
    throw new Error(
      `Grafana admin password for Secret ${ref.namespace}/${ref.name} must have at least 16 characters (got ${password.length})`,
    );
  }
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: ref.name,
      namespace: ref.namespace,
      labels: {
        'app.kubernetes.io/name': 'grafana',
        'app.kubernetes.io/instance': 'grafana',
        'app.kubernetes.io/part-of': 'trench',
        'app.kubernetes.io/managed-by': 'trench-operator',
      },
    },
    type: 'Opaque',
    data: {
      [GRAFANA_ADMIN_USER_KEY]: b64(GRAFANA_ADMIN_USER),
      [GRAFANA_ADMIN_PASSWORD_KEY]: b64(password),
    },
  };
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * `<namespace>/<name>` as the operator's TRENCH_GRAFANA_ADMIN_SECRET carries it; an empty
 * string means none. Throws naming `what` and the bad value.
 */
export function parseGrafanaAdminSecretRef(
  value: string,
  what: string,
): GrafanaAdminSecretRef | undefined {
  if (value === '') return undefined;
  const [namespace, name, ...rest] = value.split('/');
  if (
    rest.length > 0 ||
    namespace === undefined ||
    name === undefined ||
    !DNS_LABEL.test(namespace) ||
    !DNS_SUBDOMAIN.test(name)
  ) {
    throw new Error(
      `${what} must be <namespace>/<secret name> or empty, got ${JSON.stringify(value)}`,
    );
  }
  return { namespace, name };
}

export function formatGrafanaAdminSecretRef(ref: GrafanaAdminSecretRef | undefined): string {
  return ref ? `${ref.namespace}/${ref.name}` : '';
}
