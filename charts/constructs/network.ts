// NetworkPolicies for one Trench: deny everything to and from its pods, then allow exactly
// clients -> API, API/workers/jobs -> Redis and Postgres, the operator -> Redis (it reads
// queue depth), Prometheus -> metrics ports, and DNS.
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import {
  checkInt,
  checkTrenchName,
  componentLabels,
  DEFAULT_MANAGED_BY,
  LABEL_INSTANCE,
  LABEL_NAME,
  LABEL_PART_OF,
  type Labels,
  PART_OF,
  selectorLabels,
  type TrenchComponentProps,
} from './common.js';
import { POSTGRES_PORT } from './postgres.js';
import { REDIS_PORT } from './redis.js';

/** Pods in other namespaces, by namespace name and pod labels. */
export interface PeerSelector {
  readonly namespace: string;
  readonly podLabels: Readonly<Labels>;
}

export const DEFAULT_PROMETHEUS_PEER: PeerSelector = {
  namespace: 'trench-monitoring',
  podLabels: { [LABEL_NAME]: 'prometheus' },
};
export const DEFAULT_OPERATOR_PEER: PeerSelector = {
  namespace: 'trench-system',
  podLabels: { [LABEL_NAME]: 'trench-operator' },
};

export interface NetworkProps extends TrenchComponentProps {
  /** API container port (clients reach it through the Service). */
  readonly apiPort: number;
  /** API metrics port; may equal apiPort. */
  readonly apiMetricsPort: number;
  /** Worker metrics port, when the workers are scraped. @default none */
  readonly workerMetricsPort?: number;
  /** 'external' allows egress to any address on 6379 instead of to the Redis pod. */
  readonly redis: 'managed' | 'external';
  /** 'external' allows egress to any address on 5432 instead of to the Postgres pod. */
  readonly postgres: 'managed' | 'external';
  /** Who scrapes metrics. @default DEFAULT_PROMETHEUS_PEER */
  readonly prometheus?: PeerSelector;
  /** Where the operator runs (it polls Redis for queue depth). @default DEFAULT_OPERATOR_PEER */
  readonly operator?: PeerSelector;
}

type Json = Record<string, unknown>;

export const tcp = (port: number) => ({ protocol: 'TCP', port });

/** DNS on any address: the cluster's resolver runs wherever the cluster put it. */
export const DNS_EGRESS = { ports: [{ protocol: 'UDP', port: 53 }, tcp(53)] };

/**
 * Ports of the API server's endpoints. It is no pod, so no selector names it, and policies
 * see the port after the `kubernetes` Service's translation: 6443 on most clusters, 443 on
 * some managed ones.
 */
export const DEFAULT_API_SERVER_PORTS: readonly number[] = [443, 6443];

/** Egress to the API server, for pods that watch it. */
export function apiServerEgress(ports: readonly number[] = DEFAULT_API_SERVER_PORTS): Json {
  return { ports: ports.map(tcp) };
}

export function peer(p: PeerSelector): Json {
  return {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': p.namespace } },
    podSelector: { matchLabels: { ...p.podLabels } },
  };
}

export class Network extends Construct {
  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const c = 'Network';
    checkTrenchName(c, props.trench);
    checkInt(c, 'apiPort', props.apiPort, 1, 65535);
    checkInt(c, 'apiMetricsPort', props.apiMetricsPort, 1, 65535);
    if (props.workerMetricsPort !== undefined) {
      checkInt(c, 'workerMetricsPort', props.workerMetricsPort, 1, 65535);
    }
    const t = props.trench;
    const labels = componentLabels('network', t, props.managedBy ?? DEFAULT_MANAGED_BY);
    const prometheus = peer(props.prometheus ?? DEFAULT_PROMETHEUS_PEER);
    const operator = peer(props.operator ?? DEFAULT_OPERATOR_PEER);
    const components = (...names: string[]) => ({
      podSelector: {
        matchLabels: { [LABEL_INSTANCE]: t },
        matchExpressions: [
          { key: LABEL_NAME, operator: 'In', values: names.map((n) => `trench-${n}`) },
        ],
      },
    });

    const dns = DNS_EGRESS;
    const toRedis =
      props.redis === 'managed'
        ? {
            to: [{ podSelector: { matchLabels: selectorLabels('redis', t) } }],
            ports: [tcp(REDIS_PORT)],
          }
        : { ports: [tcp(REDIS_PORT)] };
    const toPostgres =
      props.postgres === 'managed'
        ? {
            to: [{ podSelector: { matchLabels: selectorLabels('postgres', t) } }],
            ports: [tcp(POSTGRES_PORT)],
          }
        : { ports: [tcp(POSTGRES_PORT)] };
    const appEgress = [dns, toRedis, toPostgres];

    const policy = (id: string, name: string, podSelector: Json, spec: Json) =>
      new ApiObject(this, id, {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name, labels },
        spec: { podSelector, ...spec },
      });

    policy(
      'DefaultDeny',
      `${t}-default-deny`,
      { matchLabels: { [LABEL_INSTANCE]: t, [LABEL_PART_OF]: PART_OF } },
      { policyTypes: ['Ingress', 'Egress'] },
    );

    policy(
      'Api',
      `${t}-api`,
      { matchLabels: selectorLabels('api', t) },
      {
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          // Clients come from anywhere (ingress controllers, other namespaces).
          { ports: [tcp(props.apiPort)] },
          ...(props.apiMetricsPort !== props.apiPort
            ? [{ from: [prometheus], ports: [tcp(props.apiMetricsPort)] }]
            : []),
        ],
        egress: appEgress,
      },
    );

    policy(
      'Worker',
      `${t}-worker`,
      { matchLabels: selectorLabels('worker', t) },
      {
        policyTypes: ['Ingress', 'Egress'],
        ingress:
          props.workerMetricsPort === undefined
            ? []
            : [{ from: [prometheus], ports: [tcp(props.workerMetricsPort)] }],
        egress: appEgress,
      },
    );

    // Backup dumps and schema migrations run as Jobs created by the operator.
    policy('Jobs', `${t}-jobs`, components('backup', 'migration').podSelector, {
      policyTypes: ['Egress'],
      egress: appEgress,
    });

    if (props.redis === 'managed') {
      policy(
        'Redis',
        `${t}-redis`,
        { matchLabels: selectorLabels('redis', t) },
        {
          policyTypes: ['Ingress'],
          ingress: [
            {
              from: [components('api', 'worker', 'migration'), operator],
              ports: [tcp(REDIS_PORT)],
            },
          ],
        },
      );
    }
    if (props.postgres === 'managed') {
      policy(
        'Postgres',
        `${t}-postgres`,
        { matchLabels: selectorLabels('postgres', t) },
        {
          policyTypes: ['Ingress'],
          ingress: [
            {
              from: [components('api', 'worker', 'backup', 'migration')],
              ports: [tcp(POSTGRES_PORT)],
            },
          ],
        },
      );
    }
  }
}
