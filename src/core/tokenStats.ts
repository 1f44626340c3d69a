// trapo-run/1.1's per-token statistics (`token_stats`: parallel arrays, trainer/trapo/compact_tokens.py) read back as
// trapo-run/1's per-token objects, so that every consumer (rollout documents, hovers) sees one shape. No `vscode`.
//
// logprob and entropy are little-endian float16 in base64; text_len (base64, a byte a token) counts Unicode code
// points of prefix + completion per token (0 for a token not in that text, whose own text may be in `special`);
// `text`, when present, lists every token's text instead. The rollout's summaries follow from these arrays.

/** One token of a rollout as trapo-run/1 wrote it (and as `expandTokenStats` gives trapo-run/1.1's back). */
export interface TokenInfo {
  text: string;
  logprob: number;
  entropy: number;
  prefix: boolean;
}

export interface TokenStats {
  n: number;
  prefix: number;
  text_len?: string;
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

/** Whether a value has the shape of `token_stats` (the arrays' lengths are checked by `expandTokenStats`). */
export function isTokenStats(x: unknown): x is TokenStats {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  if (!Number.isInteger(o.n) || !Number.isInteger(o.prefix) || typeof o.logprob !== 'string' || typeof o.entropy !== 'string') return false;
  if (o.text !== undefined) return Array.isArray(o.text) && o.text.every((t) => typeof t === 'string');
  if (typeof o.text_len !== 'string') return false;
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
    const lengths = Buffer.from(stats.text_len ?? '', 'base64');
    for (let k = 0; k < lengths.length; k++) {
      const n = lengths[k];
      texts.push(n ? response.slice(cursor, cursor + n).join('') : (stats.special?.[String(k)] ?? ''));
      cursor += n;
    }
  }
  if (texts.length !== stats.n || lp.length !== stats.n || en.length !== stats.n || stats.prefix > stats.n) return undefined;
  return texts.map((text, k) => ({ text, logprob: lp[k], entropy: en[k], prefix: k < stats.prefix }));
}

export interface RolloutSummaryFields {
  completion_tokens: number;
  prefix_tokens: number;
  mean_entropy: number | null;
  /** Undefined without prefix tokens. */
  outside_trust_region?: number;
}

/** A rollout's summaries from its token_stats (as trainer/trapo/compact_tokens.py `summary`); undefined when malformed. */
export function tokenStatsSummary(stats: Pick<TokenStats, 'n' | 'prefix' | 'logprob' | 'entropy'>, alpha: number): RolloutSummaryFields | undefined {
  const en = decodeHalfArray(stats.entropy);
  const lp = decodeHalfArray(stats.logprob);
  if (!en || !lp || en.length !== stats.n || lp.length !== stats.n || stats.prefix > stats.n) return undefined;
  let sum = 0;
  for (const x of en) sum += x;
  const out: RolloutSummaryFields = { completion_tokens: stats.n - stats.prefix, prefix_tokens: stats.prefix, mean_entropy: stats.n ? sum / stats.n : null };
  if (stats.prefix) {
    const logAlpha = Math.log(alpha);
    let outside = 0;
    for (let k = 0; k < stats.prefix; k++) if (lp[k] < logAlpha) outside++;
    out.outside_trust_region = outside / stats.prefix;
  }
  return out;
}

/** A number to IEEE half-precision bits, rounded to nearest even (the TypeScript twin of Python's struct 'e'). */
export function numberToHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | 0x7c00;
  if (a >= 65520) return sign | 0x7c00; // rounds past the largest half: infinity (the writer clamps before)
  if (a < 2 ** -24 / 2) return sign;
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24); // subnormal (round half to even: Math.round is close enough here)
  let exp = Math.floor(Math.log2(a));
  let frac = a / 2 ** exp - 1;
  let m = Math.round(frac * 1024);
  if (m === 1024) {
    m = 0;
    exp++;
  }
  frac = m;
  return sign | ((exp + 15) << 10) | frac;
}

/** trapo-run/1.1's token_stats for per-token objects (benchmarks and tests write lines as the trainer does). */
export function encodeTokenStats(tokens: readonly TokenInfo[], prefixText: string, completionText: string): TokenStats {
  const half = (xs: number[]) => {
    const b = Buffer.alloc(xs.length * 2);
    xs.forEach((x, i) => b.writeUInt16LE(numberToHalf(Math.max(-65504, Math.min(65504, x))), 2 * i));
    return b.toString('base64');
  };
  const response = Array.from(prefixText + completionText);
  let cursor = 0;
  const lengths: number[] = [];
  const special: Record<string, string> = {};
  tokens.forEach((t, k) => {
    const cps = Array.from(t.text);
    if (cps.length && cps.every((c, i) => response[cursor + i] === c)) {
      lengths.push(cps.length);
      cursor += cps.length;
    } else {
      lengths.push(0);
      if (t.text) special[String(k)] = t.text;
    }
  });
  // Keys in the Python writer's order: the same bytes.
  const texts =
    cursor !== response.length || lengths.some((n) => n > 255)
      ? { text: tokens.map((t) => t.text) }
      : { text_len: Buffer.from(lengths).toString('base64'), ...(Object.keys(special).length ? { special } : {}) };
  return {
    n: tokens.length,
    prefix: tokens.filter((t) => t.prefix).length,
    ...texts,
    logprob: half(tokens.map((t) => t.logprob)),
    entropy: half(tokens.map((t) => t.entropy)),
  };
}
