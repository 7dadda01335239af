// Managed PostgreSQL: one StatefulSet pod on a volume claim behind a Service for clients and
// the headless Service that governs the StatefulSet (per-pod DNS). The password
// lives in the Secret `<trench>-postgres` (key `password`), which the operator generates once;
// these manifests only reference it.
import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import {
  check,
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

export const POSTGRES_PORT = 5432;
export const POSTGRES_USER_ID = 999;
export const POSTGRES_USER = 'trench';
export const POSTGRES_PASSWORD_KEY = 'password';
export const DEFAULT_POSTGRES_IMAGE = 'docker.io/library/postgres:16.6';
// Data and temporary sort files live on the claim; ephemeral storage is logs, the socket
// directory and /tmp.
/**
 * PG* variables and DATABASE_URL for clients of a Trench's managed Postgres (its API, worker
 * and backup Jobs); the password comes from the Secret.
 */
export function postgresClientEnv(trench: string, database: string): EnvVar[] {
  const host = `${trench}-postgres`;
  // PGPASSWORD precedes DATABASE_URL: Kubernetes expands $(PGPASSWORD) from earlier entries.
  // The operator generates URL-safe passwords, so the URL needs no escaping.
  return [
    { name: 'PGHOST', value: host },
    { name: 'PGPORT', value: String(POSTGRES_PORT) },
    { name: 'PGDATABASE', value: database },
    { name: 'PGUSER', value: POSTGRES_USER },
    secretEnv('PGPASSWORD', host, POSTGRES_PASSWORD_KEY),
    {
      name: 'DATABASE_URL',
      value: `postgres://${POSTGRES_USER}:$(PGPASSWORD)@${host}:${POSTGRES_PORT}/${database}`,
    },
  ];
}

export const DEFAULT_POSTGRES_RESOURCES = {
  requests: { cpu: '250m', memory: '256Mi', 'ephemeral-storage': '128Mi' },
  limits: { cpu: '2', memory: '1Gi', 'ephemeral-storage': '1Gi' },
};
const DATA_DIR = '/var/lib/postgresql/data';

export interface PostgresProps extends TrenchComponentProps {
  /** Postgres image; it must run as uid 999 like the official one. @default DEFAULT_POSTGRES_IMAGE */
  readonly image?: string;
  /** Database created on first start. @default 'trench' */
  readonly database?: string;
  /** Size of the data volume claim. @default '10Gi' */
  readonly storage?: Quantity;
  /** StorageClass of the claim. @default the cluster's default class */
  readonly storageClassName?: string;
  /** Merged key by key over DEFAULT_POSTGRES_RESOURCES. @default DEFAULT_POSTGRES_RESOURCES */
  readonly resources?: ResourceRequirements;
}

export class Postgres extends Construct {
  /** `<trench>-postgres`: the StatefulSet, the client Service and the operator's Secret. */
  public readonly name: string;
  public readonly secretName: string;
  public readonly database: string;
  public readonly podSelector: Labels;
  /** PG* variables and DATABASE_URL for clients; the password comes from the Secret. */
  public readonly clientEnv: readonly EnvVar[];

  constructor(scope: Construct, id: string, props: PostgresProps) {
    super(scope, id);
    const c = 'Postgres';
    checkTrenchName(c, props.trench);
    const image = props.image ?? DEFAULT_POSTGRES_IMAGE;
    checkImage(c, 'image', image);
    const storage = props.storage ?? '10Gi';
    checkQuantity(c, 'storage', storage);
    const database = props.database ?? 'trench';
    check(
      /^[a-z_][a-z0-9_]{0,62}$/.test(database),
      c,
      'database',
      database,
      'must be a lower-case SQL identifier of at most 63 characters',
    );
    const resources = mergeResources(c, 'resources', DEFAULT_POSTGRES_RESOURCES, props.resources);
    const labels = componentLabels('postgres', props.trench, props.managedBy ?? DEFAULT_MANAGED_BY);

    this.name = `${props.trench}-postgres`;
    this.secretName = this.name;
    this.database = database;
    this.podSelector = selectorLabels('postgres', props.trench);
    this.clientEnv = postgresClientEnv(props.trench, database);

    const service = new kplus.Service(this, 'Service', {
      metadata: { name: this.name, labels },
      ports: [{ name: 'postgres', port: POSTGRES_PORT, targetPort: POSTGRES_PORT }],
    });
    setServiceSelector(service, this.podSelector);
    const headless = governingService(this, this.name, labels, this.podSelector, {
      name: 'postgres',
      port: POSTGRES_PORT,
    });

    const pgIsReady = ['pg_isready', '-h', '127.0.0.1', '-U', POSTGRES_USER, '-d', database];
    const sts = new kplus.StatefulSet(this, 'StatefulSet', {
      metadata: { name: this.name, labels },
      podMetadata: { labels },
      select: false,
      service: headless,
      replicas: 1,
      automountServiceAccountToken: false,
      securityContext: restrictedPod(POSTGRES_USER_ID),
      // Time for a clean shutdown checkpoint, so the next start needs no crash recovery.
      terminationGracePeriod: Duration.seconds(120),
      containers: [
        {
          name: 'postgres',
          image,
          imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
          ports: [{ name: 'postgres', number: POSTGRES_PORT }],
          securityContext: restrictedContainer(POSTGRES_USER_ID),
          readiness: kplus.Probe.fromCommand(pgIsReady, { periodSeconds: Duration.seconds(5) }),
          liveness: kplus.Probe.fromTcpSocket({
            port: POSTGRES_PORT,
            periodSeconds: Duration.seconds(10),
            failureThreshold: 6,
          }),
          startup: kplus.Probe.fromCommand(pgIsReady, {
            periodSeconds: Duration.seconds(5),
            failureThreshold: 60,
          }),
          volumeMounts: [
            { path: '/var/run/postgresql', volume: kplus.Volume.fromEmptyDir(this, 'Run', 'run') },
            { path: '/tmp', volume: kplus.Volume.fromEmptyDir(this, 'Tmp', 'tmp') },
          ],
        },
      ],
    });
    sts.select(kplus.LabelSelector.of({ labels: this.podSelector }));
    finishWorkload(sts, {
      container: {
        env: [
          { name: 'POSTGRES_USER', value: POSTGRES_USER },
          { name: 'POSTGRES_DB', value: database },
          secretEnv('POSTGRES_PASSWORD', this.secretName, POSTGRES_PASSWORD_KEY),
          // A subdirectory: initdb refuses a mount point that holds lost+found.
          { name: 'PGDATA', value: `${DATA_DIR}/pgdata` },
        ],
        resources,
        volumeMounts: [
          { name: 'run', mountPath: '/var/run/postgresql' },
          { name: 'tmp', mountPath: '/tmp' },
          { name: 'data', mountPath: DATA_DIR },
        ],
      },
    });
    finishVolumeClaim(sts, labels, storage, props.storageClassName);
  }
}
