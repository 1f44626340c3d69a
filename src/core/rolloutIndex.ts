// A byte-offset index over one rollouts/<step:06d>.jsonl file, built on first use, read lazily. No `vscode` import.
//
// Memory is bounded whatever the file size: the file is streamed through one reused read buffer (grown only for a
// line longer than it, up to `maxLineBytes`), and the index keeps a fixed number of bytes per line in typed arrays
// (offset, length, line number, step, sample, stage, level, reward, advantage, generated tokens, mean entropy, share
// outside the trust region, prompt number: 61 bytes a line) plus one short prompt text per distinct prompt id. Whole
// records are read back from disk by offset when asked for.
//
// Indexing does not JSON.parse every line (that alone runs near 300 MB/s on lines carrying per-token data, see
// bench/rollout-index.ts). It frames each line and pulls the summary fields out by their keys: in valid JSON the bytes
// `"key"` with unescaped quotes occur only as a key, never inside a string value (a quote in a string is written
// `\"`). A line is skipped and counted when it is torn (the file's last bytes without a newline), does not look like
// one object, lacks a summary field, or carries the key "step" twice (two records glued together after a torn write). A line
// that passes the framing yet fails the full parse when read is reported then and counted in `malformedOnRead`.
// Keys are looked for in the order the writer writes them, each from where the previous one was found (then from the
// line's start, for another order), so a line is scanned about once. A trapo-run/1.1 line may leave its prompt out
// (the first line of its prompt id carries it; `read` fills it in). The summaries (generated tokens, mean entropy,
// share outside the trust region) are pulled by key where written; with the option `summaries` they are also worked
// out from a 1.1 line's token_stats (two short base64 arrays) or a 1 line's per-token objects (a full parse: slower,
// JSON.parse speed); otherwise they are unknown there.
import { promises as fs } from 'node:fs';
import { DEFAULT_TRSFT_ALPHA } from './rolloutText';
import { RolloutLine, RolloutRecord, parseRolloutLine } from './runFormat';
import { NumericField, RolloutQuery, RowAccess, matchesQuery, parseRolloutQuery } from '../shared/rolloutQuery';

export { parseRolloutQuery };
export type { RolloutQuery };

export interface RolloutSummary {
  /** 0-based index of the rollout among the valid lines of the file. */
  index: number;
  /** 1-based line number in the file. */
  line: number;
  step: number;
  promptId: string;
  sample: number;
  stage: number;
  level: number;
  reward: number;
  /** NaN when the line has none. */
  advantage: number;
  /** Tokens the model generated; -1 when unknown (a trapo-run/1 line without per-token data). */
  length: number;
  /** Mean entropy over the response tokens; NaN when unknown. */
  meanEntropy: number;
  /** Share of prefix tokens with p < alpha; NaN without prefix tokens or when unknown. */
  outside: number;
}

export interface SkippedLine {
  line: number;
  reason: string;
}

export interface IndexOptions {
  /** Bytes read per chunk (default 4 MiB). */
  chunkBytes?: number;
  /** Longest line indexed; a longer one is skipped as malformed (default 256 MiB). */
  maxLineBytes?: number;
  /** Characters of each prompt kept for filtering (default 400). */
  promptChars?: number;
  /** Work the summaries out of per-token data where a line does not write them (default false; the table asks). */
  summaries?: boolean;
  /** TrSFT alpha for `outside` worked out of per-token data (default 0.1). */
  alpha?: number;
  /** Checked between chunks; indexing stops with an Error('cancelled') when it returns true. */
  isCancelled?: () => boolean;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

export class RolloutIndexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RolloutIndexError';
  }
}

const NL = 0x0a;
/** Required keys, in the order the writer writes them (`prompt`, between level and reward, may be left out). */
const KEYS = ['step', 'prompt_id', 'sample', 'stage', 'level', 'reward'] as const;
/** Optional keys (after `reward`, in the writer's order). */
const OPTIONAL_KEYS = ['advantage', 'completion_tokens', 'mean_entropy', 'outside_trust_region'] as const;
const STATS_KEYS = ['n', 'prefix', 'logprob', 'entropy'] as const;
type Key = (typeof KEYS)[number] | (typeof OPTIONAL_KEYS)[number] | 'tokens' | 'prompt' | 'token_stats';
const NEEDLES = Object.fromEntries([...KEYS, ...OPTIONAL_KEYS, 'tokens', 'prompt', 'token_stats'].map((k) => [k, Buffer.from(`"${k}"`)])) as Record<
  Key,
  Buffer
>;
const STATS_NEEDLES = Object.fromEntries(STATS_KEYS.map((k) => [k, Buffer.from(`"${k}"`)])) as Record<(typeof STATS_KEYS)[number], Buffer>;
const MAX_SKIPPED_KEPT = 100;

/** Growable typed columns, 61 bytes a line. */
class Columns {
  offset = new Float64Array(1024);
  length = new Uint32Array(1024);
  sample = new Int32Array(1024);
  stage = new Int32Array(1024);
  level = new Int8Array(1024);
  reward = new Float64Array(1024);
  advantage = new Float64Array(1024);
  generated = new Int32Array(1024);
  entropy = new Float32Array(1024);
  outside = new Float32Array(1024);
  prompt = new Int32Array(1024);
  lineNo = new Uint32Array(1024);
  step = new Int32Array(1024);
  size = 0;

  push(
    offset: number,
    length: number,
    step: number,
    sample: number,
    stage: number,
    level: number,
    reward: number,
    prompt: number,
    lineNo: number,
    extra: Extra,
  ): void {
    if (this.size === this.offset.length) this.grow();
    const i = this.size++;
    this.advantage[i] = extra.advantage;
    this.generated[i] = extra.length;
    this.entropy[i] = extra.meanEntropy;
    this.outside[i] = extra.outside;
    this.offset[i] = offset;
    this.length[i] = length;
    this.sample[i] = sample;
    this.stage[i] = stage;
    this.level[i] = Math.max(-128, Math.min(127, level));
    this.reward[i] = reward;
    this.prompt[i] = prompt;
    this.lineNo[i] = lineNo;
    this.step[i] = step;
  }

  private grow(): void {
    const n = this.offset.length * 2;
    const g = <T extends Float64Array | Float32Array | Uint32Array | Int32Array | Int8Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a as never);
      return b;
    };
    this.offset = g(this.offset, (k) => new Float64Array(k));
    this.length = g(this.length, (k) => new Uint32Array(k));
    this.sample = g(this.sample, (k) => new Int32Array(k));
    this.stage = g(this.stage, (k) => new Int32Array(k));
    this.level = g(this.level, (k) => new Int8Array(k));
    this.reward = g(this.reward, (k) => new Float64Array(k));
    this.advantage = g(this.advantage, (k) => new Float64Array(k));
    this.generated = g(this.generated, (k) => new Int32Array(k));
    this.entropy = g(this.entropy, (k) => new Float32Array(k));
    this.outside = g(this.outside, (k) => new Float32Array(k));
    this.prompt = g(this.prompt, (k) => new Int32Array(k));
    this.lineNo = g(this.lineNo, (k) => new Uint32Array(k));
    this.step = g(this.step, (k) => new Int32Array(k));
  }
}

export class RolloutIndex {
  private readonly cols = new Columns();
  private readonly promptIds: string[] = [];
  private readonly promptTexts: string[] = [];
  private readonly promptNumber = new Map<string, number>();
  /** Per prompt number, the rollout whose line carries the prompt text (-1 until one does). */
  private readonly promptRow: number[] = [];
  /** Per prompt number, the first rollout of each sample index (sparse: -1 / undefined where none). */
  private readonly bySlot: number[][] = [];
  /** The raw bytes of the previous line's prompt id and its string: consecutive lines share it (a group). */
  private lastIdBytes: Buffer = Buffer.alloc(0);
  private lastId = '';
  private steps = new Set<number>();
  private lastStep = Number.NaN;
  /** Bytes of the file covered by the index (up to the end of its last complete line). */
  private indexedBytes = 0;
  private lines = 0;
  private tornBytes = 0;
  private readonly skippedLines: SkippedLine[] = [];
  private skippedCount = 0;
  /** Lines that passed framing but failed the full parse when read. */
  malformedOnRead = 0;

  private constructor(
    readonly file: string,
    private readonly options: Required<Omit<IndexOptions, 'isCancelled' | 'onProgress'>>,
  ) {}

  /** Indexes `file` from its start. Throws RolloutIndexError when the file cannot be read. */
  static async build(file: string, options: IndexOptions = {}): Promise<RolloutIndex> {
    const index = new RolloutIndex(file, {
      chunkBytes: options.chunkBytes ?? 4 << 20,
      maxLineBytes: options.maxLineBytes ?? 256 << 20,
      promptChars: options.promptChars ?? 400,
      summaries: options.summaries ?? false,
      alpha: options.alpha ?? DEFAULT_TRSFT_ALPHA,
    });
    await index.update(options);
    return index;
  }

  /** Number of valid rollouts indexed. */
  get count(): number {
    return this.cols.size;
  }

  /** Lines skipped (malformed, oversized) so far, not counting a torn last line. */
  get skipped(): number {
    return this.skippedCount;
  }

  /** The first skipped lines with their reasons (at most 100 kept). */
  get skippedDetails(): readonly SkippedLine[] {
    return this.skippedLines;
  }

  /** Bytes after the last newline: a line still being written, or torn by a crash. Not indexed. */
  get tornTailBytes(): number {
    return this.tornBytes;
  }

  get bytesIndexed(): number {
    return this.indexedBytes;
  }

  /** Steps named by the indexed lines (normally one: the file's). */
  get stepsSeen(): number[] {
    return [...this.steps].sort((a, b) => a - b);
  }

  /** Reads on from where the last build/update stopped (a file being appended to). A shrunk file is indexed anew. */
  async update(options: Pick<IndexOptions, 'isCancelled' | 'onProgress'> = {}): Promise<void> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.file, 'r');
    } catch (e) {
      throw new RolloutIndexError(`cannot open rollout file ${this.file}: ${(e as Error).message}`);
    }
    try {
      const total = (await handle.stat()).size;
      if (total < this.indexedBytes) this.reset();
      await this.scan(handle, total, options);
    } finally {
      await handle.close();
    }
  }

  private reset(): void {
    this.cols.size = 0;
    this.promptIds.length = 0;
    this.promptTexts.length = 0;
    this.promptNumber.clear();
    this.promptRow.length = 0;
    this.bySlot.length = 0;
    this.lastIdBytes = Buffer.alloc(0);
    this.lastId = '';
    this.steps.clear();
    this.lastStep = Number.NaN;
    this.indexedBytes = 0;
    this.lines = 0;
    this.tornBytes = 0;
    this.skippedLines.length = 0;
    this.skippedCount = 0;
  }

  private async scan(handle: fs.FileHandle, total: number, options: Pick<IndexOptions, 'isCancelled' | 'onProgress'>): Promise<void> {
    let buf = Buffer.allocUnsafe(Math.max(1024, Math.min(this.options.chunkBytes, Math.max(1024, total - this.indexedBytes))));
    let bufStartOffset = this.indexedBytes; // file offset of buf[0]
    let filled = 0; // bytes of buf holding file data
    let filePos = this.indexedBytes; // next file offset to read
    let oversized = false; // inside a line longer than maxLineBytes: skip to its newline
    while (filePos < total) {
      if (options.isCancelled?.()) throw new RolloutIndexError('cancelled');
      if (filled === buf.length) {
        // One line fills the whole buffer: grow it, or give the line up when too long.
        if (buf.length >= this.options.maxLineBytes) {
          oversized = true;
          bufStartOffset += filled;
          filled = 0;
        } else {
          const bigger = Buffer.allocUnsafe(Math.min(this.options.maxLineBytes, buf.length * 2));
          buf.copy(bigger, 0, 0, filled);
          buf = bigger;
        }
      }
      const { bytesRead } = await handle.read(buf, filled, Math.min(buf.length - filled, total - filePos), filePos);
      if (bytesRead === 0) break; // the file shrank while reading; the next update starts over
      filePos += bytesRead;
      filled += bytesRead;
      let start = 0;
      let nl = buf.indexOf(NL, start);
      while (nl !== -1 && nl < filled) {
        this.lines++;
        if (oversized) {
          this.skip(this.lines, `longer than ${this.options.maxLineBytes} bytes`);
          oversized = false;
        } else {
          this.indexLine(buf, start, nl, bufStartOffset + start, this.lines);
        }
        start = nl + 1;
        nl = buf.indexOf(NL, start);
      }
      // Keep the partial last line at the front of the buffer.
      if (start > 0) {
        buf.copy(buf, 0, start, filled);
        bufStartOffset += start;
        filled -= start;
      }
      this.indexedBytes = bufStartOffset;
      options.onProgress?.(filePos, total);
    }
    this.tornBytes = filePos - this.indexedBytes;
  }

  private skip(line: number, reason: string): void {
    this.skippedCount++;
    if (this.skippedLines.length < MAX_SKIPPED_KEPT) this.skippedLines.push({ line, reason });
  }

  /** Frames one line (bytes [start, end) of buf, newline excluded) and records its summary, or skips it. */
  private indexLine(buf: Buffer, start: number, end: number, fileOffset: number, lineNo: number): void {
    let a = start;
    let b = end;
    while (a < b && isSpace(buf[a])) a++;
    while (b > a && isSpace(buf[b - 1])) b--;
    if (a === b) return; // blank line: neither a rollout nor an error
    if (buf[a] !== 0x7b /* { */ || buf[b - 1] !== 0x7d /* } */) return this.skip(lineNo, 'not a JSON object');
    const line = buf.subarray(a, b);
    // Value positions of the keys: the writer's own layout read straight (fastHead), else found by key in the
    // writer's order (each search from the last; see the file's head).
    const fast = fastHead(line);
    const pStep = fast ? fast.step : keyValue(line, NEEDLES.step, 0);
    const pId = fast ? fast.id : keyValue(line, NEEDLES.prompt_id, Math.max(0, pStep));
    const pSample = fast ? fast.sample : keyValue(line, NEEDLES.sample, Math.max(0, pId));
    const pStage = fast ? fast.stage : keyValue(line, NEEDLES.stage, Math.max(0, pSample));
    const pLevel = fast ? fast.level : keyValue(line, NEEDLES.level, Math.max(0, pStage));
    // (the trainer's layout: `,"reward":` is searched for, whose first byte is rarer in a line than a quote)
    let pReward = fast ? after(line, FAST.reward, fast.levelEnd) : NOT_FOUND;
    if (pReward < 0) pReward = keyValue(line, NEEDLES.reward, Math.max(0, fast ? fast.levelEnd : pLevel));
    // (no array of pairs: this runs for every line)
    const bad = pStep < 0 ? 0 : pId < 0 ? 1 : pSample < 0 ? 2 : pStage < 0 ? 3 : pLevel < 0 ? 4 : pReward < 0 ? 5 : -1;
    if (bad !== -1) {
      const p = [pStep, pId, pSample, pStage, pLevel, pReward][bad];
      return this.skip(lineNo, p === NOT_A_KEY ? `"${KEYS[bad]}" is not a key` : `no "${KEYS[bad]}"`);
    }
    const promptId = this.readPromptId(line, pId, fast ? fast.idEnd : -1);
    if (promptId === undefined) return this.skip(lineNo, 'prompt_id is not a string');
    // The prompt: between level and reward in the writer's order; left out of a 1.1 line whose prompt id came before
    // (searched elsewhere in the line only while its prompt id has no text yet: another writer's key order).
    let pPrompt = fast ? fast.prompt : keyValue(line.subarray(0, pReward), NEEDLES.prompt, pLevel, false);
    const known = this.promptNumber.get(promptId);
    if (pPrompt === NOT_FOUND && (known === undefined || this.promptRow[known] === -1)) pPrompt = keyValue(line, NEEDLES.prompt, 0);
    if (pPrompt === NOT_A_KEY) return this.skip(lineNo, '"prompt" is not a key');
    // Optional keys after reward (the writer's order); the summaries come before token_stats, which holds them
    // when it is there: they are looked for only up to it.
    const reward = readNumber(line, pReward);
    const pAdv = expect(line, numberEnd, FAST.advantage) > 0 ? numberEnd + FAST.advantage.length : keyValue(line, NEEDLES.advantage, pReward, false);
    let from = Math.max(pReward, pAdv);
    // Where the per-token data starts (token_stats in 1.1, tokens in 1), the optional summaries being before it. In the
    // trainer's layout one search for `,"token` finds either (the summaries are then looked for only before it, not
    // through the quote-dense per-token data); the trainer's own lines with token_stats have no summaries.
    let tsAt = -1;
    let tokensAt = -1;
    if (fast) {
      for (let t = line.indexOf(FAST.token, from); t !== -1 && tsAt === -1 && tokensAt === -1; t = line.indexOf(FAST.token, t + 1)) {
        if (expect(line, t, FAST.token_stats) > 0) tsAt = t + 1;
        else if (expect(line, t, FAST.tokens) > 0) tokensAt = t + 1;
      }
    } else {
      tsAt = line.indexOf(NEEDLES.token_stats, from);
    }
    const none = fast !== undefined && tsAt !== -1;
    const cut = tsAt !== -1 ? tsAt : tokensAt;
    const head = none || cut === -1 ? line : line.subarray(0, cut);
    const pLen = none ? NOT_FOUND : keyValue(head, NEEDLES.completion_tokens, from, false);
    from = Math.max(from, pLen);
    const pEnt = none ? NOT_FOUND : keyValue(head, NEEDLES.mean_entropy, from, false);
    from = Math.max(from, pEnt);
    const pOut = none ? NOT_FOUND : keyValue(head, NEEDLES.outside_trust_region, from, false);
    from = Math.max(from, pOut);
    // Two records glued together (a torn write, then an append) carry the first key twice; one more scan of the line
    // for "step" finds them (a torn fragment shorter than `{"step":` has no key at all and fails framing or parsing).
    // A line in the trainer's layout is glued to another of the trainer's records, which starts `{"step":`: that
    // needle's first byte is rare in a line (a quote is not), so the scan costs a fifth as much.
    if (line.indexOf(fast ? FAST.step : NEEDLES.step, fast ? 1 : pStep) !== -1) {
      return this.skip(lineNo, '"step" twice (records glued after a torn write?)');
    }
    const step = fast ? fast.values[0] : readNumber(line, pStep);
    const sample = fast ? fast.values[1] : readNumber(line, pSample);
    const stage = fast ? fast.values[2] : readNumber(line, pStage);
    const level = fast ? fast.values[3] : readNumber(line, pLevel);
    if (!Number.isInteger(step) || !Number.isInteger(sample) || !Number.isInteger(stage) || !Number.isInteger(level)) {
      return this.skip(lineNo, 'step, sample, stage and level must be integers');
    }
    if (!Number.isFinite(reward)) return this.skip(lineNo, 'reward is not a number');
    let number = known;
    const index = this.cols.size;
    if (number === undefined || (this.promptRow[number] === -1 && pPrompt >= 0)) {
      let text = '';
      if (pPrompt >= 0) {
        const t = readString(line, pPrompt, this.options.promptChars);
        if (t === undefined) return this.skip(lineNo, 'prompt is not a string');
        text = t;
      }
      if (number === undefined) {
        number = this.promptIds.length;
        this.promptIds.push(promptId);
        this.promptTexts.push(text);
        this.promptRow.push(pPrompt >= 0 ? index : -1);
        this.promptNumber.set(promptId, number);
      } else {
        this.promptTexts[number] = text;
        this.promptRow[number] = index;
      }
    }
    const extra = EXTRA; // reused: push copies it
    extra.advantage = pAdv >= 0 ? readNumber(line, pAdv) : Number.NaN;
    extra.length = pLen >= 0 ? readNumber(line, pLen) : -1;
    extra.meanEntropy = pEnt >= 0 ? readNumber(line, pEnt) : Number.NaN;
    extra.outside = pOut >= 0 ? readNumber(line, pOut) : Number.NaN;
    if (!Number.isInteger(extra.length)) extra.length = -1;
    if (pLen < 0 && this.options.summaries) {
      if (tsAt !== -1) statsSummary(line, tsAt, this.options.alpha, extra);
      else if (tokensAt !== -1 || (!fast && line.indexOf(NEEDLES.tokens, from) !== -1)) legacySummary(line, this.options.alpha, extra);
    }
    this.cols.push(fileOffset + (a - start), b - a, step, sample, stage, level, reward, number, lineNo, extra);
    if (step !== this.lastStep) {
      this.steps.add(step); // (a file holds one step: a Set lookup per line is not needed)
      this.lastStep = step;
    }
    const slots = (this.bySlot[number] ??= []);
    if (sample >= 0 && sample < 1 << 20 && slots[sample] === undefined) slots[sample] = index;
  }

  /**
   * The prompt id string at i, decoded once per run of lines with the same raw bytes (the samples of a group). `close`:
   * its closing quote when known (the trainer's layout), else -1.
   */
  private readPromptId(line: Buffer, i: number, close: number): string | undefined {
    let end = close !== -1 ? close : line[i] === 0x22 ? line.indexOf(0x22, i + 1) : -1;
    // escapes: no shortcut (a JS loop: the id is short, and a native call costs more than these few bytes)
    for (let k = i + 1; k < end; k++) {
      if (line[k] === 0x5c) {
        end = -1;
        break;
      }
    }
    // A plain id (no escapes: the common case) whose bytes equal the previous line's: the same string.
    const last = this.lastIdBytes;
    if (end !== -1 && end - i + 1 === last.length) {
      let k = 0;
      while (k < last.length && line[i + k] === last[k]) k++;
      if (k === last.length) return this.lastId;
    }
    const id = readString(line, i, Infinity);
    if (id !== undefined && end !== -1) {
      this.lastIdBytes = Buffer.from(line.subarray(i, end + 1));
      this.lastId = id;
    }
    return id;
  }

  summary(k: number): RolloutSummary {
    this.check(k);
    const c = this.cols;
    return {
      index: k,
      line: c.lineNo[k],
      step: c.step[k],
      promptId: this.promptIds[c.prompt[k]],
      sample: c.sample[k],
      stage: c.stage[k],
      level: c.level[k],
      reward: c.reward[k],
      advantage: c.advantage[k],
      length: c.generated[k],
      meanEntropy: c.entropy[k],
      outside: c.outside[k],
    };
  }

  /** One numeric field of rollout k (NaN when unknown), without building a summary object. */
  value(k: number, field: NumericField): number {
    const c = this.cols;
    switch (field) {
      case 'step':
        return c.step[k];
      case 'sample':
        return c.sample[k];
      case 'stage':
        return c.stage[k];
      case 'level':
        return c.level[k];
      case 'reward':
        return c.reward[k];
      case 'advantage':
        return c.advantage[k];
      case 'length':
        return c.generated[k] < 0 ? Number.NaN : c.generated[k];
      case 'entropy':
        return c.entropy[k];
      case 'outside':
        return c.outside[k];
    }
  }

  /** The prompt id of rollout k. */
  promptIdOf(k: number): string {
    return this.promptIds[this.cols.prompt[k]];
  }

  /** The start of rollout k's prompt (first `promptChars` characters), for filtering. */
  promptText(k: number): string {
    this.check(k);
    return this.promptTexts[this.cols.prompt[k]];
  }

  /** Index of the rollout with this prompt id and sample, or -1. */
  find(promptId: string, sample: number): number {
    const p = this.promptNumber.get(promptId);
    return p === undefined ? -1 : (this.bySlot[p]?.[sample] ?? -1);
  }

  /** Indices of the rollouts of one prompt (its group), ordered by sample. */
  group(promptId: string): number[] {
    const p = this.promptNumber.get(promptId);
    if (p === undefined) return [];
    const out: number[] = [];
    for (let k = 0; k < this.cols.size; k++) if (this.cols.prompt[k] === p) out.push(k);
    return out.sort((x, y) => this.cols.sample[x] - this.cols.sample[y]);
  }

  /** Distinct prompt ids in order of first appearance. */
  get prompts(): readonly string[] {
    return this.promptIds;
  }

  /**
   * Reads and parses rollout k from disk, with its prompt (from the line of its prompt id that carries it). Throws
   * RolloutIndexError when the line is not a valid rollout.
   */
  async read(k: number): Promise<RolloutRecord> {
    const rec = await this.readLine(k);
    if (rec.prompt !== undefined) return rec as RolloutRecord;
    const carrier = this.promptRow[this.cols.prompt[k]];
    const prompt = carrier >= 0 ? (await this.readLine(carrier)).prompt : undefined;
    return { ...rec, prompt: prompt ?? '' };
  }

  private async readLine(k: number): Promise<RolloutLine> {
    this.check(k);
    const offset = this.cols.offset[k];
    const length = this.cols.length[k];
    const buf = Buffer.allocUnsafe(length);
    const handle = await fs.open(this.file, 'r');
    try {
      const { bytesRead } = await handle.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new RolloutIndexError(`${this.file}: line ${this.cols.lineNo[k]} changed on disk; index again`);
    } finally {
      await handle.close();
    }
    const rec = parseRolloutLine(buf.toString('utf8'));
    if (rec === undefined) {
      this.malformedOnRead++;
      throw new RolloutIndexError(`${this.file}: line ${this.cols.lineNo[k]} is not a valid rollout (malformed JSON or a missing field)`);
    }
    return rec;
  }

  private check(k: number): void {
    if (!Number.isInteger(k) || k < 0 || k >= this.cols.size) {
      throw new RolloutIndexError(`rollout ${k} out of range: ${this.file} has ${this.cols.size} valid rollouts`);
    }
  }
}

interface Extra {
  advantage: number;
  length: number;
  meanEntropy: number;
  outside: number;
}
const EXTRA: Extra = { advantage: 0, length: 0, meanEntropy: 0, outside: 0 };

const NOT_FOUND = -1;
const NOT_A_KEY = -2;

/**
 * Where the value of a key starts: the needle `"key"` from `from` on (the writer's order), else from the line's start
 * (another writer's order); NOT_FOUND, or NOT_A_KEY when no colon follows.
 */
function keyValue(line: Buffer, needle: Buffer, from: number, anyOrder = true): number {
  let at = line.indexOf(needle, from);
  if (at === -1 && from > 0 && anyOrder) at = line.indexOf(needle);
  if (at === -1) return NOT_FOUND;
  const colon = skipSpace(line, at + needle.length);
  return line[colon] === 0x3a /* : */ ? skipSpace(line, colon + 1) : NOT_A_KEY;
}

/** trapo-run/1.1 summaries from a line's token_stats (at `at`): n, prefix and the two base64 arrays, pulled by key. */
function statsSummary(line: Buffer, at: number, alpha: number, out: Extra): void {
  // The writer's layout read straight: `"token_stats":{"n":N,"prefix":P,...,"logprob":"...","entropy":"..."}}` at the
  // end of the line (the two arrays found from the end: no search through a list of token texts); else by key.
  let n = Number.NaN;
  let prefix = Number.NaN;
  let lp = -1; // the opening quote of each base64 string
  let en = -1;
  const head = expect(line, at, STATS_FAST.head);
  if (head > 0) {
    n = readNumber(line, head);
    const p = expect(line, numberEnd, STATS_FAST.prefix);
    if (p > 0) prefix = readNumber(line, p);
    const last = line.length - 3; // the closing quote of entropy, before `}}`
    if (line[last] === 0x22 && line[last + 1] === 0x7d && line[last + 2] === 0x7d) {
      const e = line.lastIndexOf(0x22, last - 1);
      const l = e - STATS_FAST.entropy.length + 1; // the closing quote of logprob
      if (e > 0 && expect(line, l, STATS_FAST.entropy) === e + 1) {
        const q = line.lastIndexOf(0x22, l - 1);
        if (q > 0 && expect(line, q - STATS_FAST.logprob.length + 1, STATS_FAST.logprob) === q + 1) {
          lp = q;
          en = e;
        }
      }
    }
  }
  if (!Number.isInteger(n) || !Number.isInteger(prefix) || lp === -1) {
    let from = at;
    for (const key of STATS_KEYS) {
      const k = line.indexOf(STATS_NEEDLES[key], from);
      if (k === -1) return;
      const colon = skipSpace(line, k + STATS_NEEDLES[key].length);
      if (line[colon] !== 0x3a) return;
      const p = skipSpace(line, colon + 1);
      if (key === 'n') n = readNumber(line, p);
      else if (key === 'prefix') prefix = readNumber(line, p);
      else if (line[p] !== 0x22) return;
      else if (key === 'logprob') lp = p;
      else en = p;
      from = p;
    }
  }
  if (!Number.isInteger(n) || !Number.isInteger(prefix) || prefix < 0 || prefix > n) return;
  // base64 has no escapes: the bytes up to the closing quote, decoded here (no string made, no JSON.parse)
  const lpBytes = decodeBase64(line, lp + 1, line.indexOf(0x22, lp + 1), 0);
  const enBytes = decodeBase64(line, en + 1, line.indexOf(0x22, en + 1), 1);
  if (lpBytes !== 2 * n || enBytes !== 2 * n) return;
  const lpb = SCRATCH[0];
  const enb = SCRATCH[1];
  let sum = 0;
  for (let k = 0; k < n; k++) sum += half(enb[2 * k] | (enb[2 * k + 1] << 8));
  const logAlpha = Math.log(alpha);
  let outside = 0;
  for (let k = 0; k < prefix; k++) if (half(lpb[2 * k] | (lpb[2 * k + 1] << 8)) < logAlpha) outside++;
  out.length = n - prefix;
  out.meanEntropy = n ? sum / n : Number.NaN;
  out.outside = prefix ? outside / prefix : Number.NaN;
}

const STATS_FAST = {
  head: Buffer.from('"token_stats":{"n":'),
  prefix: Buffer.from(',"prefix":'),
  logprob: Buffer.from(',"logprob":"'),
  entropy: Buffer.from('","entropy":"'),
};

/** Value of each base64 character (-1: not one). */
const BASE64 = new Int8Array(256).fill(-1);
[...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'].forEach((c, i) => (BASE64[c.charCodeAt(0)] = i));
/** Two reused buffers the base64 arrays are decoded into (grown when a line needs more). */
const SCRATCH = [Buffer.alloc(1 << 14), Buffer.alloc(1 << 14)];
/** Base64 longer than this is decoded by Node (from a string made of it); shorter, by the loop below. */
const NATIVE_BASE64_CHARS = 128;

/**
 * Decodes the base64 text [start, end) of b into SCRATCH[slot]; the number of bytes, or -1 when it is not base64.
 * Node decodes base64 only from a string: for the short arrays of short rollouts, making that string cost more than
 * decoding here (a loop, hand-written for that reason); for long ones Node's decoder is faster.
 */
function decodeBase64(b: Buffer, start: number, end: number, slot: 0 | 1): number {
  if (start <= 0 || end < start) return -1;
  while (end > start && b[end - 1] === 0x3d) end--; // '=' padding
  const chars = end - start;
  if (chars % 4 === 1) return -1;
  const bytes = Math.floor((chars * 3) / 4);
  if (SCRATCH[slot].length < bytes) SCRATCH[slot] = Buffer.alloc(Math.max(bytes, SCRATCH[slot].length * 2));
  const out = SCRATCH[slot];
  if (chars > NATIVE_BASE64_CHARS) {
    // (Node skips characters that are not base64 instead of failing: a wrong count then tells)
    return out.write(b.toString('latin1', start, end), 0, bytes, 'base64') === bytes && BASE64[b[start]] >= 0 ? bytes : -1;
  }
  let o = 0;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const v = (BASE64[b[i]] << 18) | (BASE64[b[i + 1]] << 12) | (BASE64[b[i + 2]] << 6) | BASE64[b[i + 3]];
    if (v < 0) return -1; // (a -1 anywhere sets the sign bit)
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 0xff;
    out[o++] = v & 0xff;
  }
  if (end - i >= 2) {
    const v = (BASE64[b[i]] << 18) | (BASE64[b[i + 1]] << 12) | (end - i === 3 ? BASE64[b[i + 2]] << 6 : 0);
    if (v < 0 || (end - i === 3 && BASE64[b[i + 2]] < 0)) return -1;
    out[o++] = v >> 16;
    if (end - i === 3) out[o++] = (v >> 8) & 0xff;
  }
  return o;
}

/** 2^(e - 25) for each float16 exponent e (2^-24 for e = 0: subnormals). */
const HALF_SCALE = Float64Array.from({ length: 32 }, (_, e) => 2 ** (Math.max(e, 1) - 25));

/**
 * A float16 bit pattern's value, by arithmetic: a table of all 65,536 (512 KB) is looked up at random and misses the
 * cache more than this costs. Equal to tokenStats.halfToNumber (test/unit/rolloutIndex.test.ts checks every pattern).
 */
export function half(h: number): number {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  const v = e === 31 ? (m ? Number.NaN : Number.POSITIVE_INFINITY) : (e ? 1024 + m : m) * HALF_SCALE[e];
  return h & 0x8000 ? -v : v;
}

/** trapo-run/1 summaries from a line's per-token objects (a full parse). */
function legacySummary(line: Buffer, alpha: number, out: Extra): void {
  const rec = parseRolloutLine(line.toString('utf8'));
  const tokens = rec?.tokens;
  if (!tokens || tokens.length === 0) return;
  let entropy = 0;
  let prefix = 0;
  let outside = 0;
  const logAlpha = Math.log(alpha);
  for (const t of tokens) {
    entropy += t.entropy;
    if (t.prefix) {
      prefix++;
      if (t.logprob < logAlpha) outside++;
    }
  }
  out.length = tokens.length - prefix;
  out.meanEntropy = entropy / tokens.length;
  out.outside = prefix ? outside / prefix : Number.NaN;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d;
}

function skipSpace(b: Buffer, i: number): number {
  while (i < b.length && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0d || b[i] === 0x0a)) i++;
  return i;
}

/** The trainer's compact layout (json.dumps separators=(",", ":")): the bytes before each value. */
const FAST = {
  step: Buffer.from('{"step":'),
  prompt_id: Buffer.from(',"prompt_id":'),
  sample: Buffer.from(',"sample":'),
  stage: Buffer.from(',"stage":'),
  level: Buffer.from(',"level":'),
  prompt: Buffer.from(',"prompt":'),
  advantage: Buffer.from(',"advantage":'),
  reward: Buffer.from(',"reward":'),
  token: Buffer.from(',"token'),
  token_stats: Buffer.from(',"token_stats":'),
  tokens: Buffer.from(',"tokens":'),
};

/** The position after the first `needle` from `from` on, else NOT_FOUND. */
function after(line: Buffer, needle: Buffer, from: number): number {
  const at = line.indexOf(needle, from);
  return at === -1 ? NOT_FOUND : at + needle.length;
}

/** The position after `needle` when the line has it at `at`, else -1 (a byte compare, no search). */
function expect(line: Buffer, at: number, needle: Buffer): number {
  if (at < 0 || at + needle.length > line.length) return -1;
  for (let i = 0; i < needle.length; i++) if (line[at + i] !== needle[i]) return -1;
  return at + needle.length;
}

/** What fastHead reads off a line. */
interface Head {
  /** The values of step, sample, stage and level (read on the way). */
  values: [number, number, number, number];
  step: number;
  id: number;
  /** The closing quote of the prompt id. */
  idEnd: number;
  sample: number;
  stage: number;
  level: number;
  levelEnd: number;
  prompt: number;
}
/** fastHead's result, reused line after line (one object less per line to collect). */
const HEAD: Head = { values: [0, 0, 0, 0], step: 0, id: 0, idEnd: 0, sample: 0, stage: 0, level: 0, levelEnd: 0, prompt: 0 };

/**
 * The value positions of step, prompt_id, sample, stage, level (and prompt, -1 when left out) read straight off the
 * writer's layout, or undefined when the line is laid out otherwise (then the keys are searched for).
 */
function fastHead(line: Buffer): Head | undefined {
  const v = HEAD.values;
  const step = expect(line, 0, FAST.step);
  if (step < 0) return undefined;
  v[0] = readNumber(line, step);
  const id = expect(line, numberEnd, FAST.prompt_id);
  if (id < 0 || line[id] !== 0x22) return undefined;
  let close = line.indexOf(0x22, id + 1);
  while (close !== -1 && line[close - 1] === 0x5c) {
    // an escaped quote (or a backslash before it: count them)
    let n = 0;
    for (let k = close - 1; k > id && line[k] === 0x5c; k--) n++;
    if (n % 2 === 0) break;
    close = line.indexOf(0x22, close + 1);
  }
  if (close === -1) return undefined;
  const sample = expect(line, close + 1, FAST.sample);
  if (sample < 0) return undefined;
  v[1] = readNumber(line, sample);
  const stage = expect(line, numberEnd, FAST.stage);
  if (stage < 0) return undefined;
  v[2] = readNumber(line, stage);
  const level = expect(line, numberEnd, FAST.level);
  if (level < 0) return undefined;
  v[3] = readNumber(line, level);
  const levelEnd = numberEnd;
  HEAD.step = step;
  HEAD.id = id;
  HEAD.idEnd = close;
  HEAD.sample = sample;
  HEAD.stage = stage;
  HEAD.level = level;
  HEAD.levelEnd = levelEnd;
  HEAD.prompt = expect(line, levelEnd, FAST.prompt);
  return HEAD;
}

/** Where the last number readNumber read ends. */
let numberEnd = 0;

/** The JSON number starting at i (NaN when there is none); plain integers and decimals without a string. */
function readNumber(b: Buffer, i: number): number {
  // Fast path: -?digits(.digits)? followed by a delimiter.
  let k = i;
  let neg = false;
  if (b[k] === 0x2d) {
    neg = true;
    k++;
  }
  let int = 0;
  let digits = 0;
  while (k < b.length && b[k] >= 0x30 && b[k] <= 0x39 && digits < 15) {
    int = int * 10 + (b[k] - 0x30);
    k++;
    digits++;
  }
  if (digits > 0 && digits < 15) {
    let value = int;
    if (b[k] === 0x2e) {
      k++;
      let scale = 1;
      let frac = 0;
      let fd = 0;
      while (k < b.length && b[k] >= 0x30 && b[k] <= 0x39 && fd < 15) {
        frac = frac * 10 + (b[k] - 0x30);
        scale *= 10;
        k++;
        fd++;
      }
      // One correctly rounded division of two exact integers (15 digits at most): Number(text)'s value exactly.
      if (fd > 0 && digits + fd <= 15 && !(b[k] >= 0x30 && b[k] <= 0x39)) value = (int * scale + frac) / scale;
      else value = Number.NaN;
    }
    const c = b[k];
    if (!Number.isNaN(value) && c !== 0x65 && c !== 0x45 && !(c >= 0x30 && c <= 0x39)) {
      numberEnd = k;
      return neg ? -value : value;
    }
  }
  let j = i;
  while (j < b.length) {
    const c = b[j];
    // digits, sign, point, exponent
    if ((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45) j++;
    else break;
  }
  numberEnd = j;
  if (j === i) return NaN;
  const n = Number(b.toString('latin1', i, j));
  return n;
}

/** The JSON string starting at i (its opening quote), cut to at most `maxChars`; undefined when it is not one. */
function readString(b: Buffer, i: number, maxChars: number): string | undefined {
  if (b[i] !== 0x22) return undefined;
  let j = i + 1;
  for (;;) {
    j = b.indexOf(0x22, j);
    if (j === -1) return undefined;
    let backslashes = 0;
    for (let k = j - 1; k > i && b[k] === 0x5c; k--) backslashes++;
    if (backslashes % 2 === 0) break;
    j++;
  }
  // Without a backslash the string is its UTF-8 bytes (most ids; JSON.parse only for escapes)
  const escape = b.indexOf(0x5c, i + 1);
  if (escape === -1 || escape > j) {
    const text = b.toString('utf8', i + 1, j);
    return text.length > maxChars ? text.slice(0, maxChars) : text;
  }
  let s: unknown;
  try {
    s = JSON.parse(b.toString('utf8', i, j + 1));
  } catch {
    return undefined;
  }
  if (typeof s !== 'string') return undefined;
  return s.length > maxChars ? s.slice(0, maxChars) : s;
}

// ----------------------------------------------------------------------------------------------- filtering

/** Indices of the rollouts matching a query (src/shared/rolloutQuery.ts), in file order, at most `limit`; `total` counts all matches. */
export function filterRollouts(index: RolloutIndex, q: RolloutQuery, limit = Infinity): { matches: number[]; total: number } {
  const matches: number[] = [];
  let total = 0;
  let k = 0;
  const row: RowAccess = {
    value: (field) => index.value(k, field),
    promptId: () => index.promptIdOf(k),
    promptText: () => index.promptText(k),
  };
  for (; k < index.count; k++) {
    if (!matchesQuery(q, row)) continue;
    total++;
    if (matches.length < limit) matches.push(k);
  }
  return { matches, total };
}
