// The rollout filter language, shared by the Open Rollouts picker (host) and the rollout table (webview): no node, no
// DOM, no vscode.
//
//   level:2   level:1,2   reward:1   reward:>0   advantage:<=-0.1   step:100..200   length:>=80   stage:0
//   id:p0012 (one prompt id, exactly)   and free words, all of which must occur in the prompt id or prompt text.
// Numeric fields: step, sample, stage, level, reward, advantage, length (generated tokens), entropy (mean over the
// response), outside (share of prefix tokens outside the trust region). A `key:value` this grammar does not know,
// or a number that does not parse, is a free word.

export const NUMERIC_FIELDS = ['step', 'sample', 'stage', 'level', 'reward', 'advantage', 'length', 'entropy', 'outside'] as const;
export type NumericField = (typeof NUMERIC_FIELDS)[number];
export type CompareOp = '=' | '>' | '<' | '>=' | '<=';

export type Condition =
  | { field: NumericField; kind: 'compare'; op: CompareOp; value: number }
  | { field: NumericField; kind: 'oneOf'; values: number[] }
  | { field: NumericField; kind: 'range'; lo: number; hi: number };

export interface RolloutQuery {
  conditions: Condition[];
  /** `id:` — the rollouts of exactly this prompt id. */
  promptId?: string;
  /** Lower-cased words that must all occur in the prompt id or the prompt text. */
  words: string[];
}

const NUM = '-?(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:e[-+]?[0-9]+)?';
const COMPARE = new RegExp(`^(>=|<=|>|<|=)?(${NUM})$`, 'i');
const ONE_OF = new RegExp(`^${NUM}(?:,${NUM})+$`, 'i');
const RANGE = new RegExp(`^(${NUM})\\.\\.(${NUM})$`, 'i');

function isField(s: string): s is NumericField {
  return (NUMERIC_FIELDS as readonly string[]).includes(s);
}

/** One `field:spec` condition, or undefined when the spec is not a number, a list or a range. */
function condition(field: NumericField, spec: string): Condition | undefined {
  let m = RANGE.exec(spec);
  if (m) {
    const lo = Number(m[1]);
    const hi = Number(m[2]);
    return { field, kind: 'range', lo: Math.min(lo, hi), hi: Math.max(lo, hi) };
  }
  if (ONE_OF.test(spec)) return { field, kind: 'oneOf', values: spec.split(',').map(Number) };
  m = COMPARE.exec(spec);
  if (m) return { field, kind: 'compare', op: (m[1] ?? '=') as CompareOp, value: Number(m[2]) };
  return undefined;
}

export function parseRolloutQuery(text: string): RolloutQuery {
  const q: RolloutQuery = { conditions: [], words: [] };
  for (const part of text.trim().split(/\s+/).filter(Boolean)) {
    const colon = part.indexOf(':');
    const key = colon > 0 ? part.slice(0, colon).toLowerCase() : '';
    const spec = colon > 0 ? part.slice(colon + 1) : '';
    if (key === 'id' && spec) {
      q.promptId = spec;
      continue;
    }
    const c = isField(key) ? condition(key, spec) : undefined;
    if (c) q.conditions.push(c);
    else q.words.push(part.toLowerCase());
  }
  return q;
}

/** The query as text again (the table shows what a click on "same prompt over time" or a chart point asked for). */
export function formatRolloutQuery(q: RolloutQuery): string {
  const parts: string[] = [];
  for (const c of q.conditions) {
    if (c.kind === 'compare') parts.push(`${c.field}:${c.op === '=' ? '' : c.op}${c.value}`);
    else if (c.kind === 'oneOf') parts.push(`${c.field}:${c.values.join(',')}`);
    else parts.push(`${c.field}:${c.lo}..${c.hi}`);
  }
  if (q.promptId !== undefined) parts.push(`id:${q.promptId}`);
  parts.push(...q.words);
  return parts.join(' ');
}

export function compareValue(x: number, op: CompareOp, v: number): boolean {
  switch (op) {
    case '=':
      return x === v;
    case '>':
      return x > v;
    case '<':
      return x < v;
    case '>=':
      return x >= v;
    case '<=':
      return x <= v;
  }
}

/** Whether a value meets a condition (an unknown value, NaN, meets none). */
export function meets(c: Condition, x: number): boolean {
  if (Number.isNaN(x)) return false;
  switch (c.kind) {
    case 'compare':
      return compareValue(x, c.op, c.value);
    case 'oneOf':
      return c.values.includes(x);
    case 'range':
      return x >= c.lo && x <= c.hi;
  }
}

/** What a matcher reads of one rollout: a numeric field (NaN when unknown), its prompt id, its prompt text. */
export interface RowAccess {
  value(field: NumericField): number;
  promptId(): string;
  promptText(): string;
}

/** Whether one rollout matches (conditions first: they are cheap; the text last). */
export function matchesQuery(q: RolloutQuery, row: RowAccess): boolean {
  for (const c of q.conditions) if (!meets(c, row.value(c.field))) return false;
  if (q.promptId !== undefined && row.promptId() !== q.promptId) return false;
  if (q.words.length) {
    const hay = `${row.promptId()} ${row.promptText()}`.toLowerCase();
    for (const w of q.words) if (!hay.includes(w)) return false;
  }
  return true;
}
