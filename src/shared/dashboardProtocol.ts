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
//   webview  --export--------> host          (a chart's CSV or PNG: the host asks where to save it and writes it)
//   webview  --openRolloutTable{runId, step}-> host   (a click on a chart point: that step's rows in the table)

import type { WireNumber } from './nonFinite';
import type { BandKind, ConfigValue } from './runGroups';

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
  /** The trainer's health alerts (anomaly events), e.g. "step 40: answers at the length limit …" (absent: none). */
  alerts?: string[];
  /**
   * The run's values of the resolved-config keys that differ between the runs listed (dotted paths), with algorithm
   * and seed: what the run picker filters by and runs are grouped by.
   */
  config?: Record<string, ConfigValue>;
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

/** The benchmark name of the eval events' `average` (in the dashboard's charts and the Benchmarks view). */
export const AVERAGE_BENCHMARK = 'average';
/** The group of the benchmark charts (the webview puts `eval/*` metrics in it too). */
export const BENCHMARK_GROUP = 'eval';
/** The group of the pinned charts, drawn before all others. */
export const PINNED_GROUP = 'pinned';

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
  /** Config key the runs are grouped by ('' = no groups; absent = algorithm when seeds repeat it). */
  groupBy?: string;
  band?: BandKind;
  /** Draw each run of a group too, under its mean and band. */
  showRuns?: boolean;
  /** The run picker's filter text. */
  runFilter?: string;
  /** Regular expression over chart titles (case-insensitive). */
  metricFilter?: string;
  /** Chart keys shown first, in a group of their own. */
  pinned?: string[];
  /** Chart keys with a logarithmic y axis. */
  logY?: string[];
  /** Zoomed or panned charts: their axis ranges. */
  zoom?: Record<string, ZoomRange>;
}
/** The x axis: training step, wall time since the run started, or a metric that only grows (`metric:data/epoch`). */
export type XAxis = 'step' | 'time' | `metric:${string}`;
export interface ZoomRange {
  xMin: number;
  xMax: number;
  yMin?: number;
  yMax?: number;
}

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

export interface DashboardReadyMessage {
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
/** A chart's data as CSV, or its picture as PNG (base64), for the host to save where the user says. */
export interface ExportMessage {
  type: 'export';
  format: 'csv' | 'png';
  /** A file name to suggest (the chart's title; the host makes it safe). */
  name: string;
  /** CSV text, or the PNG's bytes in base64. */
  data: string;
}
export interface OpenRolloutTableMessage {
  type: 'openRolloutTable';
  runId: string;
  step: number;
}
export type WebviewToHostMessage = DashboardReadyMessage | SelectRunsMessage | RenderedMessage | ExportMessage | OpenRolloutTableMessage;

/** Largest export the host accepts (a PNG of a full-size chart is a few hundred kB; CSV of 21 runs a few MB). */
export const MAX_EXPORT_CHARS = 64 << 20;

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
      const message: DashboardReadyMessage = { type: 'ready', version: DASHBOARD_PROTOCOL_VERSION, state: parseUiState(msg.state) };
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
    case 'export':
      if (msg.format !== 'csv' && msg.format !== 'png') return { ok: false, reason: 'export: "format" is not csv or png' };
      if (typeof msg.name !== 'string' || typeof msg.data !== 'string') return { ok: false, reason: 'export: "name" and "data" must be strings' };
      if (msg.data.length > MAX_EXPORT_CHARS) return { ok: false, reason: `export: ${msg.data.length} characters, more than ${MAX_EXPORT_CHARS}` };
      if (msg.format === 'png' && !/^[A-Za-z0-9+/]*={0,2}$/.test(msg.data)) return { ok: false, reason: 'export: the PNG is not base64' };
      return { ok: true, message: { type: 'export', format: msg.format, name: msg.name, data: msg.data } };
    case 'openRolloutTable':
      if (typeof msg.runId !== 'string' || !Number.isInteger(msg.step) || (msg.step as number) < 0) {
        return { ok: false, reason: 'openRolloutTable: needs a "runId" string and a whole "step"' };
      }
      return { ok: true, message: { type: 'openRolloutTable', runId: msg.runId, step: msg.step as number } };
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
  if (x.xAxis === 'step' || x.xAxis === 'time' || (typeof x.xAxis === 'string' && /^metric:.+/.test(x.xAxis))) out.xAxis = x.xAxis as XAxis;
  if (isStrArray(x.collapsed)) out.collapsed = x.collapsed;
  if (isStrArray(x.selected)) out.selected = x.selected;
  if (typeof x.groupBy === 'string') out.groupBy = x.groupBy;
  if (x.band === 'minmax' || x.band === 'ci95') out.band = x.band;
  if (typeof x.showRuns === 'boolean') out.showRuns = x.showRuns;
  if (typeof x.runFilter === 'string') out.runFilter = x.runFilter;
  if (typeof x.metricFilter === 'string') out.metricFilter = x.metricFilter;
  if (isStrArray(x.pinned)) out.pinned = x.pinned;
  if (isStrArray(x.logY)) out.logY = x.logY;
  if (isObj(x.zoom)) {
    const zoom: Record<string, ZoomRange> = {};
    const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
    for (const [k, z] of Object.entries(x.zoom)) {
      if (!isObj(z) || !num(z.xMin) || !num(z.xMax) || (z.xMin as number) >= (z.xMax as number)) continue;
      const r: ZoomRange = { xMin: z.xMin as number, xMax: z.xMax as number };
      if (num(z.yMin) && num(z.yMax) && (z.yMin as number) < (z.yMax as number)) Object.assign(r, { yMin: z.yMin, yMax: z.yMax });
      zoom[k] = r;
    }
    out.zoom = zoom;
  }
  return out;
}

/** A metric chart's key, as the webview names its charts (pins, zoom and log scales are kept by key). */
export const metricChartKey = (metric: string) => `metric:${metric}`;

/**
 * Whether a chart's title passes the metric filter (a case-insensitive regular expression; one that does not compile
 * is a plain substring).
 */
export function metricFilterMatcher(filter: string | undefined): (title: string) => boolean {
  const f = (filter ?? '').trim();
  if (!f) return () => true;
  try {
    const re = new RegExp(f, 'i');
    return (t) => re.test(t);
  } catch {
    const low = f.toLowerCase();
    return (t) => t.toLowerCase().includes(low);
  }
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

/** Namespaces a researcher reads first: training reward, the benchmarks, guidance; `system` last; others by name. */
const FIRST_NAMESPACES = ['reward', BENCHMARK_GROUP, 'prefix'];
const LAST_NAMESPACES = ['system'];
export function compareNamespaces(a: string, b: string): number {
  const rank = (ns: string) => {
    const first = FIRST_NAMESPACES.indexOf(ns);
    if (first !== -1) return first;
    return LAST_NAMESPACES.includes(ns) ? 1000 : 100;
  };
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Groups metric names by namespace: namespaces in reading order (compareNamespaces), metrics within a namespace in
 * the given order. No list of namespaces is known in advance.
 */
export function groupByNamespace(names: Iterable<string>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const name of names) {
    const ns = metricNamespace(name);
    let g = groups.get(ns);
    if (!g) groups.set(ns, (g = []));
    if (!g.includes(name)) g.push(name);
  }
  return new Map([...groups.entries()].sort((a, b) => compareNamespaces(a[0], b[0])));
}
