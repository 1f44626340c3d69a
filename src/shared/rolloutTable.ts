// The rollout table's data, protocol and pure operations (filter with the picker's query language, sort by any
// column, histograms), shared by the host (src/rolloutTable/) and the webview (webview/rolloutTable/). No node, no DOM,
// no vscode.
//
// Sequence:
//   webview --ready-->                 host
//   host    --init{run, query}-->      webview
//   host    --rows{chunk, progress}--> webview   (newest steps first, a chunk as soon as the first file is indexed,
//                                                 then about every 100 ms; later, the rows of new steps of a live run)
//   host    --query{text}-->           webview   (Open Rollout Table on a step: a chart point, a tree node)
//   webview --open / diff-->           host      (a row's rollout document; two rows in the diff editor)
//   webview --rendered{rows}-->        host      (rows drawn: the benchmark's "first rows")
import { NumericField, RolloutQuery, RowAccess, matchesQuery } from './rolloutQuery';

export const ROLLOUT_TABLE_PROTOCOL_VERSION = 1;

/** Columns in display order; every one sorts. `prompt` sorts by prompt id. */
export const TABLE_COLUMNS = ['step', 'prompt', 'sample', 'stage', 'level', 'reward', 'advantage', 'length', 'entropy', 'outside'] as const;
export type TableColumn = (typeof TABLE_COLUMNS)[number];

export const COLUMN_TITLES: Record<TableColumn, { label: string; help: string }> = {
  step: { label: 'step', help: 'training step' },
  prompt: { label: 'prompt', help: 'prompt id' },
  sample: { label: 'sample', help: 'index of the sample in its group' },
  stage: { label: 'stage', help: 'micro-group stage (0 = unguided)' },
  level: { label: 'level', help: 'guidance level the prompt reached this step (0 = unguided … 3 = full expert)' },
  reward: { label: 'reward', help: 'reward' },
  advantage: { label: 'advantage', help: 'advantage (reward minus the group mean)' },
  length: { label: 'length', help: 'tokens the model generated' },
  entropy: { label: 'entropy', help: 'mean policy entropy over the response tokens (nats)' },
  outside: { label: 'outside TR', help: "share of the expert prefix's tokens outside TrSFT's trust region (p < alpha)" },
};

/** One chunk of rows as parallel arrays; `null` is an unknown value (JSON has no NaN). */
export interface RowsChunk {
  step: number[];
  /** Index into the prompt table (ids and texts sent so far). */
  prompt: number[];
  sample: number[];
  stage: number[];
  level: number[];
  reward: number[];
  advantage: (number | null)[];
  length: (number | null)[];
  entropy: (number | null)[];
  outside: (number | null)[];
}

export interface TableRun {
  name: string;
  dir: string;
}

export interface TableInitMessage {
  type: 'init';
  run: TableRun;
  /** A filter to start with (step:12 from a chart point), else empty. */
  query: string;
  /** Steps with a rollout file (the total the progress counts to). */
  files: number;
}
export interface RowsMessage {
  type: 'rows';
  /** Prompt ids and texts new with this chunk, appended to the table's prompt table in order. */
  newPrompts: { ids: string[]; texts: string[] };
  rows: RowsChunk;
  /** Files indexed so far, lines skipped so far (unreadable), and whether all files are in. */
  filesDone: number;
  skipped: number;
  done: boolean;
  /** Files that could not be read, with the reason (at most a few). */
  errors: string[];
}
export interface QueryMessage {
  type: 'query';
  query: string;
}
export type TableHostMessage = TableInitMessage | RowsMessage | QueryMessage;

export interface RowRef {
  step: number;
  promptId: string;
  sample: number;
}
export type TableWebviewMessage =
  | { type: 'ready'; version: number }
  | { type: 'open'; row: RowRef }
  | { type: 'diff'; a: RowRef; b: RowRef }
  | { type: 'rendered'; rows: number; total: number };

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
function parseRowRef(x: unknown): RowRef | undefined {
  if (!isObj(x) || !Number.isInteger(x.step) || typeof x.promptId !== 'string' || !Number.isInteger(x.sample)) return undefined;
  return { step: x.step as number, promptId: x.promptId, sample: x.sample as number };
}

/** Checks a message from the webview (untrusted input). */
export function parseTableMessage(msg: unknown): { ok: true; message: TableWebviewMessage } | { ok: false; reason: string } {
  if (!isObj(msg) || typeof msg.type !== 'string') return { ok: false, reason: 'not a message object with a "type"' };
  switch (msg.type) {
    case 'ready':
      return msg.version === ROLLOUT_TABLE_PROTOCOL_VERSION
        ? { ok: true, message: { type: 'ready', version: ROLLOUT_TABLE_PROTOCOL_VERSION } }
        : { ok: false, reason: `ready: protocol version ${String(msg.version)}` };
    case 'open': {
      const row = parseRowRef(msg.row);
      return row ? { ok: true, message: { type: 'open', row } } : { ok: false, reason: 'open: bad "row"' };
    }
    case 'diff': {
      const a = parseRowRef(msg.a);
      const b = parseRowRef(msg.b);
      return a && b ? { ok: true, message: { type: 'diff', a, b } } : { ok: false, reason: 'diff: bad "a" or "b"' };
    }
    case 'rendered':
      return Number.isInteger(msg.rows) && Number.isInteger(msg.total)
        ? { ok: true, message: { type: 'rendered', rows: msg.rows as number, total: msg.total as number } }
        : { ok: false, reason: 'rendered: bad counts' };
    default:
      return { ok: false, reason: `unknown message type ${JSON.stringify(msg.type)}` };
  }
}

// ----------------------------------------------------------------------------------------------- the table

const NUMERIC_COLUMNS = ['step', 'sample', 'stage', 'level', 'reward', 'advantage', 'length', 'entropy', 'outside'] as const;
type NumericColumn = (typeof NUMERIC_COLUMNS)[number];

function grow<T extends Float64Array | Int32Array>(a: T, need: number, make: (n: number) => T): T {
  if (need <= a.length) return a;
  const b = make(Math.max(need, a.length * 2));
  b.set(a as never);
  return b;
}

/** Rows in typed columns (NaN for unknown), appended chunk by chunk; prompt ids and texts in a side table. */
export class RolloutTable {
  size = 0;
  readonly promptIds: string[] = [];
  readonly promptTexts: string[] = [];
  private readonly cols: Record<NumericColumn, Float64Array> = Object.fromEntries(NUMERIC_COLUMNS.map((c) => [c, new Float64Array(1024)])) as Record<
    NumericColumn,
    Float64Array
  >;
  private prompt = new Int32Array(1024);
  /** Lower-cased "id text" per prompt, built once for word filters. */
  private hay: (string | undefined)[] = [];

  append(newPrompts: { ids: string[]; texts: string[] }, chunk: RowsChunk): void {
    this.promptIds.push(...newPrompts.ids);
    this.promptTexts.push(...newPrompts.texts);
    const n = chunk.step.length;
    const need = this.size + n;
    for (const c of NUMERIC_COLUMNS) {
      const col = (this.cols[c] = grow(this.cols[c], need, (k) => new Float64Array(k)));
      const src = chunk[c];
      for (let i = 0; i < n; i++) {
        const v = src[i];
        col[this.size + i] = v === null || v === undefined ? Number.NaN : v;
      }
    }
    this.prompt = grow(this.prompt, need, (k) => new Int32Array(k));
    this.prompt.set(chunk.prompt, this.size);
    this.size = need;
  }

  value(row: number, field: NumericField): number {
    return this.cols[field][row];
  }

  column(field: NumericField): Float64Array {
    return this.cols[field].subarray(0, this.size);
  }

  promptId(row: number): string {
    return this.promptIds[this.prompt[row]];
  }

  promptText(row: number): string {
    return this.promptTexts[this.prompt[row]];
  }

  ref(row: number): RowRef {
    return { step: this.value(row, 'step'), promptId: this.promptId(row), sample: this.value(row, 'sample') };
  }

  /** Rows matching the query, in table order. */
  filter(q: RolloutQuery): Uint32Array {
    const out = new Uint32Array(this.size);
    let n = 0;
    let row = 0;
    const access: RowAccess = {
      value: (f) => this.cols[f][row],
      promptId: () => this.promptId(row),
      promptText: () => this.promptText(row),
    };
    // Word filters read each prompt's text once.
    const words = q.words.length ? { ...q, words: [] } : q;
    for (; row < this.size; row++) {
      if (!matchesQuery(words, access)) continue;
      if (q.words.length) {
        const p = this.prompt[row];
        const hay = (this.hay[p] ??= `${this.promptIds[p]} ${this.promptTexts[p]}`.toLowerCase());
        if (!q.words.every((w) => hay.includes(w))) continue;
      }
      out[n++] = row;
    }
    return out.slice(0, n);
  }

  /**
   * Sorts rows (in place) by a column; ties keep step, then prompt, then sample order, so the order is stable across
   * chunks. Unknown values (NaN) go last either way.
   */
  sort(rows: Uint32Array, column: TableColumn, descending: boolean): Uint32Array {
    const sign = descending ? -1 : 1;
    const step = this.cols.step;
    const sample = this.cols.sample;
    const prompt = this.prompt;
    const tie = (a: number, b: number) => step[a] - step[b] || prompt[a] - prompt[b] || sample[a] - sample[b] || a - b;
    if (column === 'prompt') {
      // Prompt ids compare as strings; rank them once.
      const order = this.promptIds
        .map((_, i) => i)
        .sort((a, b) => (this.promptIds[a] < this.promptIds[b] ? -1 : this.promptIds[a] > this.promptIds[b] ? 1 : 0));
      const rank = new Int32Array(this.promptIds.length);
      order.forEach((p, r) => (rank[p] = r));
      return rows.sort((a, b) => sign * (rank[prompt[a]] - rank[prompt[b]]) || tie(a, b));
    }
    const v = this.cols[column];
    return rows.sort((a, b) => {
      const x = v[a];
      const y = v[b];
      const nx = Number.isNaN(x);
      const ny = Number.isNaN(y);
      if (nx || ny) return nx && ny ? tie(a, b) : nx ? 1 : -1;
      return sign * (x - y) || tie(a, b);
    });
  }
}

// ----------------------------------------------------------------------------------------------- histograms

export interface Histogram {
  /** Bin edges, length bins + 1: bin i holds lo_i <= x < hi_i (the last bin includes its upper edge). */
  edges: number[];
  counts: number[];
  /** Values that were unknown (NaN), not binned. */
  unknown: number;
}

/**
 * A histogram of `values` over the given rows: at most `maxBins` bins of equal width between the smallest and largest
 * value; integer data gets whole-number bins (one per value when they fit), so lengths and 0/1 rewards bin exactly.
 */
export function histogram(values: ArrayLike<number>, rows: ArrayLike<number>, maxBins = 20): Histogram {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  let unknown = 0;
  let integers = true;
  for (let i = 0; i < rows.length; i++) {
    const x = values[rows[i]];
    if (Number.isNaN(x)) {
      unknown++;
      continue;
    }
    if (x < lo) lo = x;
    if (x > hi) hi = x;
    if (integers && !Number.isInteger(x)) integers = false;
  }
  if (lo > hi) return { edges: [], counts: [], unknown };
  let bins: number;
  let width: number;
  if (integers) {
    const span = hi - lo + 1;
    bins = Math.min(maxBins, span);
    width = Math.ceil(span / bins);
    bins = Math.ceil(span / width);
  } else if (lo === hi) {
    bins = 1;
    width = 1;
  } else {
    bins = maxBins;
    width = (hi - lo) / bins;
  }
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * width);
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < rows.length; i++) {
    const x = values[rows[i]];
    if (Number.isNaN(x)) continue;
    counts[Math.min(bins - 1, Math.floor((x - lo) / width))]++;
  }
  return { edges, counts, unknown };
}
