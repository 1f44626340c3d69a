// Non-finite numbers (NaN, +Infinity, -Infinity) as data. JSON has no literal for them, so the run format writes
// them as the strings "NaN", "Infinity" and "-Infinity" (the same spelling as protobuf's JSON mapping), and the
// dashboard's messages, which VS Code carries as JSON, do the same. Imported by the run-format reader, the dashboard
// host code and the webview: no vscode, node or DOM.

export type NonFiniteToken = 'NaN' | 'Infinity' | '-Infinity';
/** A number as JSON carries it: a finite number, or the token of a non-finite one. */
export type WireNumber = number | NonFiniteToken;

/** The number a JSON value stands for: a number, or a non-finite token; undefined for anything else (null too). */
export function decodeNumber(x: unknown): number | undefined {
  if (typeof x === 'number') return x;
  switch (x) {
    case 'NaN':
      return Number.NaN;
    case 'Infinity':
      return Number.POSITIVE_INFINITY;
    case '-Infinity':
      return Number.NEGATIVE_INFINITY;
    default:
      return undefined;
  }
}

/** The token of a non-finite number, undefined for a finite one. */
export function nonFiniteToken(v: number): NonFiniteToken | undefined {
  if (Number.isFinite(v)) return undefined;
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

export function encodeNumber(v: number): WireNumber {
  return nonFiniteToken(v) ?? v;
}

/** Encodes a list for JSON; returns the list itself when every value is finite (the common case: no copy). */
export function encodeNumbers(values: number[]): WireNumber[] {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) return values.map(encodeNumber);
  }
  return values;
}

/** Decodes a list that came over JSON; anything that is not a number or a token becomes NaN. */
export function decodeNumbers(values: readonly unknown[]): number[] {
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = decodeNumber(values[i]) ?? Number.NaN;
  return out;
}
