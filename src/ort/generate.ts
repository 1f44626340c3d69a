// Text generation from a checkpoint's model.onnx with onnxruntime-node, in the extension host. No `vscode` import.
//
// The tokenizer is read from the checkpoint's tokenizer.json by @huggingface/tokenizers, the chat template from its
// tokenizer_config.json by @huggingface/jinja. The exported graph takes `input_ids` (int64 [batch, seq]), optionally
// `attention_mask` and `position_ids`, and returns `logits` (float32 [batch, seq, vocab]). It has no KV-cache inputs,
// so each new token re-runs the whole sequence (quadratic in length: fine for the short probes this is made for).
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { mulberry32 } from '../core/bootstrap';

export class OrtGenerateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OrtGenerateError';
  }
}

export interface GenerateOptions {
  /** New tokens at most (default 128). */
  maxTokens?: number;
  /** 0 (default): greedy. Otherwise softmax(logits / temperature) sampling. */
  temperature?: number;
  /** Seed of the sampler (temperature > 0). */
  seed?: number;
  /** Apply the chat template when the checkpoint has one (default true). */
  chatTemplate?: boolean;
  /** Checked before each token: generation stops when it returns true. */
  isCancelled?: () => boolean;
}

export interface GeneratedToken {
  /** The token (-1 for the text held back until the end, see generate). */
  id: number;
  /** The text this token added to the decoded output (may be empty while a multi-byte character is incomplete). */
  text: string;
}

export interface GenerateResult {
  text: string;
  ids: number[];
  promptIds: number[];
  stopped: 'eos' | 'max_tokens' | 'cancelled';
  seconds: number;
}

type Json = Record<string, unknown>;

async function readJson(file: string, required: boolean): Promise<Json | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OrtGenerateError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as Json;
  } catch (e) {
    throw new OrtGenerateError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** A special token in tokenizer_config.json is a string or an AddedToken object `{content, ...}`. */
function tokenString(x: unknown): string | undefined {
  if (typeof x === 'string') return x;
  if (typeof x === 'object' && x !== null && typeof (x as Json).content === 'string') return (x as Json).content as string;
  return undefined;
}

function ids(x: unknown): number[] {
  if (typeof x === 'number') return [x];
  if (Array.isArray(x)) return x.filter((v): v is number => typeof v === 'number');
  return [];
}

let ortModule: typeof Ort | undefined;
/** onnxruntime-node is loaded on first use: a missing native binary then fails one command, not the extension. */
async function ort(): Promise<typeof Ort> {
  if (!ortModule) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      ortModule = require('onnxruntime-node') as typeof Ort;
    } catch (e) {
      throw new OrtGenerateError(`onnxruntime-node could not be loaded on ${process.platform}-${process.arch}: ${(e as Error).message}`);
    }
  }
  return ortModule;
}

export class OrtModel {
  private constructor(
    readonly checkpointDir: string,
    readonly onnxPath: string,
    private readonly session: Ort.InferenceSession,
    private readonly ortApi: typeof Ort,
    readonly tokenizer: Tokenizer,
    private readonly template: Template | undefined,
    private readonly templateVars: Json,
    readonly eosIds: ReadonlySet<number>,
  ) {}

  /** Loads <checkpointDir>/model.onnx (or `onnxPath`) with the checkpoint's tokenizer and chat template. */
  /** `threads`: intra-op threads of the session (default: half the CPUs, at least 1; see defaultThreads). */
  static async load(checkpointDir: string, onnxPath = path.join(checkpointDir, 'model.onnx'), threads?: number): Promise<OrtModel> {
    try {
      await fs.access(onnxPath);
    } catch {
      throw new OrtGenerateError(`no ONNX export at ${onnxPath} (export it with \`python -m trapo export-onnx\`)`);
    }
    const tokenizerJson = await readJson(path.join(checkpointDir, 'tokenizer.json'), true);
    const tokenizerConfig = (await readJson(path.join(checkpointDir, 'tokenizer_config.json'), false)) ?? {};
    const generationConfig = (await readJson(path.join(checkpointDir, 'generation_config.json'), false)) ?? {};
    const modelConfig = (await readJson(path.join(checkpointDir, 'config.json'), false)) ?? {};
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson!, tokenizerConfig);
    } catch (e) {
      throw new OrtGenerateError(`${path.join(checkpointDir, 'tokenizer.json')}: not a tokenizer this library reads (${(e as Error).message})`);
    }
    let template: Template | undefined;
    const chat = tokenizerConfig.chat_template;
    if (typeof chat === 'string') {
      try {
        template = new Template(chat);
      } catch (e) {
        throw new OrtGenerateError(`chat_template of ${path.join(checkpointDir, 'tokenizer_config.json')} does not parse: ${(e as Error).message}`);
      }
    }
    const templateVars: Json = {};
    for (const k of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
      const s = tokenString(tokenizerConfig[k]);
      if (s !== undefined) templateVars[k] = s;
    }
    const eos = new Set<number>([...ids(generationConfig.eos_token_id), ...ids(modelConfig.eos_token_id)]);
    const eosText = tokenString(tokenizerConfig.eos_token);
    if (eos.size === 0 && eosText !== undefined) {
      const id = tokenizer.token_to_id(eosText);
      if (id !== undefined) eos.add(id);
    }
    const api = await ort();
    let session: Ort.InferenceSession;
    try {
      session = await api.InferenceSession.create(onnxPath, { graphOptimizationLevel: 'all', intraOpNumThreads: threads ?? defaultThreads() });
    } catch (e) {
      throw new OrtGenerateError(`onnxruntime cannot load ${onnxPath}: ${(e as Error).message}`);
    }
    if (!session.inputNames.includes('input_ids') || !session.outputNames.includes('logits')) {
      throw new OrtGenerateError(
        `${onnxPath}: expected an input "input_ids" and an output "logits", found inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]`,
      );
    }
    const unknown = session.inputNames.filter((n) => !['input_ids', 'attention_mask', 'position_ids'].includes(n));
    if (unknown.length) {
      throw new OrtGenerateError(`${onnxPath}: inputs [${unknown.join(', ')}] (a KV-cache export?) are not supported; export without past key values`);
    }
    return new OrtModel(checkpointDir, onnxPath, session, api, tokenizer, template, templateVars, eos);
  }

  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  /** The text the model sees for a user prompt: the chat template with a generation prompt, or the prompt as is. */
  formatPrompt(prompt: string, chatTemplate = true): string {
    if (!chatTemplate || !this.template) return prompt;
    return this.template.render({
      ...this.templateVars,
      messages: [{ role: 'user', content: prompt }],
      add_generation_prompt: true,
    });
  }

  /** Token ids of the formatted prompt. A templated prompt carries its special tokens already. */
  encodePrompt(prompt: string, chatTemplate = true): number[] {
    const templated = chatTemplate && this.template !== undefined;
    return this.tokenizer.encode(this.formatPrompt(prompt, chatTemplate), { add_special_tokens: !templated }).ids;
  }

  /** Logits of the last position for a sequence. */
  private async lastLogits(seq: number[]): Promise<Float32Array> {
    const { Tensor } = this.ortApi;
    const n = seq.length;
    const feeds: Record<string, Ort.Tensor> = {
      input_ids: new Tensor(
        'int64',
        BigInt64Array.from(seq, (x) => BigInt(x)),
        [1, n],
      ),
    };
    if (this.session.inputNames.includes('attention_mask')) feeds.attention_mask = new Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]);
    if (this.session.inputNames.includes('position_ids'))
      feeds.position_ids = new Tensor(
        'int64',
        BigInt64Array.from({ length: n }, (_, i) => BigInt(i)),
        [1, n],
      );
    const out = await this.session.run(feeds);
    const logits = out.logits;
    const dims = logits.dims;
    if (dims.length !== 3 || dims[0] !== 1 || dims[1] !== n) {
      throw new OrtGenerateError(`${this.onnxPath}: logits have shape [${dims.join(', ')}], expected [1, ${n}, vocab]`);
    }
    const vocab = dims[2];
    const data = logits.data as Float32Array;
    return data.subarray((n - 1) * vocab, n * vocab);
  }

  /**
   * Generates from a prompt. `onToken` is called for each new token as it comes. Greedy by default; ties go to the
   * lowest id, as torch.argmax does.
   */
  async generate(prompt: string, options: GenerateOptions = {}, onToken?: (t: GeneratedToken) => void): Promise<GenerateResult> {
    const started = performance.now();
    const maxTokens = options.maxTokens ?? 128;
    const temperature = options.temperature ?? 0;
    if (!(maxTokens >= 1 && Number.isInteger(maxTokens))) throw new OrtGenerateError(`max tokens must be a positive integer, got ${maxTokens}`);
    if (!(temperature >= 0 && Number.isFinite(temperature))) throw new OrtGenerateError(`temperature must be >= 0, got ${temperature}`);
    const rand = mulberry32(options.seed ?? 0);
    const promptIds = this.encodePrompt(prompt, options.chatTemplate ?? true);
    const seq = [...promptIds];
    const out: number[] = [];
    let text = '';
    let stopped: GenerateResult['stopped'] = 'max_tokens';
    for (let i = 0; i < maxTokens; i++) {
      if (options.isCancelled?.()) {
        stopped = 'cancelled';
        break;
      }
      const logits = await this.lastLogits(seq);
      const id = temperature === 0 ? argmax(logits) : sample(logits, temperature, rand);
      if (this.eosIds.has(id)) {
        stopped = 'eos';
        break;
      }
      seq.push(id);
      out.push(id);
      const decoded = this.tokenizer.decode(out, { skip_special_tokens: true });
      // a character split over tokens decodes as U+FFFD until its last byte comes: hold it back until then
      const stable = decoded.endsWith('\ufffd') ? '' : decoded.startsWith(text) ? decoded.slice(text.length) : decoded;
      if (stable) text = decoded;
      onToken?.({ id, text: stable });
    }
    const final = this.tokenizer.decode(out, { skip_special_tokens: true });
    if (final !== text && final.startsWith(text)) onToken?.({ id: -1, text: final.slice(text.length) });
    return { text: final, ids: out, promptIds, stopped, seconds: (performance.now() - started) / 1000 };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Half the CPUs (at least 1): the live prompt runs two sessions at once beside VS Code itself. Measured on a shared
 * 2-CPU machine with the tiny model (bench/ort-generate.ts): 1 thread 456-571 tokens/s, ORT's default (all cores)
 * 122-144, 2 threads 94-104; over-subscribed threads spin against each other.
 */
export function defaultThreads(): number {
  return Math.max(1, Math.floor(os.cpus().length / 2));
}

export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** Samples from softmax(x / temperature), max-subtracted for stability. */
export function sample(x: ArrayLike<number>, temperature: number, rand: () => number): number {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > max) max = x[i];
  const w = new Float64Array(x.length);
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    w[i] = Math.exp((x[i] - max) / temperature);
    sum += w[i];
  }
  let r = rand() * sum;
  for (let i = 0; i < w.length; i++) {
    r -= w[i];
    if (r < 0) return i;
  }
  return w.length - 1;
}
