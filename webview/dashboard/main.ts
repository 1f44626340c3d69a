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
import {
  Chart,
  ChartDataset,
  ChartOptions,
  Filler,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PointElement,
  Scale,
  Ticks,
  Tooltip,
  TooltipItem,
} from 'chart.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import '@vscode-elements/elements/dist/vscode-radio/index.js';
import '@vscode-elements/elements/dist/vscode-radio-group/index.js';
import { EmaState } from '../../src/core/ema';
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
  RunData,
  RunSummary,
  WebviewToHostMessage,
  XAxis,
  groupByNamespace,
  parseUiState,
  prefixLevel,
  skippedText,
} from '../../src/shared/dashboardProtocol';

Chart.register(LineController, LineElement, PointElement, LinearScale, Filler, Legend, Tooltip);

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
};
let runs: RunSummary[] = [];
const data = new Map<string, RunView>();
const colorOf = new Map<string, number>();
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
  vscode.setState(state);
}

// ------------------------------------------------------------------------------------------------ theme

const PALETTE_VARS = [
  '--vscode-charts-blue',
  '--vscode-charts-orange',
  '--vscode-charts-green',
  '--vscode-charts-purple',
  '--vscode-charts-red',
  '--vscode-charts-yellow',
];
const PALETTE_FALLBACK = ['#3794ff', '#d18616', '#89d185', '#b180d7', '#f14c4c', '#cca700'];
const PALETTE_SIZE = PALETTE_VARS.length;

interface Theme {
  palette: string[];
  foreground: string;
  muted: string;
  grid: string;
  font: string;
  /** Outline of the non-finite markers. */
  warning: string;
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
    palette: PALETTE_VARS.map((name, i) => v(name, PALETTE_FALLBACK[i])),
    foreground: v('--vscode-foreground', '#cccccc'),
    muted: v('--vscode-descriptionForeground', '#999999'),
    grid: v('--vscode-editorWidget-border', v('--vscode-panel-border', 'rgba(128,128,128,0.25)')),
    font: v('--vscode-font-family', 'sans-serif'),
    warning: v('--vscode-editorWarning-foreground', v('--vscode-charts-yellow', '#cca700')),
  };
}

function runColorIndex(runId: string): number {
  let i = colorOf.get(runId);
  if (i === undefined) {
    const used = new Set(colorOf.values());
    i = 0;
    while (used.has(i) && i < 64) i++;
    colorOf.set(runId, i);
  }
  return i;
}
const runColor = (runId: string) => theme.palette[runColorIndex(runId) % PALETTE_SIZE];

// ------------------------------------------------------------------------------------------------ chart slots

type SlotSpec =
  | { kind: 'metric'; metric: string }
  | { kind: 'levels'; runId: string; metrics: string[] }
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
}
const enum Dirty {
  None = 0,
  Append = 1,
  Full = 2,
}
/** One drawn line and the data it comes from; `n` points of `points` are in the datasets already. */
interface Binding {
  points: Points;
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

/** The slots the current data asks for, grouped, in display order. */
function wantedLayout(): { group: string; slots: { key: string; title: string; spec: SlotSpec }[] }[] {
  const names: string[] = [];
  const seen = new Set<string>();
  const benches = new Set<string>();
  for (const id of ui.selected) {
    const rv = data.get(id);
    if (!rv) continue;
    for (const n of rv.series.keys()) if (!seen.has(n)) seen.add(n), names.push(n);
    for (const b of rv.benchmarks.keys()) benches.add(b);
  }
  const layout: { group: string; slots: { key: string; title: string; spec: SlotSpec }[] }[] = [];
  if (benches.size) {
    const list = [...benches].sort((a, b) => (a === AVERAGE_BENCHMARK ? -1 : b === AVERAGE_BENCHMARK ? 1 : a.localeCompare(b)));
    layout.push({
      group: BENCHMARK_GROUP,
      slots: list.map((b) => ({ key: `bench:${b}`, title: `accuracy: ${b}`, spec: { kind: 'benchmark', benchmark: b } })),
    });
  }
  for (const [ns, metrics] of groupByNamespace(names)) {
    const levels = metrics.filter((m) => prefixLevel(m) !== undefined).sort((a, b) => prefixLevel(a)! - prefixLevel(b)!);
    const entry = { group: ns, slots: [] as { key: string; title: string; spec: SlotSpec }[] };
    if (levels.length) {
      for (const id of ui.selected) {
        const rv = data.get(id);
        const has = levels.filter((m) => rv?.series.has(m));
        if (!has.length) continue;
        const title = `${ns}/level_* (stacked) — ${runName(id)}`;
        entry.slots.push({ key: `levels:${id}`, title, spec: { kind: 'levels', runId: id, metrics: has } });
      }
    }
    for (const m of metrics) {
      if (prefixLevel(m) !== undefined) continue;
      entry.slots.push({ key: `metric:${m}`, title: m, spec: { kind: 'metric', metric: m } });
    }
    if (ns === BENCHMARK_GROUP && layout[0]?.group === BENCHMARK_GROUP) layout[0].slots.push(...entry.slots);
    else layout.push(entry);
  }
  return layout;
}

function runName(id: string): string {
  return runs.find((r) => r.id === id)?.name ?? id;
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
  card.append(titleEl, noteEl, box);
  const slot: Slot = { key, spec, card, titleEl, noteEl, box, bindings: [], visible: false, observed: false, dirty: Dirty.Full };
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
  const { steps, times, values } = b.points;
  const byStep = ui.xAxis === 'step';
  const before = { finite: b.finite, nonFinite: b.nonFinite };
  for (let i = b.n; i < values.length; i++) {
    const x = byStep ? steps[i] : times[i];
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

function bind(p: Points, smooth: boolean, withRaw: boolean, marked: boolean): Binding {
  const w = smoothing();
  const b: Binding = {
    points: p,
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
type LineDataset = ChartDataset<'line', XY[]> & { raw?: boolean; mark?: boolean; runId?: string; points?: Points; smoothed?: boolean };

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
      for (const id of ui.selected) {
        const rv = data.get(id);
        const p = rv?.series.get(spec.metric);
        if (!rv || !p) continue;
        const b = bind(p, true, true, true);
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
      const rv = data.get(spec.runId);
      if (!rv) break;
      spec.metrics.forEach((m, k) => {
        const p = rv.series.get(m);
        if (!p) return;
        const b = bind(p, true, false, false);
        bindings.push(b);
        const color = theme.palette[k % PALETTE_SIZE];
        datasets.push({
          label: m.slice(m.indexOf('/') + 1),
          runId: spec.runId,
          points: p,
          smoothed: b.ema !== null,
          data: b.line,
          borderColor: color,
          backgroundColor: withAlpha(color, 0.45),
          borderWidth: 1,
          pointRadius: dotRadius(b, 0),
          fill: k === 0 ? 'origin' : '-1',
        });
      });
      break;
    }
    case 'benchmark': {
      for (const id of ui.selected) {
        const rv = data.get(id);
        const p = rv?.benchmarks.get(spec.benchmark);
        if (!rv || !p) continue;
        const b = bind(p, false, false, true);
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

function formatDuration(s: number): string {
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
    parts.push(`${formatDuration(t)} after start${clock}`);
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

function optionsFor(spec: SlotSpec): ChartOptions<'line'> {
  const stacked = spec.kind === 'levels';
  const unit = spec.kind === 'levels' || spec.kind === 'benchmark';
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
    plugins: {
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
            return !ds.raw && !ds.mark;
          },
        },
      },
      tooltip: {
        // The raw line's value is in the smoothed line's label; a gap (NaN) is told by its marker.
        filter: (item) => !(item.dataset as LineDataset).raw && Number.isFinite((item.raw as XY).y),
        callbacks: { title: tooltipTitle, label: tooltipLabel },
      },
    },
    scales: {
      x: {
        type: 'linear',
        afterDataLimits: (scale: Scale) => {
          const { min, max } = dataExtent(scale.chart, 'x');
          const r = singleXRange(min, max, ui.xAxis === 'step', selectedTotalSteps());
          if (r) Object.assign(scale, r);
        },
        ticks: {
          color: theme.muted,
          font: tickFont,
          maxTicksLimit: 7,
          precision: ui.xAxis === 'step' ? 0 : undefined,
          callback: (v) => (ui.xAxis === 'time' ? formatDuration(Number(v)) : formatNumber(Number(v))),
        },
        grid: { color: theme.grid },
      },
      y: {
        type: 'linear',
        stacked,
        min: unit ? 0 : undefined,
        max: unit ? 1 : undefined,
        afterDataLimits: unit
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
}

function draw(): void {
  drawScheduled = false;
  const refreshOptions = optionsStale;
  optionsStale = false;
  for (const slot of slots.values()) {
    if (refreshOptions) slot.dirty = Dirty.Full;
    if (!slot.visible || slot.dirty === Dirty.None) continue;
    const level = slot.dirty;
    slot.dirty = Dirty.None;
    if (!slot.chart) {
      const canvas = document.createElement('canvas');
      slot.box.appendChild(canvas);
      const built = datasetsFor(slot.spec);
      slot.bindings = built.bindings;
      slot.chart = new Chart<'line', XY[]>(canvas, { type: 'line', data: { datasets: built.datasets }, options: optionsFor(slot.spec) });
      renderNote(slot);
      continue;
    }
    let rebuild = level !== Dirty.Append;
    if (!rebuild) for (const b of slot.bindings) if (extend(b)) rebuild = true;
    if (rebuild) {
      if (refreshOptions) slot.chart.options = optionsFor(slot.spec);
      const built = datasetsFor(slot.spec);
      slot.bindings = built.bindings;
      slot.chart.data.datasets = built.datasets;
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
  slot.noteEl.textContent = first
    ? `⚠ ${count} non-finite value${count === 1 ? '' : 's'} (first: ${first.token} at step ${first.step})`
    : '';
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
  renderStatus();
  scheduleDraw();
}

// ------------------------------------------------------------------------------------------------ controls

const runsEl = document.getElementById('runs')!;
const notesEl = document.getElementById('notes')!;
const smoothingEl = document.getElementById('smoothing') as HTMLInputElement;
const smoothingValueEl = document.getElementById('smoothing-value')!;
const xAxisEl = document.getElementById('x-axis')!;

type Checkbox = HTMLElement & { checked: boolean; label: string };

/** One entry of the run list per run, kept across updates (a live run's label changes at every step). */
const runItems = new Map<string, { item: HTMLSpanElement; swatch: HTMLSpanElement; cb: Checkbox }>();

function runLabel(r: RunSummary): string {
  const step = r.step !== null ? ` · step ${r.step}${r.totalSteps !== null ? `/${r.totalSteps}` : ''}` : '';
  const flags = (r.anomaly ? ' · ⚠ non-finite loss' : '') + (r.skipped ? ' · ⚠ lines skipped' : '');
  return `${r.name} · ${r.status}${step}${flags}`;
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
    el.swatch.className = `swatch c${runColorIndex(r.id) % PALETTE_SIZE}`;
    const checked = ui.selected.includes(r.id);
    if (el.cb.checked !== checked) el.cb.checked = checked;
    const label = runLabel(r);
    if (el.cb.label !== label) el.cb.label = label;
    el.cb.title = [`${r.id} (${r.algorithm})`, r.anomaly ? `${r.anomaly}` : '', skippedText(r.skipped)].filter(Boolean).join('\n');
    runsEl.appendChild(el.item); // keeps the host's order
  }
  renderNotes();
}

/** One line per run with a non-finite loss or skipped lines, above the charts (hidden when there are none). */
function renderNotes(): void {
  const lines: string[] = [];
  for (const r of runs) {
    if (r.anomaly) lines.push(`⚠ ${r.name}: ${r.anomaly}`);
    const skipped = skippedText(r.skipped);
    if (skipped) lines.push(`⚠ ${r.name}: ${skipped}`);
  }
  notesEl.replaceChildren(
    ...lines.map((text) => {
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

function syncXAxisControl(): void {
  for (const r of xAxisEl.querySelectorAll('vscode-radio')) {
    (r as HTMLElement & { checked: boolean }).checked = r.getAttribute('value') === ui.xAxis;
  }
}
xAxisEl.addEventListener('change', (ev) => {
  const target = ev.target as HTMLElement & { checked?: boolean };
  const v = target.getAttribute('value');
  if (!target.checked || (v !== 'step' && v !== 'time') || v === ui.xAxis) return;
  ui.xAxis = v;
  saveState();
  optionsStale = true;
  markAllDirty();
  scheduleDraw();
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
  datasets: { label: string; kind: 'line' | 'raw' | 'mark'; points: (XY & { s?: number; t?: number; r?: number })[] }[];
  x: { min: number; max: number };
  y: { min: number; max: number; ticks: string[] };
  /** The plot area in CSS pixels of the canvas, to point at a value. */
  area: { left: number; top: number; width: number; height: number };
  /** The tooltip showing now (the mouse is over the chart), else null. */
  tooltip: { title: string[]; lines: string[] } | null;
}
function inspectCharts(): ChartInspection[] {
  const out: ChartInspection[] = [];
  for (const slot of slots.values()) {
    const chart = slot.chart;
    if (!chart) continue;
    const x = chart.scales.x;
    const y = chart.scales.y;
    out.push({
      key: slot.key,
      title: slot.titleEl.textContent ?? '',
      note: slot.noteEl.hidden ? '' : slot.noteEl.textContent ?? '',
      datasets: (chart.data.datasets as LineDataset[]).map((d) => ({
        label: d.label ?? '',
        kind: d.mark ? 'mark' : d.raw ? 'raw' : 'line',
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
      y: { min: y.min, max: y.max, ticks: y.ticks.map((t) => String(t.label)) },
      area: { left: chart.chartArea.left, top: chart.chartArea.top, width: chart.chartArea.width, height: chart.chartArea.height },
      tooltip:
        chart.tooltip && chart.tooltip.opacity > 0
          ? { title: [...chart.tooltip.title], lines: chart.tooltip.body.flatMap((b) => b.lines) }
          : null,
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
