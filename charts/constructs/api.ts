// The HTTP API: a Deployment (the stable track; the operator adds the canary's during a rollout,
// operator/rollout/tracks.ts), a Service with named http and metrics ports over both tracks,
// and a PodDisruptionBudget.
import { ApiObject, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import {
  check,
  checkImage,
  checkInt,
  checkPath,
  checkTrenchName,
  componentLabels,
  DEFAULT_MANAGED_BY,
  type EnvFromSource,
  type EnvVar,
  envFields,
  finishWorkload,
  LABEL_TRACK,
  type Labels,
  mergeResources,
  type ResourceRequirements,
  restrictedContainer,
  restrictedPod,
  scrapeAnnotations,
  selectorLabels,
  setServiceSelector,
  type TrenchComponentProps,
} from './common.js';

export const API_USER = 10001;
export const API_SERVICE_PORT = 80;
export const API_SERVICE_METRICS_PORT = 9090;
// Ephemeral storage holds the container's logs (the kubelet keeps up to 50Mi) and /tmp; the
// limit makes a runaway writer evict its own pod instead of filling the node's disk.
export const DEFAULT_API_RESOURCES = {
  requests: { cpu: '100m', memory: '128Mi', 'ephemeral-storage': '128Mi' },
  limits: { cpu: '1', memory: '512Mi', 'ephemeral-storage': '1Gi' },
};

export interface ApiProps extends TrenchComponentProps {
  /** Container image of the API (the stable track). */
  readonly image: string;
  /** Replicas of the stable Deployment. @default 2 */
  readonly replicas?: number;
  /** Port the API listens on. @default 3000 */
  readonly port?: number;
  /** Port serving metricsPath. @default the value of `port` */
  readonly metricsPort?: number;
  /**
   * Readiness probe path; it may check the database and Redis, since failing only takes the
   * pod out of the Service. @default '/health'
   */
  readonly healthPath?: string;
  /**
   * Liveness and startup probe path. It must not depend on anything downstream: a failing
   * liveness probe restarts the container, so one that checks the database would restart
   * every API pod during a database outage, and none would be left when it recovers.
   * @default '/livez'
   */
  readonly livenessPath?: string;
  /** Path Prometheus scrapes. @default '/metrics' */
  readonly metricsPath?: string;
  /** Container command. @default the image's entrypoint */
  readonly command?: readonly string[];
  /** Container args. @default the image's cmd */
  readonly args?: readonly string[];
  /** Extra env; wins over `connectionEnv` on the same name. @default none */
  readonly env?: readonly EnvVar[];
  /** ConfigMaps and Secrets as env. @default none */
  readonly envFrom?: readonly EnvFromSource[];
  /** Env that connects to Redis and Postgres, built by the chart. @default none */
  readonly connectionEnv?: readonly EnvVar[];
  /** Merged key by key over DEFAULT_API_RESOURCES. @default DEFAULT_API_RESOURCES */
  readonly resources?: ResourceRequirements;
  /**
   * Also a Service per track, `<trench>-api-stable` and `<trench>-api-canary`, for an HTTPRoute
   * to weigh (Gateway API traffic routing). @default false
   */
  readonly trackServices?: boolean;
  /** Seconds between SIGTERM-free preStop sleep and shutdown, for endpoint removal. @default 5 */
  readonly preStopSleepSeconds?: number;
}

export class Api extends Construct {
  /** `<trench>-api`: the Deployment, the Service and the PDB. */
  public readonly name: string;
  public readonly serviceHost: string;
  public readonly port: number;
  public readonly metricsPort: number;
  public readonly podSelector: Labels;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const c = 'Api';
    checkTrenchName(c, props.trench);
    checkImage(c, 'image', props.image);
    const replicas = props.replicas ?? 2;
    checkInt(c, 'replicas', replicas, 0, 1000);
    const port = props.port ?? 3000;
    checkInt(c, 'port', port, 1, 65535);
    const metricsPort = props.metricsPort ?? port;
    checkInt(c, 'metricsPort', metricsPort, 1, 65535);
    const healthPath = props.healthPath ?? '/health';
    checkPath(c, 'healthPath', healthPath);
    const livenessPath = props.livenessPath ?? '/livez';
    checkPath(c, 'livenessPath', livenessPath);
    checkPath(c, 'metricsPath', props.metricsPath ?? '/metrics');
    const preStop = props.preStopSleepSeconds ?? 5;
    checkInt(c, 'preStopSleepSeconds', preStop, 0, 300);
    const resources = mergeResources(c, 'resources', DEFAULT_API_RESOURCES, props.resources);
    const managedBy = props.managedBy ?? DEFAULT_MANAGED_BY;

    this.name = `${props.trench}-api`;
    this.serviceHost = this.name;
    this.port = port;
    this.metricsPort = metricsPort;
    this.podSelector = selectorLabels('api', props.trench);
    const labels = componentLabels('api', props.trench, managedBy);

    const deployment = (id: string, name: string, track: string, image: string, n: number) => {
      const trackLabels = { ...labels, [LABEL_TRACK]: track };
      const d = new kplus.Deployment(this, id, {
        metadata: { name, labels: trackLabels },
        podMetadata: {
          labels: trackLabels,
          annotations: scrapeAnnotations(metricsPort, props.metricsPath ?? '/metrics'),
        },
        select: false,
        replicas: n,
        // Never below the replicas asked for, also while a release rolls (a canary's
        // promotion included): a surge pod first, an old one removed once it is ready.
        strategy: kplus.DeploymentStrategy.rollingUpdate({
          maxSurge: kplus.PercentOrAbsolute.percent(25),
          maxUnavailable: kplus.PercentOrAbsolute.absolute(0),
        }),
        automountServiceAccountToken: false,
        securityContext: restrictedPod(API_USER),
        terminationGracePeriod: Duration.seconds(30 + preStop),
        containers: [
          {
            name: 'api',
            image,
            imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
            command: props.command ? [...props.command] : undefined,
            args: props.args ? [...props.args] : undefined,
            ports: [
              { name: 'http', number: port },
              ...(metricsPort !== port ? [{ name: 'metrics', number: metricsPort }] : []),
            ],
            securityContext: restrictedContainer(API_USER),
            // Readiness reacts within 15 s; liveness only after 60 s of a process that no
            // longer answers (timeouts of 5 s, so a busy event loop is not taken for a dead
            // one). Startup shares liveness's path: a pod started during a database outage
            // must wait in not-ready, not be restarted in a loop.
            readiness: kplus.Probe.fromHttpGet(healthPath, {
              port,
              periodSeconds: Duration.seconds(5),
              failureThreshold: 3,
            }),
            liveness: kplus.Probe.fromHttpGet(livenessPath, {
              port,
              periodSeconds: Duration.seconds(10),
              timeoutSeconds: Duration.seconds(5),
              failureThreshold: 6,
            }),
            startup: kplus.Probe.fromHttpGet(livenessPath, {
              port,
              periodSeconds: Duration.seconds(2),
              failureThreshold: 60,
            }),
            volumeMounts: [
              {
                path: '/tmp',
                volume: kplus.Volume.fromEmptyDir(this, `${id}Tmp`, 'tmp', {
                  sizeLimit: undefined,
                }),
              },
            ],
          },
        ],
      });
      d.select(kplus.LabelSelector.of({ labels: { ...this.podSelector, [LABEL_TRACK]: track } }));
      finishWorkload(d, {
        container: {
          // The port the probes and Service use, told to the app so the two cannot disagree.
          ...envFields(
            props.connectionEnv,
            [
              { name: 'PORT', value: String(port) },
              ...(metricsPort !== port
                ? [{ name: 'METRICS_PORT', value: String(metricsPort) }]
                : []),
            ],
            props.env,
          ),
          ...(props.envFrom?.length ? { envFrom: [...props.envFrom] } : {}),
          resources,
          lifecycle: { preStop: { sleep: { seconds: preStop } } },
        },
        pod: {
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: { ...this.podSelector, [LABEL_TRACK]: track } },
            },
          ],
        },
      });
      return d;
    };

    deployment('Deployment', this.name, 'stable', props.image, replicas);

    const service = new kplus.Service(this, 'Service', {
      metadata: { name: this.name, labels },
      type: kplus.ServiceType.CLUSTER_IP,
      ports: [
        { name: 'http', port: API_SERVICE_PORT, targetPort: port },
        { name: 'metrics', port: API_SERVICE_METRICS_PORT, targetPort: metricsPort },
      ],
    });
    setServiceSelector(service, this.podSelector);
    if (props.trackServices) {
      for (const track of ['stable', 'canary'] as const) {
        const trackService = new kplus.Service(this, `Service-${track}`, {
          metadata: { name: `${this.name}-${track}`, labels },
          type: kplus.ServiceType.CLUSTER_IP,
          ports: [{ name: 'http', port: API_SERVICE_PORT, targetPort: port }],
        });
        setServiceSelector(trackService, { ...this.podSelector, [LABEL_TRACK]: track });
      }
    }

    new ApiObject(this, 'Pdb', {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: this.name, labels },
      spec: {
        maxUnavailable: 1,
        selector: { matchLabels: this.podSelector },
        unhealthyPodEvictionPolicy: 'AlwaysAllow',
      },
    });
    check(true, c, 'trench', props.trench, '');
  }
}
