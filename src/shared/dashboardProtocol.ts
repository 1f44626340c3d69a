// The typed protocol between the dashboard webview and the extension host: one union of messages per direction,
// tagged by `type` (after vscode-hexeditor's shared/protocol.ts). Imported by both sides, so it imports neither
// `vscode`, nor node, nor the DOM.
//
// Sequence:
//   webview  --ready{state, firstScreen}-->  host   (after its script has loaded and the listener is installed)
//   host     --snapshot------>  webview       (run list, selection, settings, decimated data of the selected runs for
//                                             the charts of the first screen)
//   host     --append-------->  webview       (the rest of the snapshot, once the webview acknowledged it)
//   host     --append-------->  webview       (new points only, batched: at most one message every ~100 ms)
//   host     --runData------->  webview       (whole data of runs newly selected, or re-decimated when long)
//   host     --runs---------->  webview       (run list changed: a run appeared, its status or step changed)
//   webview  --selectRuns--->  host          (the user ticked or unticked a run)
//   webview  --rendered{seq}-> host          (charts drawn after the message numbered seq; tests and benchmarks)

import type { WireNumber } from './nonFinite';

export const DASHBOARD_PROTOCOL_VERSION = 1;

/** Status as the dashboard shows it: a run's own status, or `crashed` inferred by the run store. */
export type DashboardRunStatus = 'running' | 'finished' | 'failed' | 'stopped' | 'crashed';

export interface RunSummary {
  id: string;
  name: string;
  algorithm: string;
  status: DashboardRunStatus;
  /** Unix seconds. */
  createdAt: number;
  step: number | null;
  totalSteps: number | null;
  /** Lines and values the reader left out of this run's events.jsonl (absent: none). */
  skipped?: SkippedSummary;
  /** The run's first NaN or infinite loss, e.g. "loss/total NaN at step 12" (absent: none). */
  anomaly?: string;
}

/** The counts of src/core/runStore.ts SkippedCounts, as the dashboard shows them. */
export interface SkippedSummary {
  malformed: number;
  unknown: number;
  badValues: number;
  torn: number;
}

/** "2 malformed lines, 1 torn last line skipped": what the reader left out of a run's events.jsonl. */
export function skippedText(s: SkippedSummary | undefined): string {
  if (!s) return '';
  const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  const parts: string[] = [];
  if (s.malformed) parts.push(plural(s.malformed, 'malformed line'));
  if (s.unknown) parts.push(`${plural(s.unknown, 'line')} of an unknown type`);
  if (s.torn) parts.push('a torn last line');
  if (s.badValues) parts.push(plural(s.badValues, 'unreadable metric value'));
  return parts.length ? `${parts.join(', ')} skipped in events.jsonl` : '';
}


/**
 * Points of one metric: parallel arrays (step, wall time, value). Times are seconds since the run's `startTime`,
 * rounded to milliseconds: shorter in JSON than unix seconds, and what the wall-time axis shows anyway. Values are
 * numbers, or "NaN" / "Infinity" / "-Infinity" for non-finite ones (JSON, which carries these messages, has no
 * literal for them: src/shared/nonFinite.ts).
 */
export interface SeriesPayload {
  name: string;
  steps: number[];
  times: number[];
  values: WireNumber[];
}

/** Accuracy of one benchmark over evaluations (`average` is sent as a benchmark named by AVERAGE_BENCHMARK). */
export interface BenchmarkPayload {
  name: string;
  steps: number[];
  times: number[];
  accuracy: WireNumber[];
}

export const AVERAGE_BENCHMARK = 'average';
/** The group of the benchmark charts (the webview draws it first, and puts `eval/*` metrics in it too). */
export const BENCHMARK_GROUP = 'eval';

/** Everything the dashboard draws for one run. */
export interface RunData {
  runId: string;
  /** Unix seconds of the origin of the wall-time axis (the run's creation); `times` count from here. */
  startTime: number;
  series: SeriesPayload[];
  benchmarks: BenchmarkPayload[];
}

export interface DashboardSettings {
  /** Default smoothing weight in [0, 1) (setting trapo.dashboard.smoothing), used until the user moves the slider. */
  smoothing: number;
  maxPointsPerSeries: number;
}

/** UI choices the webview keeps across reloads (vscode.setState) and reports in its `ready`. */
export interface DashboardUiState {
  smoothing?: number;
  xAxis?: XAxis;
  collapsed?: string[];
  selected?: string[];
}
export type XAxis = 'step' | 'time';

// ----------------------------------------------------------------------------------------------- host -> webview

export interface SnapshotMessage {
  type: 'snapshot';
  seq: number;
  runs: RunSummary[];
  selected: string[];
  settings: DashboardSettings;
  data: RunData[];
}
export interface AppendMessage {
  type: 'append';
  seq: number;
  /** New points per run (only runs with something new). */
  data: RunData[];
}
export interface RunDataMessage {
  type: 'runData';
  seq: number;
  /** The selection now (the host may add a run, e.g. Open Dashboard on a run in the tree). */
  selected: string[];
  /** Replaces the webview's data of these runs. */
  data: RunData[];
}
export interface RunsMessage {
  type: 'runs';
  seq: number;
  runs: RunSummary[];
}
export interface SettingsMessage {
  type: 'settings';
  seq: number;
  settings: DashboardSettings;
}
export type HostToWebviewMessage = SnapshotMessage | AppendMessage | RunDataMessage | RunsMessage | SettingsMessage;

// ----------------------------------------------------------------------------------------------- webview -> host

export interface ReadyMessage {
  type: 'ready';
  version: number;
  /** The restored UI state (vscode.getState), so the host can honour the previous selection. */
  state: DashboardUiState;
  /** The size of the webview's first screen in charts, so that the snapshot carries just what it shows. */
  firstScreen?: FirstScreen;
}
/** Charts per row, and rows of charts (a partly visible one counted) below the toolbar. */
export interface FirstScreen {
  columns: number;
  rows: number;
}
export interface SelectRunsMessage {
  type: 'selectRuns';
  runIds: string[];
}
export interface RenderedMessage {
  type: 'rendered';
  seq: number;
}
export type WebviewToHostMessage = ReadyMessage | SelectRunsMessage | RenderedMessage;

// ----------------------------------------------------------------------------------------------- validation

const isStrArray = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * Checks a message that came from the webview (a webview is a web page: its messages are checked, not trusted).
 * Returns the typed message or a reason.
 */
export function parseWebviewMessage(msg: unknown): { ok: true; message: WebviewToHostMessage } | { ok: false; reason: string } {
  if (!isObj(msg) || typeof msg.type !== 'string') return { ok: false, reason: 'not a message object with a "type"' };
  switch (msg.type) {
    case 'ready': {
      if (msg.version !== DASHBOARD_PROTOCOL_VERSION) {
        return { ok: false, reason: `ready: protocol version ${String(msg.version)}, expected ${DASHBOARD_PROTOCOL_VERSION}` };
      }
      const message: ReadyMessage = { type: 'ready', version: DASHBOARD_PROTOCOL_VERSION, state: parseUiState(msg.state) };
      const firstScreen = parseFirstScreen(msg.firstScreen);
      if (firstScreen) message.firstScreen = firstScreen;
      return { ok: true, message };
    }
    case 'selectRuns':
      if (!isStrArray(msg.runIds)) return { ok: false, reason: 'selectRuns: "runIds" is not a list of strings' };
      return { ok: true, message: { type: 'selectRuns', runIds: msg.runIds } };
    case 'rendered':
      if (!Number.isInteger(msg.seq)) return { ok: false, reason: 'rendered: "seq" is not an integer' };
      return { ok: true, message: { type: 'rendered', seq: msg.seq as number } };
    default:
      return { ok: false, reason: `unknown message type ${JSON.stringify(msg.type)}` };
  }
}

/** A first-screen size with whole numbers of columns and rows in 1..100; anything else is ignored (undefined). */
function parseFirstScreen(x: unknown): FirstScreen | undefined {
  if (!isObj(x)) return undefined;
  const ok = (n: unknown) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 100;
  return ok(x.columns) && ok(x.rows) ? { columns: x.columns as number, rows: x.rows as number } : undefined;
}

/** Keeps the well-formed parts of a stored UI state; anything else falls back to defaults. */
export function parseUiState(x: unknown): DashboardUiState {
  if (!isObj(x)) return {};
  const out: DashboardUiState = {};
  if (typeof x.smoothing === 'number' && x.smoothing >= 0 && x.smoothing < 1) out.smoothing = x.smoothing;
  if (x.xAxis === 'step' || x.xAxis === 'time') out.xAxis = x.xAxis;
  if (isStrArray(x.collapsed)) out.collapsed = x.collapsed;
  if (isStrArray(x.selected)) out.selected = x.selected;
  return out;
}

// ----------------------------------------------------------------------------------------------- grouping

/** The namespace of a metric: the part before the first '/', or `other` for a name without one. */
export function metricNamespace(name: string): string {
  const i = name.indexOf('/');
  return i > 0 ? name.slice(0, i) : 'other';
}

/** `prefix/level_<k>`: the guidance-level shares drawn together as a stacked area. */
const PREFIX_LEVEL = /^prefix\/level_(\d+)$/;
export function prefixLevel(name: string): number | undefined {
  const m = PREFIX_LEVEL.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Groups metric names by namespace: namespaces sorted by name, metrics within a namespace in the given order.
 * No list of namespaces is known in advance.
 */
export function groupByNamespace(names: Iterable<string>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const name of names) {
    const ns = metricNamespace(name);
    let g = groups.get(ns);
    if (!g) groups.set(ns, (g = []));
    if (!g.includes(name)) g.push(name);
  }
  return new Map([...groups.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}
