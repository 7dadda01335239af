// Offline checks of a Trench: the schema (types, bounds, patterns, required fields, unknown
// fields) and the same cross-field rules the API server runs as CEL. Used by `make render`,
// by synth for values.yaml, and by the operator before it renders a spec.

import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { maxIntervalSeconds } from '../lib/cron.js';
import { isObject } from '../lib/json.js';
import { TEMPLATE_VARIABLES, unknownVariables } from '../lib/metrics.js';
import { RULES, type Rule } from './kit.js';
import { isTrenchName, TRENCH_NAME_RULE, type TrenchSpec, TrenchSpecSchema } from './trench.js';

export interface Problem {
  /** Dotted path such as `spec.worker.scaling.minReplicas` or `spec.env[2].name`. */
  readonly path: string;
  readonly message: string;
}

/** Applies the schema defaults, as the API server does on create; never mutates its input. */
export function applyTrenchDefaults(spec: unknown): TrenchSpec {
  return Value.Default(TrenchSpecSchema, structuredClone(spec ?? {})) as TrenchSpec;
}

/** Every problem of a spec after defaulting; empty when the API server would accept it. */
export function validateTrenchSpec(spec: unknown): Problem[] {
  const defaulted = applyTrenchDefaults(spec);
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(TrenchSpecSchema, defaulted)) {
    const path = `spec${pointerToPath(error.path)}`;
    if (seen.has(path)) continue;
    seen.add(path);
    problems.push({ path, message: describe(error.message, error.value) });
  }
  walk(TrenchSpecSchema, defaulted, 'spec', problems);
  if (problems.length === 0) problems.push(...scheduleProblems(defaulted.backup.schedule));
  if (problems.length === 0) problems.push(...queryProblems(defaulted.rollout.analysis.metrics));
  return problems;
}

/** Analysis queries naming a template variable that does not exist. */
function queryProblems(metrics: readonly { name: string; query: string }[] | undefined): Problem[] {
  return (metrics ?? []).flatMap((m, i) => {
    const unknown = unknownVariables(m.query);
    return unknown.length === 0
      ? []
      : [
          {
            path: `spec.rollout.analysis.metrics[${i}].query`,
            message: `names unknown template variable(s) ${unknown.map((v) => `{{${v}}}`).join(', ')} (metric ${JSON.stringify(m.name)}); use ${TEMPLATE_VARIABLES.map((v) => `{{${v}}}`).join(', ')}`,
          },
        ];
  });
}

/**
 * What the CRD's pattern cannot see: a range that runs backwards, or a schedule that never
 * fires (30 February). Rendering needs the longest gap between runs for the backup alert.
 */
function scheduleProblems(schedule: string): Problem[] {
  try {
    maxIntervalSeconds(schedule);
    return [];
  } catch (error) {
    return [{ path: 'spec.backup.schedule', message: (error as Error).message }];
  }
}

export function validateTrenchName(name: unknown): Problem[] {
  if (typeof name !== 'string' || name.length === 0) {
    return [{ path: 'metadata.name', message: 'is required' }];
  }
  if (!isTrenchName(name)) {
    return [
      {
        path: 'metadata.name',
        message: `must be ${TRENCH_NAME_RULE} (got ${JSON.stringify(name)})`,
      },
    ];
  }
  return [];
}

function describe(message: string, value: unknown): string {
  if (value === undefined)
    return message === 'Expected required property' ? 'is required' : message;
  const shown = JSON.stringify(value);
  return `${message} (got ${shown && shown.length > 80 ? `${shown.slice(0, 77)}...` : shown})`;
}

function pointerToPath(pointer: string): string {
  if (pointer === '') return '';
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
    .join('');
}

// Unknown fields and CEL-equivalent rules; type errors were reported by Value.Errors.
function walk(schema: TSchema, value: unknown, path: string, out: Problem[]): void {
  if (value === undefined) return;
  const list = (schema as { [RULES]?: Rule<unknown>[] })[RULES];
  if (list) {
    for (const rule of list) {
      let ok = true;
      try {
        ok = rule.holds(value);
      } catch {
        // A value of the wrong shape already has a schema error; the rule cannot judge it.
      }
      if (!ok) {
        const at = rule.fieldPath ? `${path}${rule.fieldPath}` : path;
        out.push({ path: at, message: rule.message });
      }
    }
  }
  if (isObject(value) && schema.type === 'object') {
    const props = schema.properties as Record<string, TSchema> | undefined;
    const record = schema.patternProperties as Record<string, TSchema> | undefined;
    if (record) {
      const inner = Object.values(record)[0];
      if (inner) for (const [k, v] of Object.entries(value)) walk(inner, v, `${path}.${k}`, out);
      return;
    }
    if (schema['x-kubernetes-preserve-unknown-fields'] === true) return;
    for (const [k, v] of Object.entries(value)) {
      const inner = props?.[k];
      if (!inner) {
        out.push({ path: `${path}.${k}`, message: 'unknown field' });
        continue;
      }
      walk(inner, v, `${path}.${k}`, out);
    }
    return;
  }
  if (Array.isArray(value) && schema.type === 'array' && schema.items) {
    value.forEach((item, i) => {
      walk(schema.items as TSchema, item, `${path}[${i}]`, out);
    });
  }
}
