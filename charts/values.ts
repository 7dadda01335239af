// values.yaml: what `make synth` builds. Parsed and checked here, with errors that name the
// file and the field, before anything is rendered.
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseDocument } from 'yaml';
import { StringEnum } from './api/kit.js';
import { validateTrenchName, validateTrenchSpec } from './api/validate.js';
import { NAMESPACE_PATTERN } from './constructs/common.js';
import { AlertingSchema } from './lib/alertmanager.js';

const NAME = NAMESPACE_PATTERN;

export const ValuesSchema = Type.Object({
  operator: Type.Object({
    namespace: Type.String({ pattern: NAME, maxLength: 63, default: 'trench-system' }),
    image: Type.String({ minLength: 1 }),
    replicas: Type.Integer({ minimum: 1, maximum: 10, default: 2 }),
    logLevel: StringEnum(['debug', 'info', 'warn', 'error'], { default: 'info' }),
  }),
  prometheusOperator: Type.Boolean({ default: false }),
  networkPolicies: Type.Boolean({ default: true }),
  apiServerPorts: Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), {
    minItems: 1,
    maxItems: 10,
    default: [443, 6443],
  }),
  monitoring: Type.Object(
    {
      enabled: Type.Boolean({ default: true }),
      namespace: Type.String({ pattern: NAME, maxLength: 63, default: 'trench-monitoring' }),
      images: Type.Object(
        {
          prometheus: Type.Optional(Type.String({ minLength: 1 })),
          grafana: Type.Optional(Type.String({ minLength: 1 })),
          kubeStateMetrics: Type.Optional(Type.String({ minLength: 1 })),
          alertmanager: Type.Optional(Type.String({ minLength: 1 })),
        },
        { default: {} },
      ),
      grafana: Type.Object(
        {
          adminSecret: Type.String({
            pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
            maxLength: 253,
            default: 'grafana-admin',
          }),
        },
        { default: {} },
      ),
    },
    { default: {} },
  ),
  alerting: AlertingSchema,
  environments: Type.Array(
    Type.Object({
      name: Type.String({ minLength: 1 }),
      namespace: Type.String({ pattern: NAME, maxLength: 63 }),
      spec: Type.Unknown(),
    }),
    { default: [] },
  ),
});

export type Values = Static<typeof ValuesSchema>;

export class ValuesError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file} is invalid:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ValuesError';
  }
}

function pointerToPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '');
}

/** Parses and checks values.yaml text; `file` only names the source in errors. */
export function parseValues(text: string, file: string): Values {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ValuesError(
      file,
      doc.errors.map(
        (e) => `line ${(e.linePos?.[0]?.line ?? 0).toString()}: ${e.message.split('\n')[0]}`,
      ),
    );
  }
  const raw = doc.toJS() ?? {};
  const values = Value.Default(ValuesSchema, structuredClone(raw)) as Values;
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const e of Value.Errors(ValuesSchema, values)) {
    const path = pointerToPath(e.path) || '(root)';
    if (seen.has(path)) continue;
    seen.add(path);
    problems.push(
      `${path}: ${e.message}${e.value === undefined ? '' : ` (got ${JSON.stringify(e.value)})`}`,
    );
  }
  if (problems.length === 0) {
    const names = new Set<string>();
    values.environments.forEach((env, i) => {
      const at = `environments[${i}]`;
      const key = `${env.namespace}/${env.name}`;
      if (names.has(key)) problems.push(`${at}: duplicate Trench ${key}`);
      names.add(key);
      for (const p of validateTrenchName(env.name)) problems.push(`${at}.name: ${p.message}`);
      for (const p of validateTrenchSpec(env.spec)) problems.push(`${at}.${p.path}: ${p.message}`);
    });
  }
  if (problems.length > 0) throw new ValuesError(file, problems);
  return values;
}
