// The typed protocol between the Compare Checkpoints webview and the extension host: one union per direction,
// tagged by `type`. Imported by both sides, so it imports neither `vscode`, nor node, nor the DOM.
//
//   webview --ready{version}--> host  (script loaded, listener installed)
//   host    --init-----------> webview (both checkpoints, per-benchmark rows, the average row, the live prompt's engine)
//   webview --openDiff-------> host    (a flipped problem: both completions in VS Code's diff editor)
//   webview --generate-------> host    (live prompt) ; host --liveStatus (starting, loading) --token (each new piece of
//                                        text) --done (per side, with the first token's latency) / --error
//   webview --cancel---------> host    (stops both sides between two tokens)
//   webview --prepare--------> host    (the prompt box got focus: start the engine, load both models ahead)
//
// Messages from the webview are checked (parseCompareWebviewMessage), as the dashboard's are: a webview is a web page.

export const COMPARE_PROTOCOL_VERSION = 1;

export interface CompareSide {
  label: string;
  runDir: string;
  step: number;
  /** model.onnx exists for this checkpoint. */
  hasOnnx: boolean;
  /** The checkpoint folder exists (a step may have evaluations but no checkpoint, e.g. deleted by keep_last). */
  hasCheckpoint: boolean;
}

/** trainer: the run's own evaluation; checkpoint: Evaluate Checkpoint's (checkpoint_evals/). */
export type EvalSourceName = 'trainer' | 'checkpoint';

export interface SideStats {
  accuracy: number;
  problems: number;
  skipped: number;
  source: EvalSourceName;
}

export interface PairedStats {
  n: number;
  difference: number;
  low: number;
  high: number;
  flipsToA: number;
  flipsToB: number;
}

export interface FlipRow {
  problemId: string;
  prompt: string;
  answer: string;
  accuracyA: number;
  accuracyB: number;
  direction: 'toA' | 'toB';
}

export interface BenchmarkRow {
  benchmark: string;
  presence: 'both' | 'onlyA' | 'onlyB';
  a?: SideStats;
  b?: SideStats;
  paired?: PairedStats;
  unpairedA: number;
  unpairedB: number;
  flips: FlipRow[];
  /** How the row was paired, or why not (different problems under one name). */
  note?: string;
}

/** The macro average over the benchmarks both sides evaluated, with a stratified paired-bootstrap interval. */
export interface AverageRow {
  benchmarks: string[];
  /** Problems paired over those benchmarks. */
  n: number;
  accuracyA: number;
  accuracyB: number;
  difference: number;
  low: number;
  high: number;
  flipsToA: number;
  flipsToB: number;
}

export type Side = 'a' | 'b';

/** training: the prompt as the trainer builds it (template + instruction); chat: the template only; raw: as typed. */
export type PromptMode = 'training' | 'chat' | 'raw';
export const PROMPT_MODES: readonly PromptMode[] = ['training', 'chat', 'raw'];

/** Which engine answers the live prompt. */
export type LiveEngine = 'service' | 'onnx';

export interface LiveInfo {
  /** null when the live prompt is unavailable. */
  engine: LiveEngine | null;
  /** Why the live prompt is unavailable (null when it is available). */
  unavailable: string | null;
  /** What runs the model, for the user (e.g. "the trainer's Python (/path/python), on the run's machine"). */
  note: string;
  promptModes: PromptMode[];
}

export interface CompareInitMessage {
  type: 'init';
  a: CompareSide;
  b: CompareSide;
  rows: BenchmarkRow[];
  average: AverageRow | null;
  live: LiveInfo;
}
export interface LiveStatusMessage {
  type: 'liveStatus';
  /** null: about the live prompt as a whole (e.g. the service starting). */
  side: Side | null;
  /** null: while getting ready, before a generation (Prepare). */
  generation: number | null;
  text: string;
}
export interface TokenMessage {
  type: 'token';
  side: Side;
  generation: number;
  text: string;
}
export interface DoneMessage {
  type: 'done';
  side: Side;
  generation: number;
  stopped: 'eos' | 'max_tokens' | 'cancelled';
  tokens: number;
  seconds: number;
  /** Seconds from Generate to this side's first token (null when none came). */
  firstTokenSeconds: number | null;
}
export interface ErrorMessage {
  type: 'error';
  side: Side | null;
  generation: number | null;
  message: string;
}
export type HostMessage = CompareInitMessage | LiveStatusMessage | TokenMessage | DoneMessage | ErrorMessage;

export interface CompareReadyMessage {
  type: 'ready';
  version: number;
}
export interface OpenDiffMessage {
  type: 'openDiff';
  benchmark: string;
  problemId: string;
}
export interface GenerateMessage {
  type: 'generate';
  generation: number;
  prompt: string;
  maxTokens: number;
  /** 0: greedy. */
  temperature: number;
  promptMode: PromptMode;
}
export interface CancelMessage {
  type: 'cancel';
}
/** The user is about to use the live prompt (the prompt box got focus): start the engine and load both models. */
export interface PrepareMessage {
  type: 'prepare';
}
export type WebviewMessage = CompareReadyMessage | OpenDiffMessage | GenerateMessage | CancelMessage | PrepareMessage;

export const MAX_LIVE_TOKENS = 4096;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Checks a message from the webview (untrusted input): the typed message, or the reason it is not one. */
export function parseCompareWebviewMessage(m: unknown): { ok: true; message: WebviewMessage } | { ok: false; reason: string } {
  if (!isObj(m) || typeof m.type !== 'string') return { ok: false, reason: 'not a message object with a "type"' };
  switch (m.type) {
    case 'ready':
      return m.version === COMPARE_PROTOCOL_VERSION
        ? { ok: true, message: { type: 'ready', version: COMPARE_PROTOCOL_VERSION } }
        : { ok: false, reason: `ready: protocol version ${String(m.version)}, expected ${COMPARE_PROTOCOL_VERSION}` };
    case 'cancel':
      return { ok: true, message: { type: 'cancel' } };
    case 'prepare':
      return { ok: true, message: { type: 'prepare' } };
    case 'openDiff':
      return typeof m.benchmark === 'string' && typeof m.problemId === 'string'
        ? { ok: true, message: { type: 'openDiff', benchmark: m.benchmark, problemId: m.problemId } }
        : { ok: false, reason: 'openDiff: "benchmark" and "problemId" must be strings' };
    case 'generate': {
      const { prompt, generation, maxTokens, temperature, promptMode } = m;
      if (typeof prompt !== 'string' || !Number.isInteger(generation) || (generation as number) < 0) {
        return { ok: false, reason: 'generate: "prompt" must be a string and "generation" a non-negative integer' };
      }
      if (!Number.isInteger(maxTokens) || (maxTokens as number) < 1 || (maxTokens as number) > MAX_LIVE_TOKENS) {
        return { ok: false, reason: `generate: max tokens must be an integer in 1..${MAX_LIVE_TOKENS}` };
      }
      if (typeof temperature !== 'number' || !(temperature >= 0 && temperature <= 10)) {
        return { ok: false, reason: 'generate: temperature must be a number in 0..10' };
      }
      if (!PROMPT_MODES.includes(promptMode as PromptMode)) {
        return { ok: false, reason: `generate: prompt mode must be one of ${PROMPT_MODES.join(', ')}` };
      }
      return {
        ok: true,
        message: {
          type: 'generate',
          prompt,
          generation: generation as number,
          maxTokens: maxTokens as number,
          temperature,
          promptMode: promptMode as PromptMode,
        },
      };
    }
    default:
      return { ok: false, reason: `unknown message type ${JSON.stringify(m.type)}` };
  }
}
