// Small helpers over TypeBox so that one schema object serves three readers: the TypeScript
// types (Static<>), the TypeScript-side validation (Value.Errors), and the CRD's
// openAPIV3Schema (toOpenApi). Kubernetes wants structural schemas, so the helpers only build
// shapes that survive the trip: string enums instead of unions of literals, int-or-string
// quantities, and CEL rules carried as x-kubernetes-validations.
import {
  type SchemaOptions,
  type TLiteral,
  type TSchema,
  type TUnion,
  Type,
} from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** One CEL rule, kept next to the TypeScript predicate that mirrors it for offline checks. */
export interface CelRule {
  readonly rule: string;
  /** Shown by the API server after the field path; it names the field so users can find it. */
  readonly message: string;
  /** Optional path relative to the object the rule sits on, for the error's field path. */
  readonly fieldPath?: string;
}

/**
 * A cross-field rule: the CEL the API server runs, and the same rule in TypeScript so that
 * `make render` and synth refuse a bad spec before it ever reaches a cluster. The two sit
 * side by side so that a change to one is a change to the other; integration tests check the
 * CEL against a real API server and unit tests check the predicate.
 */
export interface Rule<T = never> extends CelRule {
  readonly holds: (self: T) => boolean;
}

/** Where a schema keeps its rules' TypeScript predicates; symbols never reach the CRD. */
export const RULES: unique symbol = Symbol.for('playtrenches.xyz/rules');

// biome-ignore lint/suspicious/noExplicitAny: rules are attached to schemas of any shape
export function rules(...list: Rule<any>[]): SchemaOptions {
  return {
    'x-kubernetes-validations': list.map(({ rule, message, fieldPath }) =>
      fieldPath === undefined ? { rule, message } : { rule, message, fieldPath },
    ),
    [RULES]: list,
  };
}

/** A string restricted to the given values; emitted as `enum` in the CRD. */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: SchemaOptions = {},
): TUnion<TLiteral<T[number]>[]> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as TUnion<TLiteral<T[number]>[]>;
}

/** A Kubernetes quantity such as `500m`, `1Gi` or `2`; int-or-string like core/v1 resources. */
export function Quantity(options: SchemaOptions = {}) {
  return Type.Union([Type.Integer(), Type.String({ pattern: QUANTITY_PATTERN })], {
    'x-kubernetes-int-or-string': true,
    ...options,
  });
}

// The apiserver's own quantity grammar, narrowed to what people write.
export const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

/** Requests and limits for one container, as in core/v1 ResourceRequirements. */
export function Resources(description: string) {
  return Type.Object(
    {
      requests: Type.Optional(Type.Record(Type.String(), Quantity())),
      limits: Type.Optional(Type.Record(Type.String(), Quantity())),
    },
    { description },
  );
}

export function SecretKeyRef(description: string) {
  return Type.Object(
    {
      name: Type.String({ minLength: 1, maxLength: 253, description: 'Secret name.' }),
      key: Type.String({ minLength: 1, maxLength: 253, description: 'Key in the Secret.' }),
    },
    { description },
  );
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Turns a TypeBox schema into plain JSON the CRD can carry: drops TypeBox's symbol keys and
 * `$id`, rewrites unions of string literals to `enum`, turns `Type.Record` into
 * `additionalProperties`, and leaves every `x-kubernetes-*` key and `default` as written.
 */
export function toOpenApi(schema: TSchema): Record<string, Json> {
  return convert(schema) as Record<string, Json>;
}

function convert(node: unknown): Json {
  if (Array.isArray(node)) return node.map(convert);
  if (node === null || typeof node !== 'object') return node as Json;
  const src = node as Record<string, unknown>;
  const literals = literalUnion(src);
  if (literals) {
    const { anyOf: _drop, ...rest } = src;
    return { ...pick(rest), type: 'string', enum: literals };
  }
  if (src['x-kubernetes-int-or-string'] === true && Array.isArray(src.anyOf)) {
    // Structural schemas allow exactly anyOf [{type: integer}, {type: string}] here; the
    // string branch's pattern moves up (it only constrains strings anyway).
    const { anyOf, ...rest } = src;
    const pattern = (anyOf as Record<string, unknown>[]).find((b) => b.pattern)?.pattern;
    return {
      ...pick(rest),
      anyOf: [{ type: 'integer' }, { type: 'string' }],
      ...(typeof pattern === 'string' ? { pattern } : {}),
    };
  }
  if (src.patternProperties && typeof src.patternProperties === 'object') {
    const { patternProperties, ...rest } = src;
    const values = Object.values(patternProperties as Record<string, unknown>);
    return { ...pick(rest), additionalProperties: convert(values[0]) };
  }
  return pick(src);
}

function pick(src: Record<string, unknown>): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const key of Object.keys(src)) {
    if (key === '$id') continue;
    // Record keys and object strictness are TypeBox notions with no structural equivalent.
    if (key === 'additionalProperties' && src[key] === false) continue;
    // JSON Schema draft 7 (TypeBox) has numeric exclusive bounds; OpenAPI 3.0 has booleans.
    if (
      (key === 'exclusiveMinimum' || key === 'exclusiveMaximum') &&
      typeof src[key] === 'number'
    ) {
      out[key === 'exclusiveMinimum' ? 'minimum' : 'maximum'] = src[key] as number;
      out[key] = true;
      continue;
    }
    // The API server checks a default against the schema (required fields, CEL rules) before
    // any nested default applies, so an object's default is written out in full.
    if (key === 'default' && src.type === 'object' && typeof src[key] === 'object') {
      out[key] = convert(Value.Default(src as TSchema, structuredClone(src[key])));
      continue;
    }
    // A field with a default is optional to the user; the API server fills it in. Listing it
    // as required would also make the parent's `default: {}` invalid.
    if (key === 'required' && Array.isArray(src[key]) && src.properties) {
      const props = src.properties as Record<string, Record<string, unknown>>;
      const required = (src[key] as string[]).filter((k) => props[k]?.default === undefined);
      if (required.length > 0) out[key] = required;
      continue;
    }
    // `Type.Object({})` means "an object"; an empty `properties` would say nothing more.
    if (key === 'properties' && Object.keys(src[key] as object).length === 0) continue;
    out[key] = convert(src[key]);
  }
  return out;
}

function literalUnion(src: Record<string, unknown>): string[] | undefined {
  const anyOf = src.anyOf;
  if (!Array.isArray(anyOf) || anyOf.length === 0) return undefined;
  const values: string[] = [];
  for (const branch of anyOf) {
    const b = branch as Record<string, unknown>;
    if (typeof b.const !== 'string') return undefined;
    values.push(b.const);
  }
  return values;
}
