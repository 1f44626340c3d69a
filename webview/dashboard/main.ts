// The TRAPO dashboard webview: charts grouped by metric namespace, several runs overlaid, TensorBoard smoothing,
// x axis by step or wall time, prefix levels as a stacked area, benchmark accuracy lines.
//
// - Data comes only from host messages (src/shared/dashboardProtocol.ts), already decimated on the host.
// - Everything that came from a run (names, metric names) is set with textContent or a component property, never
//   as HTML.
// - Charts off screen are created when they scroll into view (IntersectionObserver).
// - UI choices (smoothing, x axis, collapsed groups, selected runs) survive reloads through vscode.setState.
// - Non-finite values (NaN, +-Infinity) are gaps in the line and marked by a triangle at the top (NaN, +Infinity) or
//   the bottom (-Infinity) of the chart, on an axis of their own so they never stretch the data's axis.
// - Axes do not lie: a y range at least 0.01% of the values wide (rounding noise stays flat), one x value gets an
//   axis from 0 to the run's length (src/shared/chartRange.ts); tooltips give step, time, smoothed and raw value.
// - Many runs: runs grouped by a config key (algorithm by default when seeds repeat it) are drawn as their mean with a
//   min-max or 95% band (src/shared/runGroups.ts), each run on demand; the run picker filters by name, status,
//   algorithm and config values; 20 colours before one repeats; names tell runs of one config apart.
// - Navigation: a regex filter over chart titles, pinned charts first, reward / benchmarks / prefix first, zoom and
//   pan with reset (chartTools.ts), log y, x by step, wall time or a metric that only grows, a chart full size, CSV
//   and PNG export through the host's save dialog, a click on a point opens that step's rows in the rollout table.
import {
  Chart,
  ChartDataset,
  ChartOptions,
  Filler,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  LogarithmicScale,
  PointElement,
  Scale,
  Ticks,
  Tooltip,
  TooltipItem,
} from 'chart.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import zoomPlugin from 'chartjs-plugin-zoom';
import { EmaState } from '../../src/shared/ema';
import {
  BandKind,
  ColorAssigner,
  PALETTE,
  PALETTE_SIZE,
  PALETTE_VARS,
  aggregateLines,
  displayNames,
  groupKeys,
  groupRuns,
  matchesRunFilter,
} from '../../src/shared/runGroups';
import { CsvSeries, ToolName, chartCsv, chartPng, toolbar, zoomOptions } from './chartTools';
import { minimumYRange, singleXRange } from '../../src/shared/chartRange';
import { NonFiniteToken, decodeNumbers, nonFiniteToken } from '../../src/shared/nonFinite';
import {
  AVERAGE_BENCHMARK,
  BENCHMARK_GROUP,
  DASHBOARD_PROTOCOL_VERSION,
  DashboardSettings,
  DashboardUiState,
  FirstScreen,
  HostToWebviewMessage,
  PINNED_GROUP,
  RunData,
  RunSummary,
  WebviewToHostMessage,
  XAxis,
  compareNamespaces,
  groupByNamespace,
  metricFilterMatcher,
  parseUiState,
  prefixLevel,
  skippedText,
} from '../../src/shared/dashboardProtocol';

Chart.register(LineController, LineElement, PointElement, LinearScale, LogarithmicScale, Filler, Legend, Tooltip, zoomPlugin);

// ------------------------------------------------------------------------------------------------ host bridge

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;
const vscode = acquireVsCodeApi();
const post = (m: WebviewToHostMessage) => vscode.postMessage(m);

// ------------------------------------------------------------------------------------------------ state

interface Points {
  steps: number[];
  times: number[];
  values: number[];
}
interface RunView {
  /** Unix seconds that the times count from. */
  startTime: number;
  series: Map<string, Points>;
  benchmarks: Map<string, Points>;
}

const restored = parseUiState(vscode.getState());
let settings: DashboardSettings = { smoothing: 0.6, maxPointsPerSeries: 1200 };
const ui = {
  smoothing: restored.smoothing as number | undefined,
  xAxis: (restored.xAxis ?? 'step') as XAxis,
  collapsed: new Set(restored.collapsed ?? []),
  selected: restored.selected ?? ([] as string[]),
  /** undefined: not chosen yet (algorithm when seeds repeat it); '': no groups. */
  groupBy: restored.groupBy as string | undefined,
  band: (restored.band ?? 'minmax') as BandKind,
  showRuns: restored.showRuns ?? false,
  runFilter: restored.runFilter ?? '',
  metricFilter: restored.metricFilter ?? '',
  pinned: restored.pinned ?? ([] as string[]),
  logY: new Set(restored.logY ?? []),
  zoom: new Map(Object.entries(restored.zoom ?? {})),
};
let runs: RunSummary[] = [];
const data = new Map<string, RunView>();
const colors = new ColorAssigner();
/** Run names that tell runs of one config apart (displayNames), by run id. */
let names = new Map<string, string>();
let lastSeq = 0;
let lastAcked = 0;

const smoothing = () => ui.smoothing ?? settings.smoothing;

function saveState(): void {
  const state: DashboardUiState = {
    smoothing: ui.smoothing,
    xAxis: ui.xAxis,
    collapsed: [...ui.collapsed],
    selected: ui.selected,
  };
  // The rest only when not the default: a short state.
  if (ui.groupBy !== undefined) state.groupBy = ui.groupBy;
  if (ui.band !== 'minmax') state.band = ui.band;
  if (ui.showRuns) state.showRuns = true;
  if (ui.runFilter) state.runFilter = ui.runFilter;
  if (ui.metricFilter) state.metricFilter = ui.metricFilter;
  if (ui.pinned.length) state.pinned = ui.pinned;
  if (ui.logY.size) state.logY = [...ui.logY];
  if (ui.zoom.size) state.zoom = Object.fromEntries(ui.zoom);
  vscode.setState(state);
}

// ------------------------------------------------------------------------------------------------ theme

interface Theme {
  palette: string[];
  foreground: string;
  muted: string;
  grid: string;
  font: string;
  /** Outline of the non-finite markers. */
  warning: string;
  /** Behind an exported PNG. */
  background: string;
}
let theme: Theme = readTheme();

const colorCanvas = document.createElement('canvas').getContext('2d')!;
/** Any CSS colour as rgba() with the given alpha (the 2D context normalises the colour for us). */
function withAlpha(color: string, alpha: number): string {
  colorCanvas.fillStyle = '#000';
  colorCanvas.fillStyle = color;
  const c = colorCanvas.fillStyle;
  if (c.startsWith('#') && c.length === 7) {
    const n = parseInt(c.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }
  const m = /^rgba?\(([^)]+)\)$/.exec(c);
  if (m) {
    const [r, g, b] = m[1].split(',').map((x) => x.trim());
    return `rgba(${r}, ${g}, ${b}, ${alpha})`;
  }
  return c;
}

function readTheme(): Theme {
  const css = getComputedStyle(document.body);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return {
    palette: PALETTE.map((fallback, i) => (i < PALETTE_VARS.length ? v(PALETTE_VARS[i], fallback) : fallback)),
    foreground: v('--vscode-foreground', '#cccccc'),
    muted: v('--vscode-descriptionForeground', '#999999'),
    grid: v('--vscode-editorWidget-border', v('--vscode-panel-border', 'rgba(128,128,128,0.25)')),
    font: v('--vscode-font-family', 'sans-serif'),
    warning: v('--vscode-editorWarning-foreground', v('--vscode-charts-yellow', '#cca700')),
    background: v('--vscode-editor-background', '#1f1f1f'),
  };
}

const runColorIndex = (runId: string) => colors.index(`run:${runId}`);
const runColor = (runId: string) => theme.palette[runColorIndex(runId) % PALETTE_SIZE];
const groupColor = (label: string) => theme.palette[colors.index(`group:${label}`) % PALETTE_SIZE];

// ------------------------------------------------------------------------------------------------ groups

interface RunGroup {
  label: string;
  runIds: string[];
}

/** The config key the runs are grouped by: the user's choice, else algorithm when some algorithm has runs of several seeds. */
function groupKey(): string {
  if (ui.groupBy !== undefined) return ui.groupBy;
  const selected = runs.filter((r) => ui.selected.includes(r.id));
  const seeds = new Map<string, Set<string>>();
  for (const r of selected) {
    const s = seeds.get(r.algorithm) ?? new Set<string>();
    s.add(JSON.stringify(r.config?.seed ?? null));
    seeds.set(r.algorithm, s);
  }
  return [...seeds.values()].some((s) => s.size > 1) ? 'algorithm' : '';
}

/** The selected runs in groups (one group per run when not grouped), in selection order. */
function runGroupsNow(): RunGroup[] {
  const key = groupKey();
  const selected = ui.selected.map((id) => runs.find((r) => r.id === id)).filter((r): r is RunSummary => r !== undefined);
  if (!key) return selected.map((r) => ({ label: r.id, runIds: [r.id] }));
  return groupRuns(selected, key).map((g) => ({ label: `${key === 'algorithm' ? '' : `${key}=`}${g.label}`, runIds: g.runs.map((r) => r.id) }));
}

// ------------------------------------------------------------------------------------------------ x axis

/** The metric the x axis is drawn by, when it is one. */
const xMetric = (): string | undefined => (ui.xAxis.startsWith('metric:') ? ui.xAxis.slice('metric:'.length) : undefined);

/** The x of point i of a run's series: its step, seconds since the run started, or the x metric's value at that step. */
function xOf(runId: string | undefined, p: Points, i: number): number {
  if (ui.xAxis === 'step') return p.steps[i];
  if (ui.xAxis === 'time') return p.times[i];
  const m = xMetric()!;
  const xs = runId !== undefined ? data.get(runId)?.series.get(m) : undefined;
  return xs ? valueAtStep(xs, p.steps[i]) : Number.NaN;
}

/** A series' value at a step (linear between its points; NaN outside them). */
function valueAtStep(s: Points, step: number): number {
  const st = s.steps;
  let lo = 0;
  let hi = st.length - 1;
  if (hi < 0 || step < st[0] || step > st[hi]) return Number.NaN;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (st[mid] <= step) lo = mid;
    else hi = mid;
  }
  if (st[lo] === step) return s.values[lo];
  if (st[hi] === step) return s.values[hi];
  const a = s.values[lo];
  const b = s.values[hi];
  return a + ((b - a) * (step - st[lo])) / (st[hi] - st[lo]);
}

/** Metrics that only grow in every selected run that has them (data/epoch, tokens seen): what the x axis can be. */
function monotoneMetrics(): string[] {
  const out: string[] = [];
  const names = new Set<string>();
  for (const id of ui.selected) for (const n of data.get(id)?.series.keys() ?? []) names.add(n);
  for (const n of [...names].sort()) {
    let ok = true;
    let grows = false;
    for (const id of ui.selected) {
      const v = data.get(id)?.series.get(n)?.values;
      if (!v) continue;
      for (let i = 1; i < v.length && ok; i++) if (!(v[i] >= v[i - 1])) ok = false;
      if (v.length > 1 && v[v.length - 1] > v[0]) grows = true;
    }
    if (ok && grows) out.push(n);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ chart slots

type SlotSpec =
  | { kind: 'metric'; metric: string }
  /** Stacked guidance levels of one run, or the mean of a group's runs. */
  | { kind: 'levels'; runIds: string[]; metrics: string[] }
  | { kind: 'benchmark'; benchmark: string };

interface Slot {
  key: string;
  spec: SlotSpec;
  card: HTMLDivElement;
  titleEl: HTMLDivElement;
  /** Says how many non-finite values the chart marks (hidden when none). */
  noteEl: HTMLDivElement;
  box: HTMLDivElement;
  chart?: Chart<'line', XY[]>;
  /** How the chart's datasets were built from the data, to extend them in place on appends. */
  bindings: Binding[];
  visible: boolean;
  observed: boolean;
  /** Nothing to do, new points to append, or datasets to rebuild. */
  dirty: Dirty;
  /** The card's tool buttons (pin, log, reset, full size, CSV, PNG). */
  tools: Map<ToolName, HTMLButtonElement>;
  /** Some line is a group's mean: an append rebuilds it (the mean moves with every run's new points). */
  aggregated: boolean;
}
const enum Dirty {
  None = 0,
  Append = 1,
  Full = 2,
}
/** One drawn line and the data it comes from; `n` points of `points` are in the datasets already. */
interface Binding {
  points: Points;
  /** The run the points are of (for an x axis drawn by a metric). */
  runId: string;
  n: number;
  ema: EmaState | null;
  raw: XY[] | null;
  line: XY[];
  /** Markers of the non-finite values (null: this chart does not mark them). */
  marks: XY[] | null;
  /** Finite and non-finite points so far, and the first non-finite one. */
  finite: number;
  nonFinite: number;
  firstNonFinite: { step: number; token: NonFiniteToken } | null;
}
/**
 * A drawn point. Line and marker points carry the index (i) of their point in the dataset's `points`, where the
 * tooltip reads the step, the time and the raw value (kept out of the point: three more numbers a point would slow
 * the first paint of long series).
 */
interface XY {
  x: number;
  y: number;
  i?: number;
  /** A marker's value: NaN, Infinity or -Infinity. */
  k?: NonFiniteToken;
}
/** Where a marker sits on the markers' own 0..1 axis: NaN and +Infinity at the top, -Infinity at the bottom. */
const MARK_TOP = 0.96;
const MARK_BOTTOM = 0.04;

interface Group {
  name: string;
  el: HTMLElement & { open: boolean; title: string };
  grid: HTMLDivElement;
}

const groupsEl = document.getElementById('groups')!;
const emptyEl = document.getElementById('empty')!;
const statusEl = document.getElementById('status')!;
const slots = new Map<string, Slot>();
const groups = new Map<string, Group>();
let unobserved = 0;

const observer = new IntersectionObserver(
  (entries) => {
    for (const e of entries) {
      const slot = (e.target as HTMLElement & { slot_?: Slot }).slot_;
      if (!slot) continue;
      if (!slot.observed) {
        slot.observed = true;
        unobserved--;
      }
      slot.visible = e.isIntersecting;
      if (slot.visible && !slot.chart) slot.dirty = Dirty.Full;
    }
    scheduleDraw();
  },
  { rootMargin: '200px 0px' },
);

type LayoutSlot = { key: string; title: string; spec: SlotSpec };

/**
 * The slots the current data asks for, grouped, in display order: pinned charts first, then the namespaces in reading
 * order (reward, benchmarks, prefix, the rest, system last); charts whose title fails the metric filter left out.
 */
function wantedLayout(): { group: string; slots: LayoutSlot[] }[] {
  const names: string[] = [];
  const seen = new Set<string>();
  const benches = new Set<string>();
  for (const id of ui.selected) {
    const rv = data.get(id);
    if (!rv) continue;
    for (const n of rv.series.keys()) {
      if (!seen.has(n)) {
        seen.add(n);
        names.push(n);
      }
    }
    for (const b of rv.benchmarks.keys()) benches.add(b);
  }
  const byGroup = new Map<string, LayoutSlot[]>();
  const add = (group: string, slot: LayoutSlot) => {
    let list = byGroup.get(group);
    if (!list) byGroup.set(group, (list = []));
    list.push(slot);
  };
  if (benches.size) {
    const list = [...benches].sort((a, b) => (a === AVERAGE_BENCHMARK ? -1 : b === AVERAGE_BENCHMARK ? 1 : a.localeCompare(b)));
    for (const b of list) add(BENCHMARK_GROUP, { key: `bench:${b}`, title: `accuracy: ${b}`, spec: { kind: 'benchmark', benchmark: b } });
  }
  const groupsNow = runGroupsNow();
  for (const [ns, metrics] of groupByNamespace(names)) {
    const levels = metrics.filter((m) => prefixLevel(m) !== undefined).sort((a, b) => prefixLevel(a)! - prefixLevel(b)!);
    if (levels.length) {
      for (const g of groupsNow) {
        const has = levels.filter((m) => g.runIds.some((id) => data.get(id)?.series.has(m)));
        if (!has.length) continue;
        const who = g.runIds.length === 1 ? runName(g.runIds[0]) : `${g.label} (mean of ${g.runIds.length} runs)`;
        add(ns, {
          key: `levels:${g.runIds.length === 1 ? g.runIds[0] : `group:${g.label}`}`,
          title: `${ns}/level_* (stacked) — ${who}`,
          spec: { kind: 'levels', runIds: g.runIds, metrics: has },
        });
      }
    }
    for (const m of metrics) {
      if (prefixLevel(m) !== undefined) continue;
      add(ns, { key: `metric:${m}`, title: m, spec: { kind: 'metric', metric: m } });
    }
  }
  const matches = metricFilterMatcher(ui.metricFilter);
  const pinned = new Set(ui.pinned);
  const pinnedSlots: LayoutSlot[] = [];
  const layout: { group: string; slots: LayoutSlot[] }[] = [];
  for (const [group, list] of [...byGroup].sort((a, b) => compareNamespaces(a[0], b[0]))) {
    const shown = list.filter((s) => matches(s.title));
    pinnedSlots.push(...shown.filter((s) => pinned.has(s.key)));
    const rest = shown.filter((s) => !pinned.has(s.key));
    if (rest.length) layout.push({ group, slots: rest });
  }
  pinnedSlots.sort((a, b) => ui.pinned.indexOf(a.key) - ui.pinned.indexOf(b.key));
  if (pinnedSlots.length) layout.unshift({ group: PINNED_GROUP, slots: pinnedSlots });
  return layout;
}

function runName(id: string): string {
  return names.get(id) ?? runs.find((r) => r.id === id)?.name ?? id;
}

/** Brings the DOM in line with the wanted layout; keeps existing charts. */
function syncLayout(): void {
  const layout = wantedLayout();
  const wantedSlots = new Set<string>();
  const wantedGroups = new Set<string>();
  for (const g of layout) {
    wantedGroups.add(g.group);
    let group = groups.get(g.group);
    if (!group) group = createGroup(g.group);
    groupsEl.appendChild(group.el); // moves it into order
    for (const s of g.slots) {
      wantedSlots.add(s.key);
      let slot = slots.get(s.key);
      if (!slot) slot = createSlot(s.key, s.spec);
      slot.spec = s.spec;
      slot.titleEl.textContent = s.title;
      group.grid.appendChild(slot.card);
    }
  }
  for (const [key, slot] of slots) {
    if (wantedSlots.has(key)) continue;
    observer.unobserve(slot.box);
    if (!slot.observed) unobserved--;
    slot.chart?.destroy();
    slot.card.remove();
    slots.delete(key);
  }
  for (const [name, g] of groups) {
    if (wantedGroups.has(name)) continue;
    g.el.remove();
    groups.delete(name);
  }
  emptyEl.textContent = emptyText();
  emptyEl.hidden = slots.size > 0;
  if (unobserved > 0) void measureNewSlots();
}

/**
 * Finds which new slots are on screen without waiting for the IntersectionObserver's first report (a frame later):
 * once the collapsible groups have rendered, one layout read tells. Saves a frame on the first paint.
 */
async function measureNewSlots(): Promise<void> {
  await Promise.all([...groups.values()].map((g) => (g.el as unknown as { updateComplete?: Promise<unknown> }).updateComplete));
  // Exactly the viewport: charts just below it are created by the observer (200 px ahead) as the user scrolls.
  const top = 0;
  const bottom = window.innerHeight;
  for (const slot of slots.values()) {
    if (slot.observed) continue;
    const r = slot.box.getBoundingClientRect();
    slot.observed = true;
    unobserved--;
    slot.visible = r.width > 0 && r.bottom >= top && r.top <= bottom;
    if (slot.visible) slot.dirty = Dirty.Full;
  }
  scheduleDraw();
}

/**
 * The first screen in charts, told to the host with `ready` so that the snapshot carries what it shows: a probe card in
 * a chart grid gives the columns and the row height that the stylesheet makes. A partly visible row counts.
 */
function measureFirstScreen(): FirstScreen | undefined {
  const grid = document.createElement('div');
  grid.className = 'charts';
  const card = document.createElement('div');
  card.className = 'card';
  const title = document.createElement('div');
  title.className = 'card-title';
  title.textContent = 'probe';
  const box = document.createElement('div');
  box.className = 'chart';
  card.append(title, box);
  grid.append(card);
  groupsEl.append(grid);
  const style = getComputedStyle(grid);
  const columns = style.gridTemplateColumns.split(' ').filter(Boolean).length;
  const rowHeight = card.getBoundingClientRect().height + (parseFloat(style.rowGap) || 0);
  const below = window.innerHeight - grid.getBoundingClientRect().top;
  grid.remove();
  if (!(columns >= 1 && rowHeight > 0)) return undefined;
  return { columns: Math.min(100, columns), rows: Math.min(100, Math.max(1, Math.ceil(below / rowHeight))) };
}

function emptyText(): string {
  if (!runs.length) return 'No runs yet. Start one with “TRAPO: Start TRAPO Run”, or point the trapo.runsRoots setting at a folder of runs.';
  if (!ui.selected.length) return 'No run selected: tick a run above.';
  if (ui.metricFilter.trim()) return `No chart title matches the metric filter “${ui.metricFilter}”.`;
  return 'The selected runs have no metrics yet.';
}

function createGroup(name: string): Group {
  const el = document.createElement('vscode-collapsible') as unknown as Group['el'];
  el.title = name;
  el.open = !ui.collapsed.has(name);
  el.classList.add('group');
  el.addEventListener('vsc-collapsible-toggle', (ev) => {
    const open = (ev as CustomEvent<{ open: boolean }>).detail.open;
    if (open) ui.collapsed.delete(name);
    else ui.collapsed.add(name);
    saveState();
  });
  const grid = document.createElement('div');
  grid.className = 'charts';
  el.appendChild(grid);
  const group = { name, el, grid };
  groups.set(name, group);
  return group;
}

function createSlot(key: string, spec: SlotSpec): Slot {
  const card = document.createElement('div');
  card.className = 'card';
  const titleEl = document.createElement('div');
  titleEl.className = 'card-title';
  const noteEl = document.createElement('div');
  noteEl.className = 'card-note';
  noteEl.hidden = true;
  const box = document.createElement('div');
  box.className = 'chart';
  const head = document.createElement('div');
  head.className = 'card-head';
  const tools = toolbar((tool) => useTool(slot, tool));
  head.append(titleEl, tools.el);
  card.append(head, noteEl, box);
  box.addEventListener('dblclick', () => resetZoom(slot));
  const slot: Slot = {
    key,
    spec,
    card,
    titleEl,
    noteEl,
    box,
    bindings: [],
    visible: false,
    observed: false,
    dirty: Dirty.Full,
    tools: tools.buttons,
    aggregated: false,
  };
  syncTools(slot);
  (box as HTMLElement & { slot_?: Slot }).slot_ = slot;
  slots.set(key, slot);
  unobserved++;
  observer.observe(box);
  return slot;
}

// ------------------------------------------------------------------------------------------------ datasets

/** Adds points n.. of the binding's data to its line(s): x by step or by seconds since the run's start (the host
 * sends times relative to it); the EMA goes on from where it stopped. */
/** Returns true when the datasets must be rebuilt: the first non-finite value (gaps need spanGaps off) or the
 * second finite point (a lone point is drawn as a dot, a line is not) arrived. */
function extend(b: Binding): boolean {
  const { steps, values } = b.points;
  const before = { finite: b.finite, nonFinite: b.nonFinite };
  for (let i = b.n; i < values.length; i++) {
    const x = xOf(b.runId, b.points, i);
    const v = values[i];
    const token = nonFiniteToken(v);
    if (token !== undefined) {
      // A gap in the line (chart.js skips NaN), and a marker that says which value it was.
      b.nonFinite++;
      b.firstNonFinite ??= { step: steps[i], token };
      b.raw?.push({ x, y: Number.NaN });
      b.line.push({ x, y: Number.NaN, i });
      b.ema?.next(v);
      b.marks?.push({ x, y: token === '-Infinity' ? MARK_BOTTOM : MARK_TOP, i, k: token });
      continue;
    }
    b.finite++;
    b.raw?.push({ x, y: v });
    b.line.push({ x, y: b.ema ? b.ema.next(v) : v, i });
  }
  b.n = values.length;
  return (before.nonFinite === 0 && b.nonFinite > 0) || (before.finite <= 1 && b.finite > 1);
}

function bind(runId: string, p: Points, smooth: boolean, withRaw: boolean, marked: boolean): Binding {
  const w = smoothing();
  const b: Binding = {
    points: p,
    runId,
    n: 0,
    ema: smooth && w > 0 ? new EmaState(w) : null,
    raw: withRaw && smooth && w > 0 ? [] : null,
    line: [],
    marks: marked ? [] : null,
    finite: 0,
    nonFinite: 0,
    firstNonFinite: null,
  };
  extend(b);
  return b;
}

/**
 * `raw`: the faint unsmoothed line; `mark`: markers of non-finite values; `runId` and `points`: whose data the points
 * index (for the tooltip); `smoothed`: the line's y is the EMA, the raw value is in `points`.
 */
type LineDataset = ChartDataset<'line', XY[]> & {
  raw?: boolean;
  mark?: boolean;
  runId?: string;
  points?: Points;
  smoothed?: boolean;
  /** A group's band edge (its legend entry is the mean's) and the group's runs (a click opens the first). */
  band?: boolean;
  groupRuns?: string[];
};

/** A lone finite point has no line to show it: it is drawn as a dot. */
const dotRadius = (b: Binding, radius: number) => (b.finite === 1 ? Math.max(radius, 2.5) : radius);

/** The markers of a binding's non-finite values, on the markers' own axis. */
function marksDataset(b: Binding, label: string, runId: string, color: string): LineDataset {
  return {
    label: `${label} (non-finite)`,
    mark: true,
    runId,
    points: b.points,
    data: b.marks ?? [],
    yAxisID: 'marks',
    showLine: false,
    pointStyle: 'triangle',
    pointRadius: 5,
    pointHoverRadius: 6,
    borderColor: theme.warning,
    backgroundColor: withAlpha(color, 0.9),
    borderWidth: 1.5,
    order: 0,
  };
}

function datasetsFor(spec: SlotSpec): { datasets: LineDataset[]; bindings: Binding[] } {
  const datasets: LineDataset[] = [];
  const bindings: Binding[] = [];
  switch (spec.kind) {
    case 'metric': {
      for (const g of runGroupsNow()) {
        if (g.runIds.length > 1) {
          groupDatasets(g, (id) => data.get(id)?.series.get(spec.metric), true, datasets, bindings);
          continue;
        }
        const id = g.runIds[0];
        const rv = data.get(id);
        const p = rv?.series.get(spec.metric);
        if (!rv || !p) continue;
        const b = bind(id, p, true, true, true);
        bindings.push(b);
        const color = runColor(id);
        const spanGaps = b.nonFinite === 0;
        if (b.raw) {
          datasets.push({
            label: `${runName(id)} (raw)`,
            raw: true,
            runId: id,
            data: b.raw,
            borderColor: withAlpha(color, 0.22),
            backgroundColor: withAlpha(color, 0.22),
            borderWidth: 1,
            pointRadius: 0,
            spanGaps,
            order: 2,
          });
        }
        datasets.push({
          label: runName(id),
          runId: id,
          points: p,
          smoothed: b.ema !== null,
          data: b.line,
          borderColor: color,
          backgroundColor: color,
          borderWidth: 1.75,
          pointRadius: dotRadius(b, 0),
          spanGaps,
          order: 1,
        });
        // (only with something to mark: an empty dataset still costs chart.js its per-dataset work on every update)
        if (b.nonFinite > 0) datasets.push(marksDataset(b, runName(id), id, color));
      }
      break;
    }
    case 'levels': {
      spec.metrics.forEach((m, k) => {
        const color = theme.palette[k % PALETTE_SIZE];
        const style = {
          label: m.slice(m.indexOf('/') + 1),
          borderColor: color,
          backgroundColor: withAlpha(color, 0.45),
          borderWidth: 1,
          fill: k === 0 ? 'origin' : '-1',
        };
        if (spec.runIds.length > 1) {
          // A group: each level's share is the mean over its runs (the means of shares that sum to 1 sum to 1).
          const lines = spec.runIds.map((id) => data.get(id)?.series.get(m)).flatMap((p, j) => (p ? [smoothedLine(spec.runIds[j], p)] : []));
          if (!lines.length) return;
          const agg = aggregateLines(lines, 'minmax');
          datasets.push({ ...style, groupRuns: spec.runIds, data: agg.x.map((x, i) => ({ x, y: agg.mean[i] })), pointRadius: 0 });
          return;
        }
        const p = data.get(spec.runIds[0])?.series.get(m);
        if (!p) return;
        const b = bind(spec.runIds[0], p, true, false, false);
        bindings.push(b);
        datasets.push({ ...style, runId: spec.runIds[0], points: p, smoothed: b.ema !== null, data: b.line, pointRadius: dotRadius(b, 0) });
      });
      break;
    }
    case 'benchmark': {
      for (const g of runGroupsNow()) {
        if (g.runIds.length > 1) {
          groupDatasets(g, (id) => data.get(id)?.benchmarks.get(spec.benchmark), false, datasets, bindings);
          continue;
        }
        const id = g.runIds[0];
        const rv = data.get(id);
        const p = rv?.benchmarks.get(spec.benchmark);
        if (!rv || !p) continue;
        const b = bind(id, p, false, false, true);
        bindings.push(b);
        const color = runColor(id);
        datasets.push({
          label: runName(id),
          runId: id,
          points: p,
          data: b.line,
          borderColor: color,
          backgroundColor: color,
          borderWidth: 1.5,
          pointRadius: 2.5,
          spanGaps: b.nonFinite === 0,
        });
        // (only with something to mark: an empty dataset still costs chart.js its per-dataset work on every update)
        if (b.nonFinite > 0) datasets.push(marksDataset(b, runName(id), id, color));
      }
      break;
    }
    default: {
      const never: never = spec;
      throw new Error(`unhandled slot ${String(never)}`);
    }
  }
  return { datasets, bindings };
}

/** A run's line as drawn (x by the x axis, y smoothed when smoothing is on), finite points only. */
function smoothedLine(runId: string, p: Points): { x: number[]; y: number[] } {
  const b = bind(runId, p, true, false, false);
  const x: number[] = [];
  const y: number[] = [];
  for (const q of b.line) {
    if (Number.isFinite(q.x) && Number.isFinite(q.y)) {
      x.push(q.x);
      y.push(q.y);
    }
  }
  // An x axis by a metric can repeat x (two steps at one epoch value): keep x ascending for the interpolation.
  if (x.some((v, i) => i > 0 && v < x[i - 1])) {
    const order = x.map((_, i) => i).sort((a, c) => x[a] - x[c]);
    return { x: order.map((i) => x[i]), y: order.map((i) => y[i]) };
  }
  return { x, y };
}

/**
 * A group of runs on one chart: the band (min-max or 95% interval of the mean) as a filled area between two edges,
 * the mean as the group's line, and each run thin on demand (showRuns).
 */
function groupDatasets(g: RunGroup, pointsOf: (id: string) => Points | undefined, smooth: boolean, datasets: LineDataset[], bindings: Binding[]): void {
  const members = g.runIds.flatMap((id) => {
    const p = pointsOf(id);
    return p ? [{ id, p }] : [];
  });
  if (!members.length) return;
  const lines = members.map(({ id, p }) => (smooth ? smoothedLine(id, p) : rawLine(id, p)));
  const agg = aggregateLines(lines, ui.band);
  const color = groupColor(g.label);
  const label = `${g.label} (${members.length} run${members.length === 1 ? '' : 's'})`;
  const bandName = ui.band === 'ci95' ? '95% interval' : 'min–max';
  const edge = (which: 'lo' | 'hi'): LineDataset => ({
    label: `${label} ${bandName} ${which === 'lo' ? 'low' : 'high'}`,
    band: true,
    groupRuns: g.runIds,
    data: agg.x.map((x, i) => ({ x, y: agg[which][i] })),
    borderColor: withAlpha(color, 0.25),
    backgroundColor: withAlpha(color, 0.12),
    borderWidth: 0.5,
    pointRadius: 0,
    fill: which === 'hi' ? '-1' : false,
    order: 3,
  });
  datasets.push(edge('lo'), edge('hi'));
  datasets.push({
    label: `${label} mean`,
    groupRuns: g.runIds,
    data: agg.x.map((x, i) => ({ x, y: agg.mean[i] })),
    borderColor: color,
    backgroundColor: color,
    borderWidth: 2,
    pointRadius: agg.x.length === 1 || !smooth ? 2.5 : 0,
    order: 1,
  });
  if (!ui.showRuns) return;
  for (const { id, p } of members) {
    const b = bind(id, p, smooth, false, false);
    bindings.push(b);
    datasets.push({
      label: runName(id),
      runId: id,
      points: p,
      smoothed: b.ema !== null,
      data: b.line,
      borderColor: withAlpha(color, 0.55),
      backgroundColor: withAlpha(color, 0.55),
      borderWidth: 1,
      pointRadius: dotRadius(b, 0),
      spanGaps: b.nonFinite === 0,
      order: 2,
    });
  }
}

/** A run's points unsmoothed (benchmark accuracy), finite only, x by the x axis. */
function rawLine(runId: string, p: Points): { x: number[]; y: number[] } {
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < p.values.length; i++) {
    const xv = xOf(runId, p, i);
    if (Number.isFinite(xv) && Number.isFinite(p.values[i])) {
      x.push(xv);
      y.push(p.values[i]);
    }
  }
  return { x, y };
}

function formatCompactDuration(s: number): string {
  const sign = s < 0 ? '-' : '';
  s = Math.abs(s);
  if (s < 90) return `${sign}${Math.round(s)}s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${sign}${m}m`;
  const h = Math.floor(m / 60);
  return `${sign}${h}h${String(m % 60).padStart(2, '0')}`;
}

function formatNumber(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/** The finite x (or y) extent of a chart's drawn points; markers excluded (they live on their own axis). */
function dataExtent(chart: Chart, axis: 'x' | 'y'): { min: number; max: number } {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const ds of chart.data.datasets as LineDataset[]) {
    if (ds.mark) continue;
    for (const p of ds.data) {
      const v = axis === 'x' ? p.x : p.y;
      if (!Number.isFinite(v) || (axis === 'y' && !Number.isFinite(p.x))) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return { min, max };
}

/** The longest total steps of the runs shown (for the axis of a chart with a single x). */
function selectedTotalSteps(): number | null {
  let total: number | null = null;
  for (const id of ui.selected) {
    const t = runs.find((r) => r.id === id)?.totalSteps ?? null;
    if (t !== null && (total === null || t > total)) total = t;
  }
  return total;
}

function tooltipTitle(items: TooltipItem<'line'>[]): string {
  const item = items[0];
  if (!item) return '';
  const p = item.raw as XY;
  const pts = (item.dataset as LineDataset).points;
  const at = pts && p.i !== undefined ? p.i : undefined;
  const step = at !== undefined ? pts!.steps[at] : ui.xAxis === 'step' ? p.x : undefined;
  const t = at !== undefined ? pts!.times[at] : ui.xAxis === 'time' ? p.x : undefined;
  const parts: string[] = [];
  if (step !== undefined) parts.push(`step ${step}`);
  if (t !== undefined) {
    const start = data.get((item.dataset as LineDataset).runId ?? '')?.startTime;
    const clock = start !== undefined ? ` (${new Date((start + t) * 1000).toLocaleTimeString()})` : '';
    parts.push(`${formatCompactDuration(t)} after start${clock}`);
  }
  return parts.join(' · ');
}

function tooltipLabel(item: TooltipItem<'line'>): string {
  const ds = item.dataset as LineDataset;
  const p = item.raw as XY;
  const name = (ds.label ?? '').replace(/ \(non-finite\)$/, '');
  if (ds.mark) return `${name}: ${p.k ?? 'non-finite'}`;
  const raw = ds.smoothed && ds.points && p.i !== undefined ? ds.points.values[p.i] : undefined;
  if (raw !== undefined) return `${name}: ${formatNumber(p.y)} smoothed · ${formatNumber(raw)} raw`;
  return `${name}: ${formatNumber(p.y)}`;
}

function optionsFor(spec: SlotSpec, key: string): ChartOptions<'line'> {
  const stacked = spec.kind === 'levels';
  const unit = spec.kind === 'levels' || spec.kind === 'benchmark';
  const log = ui.logY.has(baseKey(key)) && !stacked;
  const tickFont = { family: theme.font, size: 10 };
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    parsing: false,
    normalized: true,
    // Lines without non-finite values have no gaps: spanGaps skips line segmentation, a documented speed-up. Lines
    // with NaN points turn it off per dataset (datasetsFor), so that those points are gaps.
    spanGaps: true,
    interaction: { mode: 'nearest', axis: 'x', intersect: false },
    onClick: (ev, _elements, chart) => openStepAt(chart as Chart<'line', XY[]>, ev),
    plugins: {
      zoom: zoomOptions({
        changed: (range) => {
          if (range) ui.zoom.set(key, range);
          else ui.zoom.delete(key);
          saveState();
          syncZoomButtons(key);
        },
      }),
      legend: {
        display: true,
        position: 'bottom',
        labels: {
          color: theme.foreground,
          font: tickFont,
          boxWidth: 10,
          boxHeight: 2,
          filter: (item, chartData) => {
            const ds = chartData.datasets[item.datasetIndex!] as LineDataset;
            return !ds.raw && !ds.mark && !ds.band;
          },
        },
      },
      tooltip: {
        // The raw line's value is in the smoothed line's label; a gap (NaN) is told by its marker.
        filter: (item) => !(item.dataset as LineDataset).raw && Number.isFinite((item.raw as XY).y),
        itemSort: (a, b) => Number((a.dataset as LineDataset).band ?? false) - Number((b.dataset as LineDataset).band ?? false),
        callbacks: { title: tooltipTitle, label: tooltipLabel },
      },
    },
    scales: {
      x: {
        type: 'linear',
        title: { display: xMetric() !== undefined, text: xMetric() ?? '', color: theme.muted, font: tickFont },
        afterDataLimits: (scale: Scale) => {
          if (ui.zoom.has(key)) return; // a zoomed axis keeps the range the user chose
          const { min, max } = dataExtent(scale.chart, 'x');
          const r = singleXRange(min, max, ui.xAxis === 'step', selectedTotalSteps());
          if (r) Object.assign(scale, r);
        },
        ticks: {
          color: theme.muted,
          font: tickFont,
          maxTicksLimit: 7,
          precision: ui.xAxis === 'step' ? 0 : undefined,
          callback: (v) => (ui.xAxis === 'time' ? formatCompactDuration(Number(v)) : formatNumber(Number(v))),
        },
        grid: { color: theme.grid },
      },
      y: {
        type: log ? 'logarithmic' : 'linear',
        stacked,
        min: unit && !log ? 0 : undefined,
        max: unit ? 1 : undefined,
        afterDataLimits:
          unit || log
            ? undefined
            : (scale: Scale) => {
                const { min, max } = dataExtent(scale.chart, 'y');
                const r = minimumYRange(min, max);
                if (r) Object.assign(scale, r);
              },
        // chart.js's own number format picks its decimals from the tick spacing, so ticks never read alike.
        ticks: {
          color: theme.muted,
          font: tickFont,
          maxTicksLimit: 6,
          callback(value, index, ticks) {
            return Ticks.formatters.numeric.call(this, Number(value), index, ticks);
          },
        },
        grid: { color: theme.grid },
      },
      marks: { type: 'linear', axis: 'y', display: false, min: 0, max: 1 },
    },
  };
}

// ------------------------------------------------------------------------------------------------ drawing

let drawScheduled = false;
let optionsStale = false;

function scheduleDraw(): void {
  if (drawScheduled) return;
  drawScheduled = true;
  requestAnimationFrame(draw);
}

/** Marks charts for an update: `Append` keeps the built datasets and adds the new points. */
function markAllDirty(level: Dirty = Dirty.Full): void {
  for (const s of slots.values()) if (s.dirty < level) s.dirty = level;
  if (fullSlot && fullSlot.dirty < level) fullSlot.dirty = level;
}

// ------------------------------------------------------------------------------------------------ chart tools

/** Re-applies a remembered zoom through the plugin (so that a reset goes back to the whole range). */
function applyZoom(slot: Slot): void {
  const z = ui.zoom.get(slot.key);
  const chart = slot.chart;
  if (!z || !chart) return;
  chart.zoomScale('x', { min: z.xMin, max: z.xMax }, 'none');
  if (z.yMin !== undefined && z.yMax !== undefined) chart.zoomScale('y', { min: z.yMin, max: z.yMax }, 'none');
}

function resetZoom(slot: Slot): void {
  const had = ui.zoom.delete(slot.key);
  slot.chart?.resetZoom('none');
  if (had) saveState();
  syncZoomButtons(slot.key);
}

/** The buttons of a chart (and of its full-size copy) follow the state they toggle. */
function syncTools(slot: Slot): void {
  const pin = slot.tools.get('pin');
  if (pin) {
    const on = ui.pinned.includes(slot.key);
    pin.classList.toggle('on', on);
    pin.setAttribute('aria-pressed', String(on));
  }
  const log = slot.tools.get('log');
  if (log) {
    const on = ui.logY.has(baseKey(slot.key));
    log.classList.toggle('on', on);
    log.setAttribute('aria-pressed', String(on));
    log.disabled = slot.spec.kind === 'levels';
  }
  const reset = slot.tools.get('reset');
  if (reset) reset.disabled = !ui.zoom.has(slot.key);
}
function syncZoomButtons(key: string): void {
  for (const s of [slots.get(key), fullSlot?.key === fullKey(key) ? fullSlot : undefined]) if (s) syncTools(s);
}

function useTool(slot: Slot, tool: ToolName): void {
  const key = baseKey(slot.key);
  switch (tool) {
    case 'pin':
      ui.pinned = ui.pinned.includes(key) ? ui.pinned.filter((k) => k !== key) : [...ui.pinned, key];
      saveState();
      syncLayout();
      syncTools(slot);
      scheduleDraw();
      break;
    case 'log': {
      if (ui.logY.has(key)) ui.logY.delete(key);
      else ui.logY.add(key);
      saveState();
      for (const s of [slots.get(key), fullSlot]) {
        if (!s || baseKey(s.key) !== key) continue;
        syncTools(s);
        if (s.chart) {
          s.chart.options = optionsFor(s.spec, s.key);
          applyZoom(s);
          s.chart.update('none');
        }
      }
      break;
    }
    case 'reset':
      resetZoom(slot);
      break;
    case 'full':
      openFull(slots.get(key) ?? slot);
      break;
    case 'csv':
    case 'png':
      exportChart(slot, tool);
      break;
    default: {
      const never: never = tool;
      void never;
    }
  }
}

/** CSV of what a chart draws (mean and band edges of a group, each run's smoothed line with its raw values), or a PNG. */
function exportChart(slot: Slot, format: 'csv' | 'png'): void {
  const chart = slot.chart;
  if (!chart) return;
  const title = slot.titleEl.textContent ?? slot.key;
  if (format === 'png') {
    post({ type: 'export', format: 'png', name: title, data: chartPng(chart, theme.background) });
    return;
  }
  const series: CsvSeries[] = [];
  for (const d of chart.data.datasets as LineDataset[]) {
    if (d.raw) continue; // the raw values go with their smoothed line's points
    const pts = d.points;
    series.push({
      label: d.mark ? `${d.label ?? ''}` : (d.label ?? ''),
      points: d.data.map((p) => {
        if (!pts || p.i === undefined) return { x: p.x, y: p.y };
        return { x: p.x, y: p.k ? Number.NaN : p.y, step: pts.steps[p.i], time: pts.times[p.i], raw: d.smoothed || p.k ? pts.values[p.i] : undefined };
      }),
    });
  }
  const xName = ui.xAxis === 'step' ? 'step' : ui.xAxis === 'time' ? 'seconds' : xMetric()!;
  post({ type: 'export', format: 'csv', name: title, data: chartCsv(title, xName, series) });
}

/** A chart point clicked (not dragged): that step's rows in the rollout table (a group's mean: its first run). */
function openStepAt(chart: Chart<'line', XY[]>, ev: { native: Event | null }): void {
  if (chart.isZoomingOrPanning()) return;
  const native = ev.native;
  if (!native) return;
  const hits = chart.getElementsAtEventForMode(native, 'nearest', { intersect: false, axis: 'x' }, true);
  for (const h of hits) {
    const ds = chart.data.datasets[h.datasetIndex] as LineDataset;
    if (ds.raw || ds.band) continue;
    const p = ds.data[h.index];
    const runId = ds.runId ?? ds.groupRuns?.[0];
    if (!runId) continue;
    const step = ds.points && p.i !== undefined ? ds.points.steps[p.i] : ui.xAxis === 'step' ? Math.round(p.x) : stepNear(runId, p.x);
    if (step === undefined || !Number.isFinite(step)) continue;
    post({ type: 'openRolloutTable', runId, step });
    return;
  }
}

/** The step of a run whose x (wall time or the x metric) is nearest to `x`. */
function stepNear(runId: string, x: number): number | undefined {
  const rv = data.get(runId);
  const any = rv && [...rv.series.values()][0];
  if (!any) return undefined;
  let best: number | undefined;
  let dist = Number.POSITIVE_INFINITY;
  for (let i = 0; i < any.steps.length; i++) {
    const d = Math.abs(xOf(runId, any, i) - x);
    if (d < dist) {
      dist = d;
      best = any.steps[i];
    }
  }
  return best;
}

// ------------------------------------------------------------------------------------------------ full size

const FULL_PREFIX = 'full:';
const fullKey = (key: string) => `${FULL_PREFIX}${key}`;
const baseKey = (key: string) => (key.startsWith(FULL_PREFIX) ? key.slice(FULL_PREFIX.length) : key);
let fullSlot: Slot | null = null;
const fullEl = document.getElementById('fullsize')!;

/** One chart over the whole page (its own chart, the same data, zoom and log scale as its card); Esc closes. */
function openFull(of: Slot): void {
  closeFull();
  const head = document.createElement('div');
  head.className = 'card-head';
  const titleEl = document.createElement('div');
  titleEl.className = 'card-title';
  titleEl.textContent = of.titleEl.textContent;
  const noteEl = document.createElement('div');
  noteEl.className = 'card-note';
  noteEl.hidden = true;
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'tool';
  close.textContent = '✕';
  close.title = 'Close (Esc)';
  close.addEventListener('click', closeFull);
  const box = document.createElement('div');
  box.className = 'chart full';
  const slot: Slot = {
    key: fullKey(of.key),
    spec: of.spec,
    card: fullEl as HTMLDivElement,
    titleEl,
    noteEl,
    box,
    bindings: [],
    visible: true,
    observed: true,
    dirty: Dirty.Full,
    tools: new Map(),
    aggregated: false,
  };
  const tools = toolbar((tool) => useTool(slot, tool), ['log', 'reset', 'csv', 'png']);
  slot.tools = tools.buttons;
  head.append(titleEl, tools.el, close);
  box.addEventListener('dblclick', () => resetZoom(slot));
  fullEl.replaceChildren(head, noteEl, box);
  fullEl.hidden = false;
  fullSlot = slot;
  syncTools(slot);
  scheduleDraw();
}

function closeFull(): void {
  if (!fullSlot) return;
  fullSlot.chart?.destroy();
  fullSlot = null;
  fullEl.replaceChildren();
  fullEl.hidden = true;
}
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && fullSlot) closeFull();
});

function draw(): void {
  drawScheduled = false;
  const refreshOptions = optionsStale;
  optionsStale = false;
  for (const slot of fullSlot ? [...slots.values(), fullSlot] : slots.values()) {
    if (refreshOptions) slot.dirty = Dirty.Full;
    if (!slot.visible || slot.dirty === Dirty.None) continue;
    const level = slot.dirty;
    slot.dirty = Dirty.None;
    if (!slot.chart) {
      const canvas = document.createElement('canvas');
      slot.box.appendChild(canvas);
      const built = datasetsFor(slot.spec);
      slot.bindings = built.bindings;
      slot.aggregated = built.datasets.some((d) => d.groupRuns !== undefined);
      slot.chart = new Chart<'line', XY[]>(canvas, { type: 'line', data: { datasets: built.datasets }, options: optionsFor(slot.spec, slot.key) });
      applyZoom(slot);
      renderNote(slot);
      continue;
    }
    let rebuild = level !== Dirty.Append || slot.aggregated;
    if (!rebuild) for (const b of slot.bindings) if (extend(b)) rebuild = true;
    if (rebuild) {
      if (refreshOptions) {
        slot.chart.options = optionsFor(slot.spec, slot.key);
        applyZoom(slot);
      }
      const built = datasetsFor(slot.spec);
      slot.bindings = built.bindings;
      slot.chart.data.datasets = built.datasets;
      slot.aggregated = built.datasets.some((d) => d.groupRuns !== undefined);
    }
    renderNote(slot);
    slot.chart.update('none');
  }
  // Off-screen slots stay dirty and are drawn when they scroll in. The ack waits until every new slot has been
  // observed once, so that "rendered" means the visible charts show the data.
  if (unobserved <= 0 && lastSeq > lastAcked) {
    lastAcked = lastSeq;
    post({ type: 'rendered', seq: lastSeq });
  }
}

/** "⚠ 2 non-finite values (first: NaN at step 12)" under the chart's title, when its lines have any. */
function renderNote(slot: Slot): void {
  let count = 0;
  let first: { step: number; token: NonFiniteToken } | null = null;
  for (const b of slot.bindings) {
    count += b.nonFinite;
    if (b.firstNonFinite && (first === null || b.firstNonFinite.step < first.step)) first = b.firstNonFinite;
  }
  slot.noteEl.hidden = count === 0;
  slot.noteEl.textContent = first ? `⚠ ${count} non-finite value${count === 1 ? '' : 's'} (first: ${first.token} at step ${first.step})` : '';
}

// ------------------------------------------------------------------------------------------------ messages

function toRunView(d: RunData): RunView {
  const rv: RunView = { startTime: d.startTime, series: new Map(), benchmarks: new Map() };
  for (const s of d.series) rv.series.set(s.name, { steps: s.steps, times: s.times, values: decodeNumbers(s.values) });
  for (const b of d.benchmarks) rv.benchmarks.set(b.name, { steps: b.steps, times: b.times, values: decodeNumbers(b.accuracy) });
  return rv;
}

/** Adds new points; returns true when a series or benchmark appeared that no chart has yet. */
function appendRun(d: RunData): boolean {
  let created = false;
  let rv = data.get(d.runId);
  if (!rv) data.set(d.runId, (rv = { startTime: d.startTime, series: new Map(), benchmarks: new Map() }));
  const add = (map: Map<string, Points>, name: string, steps: number[], times: number[], wire: readonly unknown[]) => {
    const values = decodeNumbers(wire);
    const p = map.get(name);
    if (!p) {
      map.set(name, { steps, times, values });
      created = true;
      return;
    }
    for (let i = 0; i < values.length; i++) {
      p.steps.push(steps[i]);
      p.times.push(times[i]);
      p.values.push(values[i]);
    }
  };
  for (const s of d.series) add(rv.series, s.name, s.steps, s.times, s.values);
  for (const b of d.benchmarks) add(rv.benchmarks, b.name, b.steps, b.times, b.accuracy);
  return created;
}

function setSelected(ids: string[]): void {
  ui.selected = ids;
  for (const id of [...data.keys()]) if (!ids.includes(id)) data.delete(id);
  renderRunList();
  saveState();
}

function handle(msg: HostToWebviewMessage): void {
  lastSeq = msg.seq;
  switch (msg.type) {
    case 'snapshot':
      settings = msg.settings;
      runs = msg.runs;
      data.clear();
      for (const d of msg.data) data.set(d.runId, toRunView(d));
      setSelected(msg.selected);
      syncSmoothingControl();
      syncLayout();
      markAllDirty();
      break;
    case 'runData':
      for (const d of msg.data) data.set(d.runId, toRunView(d));
      setSelected(msg.selected);
      syncLayout();
      markAllDirty();
      break;
    case 'append': {
      let created = false;
      // (points of a run unticked a moment ago may still arrive: not kept)
      for (const d of msg.data) if (ui.selected.includes(d.runId) && appendRun(d)) created = true;
      if (created) {
        syncLayout();
        markAllDirty(Dirty.Full);
      } else {
        markAllDirty(Dirty.Append);
      }
      break;
    }
    case 'runs':
      runs = msg.runs;
      renderRunList();
      syncLayout();
      break;
    case 'settings':
      settings = msg.settings;
      syncSmoothingControl();
      markAllDirty();
      break;
    default: {
      // Exhaustive at compile time; at run time a message type this page does not know is ignored.
      const never: never = msg;
      void never;
      return;
    }
  }
  if (msg.type !== 'append' && msg.type !== 'settings') syncXAxisControl();
  renderStatus();
  scheduleDraw();
}

// ------------------------------------------------------------------------------------------------ controls

const runsEl = document.getElementById('runs')!;
const notesEl = document.getElementById('notes')!;
const smoothingEl = document.getElementById('smoothing') as HTMLInputElement;
const smoothingValueEl = document.getElementById('smoothing-value')!;
const xAxisEl = document.getElementById('x-axis') as HTMLSelectElement;

type Checkbox = HTMLElement & { checked: boolean; label: string };

/** One entry of the run list per run, kept across updates (a live run's label changes at every step). */
const runItems = new Map<string, { item: HTMLSpanElement; swatch: HTMLSpanElement; cb: Checkbox }>();

function runLabel(r: RunSummary): string {
  const step = r.step !== null ? ` · step ${r.step}${r.totalSteps !== null ? `/${r.totalSteps}` : ''}` : '';
  const alerts = r.alerts?.length ? ` · ⚠ ${r.alerts.length} alert${r.alerts.length === 1 ? '' : 's'}` : '';
  const flags = (r.anomaly ? ' · ⚠ non-finite loss' : '') + alerts + (r.skipped ? ' · ⚠ lines skipped' : '');
  return `${runName(r.id)} · ${r.status}${step}${flags}`;
}

function toggleRun(id: string, checked: boolean): void {
  const next = checked ? [...ui.selected.filter((x) => x !== id), id] : ui.selected.filter((x) => x !== id);
  setSelected(next);
  post({ type: 'selectRuns', runIds: next });
  syncLayout();
  markAllDirty();
  scheduleDraw();
}

function renderRunList(): void {
  names = displayNames(runs);
  const listed = new Set(runs.map((r) => r.id));
  for (const [id, el] of runItems) {
    if (listed.has(id)) continue;
    el.item.remove();
    runItems.delete(id);
  }
  for (const r of runs) {
    let el = runItems.get(r.id);
    if (!el) {
      const item = document.createElement('span');
      item.className = 'run-item';
      const swatch = document.createElement('span');
      const cb = document.createElement('vscode-checkbox') as Checkbox;
      const id = r.id;
      cb.addEventListener('change', () => toggleRun(id, cb.checked));
      item.append(swatch, cb);
      runItems.set(r.id, (el = { item, swatch, cb }));
    }
    el.swatch.className = 'swatch';
    // CSSOM, not a style attribute: the CSP allows it
    el.swatch.style.backgroundColor = runColor(r.id);
    const checked = ui.selected.includes(r.id);
    if (el.cb.checked !== checked) el.cb.checked = checked;
    const label = runLabel(r);
    if (el.cb.label !== label) el.cb.label = label;
    const config = Object.entries(r.config ?? {})
      .map(([k, v]) => `${k} = ${String(v)}`)
      .join(', ');
    el.cb.title = [`${r.id} (${r.algorithm})`, config, r.anomaly ? `${r.anomaly}` : '', ...(r.alerts ?? []), skippedText(r.skipped)].filter(Boolean).join('\n');
    el.item.hidden = !matchesRunFilter(r, ui.runFilter) && !checked;
    runsEl.appendChild(el.item); // keeps the host's order
  }
  const shown = runs.filter((r) => matchesRunFilter(r, ui.runFilter)).length;
  runsCountEl.textContent = `${ui.selected.length} of ${runs.length} shown${ui.runFilter.trim() ? ` · ${shown} match the filter` : ''}`;
  syncGroupControls();
  renderNotes();
}

/** One line per run with a non-finite loss or skipped lines, above the charts (hidden when there are none). */
function renderNotes(): void {
  const lines: string[] = [];
  for (const r of runs) {
    if (r.anomaly) lines.push(`⚠ ${runName(r.id)}: ${r.anomaly}`);
    for (const a of r.alerts ?? []) lines.push(`⚠ ${runName(r.id)}: ${a}`);
    const skipped = skippedText(r.skipped);
    if (skipped) lines.push(`⚠ ${runName(r.id)}: ${skipped}`);
  }
  // Many runs with alerts: the first lines, and how many more (every run's are in its tooltip in the run list).
  const MAX_NOTES = 8;
  const shown = lines.length > MAX_NOTES ? [...lines.slice(0, MAX_NOTES - 1), `… and ${lines.length - MAX_NOTES + 1} more (see each run's tooltip)`] : lines;
  notesEl.replaceChildren(
    ...shown.map((text) => {
      const p = document.createElement('div');
      p.textContent = text;
      return p;
    }),
  );
  notesEl.hidden = lines.length === 0;
}

function renderStatus(): void {
  let points = 0;
  let metrics = 0;
  for (const id of ui.selected) {
    const rv = data.get(id);
    if (!rv) continue;
    metrics += rv.series.size;
    for (const p of rv.series.values()) points += p.values.length;
  }
  statusEl.textContent = `${ui.selected.length} of ${runs.length} runs · ${metrics} series · ${points.toLocaleString()} points drawn`;
}

function syncSmoothingControl(): void {
  const w = smoothing();
  smoothingEl.value = String(Math.min(0.99, w));
  smoothingValueEl.textContent = w.toFixed(2);
}

smoothingEl.addEventListener('input', () => {
  const w = Number(smoothingEl.value);
  ui.smoothing = Number.isFinite(w) && w >= 0 && w < 1 ? w : 0;
  smoothingValueEl.textContent = ui.smoothing.toFixed(2);
  saveState();
  markAllDirty();
  scheduleDraw();
});

/** The x axis choices: step, wall time, and every metric that only grows in the selected runs. */
function syncXAxisControl(): void {
  const metrics = monotoneMetrics();
  const m = xMetric();
  if (m && !metrics.includes(m)) metrics.push(m); // the remembered choice, until its data arrives
  const options = [['step', 'Step'], ['time', 'Wall time'], ...metrics.map((n) => [`metric:${n}`, n])];
  const have = [...xAxisEl.options].map((o) => o.value).join('\n');
  if (have !== options.map((o) => o[0]).join('\n')) {
    xAxisEl.replaceChildren(
      ...options.map(([value, text]) => {
        const o = document.createElement('option');
        o.value = value;
        o.textContent = text;
        return o;
      }),
    );
  }
  xAxisEl.value = ui.xAxis;
}
xAxisEl.addEventListener('change', () => {
  const v = xAxisEl.value as XAxis;
  if (v === ui.xAxis) return;
  ui.xAxis = v;
  // Zoomed ranges were in the old axis's units.
  ui.zoom.clear();
  saveState();
  optionsStale = true;
  markAllDirty();
  scheduleDraw();
});

// ------------------------------------------------------------------------------------------------ run picker and groups

const runFilterEl = document.getElementById('run-filter') as HTMLInputElement;
const runsCountEl = document.getElementById('runs-count')!;
const groupByEl = document.getElementById('group-by') as HTMLSelectElement;
const bandEl = document.getElementById('band') as HTMLSelectElement;
const showRunsEl = document.getElementById('show-runs') as HTMLInputElement;
const metricFilterEl = document.getElementById('metric-filter') as HTMLInputElement;

/** Redraws everything after a change of what is grouped, shown or filtered. */
function relayout(): void {
  saveState();
  syncLayout();
  markAllDirty();
  scheduleDraw();
}

runFilterEl.value = ui.runFilter;
runFilterEl.addEventListener('input', () => {
  ui.runFilter = runFilterEl.value;
  saveState();
  renderRunList();
});
document.getElementById('runs-tick')!.addEventListener('click', () => {
  const add = runs.filter((r) => matchesRunFilter(r, ui.runFilter) && !ui.selected.includes(r.id)).map((r) => r.id);
  if (!add.length) return;
  const next = [...ui.selected, ...add];
  setSelected(next);
  post({ type: 'selectRuns', runIds: next });
  relayout();
});
document.getElementById('runs-untick')!.addEventListener('click', () => {
  const next = ui.selected.filter((id) => {
    const r = runs.find((x) => x.id === id);
    return r !== undefined && !matchesRunFilter(r, ui.runFilter);
  });
  setSelected(next);
  post({ type: 'selectRuns', runIds: next });
  relayout();
});

/** The group-by choices follow the config keys that differ between the runs. */
function syncGroupControls(): void {
  const keys = groupKeys(runs);
  const current = groupKey();
  if (current && !keys.includes(current)) keys.push(current);
  const options = [['', 'no groups'], ...keys.map((k) => [k, k])];
  const have = [...groupByEl.options].map((o) => o.value).join('\n');
  if (have !== options.map((o) => o[0]).join('\n')) {
    groupByEl.replaceChildren(
      ...options.map(([value, text]) => {
        const o = document.createElement('option');
        o.value = value;
        o.textContent = text;
        return o;
      }),
    );
  }
  groupByEl.value = current;
  bandEl.value = ui.band;
  showRunsEl.checked = ui.showRuns;
  bandEl.disabled = showRunsEl.disabled = current === '';
}
groupByEl.addEventListener('change', () => {
  ui.groupBy = groupByEl.value;
  syncGroupControls();
  relayout();
});
bandEl.addEventListener('change', () => {
  ui.band = bandEl.value === 'ci95' ? 'ci95' : 'minmax';
  relayout();
});
showRunsEl.addEventListener('change', () => {
  ui.showRuns = showRunsEl.checked;
  relayout();
});

metricFilterEl.value = ui.metricFilter;
let metricTyping: ReturnType<typeof setTimeout> | undefined;
metricFilterEl.addEventListener('input', () => {
  clearTimeout(metricTyping);
  metricTyping = setTimeout(() => {
    ui.metricFilter = metricFilterEl.value;
    let valid = true;
    try {
      new RegExp(ui.metricFilter, 'i');
    } catch {
      valid = false;
    }
    metricFilterEl.classList.toggle('invalid', !valid);
    metricFilterEl.title = valid ? 'A regular expression over chart titles (case-insensitive)' : 'Not a regular expression: matched as plain text';
    relayout();
  }, 150);
});

// A theme switch changes the body class (light/dark/high contrast) and the --vscode-* variables on <html>'s style.
const themeObserver = new MutationObserver(() => {
  theme = readTheme();
  optionsStale = true;
  markAllDirty();
  scheduleDraw();
});
themeObserver.observe(document.body, { attributes: true, attributeFilter: ['class'] });
themeObserver.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });

/**
 * What the charts show, read back for the tests and the end-to-end suite (a plain read of the chart state; it changes
 * nothing): per drawn chart its datasets' points and its axes' ranges and tick labels.
 */
interface ChartInspection {
  key: string;
  title: string;
  note: string;
  /** Points with their step (s), time (t) and, on a smoothed line, raw value (r). */
  datasets: { label: string; kind: 'line' | 'raw' | 'mark' | 'band'; points: (XY & { s?: number; t?: number; r?: number })[] }[];
  x: { min: number; max: number };
  y: { min: number; max: number; ticks: string[]; type: string };
  /** The plot area in CSS pixels of the canvas, to point at a value. */
  area: { left: number; top: number; width: number; height: number };
  /** The tooltip showing now (the mouse is over the chart), else null. */
  tooltip: { title: string[]; lines: string[] } | null;
}
function inspectCharts(): ChartInspection[] {
  const out: ChartInspection[] = [];
  for (const slot of fullSlot ? [...slots.values(), fullSlot] : slots.values()) {
    const chart = slot.chart;
    if (!chart) continue;
    const x = chart.scales.x;
    const y = chart.scales.y;
    out.push({
      key: slot.key,
      title: slot.titleEl.textContent ?? '',
      note: slot.noteEl.hidden ? '' : (slot.noteEl.textContent ?? ''),
      datasets: (chart.data.datasets as LineDataset[]).map((d) => ({
        label: d.label ?? '',
        kind: d.mark ? 'mark' : d.raw ? 'raw' : d.band ? 'band' : 'line',
        points: d.data.map((p) => {
          const pts = d.points;
          if (!pts || p.i === undefined) return { x: p.x, y: p.y };
          const out: XY & { s?: number; t?: number; r?: number } = { x: p.x, y: p.y, s: pts.steps[p.i], t: pts.times[p.i] };
          if (p.k) out.k = p.k;
          else if (d.smoothed) out.r = pts.values[p.i];
          return out;
        }),
      })),
      x: { min: x.min, max: x.max },
      y: { min: y.min, max: y.max, ticks: y.ticks.map((t) => String(t.label)), type: y.type },
      area: { left: chart.chartArea.left, top: chart.chartArea.top, width: chart.chartArea.width, height: chart.chartArea.height },
      tooltip: chart.tooltip && chart.tooltip.opacity > 0 ? { title: [...chart.tooltip.title], lines: chart.tooltip.body.flatMap((b) => b.lines) } : null,
    });
  }
  return out;
}
(window as unknown as { trapoInspectCharts?: () => ChartInspection[] }).trapoInspectCharts = inspectCharts;

syncSmoothingControl();
syncXAxisControl();
window.addEventListener('message', (ev: MessageEvent) => {
  const msg = ev.data as HostToWebviewMessage;
  if (typeof msg !== 'object' || msg === null || typeof msg.type !== 'string') return;
  handle(msg);
});
post({ type: 'ready', version: DASHBOARD_PROTOCOL_VERSION, state: { ...restored }, firstScreen: measureFirstScreen() });
