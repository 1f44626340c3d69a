// The dashboard's per-chart tools: zoom and pan (chartjs-plugin-zoom: drag a box or Ctrl+wheel to zoom, Shift+drag to
// pan, double-click or ⟲ to reset), CSV of what a chart draws, PNG of the chart on the theme's background, and the
// card toolbar that offers them. No host messages here: main.ts sends what these build.
import type { Chart, ChartOptions } from 'chart.js';
import type { ZoomRange } from '../../src/shared/dashboardProtocol';

export interface ZoomHooks {
  /** The user zoomed or panned: the axes' ranges now (null: back to the whole range, a reset). */
  changed(range: ZoomRange | null): void;
}

/** The zoom plugin's options for one chart: x and y by a dragged box, x by Ctrl+wheel, pan by Shift+drag. */
export function zoomOptions(hooks: ZoomHooks): NonNullable<ChartOptions<'line'>['plugins']>['zoom'] {
  const report = ({ chart }: { chart: Chart }) => {
    if (!chart.isZoomedOrPanned()) return hooks.changed(null);
    const x = chart.scales.x;
    const y = chart.scales.y;
    hooks.changed({ xMin: x.min, xMax: x.max, yMin: y.min, yMax: y.max });
  };
  return {
    zoom: {
      wheel: { enabled: true, modifierKey: 'ctrl' },
      drag: { enabled: true, threshold: 8, borderWidth: 1 },
      pinch: { enabled: false },
      mode: 'xy',
      onZoomComplete: report,
    },
    pan: { enabled: true, mode: 'xy', modifierKey: 'shift', threshold: 4, onPanComplete: report },
    limits: { y: { min: 'original', max: 'original' }, x: { min: 'original', max: 'original' } },
  };
}

/** A CSV cell: numbers as they are (NaN as empty), text quoted, and text that a spreadsheet would run (=, +, -, @) defused. */
function cell(v: string | number): string {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export interface CsvSeries {
  /** The legend's label ("trapo-seed0", "trapo (3 runs) mean", "… min"). */
  label: string;
  points: { x: number; y: number; step?: number; time?: number; raw?: number }[];
}

/**
 * Long-form CSV of a chart: one row per drawn point, `series, x, y` plus the step, seconds since the start and the
 * raw (unsmoothed) value where a point has them. Untrusted labels stay text.
 */
export function chartCsv(title: string, xName: string, series: readonly CsvSeries[]): string {
  const rows = [['chart', 'series', xName, 'value', 'step', 'time_s', 'raw'].map(cell).join(',')];
  for (const s of series) {
    for (const p of s.points) {
      rows.push([title, s.label, p.x, p.y, p.step ?? Number.NaN, p.time ?? Number.NaN, p.raw ?? Number.NaN].map(cell).join(','));
    }
  }
  return rows.join('\n') + '\n';
}

/** The chart as PNG bytes in base64, drawn over `background` (the canvas itself is transparent). */
export function chartPng(chart: Chart, background: string): string {
  const src = chart.canvas;
  const out = document.createElement('canvas');
  out.width = src.width;
  out.height = src.height;
  const ctx = out.getContext('2d')!;
  ctx.fillStyle = background;
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(src, 0, 0);
  const url = out.toDataURL('image/png');
  return url.slice(url.indexOf(',') + 1);
}

export type ToolName = 'pin' | 'log' | 'reset' | 'full' | 'csv' | 'png';
const TOOLS: { name: ToolName; text: string; title: string }[] = [
  { name: 'pin', text: 'pin', title: 'Pin: show this chart first' },
  { name: 'log', text: 'log', title: 'Logarithmic y axis' },
  { name: 'reset', text: '⟲', title: 'Reset zoom (or double-click the chart). Zoom: drag a box or Ctrl+wheel; pan: Shift+drag' },
  { name: 'full', text: '⤢', title: 'Open full size (Esc closes)' },
  { name: 'csv', text: 'CSV', title: 'Export what this chart draws as CSV' },
  { name: 'png', text: 'PNG', title: 'Export this chart as a PNG image' },
];

/** The card's tool buttons; `on` is called with the tool's name. */
export function toolbar(on: (tool: ToolName) => void, only?: readonly ToolName[]): { el: HTMLDivElement; buttons: Map<ToolName, HTMLButtonElement> } {
  const el = document.createElement('div');
  el.className = 'card-tools';
  const buttons = new Map<ToolName, HTMLButtonElement>();
  for (const t of TOOLS) {
    if (only && !only.includes(t.name)) continue;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `tool tool-${t.name}`;
    b.textContent = t.text;
    b.title = t.title;
    b.setAttribute('aria-label', t.title);
    b.addEventListener('click', (ev) => {
      ev.stopPropagation();
      on(t.name);
    });
    el.appendChild(b);
    buttons.set(t.name, b);
  }
  return { el, buttons };
}
