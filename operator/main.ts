// The Trench operator process. Configuration comes from the environment:
//   KUBECONFIG                 kubeconfig to use; in a pod, the service account
//   TRENCH_WATCH_NAMESPACE     watch one namespace only (default: all)
//   TRENCH_LEADER_ELECTION     "false" to lead at once (one local process); default true
//   TRENCH_LEASE_NAMESPACE     namespace of the Lease (default $POD_NAMESPACE, else trench-system)
//   TRENCH_WORKERS             concurrent reconciles (default 8)
//   TRENCH_METRICS_PORT        /metrics, /healthz, /readyz port (default 8080; 0 = any free port)
//   TRENCH_PROMETHEUS_OPERATOR "true" to render ServiceMonitor/PrometheusRule objects
//   TRENCH_NETWORK_POLICIES    "false" to render no NetworkPolicies
//   TRENCH_PROMETHEUS_NAMESPACE where the Prometheus that scrapes Trenches runs
//                              (default trench-monitoring); NetworkPolicies admit it
//   TRENCH_PROMETHEUS_URL      Prometheus for canary analysis of Trenches whose spec names none
//                              (default http://prometheus.<TRENCH_PROMETHEUS_NAMESPACE>.svc:9090)
//   POD_NAMESPACE              the operator's namespace (default trench-system); NetworkPolicies
//                              admit the operator from there to Redis
//   TRENCH_LOG_LEVEL           debug, info (default), warn, error
//   TRENCH_GRAFANA_ADMIN_SECRET <namespace>/<name> of Grafana's admin Secret, created at startup
//                              when missing and never overwritten (default empty: none)
// OperatorChart's Deployment sets these; keep the two lists the same.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import type { Trench } from '../charts/api/trench.js';
import { DEFAULT_OPERATOR_PEER, DEFAULT_PROMETHEUS_PEER } from '../charts/constructs/network.js';
import {
  type GrafanaAdminSecretRef,
  parseGrafanaAdminSecretRef,
} from '../charts/lib/grafana-admin.js';
import { backupController } from './backup/controller.js';
import { restoreController } from './backup/restore.js';
import { backupScheduler } from './backup/scheduler.js';
import { ensureGrafanaAdminSecretUntilDone } from './monitoring/grafana-admin.js';
import { registerThresholdMetrics } from './monitoring/thresholds.js';
import { registerRolloutMetrics } from './rollout/metrics.js';
import { SharedInformers } from './runtime/cache.js';
import { KubeClient } from './runtime/client.js';
import { createLogger, type Level } from './runtime/log.js';
import { Manager } from './runtime/manager.js';
import { createMetrics } from './runtime/metrics.js';
import type { KubeObject } from './runtime/types.js';
import { scalingController } from './scaling/setup.js';
import { TRENCH } from './trench/kinds.js';
import { trenchController } from './trench/setup.js';

export interface OperatorConfig {
  readonly namespace?: string;
  readonly leaderElection: boolean;
  readonly leaseNamespace: string;
  readonly workers: number;
  readonly port: number;
  readonly prometheusOperator: boolean;
  readonly networkPolicies: boolean;
  readonly prometheusNamespace: string;
  readonly prometheusUrl: string;
  readonly operatorNamespace: string;
  readonly logLevel: Level;
  readonly grafanaAdminSecret?: GrafanaAdminSecretRef;
}

/** Reads the configuration, naming the variable and value that are wrong. Pure. */
export function readConfig(env: NodeJS.ProcessEnv): OperatorConfig {
  const bool = (name: string, fallback: boolean) => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    if (v === 'true' || v === 'false') return v === 'true';
    throw new Error(`${name} must be "true" or "false", got ${JSON.stringify(v)}`);
  };
  const int = (name: string, fallback: number, min: number) => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
  const level = (v: string | undefined): Level => {
    if (v === undefined || v === '') return 'info';
    if (v === 'debug' || v === 'info' || v === 'warn' || v === 'error') return v;
    throw new Error(
      `TRENCH_LOG_LEVEL must be debug, info, warn or error, got ${JSON.stringify(v)}`,
    );
  };
  const grafanaAdminSecret = parseGrafanaAdminSecretRef(
    env.TRENCH_GRAFANA_ADMIN_SECRET ?? '',
    'TRENCH_GRAFANA_ADMIN_SECRET',
  );
  const prometheusNamespace = env.TRENCH_PROMETHEUS_NAMESPACE || DEFAULT_PROMETHEUS_PEER.namespace;
  const prometheusUrl = (v: string) => {
    if (!/^https?:\/\/[^/\s]+/.test(v))
      throw new Error(`TRENCH_PROMETHEUS_URL must be an http(s) URL, got ${JSON.stringify(v)}`);
    return v;
  };
  return {
    ...(env.TRENCH_WATCH_NAMESPACE ? { namespace: env.TRENCH_WATCH_NAMESPACE } : {}),
    ...(grafanaAdminSecret ? { grafanaAdminSecret } : {}),
    leaderElection: bool('TRENCH_LEADER_ELECTION', true),
    leaseNamespace: env.TRENCH_LEASE_NAMESPACE || env.POD_NAMESPACE || 'trench-system',
    workers: int('TRENCH_WORKERS', 8, 1),
    port: int('TRENCH_METRICS_PORT', 8080, 0),
    prometheusOperator: bool('TRENCH_PROMETHEUS_OPERATOR', false),
    networkPolicies: bool('TRENCH_NETWORK_POLICIES', true),
    prometheusNamespace,
    prometheusUrl: prometheusUrl(
      env.TRENCH_PROMETHEUS_URL || `http://prometheus.${prometheusNamespace}.svc:9090`,
    ),
    operatorNamespace: env.POD_NAMESPACE || DEFAULT_OPERATOR_PEER.namespace,
    logLevel: level(env.TRENCH_LOG_LEVEL),
  };
}

export async function runOperator(config: OperatorConfig, kc: KubeConfig) {
  const log = createLogger({ level: config.logLevel });
  const client = new KubeClient(kc);
  // One informer per kind for every controller of this process.
  const informers = new SharedInformers({
    client,
    log,
    ...(config.namespace ? { namespace: config.namespace } : {}),
  });
  const trench = trenchController({
    client,
    informers,
    log,
    workers: config.workers,
    prometheusUrl: config.prometheusUrl,
    render: {
      prometheusOperator: config.prometheusOperator,
      networkPolicies: config.networkPolicies,
      prometheus: { ...DEFAULT_PROMETHEUS_PEER, namespace: config.prometheusNamespace },
      operator: { ...DEFAULT_OPERATOR_PEER, namespace: config.operatorNamespace },
    },
  });
  const metrics = createMetrics();
  const scaling = scalingController({ client, informers, log, metrics });
  const backup = backupController({ client, informers, log, metrics });
  const schedule = backupScheduler({ client, informers, log });
  const restore = restoreController({ client, informers, log });
  const trenches = informers.informer<Trench & KubeObject>(TRENCH);
  registerThresholdMetrics(metrics.registry, () => trenches.list());
  registerRolloutMetrics(metrics.registry, () => trenches.list());
  const identity = `${process.env.POD_NAME ?? hostname()}-${randomBytes(4).toString('hex')}`;
  const manager = new Manager({
    client,
    informers: informers.all(),
    controllers: [trench.spec, scaling.spec, backup.spec, schedule.spec, restore.spec],
    metrics,
    leaderElection: config.leaderElection
      ? { namespace: config.leaseNamespace, name: 'trench-operator', identity }
      : false,
    port: config.port,
    log,
  });
  await manager.start();
  log.info('Started operator', { identity, ...config });
  // In the background: it waits for the monitoring namespace, which dist/ may apply later.
  if (config.grafanaAdminSecret) {
    void ensureGrafanaAdminSecretUntilDone(client, config.grafanaAdminSecret, { log });
  }
  return manager;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const config = readConfig(process.env);
    const kc = new KubeConfig();
    kc.loadFromDefault();
    const manager = await runOperator(config, kc);
    manager.installSignalHandlers();
  } catch (error) {
    console.error(
      JSON.stringify({
        time: new Date().toISOString(),
        level: 'error',
        msg: 'Failed to start operator',
        error: String(error),
      }),
    );
    process.exit(1);
  }
}
