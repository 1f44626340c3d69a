// trapo-run/1.1's per-token statistics (`token_stats`: parallel arrays, trainer/trapo/token_stats.py) read back as
// trapo-run/1's per-token objects, so that every consumer (rollout documents, hovers) sees one shape. No `vscode`.
//
// logprob and entropy are little-endian float16 in base64; text_len counts Unicode code points of prefix +
// completion per token (0 for a token not in that text, whose own text may be in `special`); `text`, when present,
// lists every token's text instead.
import type { TokenInfo } from './runFormat';

export interface TokenStats {
  n: number;
  prefix: number;
  text_len?: number[];
  special?: Record<string, string>;
  text?: string[];
  logprob: string;
  entropy: string;
}

/** IEEE 754 half-precision bits to a number (Node 20 has no Float16Array). */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A base64 string of little-endian float16 values; undefined when it is not one. */
export function decodeHalfArray(b64: string): number[] | undefined {
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length % 2) return undefined;
  const out = new Array<number>(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = halfToNumber(bytes[2 * i] | (bytes[2 * i + 1] << 8));
  return out;
}

const isIntArray = (x: unknown): x is number[] => Array.isArray(x) && x.every((v) => Number.isInteger(v) && v >= 0);

/** Whether a value has the shape of `token_stats` (the arrays' lengths are checked by `expandTokenStats`). */
export function isTokenStats(x: unknown): x is TokenStats {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  if (!Number.isInteger(o.n) || !Number.isInteger(o.prefix) || typeof o.logprob !== 'string' || typeof o.entropy !== 'string') return false;
  if (o.text !== undefined) return Array.isArray(o.text) && o.text.every((t) => typeof t === 'string');
  if (!isIntArray(o.text_len)) return false;
  return o.special === undefined || (typeof o.special === 'object' && o.special !== null && Object.values(o.special).every((t) => typeof t === 'string'));
}

/** The per-token objects of trapo-run/1; undefined when the arrays do not agree in length. */
export function expandTokenStats(stats: TokenStats, prefixText: string, completionText: string): TokenInfo[] | undefined {
  const lp = decodeHalfArray(stats.logprob);
  const en = decodeHalfArray(stats.entropy);
  if (!lp || !en) return undefined;
  let texts: string[];
  if (stats.text) {
    texts = stats.text;
  } else {
    // Lengths are in code points (Python's str); JavaScript strings index UTF-16 units: walk by code point.
    const response = Array.from(prefixText + completionText);
    texts = [];
    let cursor = 0;
    const lengths = stats.text_len ?? [];
    for (let k = 0; k < lengths.length; k++) {
      const n = lengths[k];
      texts.push(n ? response.slice(cursor, cursor + n).join('') : (stats.special?.[String(k)] ?? ''));
      cursor += n;
    }
  }
  if (texts.length !== stats.n || lp.length !== stats.n || en.length !== stats.n || stats.prefix > stats.n) return undefined;
  return texts.map((text, k) => ({ text, logprob: lp[k], entropy: en[k], prefix: k < stats.prefix }));
}
