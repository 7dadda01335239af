// Where alerts go: Alertmanager's routes and receivers, as a plain config file for the bundled
// Alertmanager and as an AlertmanagerConfig for the Prometheus Operator. Pure.
//
// Critical alerts go to the paging receiver, warnings to the chat receiver, grouped by
// namespace and trench; a Trench's warning is inhibited while the same alert is critical.
// Every credential is a key of a Secret the user names: the bundled Alertmanager mounts it
// as a file and the config names the file (`*_file`), so no secret value is in dist/.
import { type Static, Type } from '@sinclair/typebox';

const SecretKey = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253 }),
    key: Type.String({ pattern: '^[-._a-zA-Z0-9]+$', maxLength: 253 }),
  },
  { additionalProperties: false },
);
export type SecretKey = Static<typeof SecretKey>;

export const ReceiverSchema = Type.Object(
  {
    /** Slack incoming webhook; Discord takes the same payload at `<its webhook URL>/slack`. */
    slack: Type.Optional(
      Type.Object(
        { webhookUrl: SecretKey, channel: Type.Optional(Type.String({ minLength: 1 })) },
        { additionalProperties: false },
      ),
    ),
    pagerduty: Type.Optional(
      Type.Object({ routingKey: SecretKey }, { additionalProperties: false }),
    ),
    email: Type.Optional(
      Type.Object(
        {
          to: Type.String({ minLength: 3 }),
          from: Type.String({ minLength: 3 }),
          /** host:port of the SMTP server. */
          smarthost: Type.String({ pattern: '^[^:\\s]+:[0-9]{1,5}$' }),
          username: Type.Optional(Type.String({ minLength: 1 })),
          password: Type.Optional(SecretKey),
          requireTls: Type.Boolean({ default: true }),
        },
        { additionalProperties: false },
      ),
    ),
    telegram: Type.Optional(
      Type.Object({ botToken: SecretKey, chatId: Type.Integer() }, { additionalProperties: false }),
    ),
    /** Any HTTP endpoint taking Alertmanager's webhook JSON; an optional bearer token. */
    webhook: Type.Optional(
      Type.Object(
        { url: Type.String({ pattern: '^https?://[^\\s]+$' }), token: Type.Optional(SecretKey) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, default: {} },
);
export type Receiver = Static<typeof ReceiverSchema>;

export const AlertingSchema = Type.Object(
  {
    runbookUrl: Type.String({
      pattern: '^https?://[^\\s#]+$',
      default: 'https://github.com/playtrenches/trench/blob/main/docs/runbooks.md',
    }),
    /** severity=critical. */
    paging: ReceiverSchema,
    /** severity=warning. */
    chat: ReceiverSchema,
  },
  { additionalProperties: false, default: {} },
);
export type Alerting = Static<typeof AlertingSchema>;

export const PAGING = 'paging';
export const CHAT = 'chat';
/** Receives what matches no route, and stands in for a receiver with no channel. */
export const NOWHERE = 'nowhere';

/**
 * How long a group waits before its first notification, between notifications of a changed
 * group (new or resolved alerts) and before repeating an unchanged one. A page goes out 10 s
 * after the first alert of its group and its resolution within a minute; chat batches more.
 */
export const TIMING = {
  paging: { group_wait: '10s', group_interval: '1m', repeat_interval: '4h' },
  chat: { group_wait: '30s', group_interval: '5m', repeat_interval: '24h' },
} as const;

export const GROUP_BY = ['namespace', 'trench'];
/**
 * A warning is hidden while a critical alert of the same name fires for the same Trench, and
 * for the same queue, pod or container where the alert has one: a label neither alert has
 * counts as equal, so a container at 96 % does not hide another at 85 %.
 */
export const INHIBIT_EQUAL = ['alertname', 'namespace', 'trench', 'queue', 'pod', 'container'];

/** Where the bundled Alertmanager finds a Secret key: one directory per Secret. */
export function secretPath(dir: string, ref: SecretKey): string {
  return `${dir}/${ref.name}/${ref.key}`;
}

/** Every Secret key the receivers name, once each, sorted. */
export function secretKeysOf(alerting: Alerting): SecretKey[] {
  const refs = [alerting.paging, alerting.chat].flatMap((r) =>
    [
      r.slack?.webhookUrl,
      r.pagerduty?.routingKey,
      r.email?.password,
      r.telegram?.botToken,
      r.webhook?.token,
    ].filter((x): x is SecretKey => x !== undefined),
  );
  const seen = new Map(refs.map((r) => [`${r.name}/${r.key}`, r]));
  return [...seen.keys()].sort().map((k) => seen.get(k) as SecretKey);
}

function hasChannel(r: Receiver): boolean {
  return Object.values(r).some((v) => v !== undefined);
}

function receiverFile(name: string, r: Receiver, dir: string): Record<string, unknown> {
  const file = (ref: SecretKey) => secretPath(dir, ref);
  return {
    name,
    ...(r.slack
      ? {
          slack_configs: [
            {
              api_url_file: file(r.slack.webhookUrl),
              ...(r.slack.channel ? { channel: r.slack.channel } : {}),
              send_resolved: true,
              title:
                '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} {{ .GroupLabels.namespace }}/{{ .GroupLabels.trench }}',
              text: '{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.runbook_url }}\n{{ end }}',
            },
          ],
        }
      : {}),
    ...(r.pagerduty
      ? {
          pagerduty_configs: [
            { routing_key_file: file(r.pagerduty.routingKey), send_resolved: true },
          ],
        }
      : {}),
    ...(r.email
      ? {
          email_configs: [
            {
              to: r.email.to,
              from: r.email.from,
              smarthost: r.email.smarthost,
              require_tls: r.email.requireTls,
              ...(r.email.username ? { auth_username: r.email.username } : {}),
              ...(r.email.password ? { auth_password_file: file(r.email.password) } : {}),
              send_resolved: true,
            },
          ],
        }
      : {}),
    ...(r.telegram
      ? {
          telegram_configs: [
            // bot_token_file needs Alertmanager 0.26 or later.
            {
              bot_token_file: file(r.telegram.botToken),
              chat_id: r.telegram.chatId,
              send_resolved: true,
            },
          ],
        }
      : {}),
    ...(r.webhook
      ? {
          webhook_configs: [
            {
              url: r.webhook.url,
              send_resolved: true,
              ...(r.webhook.token
                ? { http_config: { authorization: { credentials_file: file(r.webhook.token) } } }
                : {}),
            },
          ],
        }
      : {}),
  };
}

/** alertmanager.yml for the bundled Alertmanager; Secret keys are files under `secretsDir`. */
export function alertmanagerConfig(
  alerting: Alerting,
  secretsDir: string,
): Record<string, unknown> {
  const paging = hasChannel(alerting.paging) ? PAGING : NOWHERE;
  const chat = hasChannel(alerting.chat) ? CHAT : NOWHERE;
  return {
    route: {
      receiver: chat,
      group_by: GROUP_BY,
      ...TIMING.chat,
      routes: [
        { receiver: paging, matchers: ['severity="critical"'], ...TIMING.paging },
        { receiver: chat, matchers: ['severity="warning"'], ...TIMING.chat },
      ],
    },
    inhibit_rules: [
      {
        source_matchers: ['severity="critical"'],
        target_matchers: ['severity="warning"'],
        equal: INHIBIT_EQUAL,
      },
    ],
    receivers: [
      { name: NOWHERE },
      ...(paging === PAGING ? [receiverFile(PAGING, alerting.paging, secretsDir)] : []),
      ...(chat === CHAT ? [receiverFile(CHAT, alerting.chat, secretsDir)] : []),
    ],
  };
}

const ref = (s: SecretKey) => ({ name: s.name, key: s.key });

function receiverCr(name: string, r: Receiver): Record<string, unknown> {
  return {
    name,
    ...(r.slack
      ? {
          slackConfigs: [
            {
              apiURL: ref(r.slack.webhookUrl),
              ...(r.slack.channel ? { channel: r.slack.channel } : {}),
              sendResolved: true,
            },
          ],
        }
      : {}),
    ...(r.pagerduty
      ? { pagerdutyConfigs: [{ routingKey: ref(r.pagerduty.routingKey), sendResolved: true }] }
      : {}),
    ...(r.email
      ? {
          emailConfigs: [
            {
              to: r.email.to,
              from: r.email.from,
              smarthost: r.email.smarthost,
              requireTLS: r.email.requireTls,
              ...(r.email.username ? { authUsername: r.email.username } : {}),
              ...(r.email.password ? { authPassword: ref(r.email.password) } : {}),
              sendResolved: true,
            },
          ],
        }
      : {}),
    ...(r.telegram
      ? {
          telegramConfigs: [
            { botToken: ref(r.telegram.botToken), chatID: r.telegram.chatId, sendResolved: true },
          ],
        }
      : {}),
    ...(r.webhook
      ? {
          webhookConfigs: [
            {
              url: r.webhook.url,
              sendResolved: true,
              ...(r.webhook.token
                ? { httpConfig: { authorization: { credentials: ref(r.webhook.token) } } }
                : {}),
            },
          ],
        }
      : {}),
  };
}

/** The spec of an AlertmanagerConfig (monitoring.coreos.com/v1alpha1); Secrets in its namespace. */
export function alertmanagerConfigSpec(alerting: Alerting): Record<string, unknown> {
  const paging = hasChannel(alerting.paging) ? PAGING : NOWHERE;
  const chat = hasChannel(alerting.chat) ? CHAT : NOWHERE;
  const eq = (value: string) => [{ name: 'severity', value, matchType: '=' }];
  const camel = (t: (typeof TIMING)[keyof typeof TIMING]) => ({
    groupWait: t.group_wait,
    groupInterval: t.group_interval,
    repeatInterval: t.repeat_interval,
  });
  return {
    route: {
      receiver: chat,
      groupBy: GROUP_BY,
      ...camel(TIMING.chat),
      routes: [
        { receiver: paging, matchers: eq('critical'), ...camel(TIMING.paging) },
        { receiver: chat, matchers: eq('warning'), ...camel(TIMING.chat) },
      ],
    },
    inhibitRules: [
      { sourceMatch: eq('critical'), targetMatch: eq('warning'), equal: INHIBIT_EQUAL },
    ],
    receivers: [
      { name: NOWHERE },
      ...(paging === PAGING ? [receiverCr(PAGING, alerting.paging)] : []),
      ...(chat === CHAT ? [receiverCr(CHAT, alerting.chat)] : []),
    ],
  };
}
