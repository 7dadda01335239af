// Kubernetes resource quantities ("500m", "1Gi", "1e3") as exact rationals, for the constructs'
// validation (positive, requests <= limits) and the operator's drift check, so that the value
// we asked for and the canonical form the API server stores ("0.5" -> "500m", "1024Mi" -> "1Gi")
// compare equal. Exact: BigInt numerator/denominator, no floating point.

export interface Rational {
  readonly num: bigint;
  readonly den: bigint;
}

const DECIMAL: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const BINARY: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

const PATTERN = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?\d+))?$/;

/** Parses a quantity string or number; undefined if it is not a valid quantity. */
export function parseQuantity(value: unknown): Rational | undefined {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return undefined;
    text = String(value);
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    return undefined;
  }
  const m = PATTERN.exec(text);
  if (!m) return undefined;
  const [, sign = '', digits = '', suffix, exp] = m;
  const [intPart = '', fracPart = ''] = digits.split('.');
  let num = BigInt((intPart || '0') + fracPart);
  let den = 10n ** BigInt(fracPart.length);
  if (sign === '-') num = -num;
  if (suffix !== undefined && suffix in BINARY) {
    num *= 2n ** BigInt(BINARY[suffix] ?? 0);
  } else {
    const e = exp !== undefined ? Number.parseInt(exp, 10) : (DECIMAL[suffix ?? ''] ?? 0);
    if (Math.abs(e) > 1000) return undefined;
    if (e >= 0) num *= 10n ** BigInt(e);
    else den *= 10n ** BigInt(-e);
  }
  return { num, den };
}

/** True when both parse as quantities of the same value. */
export function quantitiesEqual(a: unknown, b: unknown): boolean {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  return x !== undefined && y !== undefined && x.num * y.den === y.num * x.den;
}

/** -1, 0 or 1 as `a` is below, equal to or above `b`; undefined if either is not a quantity. */
export function compareQuantities(a: unknown, b: unknown): -1 | 0 | 1 | undefined {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  if (x === undefined || y === undefined) return undefined;
  // Denominators are positive powers of ten, so cross-multiplying keeps the order.
  const l = x.num * y.den;
  const r = y.num * x.den;
  return l < r ? -1 : l > r ? 1 : 0;
}
