// Plain-JSON helpers shared by the charts and the operator.

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep copy with object keys sorted and undefined dropped: byte-stable whatever built it. */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const v = value[key];
    if (v !== undefined) out[key] = canonical(v);
  }
  return out;
}

/** JSON with object keys sorted: the same value always serializes the same way. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonical(value) ?? null);
}
