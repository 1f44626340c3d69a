// The typed protocol between the Compare Checkpoints webview and the extension host: one union per direction,
// tagged by `type`. Imported by both sides, so it imports neither `vscode`, nor node, nor the DOM.
//
//   webview --ready-------> host      (script loaded, listener installed)
//   host    --init--------> webview   (both checkpoints, per-benchmark rows, whether the live prompt is available)
//   webview --openDiff----> host      (a flipped problem: both completions in VS Code's diff editor)
//   webview --generate----> host      (live prompt) ; host --token--> webview (each new token) ; --done / --error
//   webview --cancel------> host

export interface CompareSide {
  label: string;
  runDir: string;
  step: number;
  /** model.onnx exists for this checkpoint. */
  hasOnnx: boolean;
}

export interface SideStats {
  accuracy: number;
  problems: number;
  skipped: number;
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
}

export type Side = 'a' | 'b';

export interface InitMessage {
  type: 'init';
  a: CompareSide;
  b: CompareSide;
  rows: BenchmarkRow[];
  /** Why the live prompt is unavailable, or null when it is available. */
  liveUnavailable: string | null;
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
}
export interface ErrorMessage {
  type: 'error';
  side: Side | null;
  generation: number | null;
  message: string;
}
export type HostMessage = InitMessage | TokenMessage | DoneMessage | ErrorMessage;

export interface ReadyMessage {
  type: 'ready';
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
}
export interface CancelMessage {
  type: 'cancel';
}
export type WebviewMessage = ReadyMessage | OpenDiffMessage | GenerateMessage | CancelMessage;

/** Checks a message from the webview (untrusted input); returns a reason when it is not one. */
export function checkWebviewMessage(m: unknown): WebviewMessage | string {
  if (typeof m !== 'object' || m === null) return 'not an object';
  const o = m as Record<string, unknown>;
  switch (o.type) {
    case 'ready':
    case 'cancel':
      return o as unknown as WebviewMessage;
    case 'openDiff':
      return typeof o.benchmark === 'string' && typeof o.problemId === 'string' ? (o as unknown as OpenDiffMessage) : 'openDiff: bad fields';
    case 'generate':
      return typeof o.prompt === 'string' &&
        Number.isInteger(o.generation) &&
        Number.isInteger(o.maxTokens) &&
        (o.maxTokens as number) >= 1 &&
        (o.maxTokens as number) <= 4096 &&
        typeof o.temperature === 'number' &&
        o.temperature >= 0 &&
        o.temperature <= 10
        ? (o as unknown as GenerateMessage)
        : 'generate: bad fields (max tokens 1..4096, temperature 0..10)';
    default:
      return `unknown message type ${JSON.stringify(o.type)}`;
  }
}
