// Builds dashboard messages from the host's metric store: decimated snapshots and incremental appends.
// No `vscode` import (tested in test/unit/dashboardProtocol.test.ts).
import { POINTS_PER_BUCKET, decimateIndices, gather } from '../core/decimate';
import { MetricSeries, SeriesStore } from '../core/series';
import { encodeNumbers } from '../shared/nonFinite';
import { AVERAGE_BENCHMARK, BenchmarkPayload, RunData, RunSummary, SeriesPayload, prefixLevel } from '../shared/dashboardProtocol';

/** One evaluation as the run store keeps it (from an `eval` event). */
export interface DashboardEvalEntry {
  step: number;
  time: number;
  benchmarks: Record<string, { accuracy: number }>;
  average: number;
}

/** What the dashboard reads from the run store. The store's own shape stays its own: see runStoreSource.ts. */
export interface DashboardSource {
  /** All known runs, newest first. */
  listRuns(): RunSummary[];
  getSeries(runId: string): SeriesStore | undefined;
  getEvals(runId: string): readonly DashboardEvalEntry[] | undefined;
  /** Unix seconds of the run's first event, if any. */
  getStartTime(runId: string): number | null;
  /**
   * Changes when data already sent was rewritten (a resume dropped the steps it re-runs, a step was replaced): the
   * run is then sent again whole. Absent: data is only ever appended.
   */
  getHistoryVersion?(runId: string): number;
  /** `runId` set: that run's data changed; unset: the run list (or a run's status) changed. */
  onDidChange(listener: (change: { runId?: string }) => void): { dispose(): void };
}

/** Seconds since `origin`, rounded to milliseconds. */
function relativeTimes(times: ArrayLike<number>, origin: number, indices?: ArrayLike<number>): number[] {
  const n = indices ? indices.length : times.length;
  const out = new Array<number>(n);
  for (let j = 0; j < n; j++) out[j] = Math.round((times[indices ? indices[j] : j] - origin) * 1000) / 1000;
  return out;
}

/** The whole series, reduced to about `maxPoints` with min/max-preserving decimation; times relative to `origin`. */
export function decimatedSeries(series: MetricSeries, maxPoints: number, origin = 0, indices?: Uint32Array): SeriesPayload {
  const idx = indices ?? decimateIndices(series.values(), maxPoints);
  return {
    name: series.name,
    steps: gather(series.steps(), idx),
    times: relativeTimes(series.times(), origin, idx),
    values: encodeNumbers(gather(series.values(), idx)),
  };
}

/** Points from index `from` on, not reduced (the new points of a live series); times relative to `origin`. */
export function seriesTail(series: MetricSeries, from: number, origin = 0): SeriesPayload {
  return {
    name: series.name,
    steps: Array.from(series.steps().subarray(from)),
    times: relativeTimes(series.times().subarray(from), origin),
    values: encodeNumbers(Array.from(series.values().subarray(from))),
  };
}

/** The origin of a run's time axis: its start time, else its earliest metric time, else 0. */
export function timeOrigin(source: DashboardSource, runId: string): number {
  const start = source.getStartTime(runId);
  if (start !== null) return start;
  let first = Number.POSITIVE_INFINITY;
  const store = source.getSeries(runId);
  if (store) for (const name of store.names()) first = Math.min(first, store.get(name)!.times()[0] ?? first);
  for (const e of source.getEvals(runId) ?? []) first = Math.min(first, e.time);
  return Number.isFinite(first) ? first : 0;
}

/** Benchmark accuracy lines (and the average) from evaluations `from` on; times relative to `origin`. */
export function benchmarkPayloads(evals: readonly DashboardEvalEntry[], from = 0, origin = 0): BenchmarkPayload[] {
  const byName = new Map<string, BenchmarkPayload>();
  const add = (name: string, step: number, time: number, accuracy: number) => {
    let b = byName.get(name);
    if (!b) byName.set(name, (b = { name, steps: [], times: [], accuracy: [] }));
    b.steps.push(step);
    b.times.push(Math.round((time - origin) * 1000) / 1000);
    b.accuracy.push(accuracy);
  };
  for (let i = from; i < evals.length; i++) {
    const e = evals[i];
    for (const [name, r] of Object.entries(e.benchmarks)) add(name, e.step, e.time, r.accuracy);
    add(AVERAGE_BENCHMARK, e.step, e.time, e.average);
  }
  for (const b of byName.values()) b.accuracy = encodeNumbers(b.accuracy as number[]);
  return [...byName.values()];
}

/**
 * One set of indices for series drawn stacked (prefix/level_*): a stacked area needs every level at the same x.
 * The union of each series' min/max picks with a budget of maxPoints / k each, so about maxPoints in all, and every
 * level keeps its extremes. Undefined when the series are not aligned (different lengths).
 */
export function jointIndices(series: MetricSeries[], maxPoints: number): Uint32Array | undefined {
  if (!series.length || series.some((s) => s.length !== series[0].length)) return undefined;
  const n = series[0].length;
  if (n <= maxPoints) return undefined; // nothing is dropped: each series is sent whole
  const budget = Math.max(POINTS_PER_BUCKET, Math.floor(maxPoints / series.length));
  const keep = new Uint8Array(n);
  for (const s of series) for (const i of decimateIndices(s.values(), budget)) keep[i] = 1;
  let count = 0;
  for (let i = 0; i < n; i++) count += keep[i];
  const out = new Uint32Array(count);
  for (let i = 0, k = 0; i < n; i++) if (keep[i]) out[k++] = i;
  return out;
}

/**
 * Points per series. A metric chart overlays one line per selected run: what it costs to draw grows with the points
 * of all its lines (chart.js makes an element per point, the canvas strokes every segment), while its width in pixels
 * does not. So `maxPointsPerSeries` is the budget of a chart: the lines of a metric chart share it (`metric`), and the
 * stacked prefix-level chart, which shows one run, has it whole (`levels`).
 */
export interface PointBudget {
  metric: number;
  levels: number;
}

/**
 * Fewest points a metric line is reduced to when many runs share a chart: 100 min/max buckets, about 4 px each on a
 * chart 400 px wide, so the envelope of every run stays visible.
 */
export const MIN_OVERLAID_POINTS = 400;

/** The budget when `runs` runs are overlaid: maxPoints / runs per metric line, not below MIN_OVERLAID_POINTS. */
export function pointBudget(maxPoints: number, runs: number): PointBudget {
  const floor = Math.min(maxPoints, MIN_OVERLAID_POINTS);
  return { metric: Math.max(floor, Math.floor(maxPoints / Math.max(1, runs))), levels: maxPoints };
}

/**
 * Full (decimated) data of one run; a number budget applies to every series; `origin` defaults to timeOrigin();
 * `only`: just these series (and no benchmarks).
 */
export function buildRunData(
  source: DashboardSource,
  runId: string,
  budget: number | PointBudget,
  origin = timeOrigin(source, runId),
  only?: ReadonlySet<string>,
): RunData {
  const { metric, levels: levelPoints } = typeof budget === 'number' ? { metric: budget, levels: budget } : budget;
  const store = source.getSeries(runId);
  const series: SeriesPayload[] = [];
  if (store) {
    const levels = store.names().filter((n) => prefixLevel(n) !== undefined);
    const wanted = !only || levels.some((n) => only.has(n));
    const levelIdx = wanted
      ? jointIndices(
          levels.map((n) => store.get(n)!),
          levelPoints,
        )
      : undefined;
    for (const name of store.names()) {
      if (only && !only.has(name)) continue;
      const isLevel = prefixLevel(name) !== undefined;
      series.push(decimatedSeries(store.get(name)!, isLevel ? levelPoints : metric, origin, isLevel ? levelIdx : undefined));
    }
  }
  return {
    runId,
    startTime: origin,
    series,
    benchmarks: only ? [] : benchmarkPayloads(source.getEvals(runId) ?? [], 0, origin),
  };
}

/**
 * Default runs to show: the preferred one (e.g. the run picked in the Runs tree) when it exists, else the most
 * recent running run, else the most recent run.
 */
export function defaultSelection(runs: readonly RunSummary[], preferred?: string): string[] {
  if (preferred && runs.some((r) => r.id === preferred)) return [preferred];
  const running = runs.filter((r) => r.status === 'running').sort((a, b) => b.createdAt - a.createdAt);
  if (running.length) return [running[0].id];
  const newest = [...runs].sort((a, b) => b.createdAt - a.createdAt)[0];
  return newest ? [newest.id] : [];
}

/** The run id in a command argument: a run id string, or a tree item / RunState-like object with an `id` or `runId`. */
export function runIdFromArg(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (typeof arg === 'object' && arg !== null) {
    const o = arg as { runId?: unknown; id?: unknown; run?: { id?: unknown } };
    if (typeof o.runId === 'string') return o.runId;
    if (o.run && typeof o.run.id === 'string') return o.run.id;
    if (typeof o.id === 'string') return o.id;
  }
  return undefined;
}

/** A safe file name for an exported chart: its title with anything but letters, digits, . _ - as one '-'. */
export function exportFileName(title: string, format: 'csv' | 'png'): string {
  const base =
    title
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^[-.]+|-+$/g, '')
      .slice(0, 100) || 'chart';
  return `${base}.${format}`;
}
