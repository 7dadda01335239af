// BullMQ workers: a Deployment whose replica count belongs to the operator (it scales from
// queue backlog), so the manifest leaves spec.replicas out and GitOps never fights it.
import { ApiObject, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import {
  check,
  checkImage,
  checkInt,
  checkTrenchName,
  componentLabels,
  DEFAULT_MANAGED_BY,
  type EnvFromSource,
  type EnvVar,
  envFields,
  finish,
  finishWorkload,
  type Labels,
  mergeResources,
  type ResourceRequirements,
  restrictedContainer,
  restrictedPod,
  scrapeAnnotations,
  selectorLabels,
  type TrenchComponentProps,
} from './common.js';

export const WORKER_USER = 10001;
// As the API's: logs and /tmp, which jobs that build files (exports, reports) may use.
export const DEFAULT_WORKER_RESOURCES = {
  requests: { cpu: '100m', memory: '128Mi', 'ephemeral-storage': '128Mi' },
  limits: { cpu: '1', memory: '512Mi', 'ephemeral-storage': '1Gi' },
};
const QUEUE_NAME = /^[A-Za-z0-9._:-]+$/;

export interface WorkerProps extends TrenchComponentProps {
  /** Worker container image. */
  readonly image: string;
  /** BullMQ queues to consume; at least one. */
  readonly queues: readonly string[];
  /** Jobs run at once per pod, passed as TRENCH_WORKER_CONCURRENCY. @default 5 */
  readonly concurrency?: number;
  /** Container command. @default the image's entrypoint */
  readonly command?: readonly string[];
  /** Container args. @default the image's cmd */
  readonly args?: readonly string[];
  /** Port serving /metrics; when unset the workers are not scraped. @default none */
  readonly metricsPort?: number;
  /**
   * Time from SIGTERM to SIGKILL: a stopping worker closes its BullMQ worker, which waits
   * for the active jobs to finish. @default 600
   */
  readonly terminationGracePeriodSeconds?: number;
  /**
   * preStop sleep before SIGTERM: a short pause while the pod is marked terminating, so that
   * what watches pods (the operator's scaler, Prometheus) sees it leave before it stops taking
   * jobs. Draining is the grace period's job: the worker must handle SIGTERM by closing its
   * BullMQ worker, which stops fetching and waits for the active jobs. @default 5
   */
  readonly preStopSleepSeconds?: number;
  /** Extra env; wins over `connectionEnv`. @default none */
  readonly env?: readonly EnvVar[];
  /** ConfigMaps and Secrets as env. @default none */
  readonly envFrom?: readonly EnvFromSource[];
  /** Env that connects to Redis and Postgres, built by the chart. @default none */
  readonly connectionEnv?: readonly EnvVar[];
  /** Merged key by key over DEFAULT_WORKER_RESOURCES. @default DEFAULT_WORKER_RESOURCES */
  readonly resources?: ResourceRequirements;
}

export class Worker extends Construct {
  /** `<trench>-worker`: the Deployment and the PDB. */
  public readonly name: string;
  public readonly podSelector: Labels;
  public readonly metricsPort: number | undefined;

  constructor(scope: Construct, id: string, props: WorkerProps) {
    super(scope, id);
    const c = 'Worker';
    checkTrenchName(c, props.trench);
    checkImage(c, 'image', props.image);
    check(
      Array.isArray(props.queues) &&
        props.queues.length > 0 &&
        props.queues.every((q) => typeof q === 'string' && QUEUE_NAME.test(q)),
      c,
      'queues',
      props.queues,
      'must list at least one queue name of letters, digits and . _ : -',
    );
    const concurrency = props.concurrency ?? 5;
    checkInt(c, 'concurrency', concurrency, 1, 1000);
    if (props.metricsPort !== undefined) checkInt(c, 'metricsPort', props.metricsPort, 1, 65535);
    const grace = props.terminationGracePeriodSeconds ?? 600;
    checkInt(c, 'terminationGracePeriodSeconds', grace, 30, 86400);
    const preStop = props.preStopSleepSeconds ?? 5;
    checkInt(c, 'preStopSleepSeconds', preStop, 0, 300);
    check(
      preStop < grace,
      c,
      'preStopSleepSeconds',
      preStop,
      `must be below terminationGracePeriodSeconds ${grace}`,
    );
    const resources = mergeResources(c, 'resources', DEFAULT_WORKER_RESOURCES, props.resources);
    const managedBy = props.managedBy ?? DEFAULT_MANAGED_BY;

    this.name = `${props.trench}-worker`;
    this.podSelector = selectorLabels('worker', props.trench);
    this.metricsPort = props.metricsPort;
    const labels = componentLabels('worker', props.trench, managedBy);

    const deployment = new kplus.Deployment(this, 'Deployment', {
      metadata: { name: this.name, labels },
      podMetadata: {
        labels,
        annotations:
          props.metricsPort === undefined ? undefined : scrapeAnnotations(props.metricsPort),
      },
      select: false,
      automountServiceAccountToken: false,
      securityContext: restrictedPod(WORKER_USER),
      terminationGracePeriod: Duration.seconds(grace),
      // A surge pod per step: old pods drain for minutes, so waiting on them would stall.
      strategy: kplus.DeploymentStrategy.rollingUpdate({
        maxSurge: kplus.PercentOrAbsolute.absolute(1),
        maxUnavailable: kplus.PercentOrAbsolute.absolute(0),
      }),
      containers: [
        {
          name: 'worker',
          image: props.image,
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          command: props.command ? [...props.command] : undefined,
          args: props.args ? [...props.args] : undefined,
          ports:
            props.metricsPort === undefined
              ? undefined
              : [{ name: 'metrics', number: props.metricsPort }],
          // No startup probe: the workers serve no HTTP unless metricsPort is set.
          startup:
            props.metricsPort === undefined
              ? undefined
              : kplus.Probe.fromTcpSocket({ port: props.metricsPort, failureThreshold: 30 }),
          securityContext: restrictedContainer(WORKER_USER),
          volumeMounts: [{ path: '/tmp', volume: kplus.Volume.fromEmptyDir(this, 'Tmp', 'tmp') }],
        },
      ],
    });
    deployment.select(kplus.LabelSelector.of({ labels: this.podSelector }));
    finishWorkload(deployment, {
      container: {
        ...envFields(
          props.connectionEnv,
          [
            { name: 'TRENCH_WORKER_QUEUES', value: props.queues.join(',') },
            { name: 'TRENCH_WORKER_CONCURRENCY', value: String(concurrency) },
            ...(props.metricsPort === undefined
              ? []
              : [{ name: 'METRICS_PORT', value: String(props.metricsPort) }]),
          ],
          props.env,
        ),
        ...(props.envFrom?.length ? { envFrom: [...props.envFrom] } : {}),
        resources,
        lifecycle: { preStop: { sleep: { seconds: preStop } } },
      },
    });
    // The operator owns the replica count; with no replicas in the manifest a server-side
    // apply never resets it and an Argo CD sync shows no drift.
    finish(deployment, (m) => {
      delete m.spec.replicas;
    });

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
  }
}
