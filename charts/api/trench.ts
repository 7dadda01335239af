// The Trench API (playtrenches.xyz/v1alpha1): the one source of truth for the TypeScript
// types, the offline validation and the CRD schema. Edit here; `make synth` regenerates crds/.
import { type Static, Type } from '@sinclair/typebox';
import { Quantity, Resources, type Rule, rules, SecretKeyRef, StringEnum } from './kit.js';

export const GROUP = 'playtrenches.xyz';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/**
 * The longest Trench name: children are named `<trench>-<suffix>` and StatefulSet pods add
 * `-<ordinal>` plus a 10-character revision hash in a label, all under the 63-character limit.
 */
export const MAX_TRENCH_NAME = 40;

// Cron with five numeric fields, each value within its field's range: a subset of what croner
// (the operator's slot arithmetic) and charts/lib/cron.ts (the backup-age alert) both accept,
// checked by a property test. Names (MON, JAN), macros (@daily) and a step after a single
// number (`1/5`, which croner refuses) are left out. `[*]` rather than an escaped star: the
// pattern is also a CEL string literal.
const cronField = ([n, step]: readonly [string, string]) => {
  const item = `(([*]|${n}-${n})(/${step})?|${n})`;
  return `${item}(,${item})*`;
};
// [value, step]: a step is at most the field's largest value, as croner requires.
export const CRON_PATTERN = `^${(
  [
    ['[0-5]?[0-9]', '([1-9]|[1-5][0-9])'], // minute
    ['([01]?[0-9]|2[0-3])', '([1-9]|1[0-9]|2[0-3])'], // hour
    ['(0?[1-9]|[12][0-9]|3[01])', '([1-9]|[12][0-9]|3[01])'], // day of month
    ['(0?[1-9]|1[0-2])', '([1-9]|1[0-2])'], // month
    ['[0-7]', '[1-7]'], // day of week (0 and 7 are Sunday)
  ] as const
)
  .map((f) => `(${cronField(f)})`)
  .join(' +')}$`;
const cronRe = new RegExp(CRON_PATTERN);

const DURATION_PATTERN = '^([0-9]+(ms|s|m|h))+$';

const EnvVar = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 253 }),
  value: Type.Optional(Type.String()),
  valueFrom: Type.Optional(
    Type.Object(
      {},
      {
        'x-kubernetes-preserve-unknown-fields': true,
        description: 'As in core/v1 EnvVarSource (secretKeyRef, configMapKeyRef, fieldRef).',
      },
    ),
  ),
});

const EnvList = (what: string) =>
  Type.Array(EnvVar, {
    maxItems: 100,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
    description: `Extra environment variables for the ${what} containers.`,
  });

const EnvFromList = (what: string) =>
  Type.Array(
    Type.Object({
      prefix: Type.Optional(Type.String()),
      configMapRef: Type.Optional(Type.Object({ name: Type.String({ minLength: 1 }) })),
      secretRef: Type.Optional(Type.Object({ name: Type.String({ minLength: 1 }) })),
    }),
    { maxItems: 20, description: `ConfigMaps and Secrets exposed as env to the ${what}.` },
  );

export const ApiSpecSchema = Type.Object(
  {
    image: Type.String({ minLength: 1, maxLength: 512, description: 'API container image.' }),
    replicas: Type.Integer({ minimum: 0, maximum: 1000, default: 2 }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 3000 }),
    metricsPort: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 65535,
        description: 'Port serving metricsPath. Default: the API port.',
      }),
    ),
    healthPath: Type.String({
      pattern: '^/',
      maxLength: 256,
      default: '/health',
      description:
        'Readiness probe path. It may check the database and Redis: failing, it takes the pod out of the Service, nothing more.',
    }),
    livenessPath: Type.String({
      pattern: '^/',
      maxLength: 256,
      default: '/livez',
      description:
        'Liveness and startup probe path. It must answer 200 while the process can serve, whatever the database and Redis do: failing, it restarts the container, so one that checks them would restart every API pod during a database outage.',
    }),
    metricsPath: Type.String({ pattern: '^/', maxLength: 256, default: '/metrics' }),
    command: Type.Optional(Type.Array(Type.String(), { maxItems: 50 })),
    args: Type.Optional(Type.Array(Type.String(), { maxItems: 100 })),
    env: Type.Optional(EnvList('API')),
    envFrom: Type.Optional(EnvFromList('API')),
    resources: Type.Optional(
      Resources(
        'Merged key by key over the defaults: requests cpu 100m, memory 128Mi, ephemeral-storage 128Mi; limits cpu 1, memory 512Mi, ephemeral-storage 1Gi.',
      ),
    ),
  },
  { description: 'The HTTP API: a Deployment behind a Service.' },
);

const scalingRules: Rule<{ minReplicas: number; maxReplicas: number }>[] = [
  {
    rule: 'self.minReplicas <= self.maxReplicas',
    message: 'minReplicas must be less than or equal to maxReplicas',
    fieldPath: '.minReplicas',
    holds: (s) => s.minReplicas <= s.maxReplicas,
  },
];

export const WorkerSpecSchema = Type.Object(
  {
    image: Type.String({ minLength: 1, maxLength: 512, description: 'Worker container image.' }),
    command: Type.Optional(Type.Array(Type.String(), { maxItems: 50 })),
    args: Type.Optional(Type.Array(Type.String(), { maxItems: 100 })),
    concurrency: Type.Integer({ minimum: 1, maximum: 1000, default: 5 }),
    prefix: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        pattern: '^[A-Za-z0-9._-]+$',
        description:
          'BullMQ key prefix of the queues. Default: bull. Passed to the API and the workers as BULLMQ_PREFIX.',
      }),
    ),
    queues: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
      minItems: 1,
      maxItems: 50,
      'x-kubernetes-list-type': 'set',
      description: 'BullMQ queue names the workers consume and whose backlog drives scaling.',
    }),
    metricsPort: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 65535,
        description: 'Port where the worker serves /metrics. Default: not scraped.',
      }),
    ),
    terminationGracePeriodSeconds: Type.Integer({
      minimum: 30,
      maximum: 86400,
      default: 600,
      description: 'Time a stopping worker gets to finish its active jobs.',
    }),
    scaling: Type.Object(
      {
        minReplicas: Type.Integer({ minimum: 0, maximum: 1000, default: 1 }),
        maxReplicas: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
        targetBacklogPerReplica: Type.Integer({ minimum: 1, default: 100 }),
        pollIntervalSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 5 }),
        scaleDownStabilizationSeconds: Type.Integer({ minimum: 0, maximum: 86400, default: 300 }),
      },
      {
        default: {},
        description: 'Replica count is the operator’s, computed from queue backlog.',
        ...rules(...scalingRules),
      },
    ),
    env: Type.Optional(EnvList('worker')),
    envFrom: Type.Optional(EnvFromList('worker')),
    resources: Type.Optional(
      Resources(
        'Merged key by key over the defaults: requests cpu 100m, memory 128Mi, ephemeral-storage 128Mi; limits cpu 1, memory 512Mi, ephemeral-storage 1Gi.',
      ),
    ),
  },
  { description: 'BullMQ workers: a Deployment whose replicas the operator owns.' },
);

const External = Type.Object(
  { urlSecretRef: SecretKeyRef('Secret key holding the connection URL.') },
  { description: 'Use an existing server; nothing is deployed for it.' },
);

export const REDIS_MANAGED_FIELDS = ['storage', 'image', 'resources', 'storageClassName'] as const;
export const POSTGRES_MANAGED_FIELDS = [
  'storage',
  'image',
  'database',
  'resources',
  'storageClassName',
] as const;

function exclusiveExternal(
  what: string,
  managed: readonly string[],
): Rule<Record<string, unknown>> {
  return {
    rule: `!has(self.external) || !(${managed.map((f) => `has(self.${f})`).join(' || ')})`,
    message: `${what}: set either external or the managed fields (${managed.join(', ')}), not both`,
    holds: (s) => s.external === undefined || managed.every((f) => s[f] === undefined),
  };
}

export const RedisSpecSchema = Type.Object(
  {
    external: Type.Optional(External),
    storage: Type.Optional(Quantity({ description: 'Managed only. Default: 1Gi.' })),
    storageClassName: Type.Optional(Type.String({ description: 'Managed only.' })),
    image: Type.Optional(Type.String({ minLength: 1, description: 'Managed only.' })),
    resources: Type.Optional(
      Resources(
        'Managed only. Merged key by key over the defaults: requests cpu 100m, memory 128Mi, ephemeral-storage 64Mi; limits cpu 1, memory 512Mi, ephemeral-storage 512Mi.',
      ),
    ),
  },
  {
    default: {},
    description: 'Managed (a StatefulSet with AOF persistence) unless external is set.',
    ...rules(exclusiveExternal('spec.redis', REDIS_MANAGED_FIELDS)),
  },
);

export const PostgresSpecSchema = Type.Object(
  {
    external: Type.Optional(External),
    storage: Type.Optional(Quantity({ description: 'Managed only. Default: 10Gi.' })),
    storageClassName: Type.Optional(Type.String({ description: 'Managed only.' })),
    image: Type.Optional(Type.String({ minLength: 1, description: 'Managed only.' })),
    database: Type.Optional(
      Type.String({
        pattern: '^[a-z_][a-z0-9_]*$',
        maxLength: 63,
        description: 'Managed only. Default: trench.',
      }),
    ),
    resources: Type.Optional(
      Resources(
        'Managed only. Merged key by key over the defaults: requests cpu 250m, memory 256Mi, ephemeral-storage 128Mi; limits cpu 2, memory 1Gi, ephemeral-storage 1Gi.',
      ),
    ),
  },
  {
    default: {},
    description:
      'Managed (a StatefulSet; the operator creates its password Secret) unless external is set.',
    ...rules(exclusiveExternal('spec.postgres', POSTGRES_MANAGED_FIELDS)),
  },
);

const stepRules: Rule<{ setWeight?: number; pause?: object }>[] = [
  {
    rule: 'has(self.setWeight) != has(self.pause)',
    message: 'each spec.rollout.steps[] item sets exactly one of setWeight or pause',
    holds: (s) => (s.setWeight !== undefined) !== (s.pause !== undefined),
  },
];

const metricRules: Rule<{ max?: number; min?: number }>[] = [
  {
    rule: 'has(self.max) != has(self.min)',
    message: 'each spec.rollout.analysis.metrics[] item sets exactly one of max or min',
    holds: (s) => (s.max !== undefined) !== (s.min !== undefined),
  },
];

export const RolloutSpecSchema = Type.Object(
  {
    steps: Type.Optional(
      Type.Array(
        Type.Object(
          {
            setWeight: Type.Optional(
              Type.Integer({
                minimum: 0,
                maximum: 100,
                description: 'Percent of API traffic (pods) on the canary.',
              }),
            ),
            pause: Type.Optional(
              Type.Object(
                {
                  duration: Type.Optional(
                    Type.String({ pattern: DURATION_PATTERN, maxLength: 32 }),
                  ),
                },
                { description: 'Wait this long; without duration, wait for promote.' },
              ),
            ),
          },
          rules(...stepRules),
        ),
        {
          maxItems: 50,
          description: 'Canary steps for a new API image; none means a plain rolling update.',
        },
      ),
    ),
    analysis: Type.Object(
      {
        prometheusUrl: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048 })),
        intervalSeconds: Type.Integer({
          minimum: 1,
          maximum: 3600,
          default: 30,
          description:
            'Seconds between measurements, for the whole canary. Each is one query per metric; a failing release is caught at most this long after Prometheus shows it.',
        }),
        failureLimit: Type.Integer({
          minimum: 0,
          maximum: 100,
          default: 1,
          description: 'Consecutive failed measurements that abort (0 counts as 1).',
        }),
        metrics: Type.Optional(
          Type.Array(
            Type.Object(
              {
                name: Type.String({ minLength: 1, maxLength: 63 }),
                query: Type.String({ minLength: 1, maxLength: 4096 }),
                max: Type.Optional(Type.Number()),
                min: Type.Optional(Type.Number()),
              },
              rules(...metricRules),
            ),
            {
              maxItems: 20,
              'x-kubernetes-list-type': 'map',
              'x-kubernetes-list-map-keys': ['name'],
            },
          ),
        ),
      },
      { default: {} },
    ),
    trafficRouting: Type.Optional(
      Type.Object(
        {
          gatewayAPI: Type.Object({
            httpRoute: Type.String({
              pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
              maxLength: 253,
              description:
                "An HTTPRoute in the Trench namespace whose rules send to the Services <trench>-api-stable and <trench>-api-canary; the operator sets only those backendRefs' weights.",
            }),
          }),
        },
        {
          description:
            'Exact canary weights through the Gateway API. Without it, traffic follows ready pods (replica ratio).',
        },
      ),
    ),
    progressDeadlineSeconds: Type.Integer({ minimum: 30, maximum: 86400, default: 600 }),
    migration: Type.Optional(
      Type.Object(
        {
          command: Type.Array(Type.String(), { minItems: 1, maxItems: 50 }),
          backupFirst: Type.Boolean({ default: true }),
        },
        { description: 'A Job run with the new API image before the rollout starts.' },
      ),
    ),
  },
  { default: {} },
);

const retentionRules: Rule<{ daily: number; weekly: number; monthly: number }>[] = [
  {
    rule: 'self.daily + self.weekly + self.monthly > 0',
    message: 'spec.backup.retention must keep at least one backup (daily, weekly or monthly)',
    holds: (s) => s.daily + s.weekly + s.monthly > 0,
  },
];

const scheduleRules: Rule<string>[] = [
  {
    rule: `self.matches('${CRON_PATTERN}')`,
    message:
      "spec.backup.schedule must be a cron expression of 5 numeric fields within range (minute 0-59, hour 0-23, day-of-month 1-31, month 1-12, day-of-week 0-7), steps after * or a range, from 1 to the field's largest value",
    holds: (s) => cronRe.test(s),
  },
];

const verifyScheduleRules: Rule<string>[] = scheduleRules.map((r) => ({
  ...r,
  message: r.message.replace('spec.backup.schedule', 'spec.backup.verify.schedule'),
}));

export const BackupSpecSchema = Type.Object(
  {
    schedule: Type.String({ maxLength: 128, default: '0 3 * * *', ...rules(...scheduleRules) }),
    timeZone: Type.Optional(
      Type.String({
        maxLength: 64,
        pattern: '^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$',
        description:
          'IANA time zone the schedule is read in, as CronJob has (such as Europe/Berlin). @default UTC',
      }),
    ),
    startingDeadlineSeconds: Type.Integer({
      minimum: 60,
      maximum: 604800,
      default: 21600,
      description:
        'A slot missed while the operator was down is caught up (once, however many were missed) only within this many seconds of it: a dump 6 hours late beats none, a dump at the busiest hour may not.',
    }),
    suspend: Type.Boolean({
      default: false,
      description: 'Stop taking scheduled backups; nothing is deleted.',
    }),
    verify: Type.Object(
      {
        schedule: Type.String({
          maxLength: 128,
          default: '0 5 1 * *',
          description:
            'When to run a restore drill on the newest completed backup, read in timeZone. @default monthly, 05:00 on the 1st',
          ...rules(...verifyScheduleRules),
        }),
        suspend: Type.Boolean({
          default: false,
          description: 'Stop scheduled drills; kubectl trench verify still runs one.',
        }),
      },
      {
        default: {},
        description:
          'Restore drills: a Job restores a backup into a throwaway PostgreSQL in its own pod, reads every table and records the verdict on the TrenchBackup.',
      },
    ),
    retention: Type.Object(
      {
        daily: Type.Integer({ minimum: 0, maximum: 366, default: 7 }),
        weekly: Type.Integer({ minimum: 0, maximum: 520, default: 4 }),
        monthly: Type.Integer({ minimum: 0, maximum: 1200, default: 12 }),
      },
      { default: {}, ...rules(...retentionRules) },
    ),
    storage: Type.Object(
      {
        pvc: Type.Object(
          {
            size: Quantity({ default: '20Gi' }),
            storageClassName: Type.Optional(Type.String()),
          },
          { default: {} },
        ),
      },
      { default: {} },
    ),
  },
  { default: {}, description: 'Scheduled PostgreSQL dumps kept on a PVC.' },
);

type AlertLevelPair = Record<string, number>;

/** Each warning level at most its critical one, so a page never comes without its warning. */
const alertLevelRules: Rule<AlertLevelPair>[] = (
  [
    ['errorRateWarning', 'errorRate'],
    ['p95LatencySeconds', 'p95LatencySecondsCritical'],
    ['queueBacklogWarning', 'queueBacklog'],
    ['resourceUsage', 'resourceUsageCritical'],
  ] as const
).map(([warning, critical]) => ({
  rule: `self.${warning} <= self.${critical}`,
  message: `spec.monitoring.alerts.${warning} (warning) must be less than or equal to ${critical} (critical)`,
  fieldPath: `.${warning}`,
  holds: (s: AlertLevelPair) => (s[warning] ?? 0) <= (s[critical] ?? 0),
}));

const share = (fallback: number, description: string) =>
  Type.Number({ exclusiveMinimum: 0, maximum: 1, default: fallback, description });

export const MonitoringSpecSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description:
        'Scrape the Trench and alert on it; false exports no thresholds, so no rule matches it.',
    }),
    alerts: Type.Object(
      {
        errorRate: share(0.05, 'Share of 5xx responses over 2 minutes that pages (critical).'),
        errorRateWarning: share(
          0.01,
          'Share of 5xx responses over 2 minutes sent to chat (warning).',
        ),
        p95LatencySeconds: Type.Number({
          exclusiveMinimum: 0,
          default: 2,
          description: 'API p95 latency over 5 minutes sent to chat (warning).',
        }),
        p95LatencySecondsCritical: Type.Number({
          exclusiveMinimum: 0,
          default: 5,
          description: 'API p95 latency over 5 minutes that pages (critical).',
        }),
        queueBacklog: Type.Integer({
          minimum: 1,
          default: 1000,
          description: 'Jobs waiting in one queue that page (critical).',
        }),
        queueBacklogWarning: Type.Integer({
          minimum: 1,
          default: 500,
          description: 'Jobs waiting in one queue sent to chat (warning).',
        }),
        resourceUsage: share(
          0.8,
          "A container's CPU or memory use as a share of its limit sent to chat (warning).",
        ),
        resourceUsageCritical: share(
          0.95,
          "A container's CPU or memory use as a share of its limit that pages (critical).",
        ),
      },
      { default: {}, ...rules(...alertLevelRules) },
    ),
  },
  { default: {} },
);

export const TrenchSpecSchema = Type.Object(
  {
    api: ApiSpecSchema,
    worker: WorkerSpecSchema,
    redis: RedisSpecSchema,
    postgres: PostgresSpecSchema,
    rollout: RolloutSpecSchema,
    backup: BackupSpecSchema,
    monitoring: MonitoringSpecSchema,
  },
  { description: 'Desired state of one running copy of the product.' },
);

const Condition = Type.Object({
  type: Type.String({ maxLength: 316 }),
  status: StringEnum(['True', 'False', 'Unknown']),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
  lastTransitionTime: Type.String({ format: 'date-time' }),
  reason: Type.String({ maxLength: 1024 }),
  message: Type.String({ maxLength: 32768 }),
});

export const ConditionsSchema = Type.Array(Condition, {
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

const DataVolume = Type.Object({
  claim: Type.String({ description: 'PersistentVolumeClaim name.' }),
  uid: Type.String({ description: 'UID of the claim that holds the data.' }),
  replacedBy: Type.Optional(
    Type.String({
      description:
        'UID of the claim found in its place: the data is not on it. Cleared when acknowledged.',
    }),
  ),
});

/** One canary measurement, kept in a bounded history. */
const Measurement = Type.Object({
  time: Type.String({ format: 'date-time' }),
  verdict: Type.String({ enum: ['pass', 'fail', 'inconclusive'] }),
  detail: Type.String({ maxLength: 1024 }),
  revision: Type.Optional(Type.String()),
  values: Type.Optional(
    Type.Array(
      Type.Object({
        name: Type.String(),
        value: Type.Optional(Type.Number()),
        verdict: Type.String(),
      }),
      { maxItems: 20 },
    ),
  ),
});

/**
 * Everything the rollout needs to resume after a restart: the step, when it began, the
 * failures counted, the newest measurement and manual request handled.
 */
export const RolloutStatusSchema = Type.Object({
  phase: Type.Optional(
    Type.String({ description: 'Stable, Progressing, Paused, Promoting or Aborted.' }),
  ),
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  stableRevision: Type.Optional(Type.String()),
  canaryRevision: Type.Optional(Type.String()),
  stepIndex: Type.Optional(Type.Integer({ description: 'The current step, from 0.' })),
  step: Type.Optional(Type.String({ description: 'The current step of all, as 2/4.' })),
  stepStartedAt: Type.Optional(Type.String({ format: 'date-time' })),
  weight: Type.Optional(Type.Integer({ description: "The current step's weight." })),
  achievedWeight: Type.Optional(
    Type.Number({ description: "The canary's share of API pods (replica ratio), in percent." }),
  ),
  canaryReplicas: Type.Optional(
    Type.Object({ api: Type.Integer(), worker: Type.Optional(Type.Integer()) }),
  ),
  consecutiveFailures: Type.Optional(Type.Integer()),
  lastMeasurement: Type.Optional(Type.String({ format: 'date-time' })),
  inconclusive: Type.Optional(Type.String()),
  pausedByUser: Type.Optional(Type.Boolean()),
  lastRequest: Type.Optional(Type.String({ description: 'The newest manual request handled.' })),
  lastRequestResult: Type.Optional(
    Type.String({ description: 'What became of it: done, or why it was refused.' }),
  ),
  measurements: Type.Optional(Type.Array(Measurement, { maxItems: 10 })),
  route: Type.Optional(
    Type.Object(
      {
        name: Type.String(),
        stableWeight: Type.Integer(),
        canaryWeight: Type.Integer(),
        error: Type.Optional(Type.String()),
      },
      { description: 'The HTTPRoute weights last set (Gateway API traffic routing).' },
    ),
  ),
  migration: Type.Optional(
    Type.Object(
      {
        revision: Type.String(),
        phase: Type.String({ enum: ['BackingUp', 'Migrating', 'Succeeded', 'Failed'] }),
        backup: Type.Optional(Type.String({ description: 'The pre-migration TrenchBackup.' })),
        job: Type.Optional(Type.String({ description: 'The migration Job.' })),
        message: Type.String(),
      },
      { description: "The newest release's migration (spec.rollout.migration)." },
    ),
  ),
});

export const TrenchStatusSchema = Type.Object({
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64' })),
  phase: Type.Optional(
    Type.String({ description: 'Pending, Progressing, Ready, Degraded or Failed.' }),
  ),
  conditions: Type.Optional(ConditionsSchema),
  api: Type.Optional(
    Type.Object({
      replicas: Type.Optional(Type.Integer()),
      readyReplicas: Type.Optional(Type.Integer()),
      summary: Type.Optional(
        Type.String({
          description:
            '"<readyReplicas>/<replicas>" over stable and canary, for kubectl get; set by the operator.',
        }),
      ),
    }),
  ),
  worker: Type.Optional(
    Type.Object({
      replicas: Type.Optional(Type.Integer()),
      desiredReplicas: Type.Optional(Type.Integer()),
      backlog: Type.Optional(
        Type.Integer({
          format: 'int64',
          description:
            'Jobs waiting over all queues: wait + prioritized + paused + delayed jobs due.',
        }),
      ),
      active: Type.Optional(
        Type.Integer({ format: 'int64', description: 'Jobs running now over all queues.' }),
      ),
      lastScaleTime: Type.Optional(Type.String({ format: 'date-time' })),
      queues: Type.Optional(
        Type.Array(
          Type.Object({
            name: Type.String(),
            waiting: Type.Integer({ format: 'int64' }),
            active: Type.Integer({ format: 'int64' }),
            exists: Type.Boolean(),
            paused: Type.Optional(Type.Boolean()),
          }),
          { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'], maxItems: 50 },
        ),
      ),
      recommendations: Type.Optional(
        Type.Array(
          Type.Object({
            time: Type.String({ format: 'date-time' }),
            replicas: Type.Integer(),
          }),
          {
            maxItems: 1001,
            description:
              'The scale-down stabilization window: recommendations still in it, strictly decreasing, so a restarted operator honours it.',
          },
        ),
      ),
    }),
  ),
  rollout: Type.Optional(RolloutStatusSchema),
  volumes: Type.Optional(
    Type.Object(
      {
        postgres: Type.Optional(DataVolume),
        redis: Type.Optional(DataVolume),
      },
      {
        description:
          'The data claims of managed Postgres and Redis as first seen, so that a claim replaced by an empty one is noticed.',
      },
    ),
  ),
  backup: Type.Optional(
    Type.Object({
      lastSuccessfulBackup: Type.Optional(Type.String({ description: 'TrenchBackup name.' })),
      lastSuccessfulTime: Type.Optional(Type.String({ format: 'date-time' })),
      nextScheduleTime: Type.Optional(Type.String({ format: 'date-time' })),
      lastScheduleTime: Type.Optional(
        Type.String({
          format: 'date-time',
          description: 'The newest slot a backup was created for.',
        }),
      ),
      lastVerifyScheduleTime: Type.Optional(
        Type.String({
          format: 'date-time',
          description: 'The newest drill slot a restore drill was requested for.',
        }),
      ),
      nextVerifyTime: Type.Optional(Type.String({ format: 'date-time' })),
      lastVerification: Type.Optional(
        Type.Object(
          {
            backup: Type.String(),
            passed: Type.Boolean(),
            time: Type.String({ format: 'date-time' }),
            message: Type.Optional(Type.String()),
          },
          { description: 'The newest finished restore drill of this Trench.' },
        ),
      ),
    }),
  ),
});

// Children are Services, whose names must be DNS-1035 labels: a letter first.
export const TRENCH_NAME_PATTERN = '^[a-z]([-a-z0-9]*[a-z0-9])?$';
const trenchNameRe = new RegExp(TRENCH_NAME_PATTERN);

/** The one name rule, for the CRD's CEL, offline validation and the constructs alike. */
export const TRENCH_NAME_RULE = `at most ${MAX_TRENCH_NAME} characters, start with a letter and hold only a-z, 0-9 and '-'`;

export function isTrenchName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= MAX_TRENCH_NAME && trenchNameRe.test(name);
}

const trenchNameRules: Rule<{ metadata: { name: string } }>[] = [
  {
    rule: `size(self.metadata.name) <= ${MAX_TRENCH_NAME} && self.metadata.name.matches('${TRENCH_NAME_PATTERN}')`,
    message: `metadata.name must be ${TRENCH_NAME_RULE}, so that child names fit`,
    holds: (s) => isTrenchName(s.metadata.name),
  },
];

export const TrenchSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.String()),
    kind: Type.Optional(Type.String()),
    metadata: Type.Optional(Type.Object({})),
    spec: TrenchSpecSchema,
    status: Type.Optional(TrenchStatusSchema),
  },
  rules(...trenchNameRules),
);

/** A spec as the API server stores it: every default applied. */
export type TrenchSpec = Static<typeof TrenchSpecSchema>;
export type TrenchStatus = Static<typeof TrenchStatusSchema>;
export type ApiSpec = TrenchSpec['api'];
export type WorkerSpec = TrenchSpec['worker'];
export type RedisSpec = TrenchSpec['redis'];
export type PostgresSpec = TrenchSpec['postgres'];
export type RolloutSpec = TrenchSpec['rollout'];
export type BackupSpec = TrenchSpec['backup'];
export type MonitoringSpec = TrenchSpec['monitoring'];
export type Condition = Static<typeof Condition>;

export interface Trench {
  apiVersion: typeof API_VERSION;
  kind: 'Trench';
  metadata: { name: string; namespace: string; uid?: string; generation?: number };
  spec: TrenchSpec;
  status?: TrenchStatus;
}

export const TRENCH_PRINTER_COLUMNS = [
  { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
  { name: 'API', type: 'string', jsonPath: '.status.api.summary', description: 'ready/desired' },
  { name: 'Workers', type: 'integer', jsonPath: '.status.worker.replicas' },
  { name: 'Backlog', type: 'integer', jsonPath: '.status.worker.backlog' },
  { name: 'Step', type: 'string', jsonPath: '.status.rollout.step' },
  {
    name: 'Weight',
    type: 'number',
    jsonPath: '.status.rollout.achievedWeight',
    description: "the canary's share of API pods, in percent",
  },
  { name: 'Last Backup', type: 'date', jsonPath: '.status.backup.lastSuccessfulTime' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];
