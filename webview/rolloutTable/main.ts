// The rollout table webview: a run's rollouts across steps in a virtualised table (only the rows on screen are in the
// DOM, drawn into a fixed pool of row elements), sorted by any column, filtered with the Open Rollouts picker's query
// language, with histograms of reward and length over the rows shown.
//
// - Data comes only from host messages (src/shared/rolloutTable.ts); everything from a run is set with textContent.
// - The histograms are two small bar charts drawn on a canvas by hand: redrawn on every keystroke of the filter, and
//   chart.js would add its bar controller and category scale for 20 bars.
// - The filter and the sort survive reloads through vscode.setState.
import {
  COLUMN_TITLES,
  Histogram,
  ROLLOUT_TABLE_PROTOCOL_VERSION,
  RolloutTable,
  TABLE_COLUMNS,
  TableColumn,
  TableHostMessage,
  TableWebviewMessage,
  histogram,
} from '../../src/shared/rolloutTable';
import { formatRolloutQuery, parseRolloutQuery } from '../../src/shared/rolloutQuery';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;
const vscode = acquireVsCodeApi();
const post = (m: TableWebviewMessage) => vscode.postMessage(m);

interface UiState {
  query: string;
  sort: TableColumn;
  descending: boolean;
}
function restoreState(x: unknown): UiState {
  const o = (typeof x === 'object' && x !== null ? x : {}) as Record<string, unknown>;
  return {
    query: typeof o.query === 'string' ? o.query : '',
    sort: (TABLE_COLUMNS as readonly unknown[]).includes(o.sort) ? (o.sort as TableColumn) : 'step',
    descending: typeof o.descending === 'boolean' ? o.descending : true,
  };
}
const ui = restoreState(vscode.getState());
const save = () => vscode.setState({ ...ui });

const ROW_H = 22; // .row height in rolloutTable.css
const table = new RolloutTable();
let shown: Uint32Array = new Uint32Array(0);
/** Selected table rows: the first, and a second one for the diff. */
let selected: number[] = [];
let expectedFiles = 0;
let progress = { filesDone: 0, skipped: 0, done: false, errors: [] as string[] };
let runName = '';

const queryEl = document.getElementById('query') as HTMLInputElement;
const statusEl = document.getElementById('status')!;
const headerEl = document.getElementById('header')!;
const bodyEl = document.getElementById('body')!;
const spacerEl = document.getElementById('spacer')!;
const rowsEl = document.getElementById('rows')!;
const emptyEl = document.getElementById('empty')!;
const samePromptEl = document.getElementById('same-prompt') as HTMLButtonElement;
const diffEl = document.getElementById('diff') as HTMLButtonElement;
const openEl = document.getElementById('open') as HTMLButtonElement;
const histReward = document.getElementById('hist-reward') as HTMLCanvasElement;
const histLength = document.getElementById('hist-length') as HTMLCanvasElement;
const histRewardTitle = document.getElementById('hist-reward-title')!;
const histLengthTitle = document.getElementById('hist-length-title')!;

const NUMERIC = new Set<TableColumn>(['step', 'sample', 'stage', 'level', 'reward', 'advantage', 'length', 'entropy', 'outside']);

// ------------------------------------------------------------------------------------------------ header

const headerButtons = new Map<TableColumn, HTMLButtonElement>();
for (const c of TABLE_COLUMNS) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = COLUMN_TITLES[c].label;
  b.title = `${COLUMN_TITLES[c].help} (click to sort)`;
  if (NUMERIC.has(c)) b.className = 'num';
  b.addEventListener('click', () => {
    if (ui.sort === c) ui.descending = !ui.descending;
    else {
      ui.sort = c;
      ui.descending = c !== 'prompt' && c !== 'step' ? true : c === 'step';
    }
    save();
    recompute();
  });
  headerButtons.set(c, b);
  headerEl.appendChild(b);
}
function syncHeader(): void {
  for (const [c, b] of headerButtons) {
    if (c === ui.sort) b.setAttribute('aria-sort', ui.descending ? 'descending' : 'ascending');
    else b.removeAttribute('aria-sort');
  }
}

// ------------------------------------------------------------------------------------------------ rows

interface PoolRow {
  el: HTMLDivElement;
  cells: HTMLSpanElement[];
  /** The table row shown, and the position in the shown rows it sits at (-1: none). */
  row: number;
  pos: number;
  selected: number;
}
const pool: PoolRow[] = [];

function ensurePool(n: number): void {
  while (pool.length < n) {
    const el = document.createElement('div');
    el.className = 'row';
    el.setAttribute('role', 'row');
    const cells = TABLE_COLUMNS.map((c) => {
      const s = document.createElement('span');
      if (NUMERIC.has(c)) s.className = 'num';
      el.appendChild(s);
      return s;
    });
    const entry: PoolRow = { el, cells, row: -1, pos: -1, selected: 0 };
    el.addEventListener('click', (ev) => select(entry.row, ev.ctrlKey || ev.metaKey || ev.shiftKey));
    el.addEventListener('dblclick', () => openRow(entry.row));
    rowsEl.appendChild(el);
    pool.push(entry);
  }
}

function fmt(x: number, digits = 3): string {
  if (Number.isNaN(x)) return '–';
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return x.toExponential(2);
  return String(Number(x.toFixed(digits)));
}
function signed(x: number): string {
  return Number.isNaN(x) ? '–' : (x > 0 ? '+' : '') + fmt(x);
}
function cellText(row: number, c: TableColumn): string {
  switch (c) {
    case 'prompt':
      return table.promptId(row);
    case 'advantage':
      return signed(table.value(row, c));
    case 'outside': {
      const v = table.value(row, c);
      return Number.isNaN(v) ? '–' : `${(100 * v).toFixed(0)}%`;
    }
    case 'step':
    case 'sample':
    case 'stage':
    case 'level':
    case 'reward':
    case 'entropy':
    case 'length':
      return fmt(table.value(row, c));
  }
}

let renderScheduled = false;
let lastReported = -1;
function scheduleRender(): void {
  if (renderScheduled) return;
  renderScheduled = true;
  requestAnimationFrame(render);
}

/**
 * Draws the rows on screen into the pool: position k of the shown rows always uses pool entry k mod the pool size, so
 * a scroll by a few rows refills only those few entries and moves the others (a transform each, which the compositor
 * does). CSSOM transforms, not inline style attributes: the CSP allows them.
 */
function render(): void {
  renderScheduled = false;
  const height = bodyEl.clientHeight || window.innerHeight;
  const capacity = Math.ceil(height / ROW_H) + 6;
  if (pool.length !== capacity) {
    ensurePool(capacity);
    while (pool.length > capacity) pool.pop()!.el.remove();
    for (const p of pool) p.pos = -1;
  }
  const first = Math.max(0, Math.floor(bodyEl.scrollTop / ROW_H) - 2);
  const count = Math.max(0, Math.min(shown.length - first, capacity));
  const inView = new Set<PoolRow>();
  for (let k = first; k < first + count; k++) {
    const p = pool[k % capacity];
    inView.add(p);
    const row = shown[k];
    if (p.pos !== k || p.row !== row) {
      if (p.pos !== k) p.el.style.transform = `translateY(${k * ROW_H}px)`;
      p.pos = k;
      if (p.row !== row) {
        p.row = row;
        TABLE_COLUMNS.forEach((c, j) => (p.cells[j].textContent = cellText(row, c)));
        p.cells[1].title = table.promptText(row);
      }
    }
    if (p.el.hidden) p.el.hidden = false;
    const sel = selected[0] === row ? 1 : selected[1] === row ? 2 : 0;
    if (sel !== p.selected) {
      p.selected = sel;
      p.el.classList.toggle('selected', sel === 1);
      p.el.classList.toggle('second', sel === 2);
      p.el.setAttribute('aria-selected', String(sel !== 0));
    }
  }
  for (const p of pool) {
    if (inView.has(p)) continue;
    if (!p.el.hidden) p.el.hidden = true;
    p.pos = -1;
  }
  if (shown.length !== lastReported && (shown.length > 0 || progress.done)) {
    lastReported = shown.length;
    post({ type: 'rendered', rows: Math.max(0, count), total: shown.length });
  }
}
bodyEl.addEventListener('scroll', scheduleRender, { passive: true });
window.addEventListener('resize', scheduleRender);

// ------------------------------------------------------------------------------------------------ filter, sort, histograms

function recompute(): void {
  const q = parseRolloutQuery(ui.query);
  shown = table.sort(table.filter(q), ui.sort, ui.descending);
  spacerEl.style.height = `${shown.length * ROW_H}px`;
  selected = selected.filter((r) => shown.includes(r));
  syncHeader();
  syncButtons();
  drawHistograms();
  renderStatus();
  emptyEl.hidden = shown.length > 0 || table.size === 0;
  emptyEl.textContent = table.size > 0 ? `No rollout matches “${ui.query}”.` : '';
  for (const p of pool) {
    p.row = -1; // rows moved: refill every cell
    p.pos = -1;
  }
  scheduleRender();
}

function renderStatus(): void {
  const loading = progress.done ? '' : ` · loading ${progress.filesDone}/${expectedFiles} steps`;
  const skipped = progress.skipped ? ` · ${progress.skipped} unreadable line${progress.skipped === 1 ? '' : 's'} skipped` : '';
  const errors = progress.errors.length ? ` · ${progress.errors.length} file${progress.errors.length === 1 ? '' : 's'} unreadable` : '';
  statusEl.textContent = `${runName ? runName + ': ' : ''}${shown.length.toLocaleString()} of ${table.size.toLocaleString()} rollouts${loading}${skipped}${errors}`;
  statusEl.title = progress.errors.join('\n');
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

function drawHistogram(canvas: HTMLCanvasElement, h: Histogram, title: HTMLElement, name: string): void {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 360;
  const hgt = canvas.clientHeight || 90;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(hgt * dpr);
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, hgt);
  const n = h.counts.length;
  const total = h.counts.reduce((a, b) => a + b, 0);
  const unknown = h.unknown ? `, ${h.unknown} unknown` : '';
  if (!n) {
    title.textContent = `${name}: no values${unknown}`;
    return;
  }
  title.textContent = `${name}: ${total.toLocaleString()} rows, ${fmt(h.edges[0])} … ${fmt(h.edges[n])}${unknown}`;
  const max = Math.max(...h.counts);
  const axis = 14;
  const bw = w / n;
  ctx.fillStyle = cssVar('--vscode-charts-blue', '#3794ff');
  for (let i = 0; i < n; i++) {
    const bh = max ? ((hgt - axis) * h.counts[i]) / max : 0;
    ctx.fillRect(i * bw + 1, hgt - axis - bh, Math.max(1, bw - 2), bh);
  }
  ctx.fillStyle = cssVar('--vscode-descriptionForeground', '#999');
  ctx.font = `10px ${cssVar('--vscode-font-family', 'sans-serif')}`;
  ctx.textBaseline = 'bottom';
  ctx.textAlign = 'left';
  ctx.fillText(fmt(h.edges[0]), 0, hgt);
  ctx.textAlign = 'right';
  ctx.fillText(fmt(h.edges[n]), w, hgt);
}

function drawHistograms(): void {
  drawHistogram(histReward, histogram(table.column('reward'), shown), histRewardTitle, 'reward');
  drawHistogram(histLength, histogram(table.column('length'), shown), histLengthTitle, 'length');
}

// ------------------------------------------------------------------------------------------------ selection, actions

function select(row: number, extend: boolean): void {
  if (row < 0) return;
  if (extend && selected.length && selected[0] !== row) selected = [selected[0], row];
  else selected = [row];
  syncButtons();
  scheduleRender();
}

function syncButtons(): void {
  openEl.disabled = samePromptEl.disabled = selected.length === 0;
  diffEl.disabled = selected.length !== 2;
}

function openRow(row: number): void {
  if (row >= 0) post({ type: 'open', row: table.ref(row) });
}

openEl.addEventListener('click', () => openRow(selected[0] ?? -1));
diffEl.addEventListener('click', () => {
  if (selected.length === 2) post({ type: 'diff', a: table.ref(selected[0]), b: table.ref(selected[1]) });
});
samePromptEl.addEventListener('click', () => {
  const row = selected[0];
  if (row === undefined) return;
  // One prompt's samples across steps, oldest first: the other conditions of the filter are dropped.
  setQuery(formatRolloutQuery({ conditions: [], promptId: table.promptId(row), words: [] }), 'step', false);
});

bodyEl.addEventListener('keydown', (ev) => {
  const at = selected.length ? shown.indexOf(selected[0]) : -1;
  if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
    const next = Math.min(shown.length - 1, Math.max(0, at + (ev.key === 'ArrowDown' ? 1 : -1)));
    if (next >= 0) {
      select(shown[next], false);
      const top = next * ROW_H;
      if (top < bodyEl.scrollTop) bodyEl.scrollTop = top;
      else if (top + ROW_H > bodyEl.scrollTop + bodyEl.clientHeight) bodyEl.scrollTop = top + ROW_H - bodyEl.clientHeight;
    }
    ev.preventDefault();
  } else if (ev.key === 'Enter' && at >= 0) {
    openRow(shown[at]);
  }
});

function setQuery(text: string, sort?: TableColumn, descending?: boolean): void {
  ui.query = text;
  queryEl.value = text;
  if (sort) {
    ui.sort = sort;
    ui.descending = descending ?? ui.descending;
  }
  save();
  bodyEl.scrollTop = 0;
  recompute();
}

let typing: ReturnType<typeof setTimeout> | undefined;
queryEl.addEventListener('input', () => {
  clearTimeout(typing);
  typing = setTimeout(() => {
    ui.query = queryEl.value;
    save();
    bodyEl.scrollTop = 0;
    recompute();
  }, 120);
});

// ------------------------------------------------------------------------------------------------ messages

let recomputeScheduled = false;
let lastRecompute = 0;
/** While rows stream in, the filter, sort and histograms run at most every 250 ms (each pass covers all rows so far). */
function scheduleRecompute(): void {
  if (recomputeScheduled) return;
  recomputeScheduled = true;
  const wait = progress.done ? 0 : Math.max(0, lastRecompute + 250 - performance.now());
  setTimeout(
    () =>
      requestAnimationFrame(() => {
        recomputeScheduled = false;
        lastRecompute = performance.now();
        recompute();
      }),
    wait,
  );
}

function handle(msg: TableHostMessage): void {
  switch (msg.type) {
    case 'init':
      runName = msg.run.name;
      expectedFiles = msg.files;
      document.title = `Rollouts · ${msg.run.name}`;
      if (msg.query) setQuery(msg.query);
      renderStatus();
      break;
    case 'rows':
      table.append(msg.newPrompts, msg.rows);
      progress = { filesDone: msg.filesDone, skipped: msg.skipped, done: msg.done, errors: msg.errors };
      expectedFiles = Math.max(expectedFiles, msg.filesDone);
      if (table.size === msg.rows.step.length)
        recompute(); // the first rows: at once, not a frame later
      else scheduleRecompute();
      break;
    case 'query':
      setQuery(msg.query);
      break;
    default: {
      const never: never = msg;
      void never;
    }
  }
}

queryEl.value = ui.query;
syncHeader();
window.addEventListener('message', (ev: MessageEvent) => {
  const msg = ev.data as TableHostMessage;
  if (typeof msg === 'object' && msg !== null && typeof msg.type === 'string') handle(msg);
});
post({ type: 'ready', version: ROLLOUT_TABLE_PROTOCOL_VERSION });
