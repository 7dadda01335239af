// Managed Redis for the BullMQ queues: one StatefulSet pod with append-only-file persistence
// on a volume claim, so queued jobs survive a restart, behind a Service for clients and the
// headless Service that governs the StatefulSet (per-pod DNS, not-ready pods listed). It
// requires a password from the Secret the operator generates, like Postgres.
import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import {
  checkImage,
  checkQuantity,
  checkTrenchName,
  componentLabels,
  DEFAULT_MANAGED_BY,
  type EnvVar,
  finishVolumeClaim,
  finishWorkload,
  governingService,
  type Labels,
  mergeResources,
  type Quantity,
  type ResourceRequirements,
  restrictedContainer,
  restrictedPod,
  secretEnv,
  selectorLabels,
  setServiceSelector,
  type TrenchComponentProps,
} from './common.js';

export const REDIS_PORT = 6379;
export const REDIS_USER = 999;
/** Key of the password in the `<trench>-redis` Secret the operator generates. */
export const REDIS_PASSWORD_KEY = 'password';
export const DEFAULT_REDIS_IMAGE = 'docker.io/library/redis:7.4.2';
// The AOF and snapshots live on the claim; ephemeral storage is logs only.
export const DEFAULT_REDIS_RESOURCES = {
  requests: { cpu: '100m', memory: '128Mi', 'ephemeral-storage': '64Mi' },
  limits: { cpu: '1', memory: '512Mi', 'ephemeral-storage': '512Mi' },
};

export interface RedisProps extends TrenchComponentProps {
  /** Redis image; it must run as uid 999 like the official one. @default DEFAULT_REDIS_IMAGE */
  readonly image?: string;
  /** Size of the data volume claim. @default '1Gi' */
  readonly storage?: Quantity;
  /** StorageClass of the claim. @default the cluster's default class */
  readonly storageClassName?: string;
  /** Merged key by key over DEFAULT_REDIS_RESOURCES. @default DEFAULT_REDIS_RESOURCES */
  readonly resources?: ResourceRequirements;
}

export class Redis extends Construct {
  /** `<trench>-redis`: the StatefulSet, the client Service and the operator's Secret. */
  public readonly name: string;
  public readonly secretName: string;
  public readonly podSelector: Labels;
  /** REDIS_PASSWORD and `REDIS_URL=redis://:$(REDIS_PASSWORD)@<trench>-redis:6379` for clients. */
  public readonly clientEnv: readonly EnvVar[];

  constructor(scope: Construct, id: string, props: RedisProps) {
    super(scope, id);
    const c = 'Redis';
    checkTrenchName(c, props.trench);
    const image = props.image ?? DEFAULT_REDIS_IMAGE;
    checkImage(c, 'image', image);
    const storage = props.storage ?? '1Gi';
    checkQuantity(c, 'storage', storage);
    const resources = mergeResources(c, 'resources', DEFAULT_REDIS_RESOURCES, props.resources);
    const labels = componentLabels('redis', props.trench, props.managedBy ?? DEFAULT_MANAGED_BY);

    this.name = `${props.trench}-redis`;
    this.secretName = this.name;
    this.podSelector = selectorLabels('redis', props.trench);
    // REDIS_PASSWORD precedes REDIS_URL: Kubernetes expands $(REDIS_PASSWORD) from earlier
    // entries. The operator generates URL-safe passwords, so the URL needs no escaping.
    this.clientEnv = [
      secretEnv('REDIS_PASSWORD', this.secretName, REDIS_PASSWORD_KEY),
      { name: 'REDIS_URL', value: `redis://:$(REDIS_PASSWORD)@${this.name}:${REDIS_PORT}` },
    ];

    // The client Service is headless as well: it has been since the first release and
    // clusterIP cannot change on an existing Service; with one pod, DNS gives its address.
    const service = new kplus.Service(this, 'Service', {
      metadata: { name: this.name, labels },
      clusterIP: 'None',
      ports: [{ name: 'redis', port: REDIS_PORT, targetPort: REDIS_PORT }],
    });
    setServiceSelector(service, this.podSelector);
    const headless = governingService(this, this.name, labels, this.podSelector, {
      name: 'redis',
      port: REDIS_PORT,
    });

    const sts = new kplus.StatefulSet(this, 'StatefulSet', {
      metadata: { name: this.name, labels },
      podMetadata: { labels },
      select: false,
      service: headless,
      replicas: 1,
      automountServiceAccountToken: false,
      securityContext: restrictedPod(REDIS_USER),
      terminationGracePeriod: Duration.seconds(30),
      containers: [
        {
          name: 'redis',
          image,
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          // AOF for durability of queued jobs; noeviction because BullMQ must never lose keys.
          // Kubernetes expands $(REDIS_PASSWORD) in args from the container's environment.
          args: [
            '--requirepass',
            '$(REDIS_PASSWORD)',
            '--appendonly',
            'yes',
            '--appendfsync',
            'everysec',
            '--dir',
            '/data',
            '--maxmemory-policy',
            'noeviction',
          ],
          ports: [{ name: 'redis', number: REDIS_PORT }],
          securityContext: restrictedContainer(REDIS_USER),
          readiness: kplus.Probe.fromCommand(['redis-cli', 'ping'], {
            periodSeconds: Duration.seconds(5),
          }),
          liveness: kplus.Probe.fromTcpSocket({
            port: REDIS_PORT,
            periodSeconds: Duration.seconds(10),
            failureThreshold: 6,
          }),
          startup: kplus.Probe.fromTcpSocket({ port: REDIS_PORT, failureThreshold: 30 }),
        },
      ],
    });
    sts.select(kplus.LabelSelector.of({ labels: this.podSelector }));
    finishWorkload(sts, {
      container: {
        env: [
          secretEnv('REDIS_PASSWORD', this.secretName, REDIS_PASSWORD_KEY),
          // redis-cli (the readiness probe) authenticates with this variable.
          secretEnv('REDISCLI_AUTH', this.secretName, REDIS_PASSWORD_KEY),
        ],
        resources,
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
      },
    });
    finishVolumeClaim(sts, labels, storage, props.storageClassName);
  }
}
