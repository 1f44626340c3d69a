// The host side of one dashboard webview, without VS Code: the ready handshake, the selection, the snapshot and
// the batched incremental updates. panel.ts plugs it into a WebviewPanel; tests and the latency benchmark plug it into
// a function that records or forwards messages.
import {
  AVERAGE_BENCHMARK,
  BENCHMARK_GROUP,
  DashboardSettings,
  DashboardUiState,
  ExportMessage,
  FirstScreen,
  HostToWebviewMessage,
  PINNED_GROUP,
  RunData,
  SeriesPayload,
  WebviewToHostMessage,
  compareNamespaces,
  groupByNamespace,
  metricChartKey,
  metricFilterMatcher,
  parseWebviewMessage,
  prefixLevel,
} from '../shared/dashboardProtocol';
import { DashboardSource, PointBudget, benchmarkPayloads, buildRunData, defaultSelection, pointBudget, seriesTail, timeOrigin } from './dashboardData';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface DashboardSessionOptions {
  source: DashboardSource;
  post: (message: HostToWebviewMessage) => void;
  settings: () => DashboardSettings;
  /** The run to show when the webview has no remembered selection (Open Dashboard on a tree item, the tree's pick). */
  preferredRunId?: () => string | undefined;
  /** Minimum time between two update messages. */
  batchMs?: number;
  clock?: Clock;
  /** Told about messages from the webview it could not use (logged by the caller). */
  onBadMessage?: (reason: string) => void;
  /** A chart's CSV or PNG to save (the panel asks where and writes it). */
  onExport?: (message: ExportMessage) => void;
  /** A click on a chart point: the run's rollouts of that step. */
  onOpenRolloutTable?: (runId: string, step: number) => void;
  /**
   * Metrics (in the webview's display order) that go in the snapshot itself when the webview did not say how many
   * charts its first screen shows; the others follow once the webview has drawn it, so that the first screen does not
   * wait for the whole data set to cross the bridge. 0: all at once.
   */
  firstScreenMetrics?: number;
}

export const FIRST_SCREEN_METRICS = 8;

/** What has been sent of one selected run: points per series, and evaluations. */
interface SentState {
  points: Map<string, number>;
  /** Points sent one by one since the last decimated copy; past maxPoints the run is sent again, decimated. */
  appended: Map<string, number>;
  evals: number;
  /** Origin of the times sent (kept, so appended times count from the same point). */
  origin: number;
  /** The point budget the run was decimated to (it depends on how many runs were shown with it). */
  budget: PointBudget;
  /** The source's history version when this was sent: a rewrite (a resume) sends the run again. */
  history: number;
}

export class DashboardSession {
  private ready = false;
  private seq = 0;
  private selected: string[] = [];
  private pendingShow: string[] = [];
  /** What the webview said in its `ready`: the size of its first screen, and the groups it keeps collapsed. */
  private screen: { size?: FirstScreen; collapsed: ReadonlySet<string>; state: DashboardUiState } = { collapsed: new Set(), state: {} };
  private readonly sent = new Map<string, SentState>();
  private readonly dirtyRuns = new Set<string>();
  private runsDirty = false;
  private timer: unknown = undefined;
  private lastFlush = Number.NEGATIVE_INFINITY;
  private readonly subscription: { dispose(): void };
  private readonly batchMs: number;
  private readonly clock: Clock;
  private renderedListeners: ((seq: number) => void)[] = [];
  /** The rest of a snapshot, posted after the webview acknowledges the snapshot (seq), or after a time-out. */
  private rest: { seq: number; names: ReadonlySet<string>; timer: unknown } | undefined;
  /** Highest `rendered` seq the webview reported. */
  lastRendered = -1;

  constructor(private readonly opts: DashboardSessionOptions) {
    this.batchMs = opts.batchMs ?? 100;
    this.clock = opts.clock ?? realClock;
    this.subscription = opts.source.onDidChange((change) => this.onSourceChange(change.runId));
  }

  get selection(): readonly string[] {
    return this.selected;
  }

  /** Handles one message from the webview (unchecked input). */
  handleMessage(raw: unknown): void {
    const parsed = parseWebviewMessage(raw);
    if (!parsed.ok) {
      this.opts.onBadMessage?.(parsed.reason);
      return;
    }
    const msg: WebviewToHostMessage = parsed.message;
    switch (msg.type) {
      case 'ready': {
        // A (re)loaded webview has nothing: forget what was sent and start over with a snapshot.
        this.ready = true;
        this.sent.clear();
        this.dirtyRuns.clear();
        this.runsDirty = false;
        const runs = this.opts.source.listRuns();
        const known = new Set(runs.map((r) => r.id));
        const remembered = (msg.state.selected ?? []).filter((id) => known.has(id));
        this.selected = remembered.length ? remembered : defaultSelection(runs, this.opts.preferredRunId?.());
        // Runs asked for while the webview was loading (Open Dashboard on a run) join the selection once.
        for (const id of this.pendingShow) if (known.has(id) && !this.selected.includes(id)) this.selected.push(id);
        this.pendingShow = [];
        this.screen = { size: msg.firstScreen, collapsed: new Set(msg.state.collapsed ?? []), state: msg.state };
        this.sendSnapshot(runs);
        break;
      }
      case 'selectRuns': {
        const known = new Set(this.opts.source.listRuns().map((r) => r.id));
        const next = msg.runIds.filter((id) => known.has(id));
        const added = next.filter((id) => !this.selected.includes(id));
        for (const id of this.selected) if (!next.includes(id)) this.sent.delete(id);
        this.selected = next;
        // Fewer runs share each chart now: runs sent coarser than the new budget are sent again, finer.
        const { metric } = this.budget();
        const finer = next.filter((id) => !added.includes(id) && (this.sent.get(id)?.budget.metric ?? 0) < metric);
        this.sendRunData([...finer, ...added]);
        break;
      }
      case 'rendered':
        if (msg.seq > this.lastRendered) this.lastRendered = msg.seq;
        // Listeners first: the first paint is when the ack came, not once the rest of the snapshot has been built.
        for (const l of this.renderedListeners) l(msg.seq);
        if (this.rest && msg.seq >= this.rest.seq) this.postRest();
        break;
      case 'export':
        this.opts.onExport?.(msg);
        break;
      case 'openRolloutTable':
        if (this.opts.source.listRuns().some((r) => r.id === msg.runId)) this.opts.onOpenRolloutTable?.(msg.runId, msg.step);
        else this.opts.onBadMessage?.(`openRolloutTable: no run ${msg.runId}`);
        break;
      default: {
        const never: never = msg;
        throw new Error(`unhandled message ${String(never)}`);
      }
    }
  }

  /** Shows a run (Open Dashboard on a run that is not shown yet); before `ready`, when the webview is ready. */
  showRun(runId: string): void {
    if (!this.ready) {
      if (!this.pendingShow.includes(runId)) this.pendingShow.push(runId);
      return;
    }
    if (this.selected.includes(runId)) return;
    if (!this.opts.source.listRuns().some((r) => r.id === runId)) return;
    this.selected = [...this.selected, runId];
    this.sendRunData([runId]);
  }

  /** The settings changed: tell the webview; a new maxPointsPerSeries re-sends the data. */
  settingsChanged(): void {
    if (!this.ready) return;
    this.post({ type: 'settings', seq: this.nextSeq(), settings: this.opts.settings() });
    this.sendRunData(this.selected);
  }

  onRendered(listener: (seq: number) => void): { dispose(): void } {
    this.renderedListeners.push(listener);
    return { dispose: () => (this.renderedListeners = this.renderedListeners.filter((l) => l !== listener)) };
  }

  /** The webview is gone (panel disposed): stop listening and cancel the pending flush. */
  dispose(): void {
    this.cancelRest();
    this.subscription.dispose();
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.ready = false;
  }

  /** The webview went away without the panel closing (hidden with retainContextWhenHidden false): wait for `ready`. */
  webviewUnloaded(): void {
    this.cancelRest();
    this.ready = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  // --------------------------------------------------------------------------------------------- internals

  private nextSeq(): number {
    return ++this.seq;
  }

  private post(message: HostToWebviewMessage): void {
    this.opts.post(message);
  }

  private sendSnapshot(runs = this.opts.source.listRuns()): void {
    this.cancelRest();
    const settings = this.opts.settings();
    const split = this.firstScreenSplit();
    // Only the first screen is decimated and sent now; the rest after the webview has drawn it.
    const budget = this.budget();
    const data = this.selected.map((id) => this.fullData(id, budget, split.first));
    const seq = this.nextSeq();
    this.post({ type: 'snapshot', seq, runs, selected: [...this.selected], settings, data });
    if (split.later.size) {
      // Should the webview never acknowledge (hidden, busy), the rest goes anyway.
      const timer = this.clock.setTimeout(() => this.postRest(), 1000);
      this.rest = { seq, names: split.later, timer };
    }
  }

  /** The metrics of the charts on the webview's first screen, and the rest. */
  private firstScreenSplit(): { first: Set<string>; later: Set<string> } {
    const names: string[] = [];
    const benchmarks = new Set<string>();
    let levelCharts = 0;
    for (const id of this.selected) {
      const runNames = this.opts.source.getSeries(id)?.names() ?? [];
      names.push(...runNames);
      if (runNames.some((n) => prefixLevel(n) !== undefined)) levelCharts++;
      for (const e of this.opts.source.getEvals(id) ?? []) {
        benchmarks.add(AVERAGE_BENCHMARK);
        for (const b of Object.keys(e.benchmarks)) benchmarks.add(b);
      }
    }
    if (this.screen.size) {
      const ui = this.screen.state;
      const needed = ui.xAxis?.startsWith('metric:') ? [ui.xAxis.slice('metric:'.length)] : [];
      const layout = {
        names,
        benchmarkCharts: benchmarks.size,
        levelCharts,
        collapsed: this.screen.collapsed,
        pinned: new Set(ui.pinned ?? []),
        matches: metricFilterMatcher(ui.metricFilter),
        needed,
      };
      return splitFirstScreen(layout, this.screen.size);
    }
    const first = this.opts.firstScreenMetrics ?? FIRST_SCREEN_METRICS;
    return first > 0 ? splitNames(names, first) : { first: new Set(names), later: new Set<string>() };
  }

  private postRest(): void {
    const rest = this.rest;
    if (!rest) return;
    this.rest = undefined;
    this.clock.clearTimeout(rest.timer);
    if (!this.ready) return;
    const data: RunData[] = [];
    for (const id of this.selected) {
      const state = this.sent.get(id);
      const store = this.opts.source.getSeries(id);
      if (!state || !store) continue;
      // (a run ticked since the snapshot was sent whole: nothing of it is missing)
      const names = new Set([...rest.names].filter((n) => !state.points.has(n)));
      if (!names.size) continue;
      const d = buildRunData(this.opts.source, id, state.budget, state.origin, names);
      for (const s of d.series) state.points.set(s.name, store.get(s.name)!.length);
      if (d.series.length) data.push(d);
    }
    if (data.length) this.post({ type: 'append', seq: this.nextSeq(), data });
    if (this.dirtyRuns.size || this.runsDirty) this.schedule();
  }

  private cancelRest(): void {
    if (this.rest) this.clock.clearTimeout(this.rest.timer);
    this.rest = undefined;
  }

  /** The point budget of a run sent now: the charts' budget shared by the runs selected. */
  private budget(): PointBudget {
    return pointBudget(this.opts.settings().maxPointsPerSeries, this.selected.length);
  }

  private sendRunData(runIds: string[]): void {
    const budget = this.budget();
    const data = runIds.map((id) => this.fullData(id, budget));
    this.post({ type: 'runData', seq: this.nextSeq(), selected: [...this.selected], data });
  }

  /** Decimated data of a run, remembering how much of it the webview now has. */
  private fullData(runId: string, budget: PointBudget, only?: ReadonlySet<string>): RunData {
    const store = this.opts.source.getSeries(runId);
    const origin = timeOrigin(this.opts.source, runId);
    const evals = this.opts.source.getEvals(runId)?.length ?? 0;
    const history = this.opts.source.getHistoryVersion?.(runId) ?? 0;
    const state: SentState = { points: new Map(), appended: new Map(), evals, origin, budget, history };
    if (store) for (const name of store.names()) if (!only || only.has(name)) state.points.set(name, store.get(name)!.length);
    this.sent.set(runId, state);
    this.dirtyRuns.delete(runId);
    const data = buildRunData(this.opts.source, runId, budget, origin, only);
    // Benchmark lines are short: always all of them.
    if (only) data.benchmarks = benchmarkPayloads(this.opts.source.getEvals(runId) ?? [], 0, origin);
    return data;
  }

  private onSourceChange(runId: string | undefined): void {
    if (!this.ready) return;
    if (runId === undefined) this.runsDirty = true;
    else if (this.selected.includes(runId)) this.dirtyRuns.add(runId);
    else return;
    this.schedule();
  }

  /** Throttle: the first change after a quiet period goes out at once, later ones at most every batchMs. */
  private schedule(): void {
    if (this.timer !== undefined) return;
    const wait = Math.max(0, this.lastFlush + this.batchMs - this.clock.now());
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
  }

  /** Sends what changed since the last flush (public for tests). */
  flush(): void {
    if (!this.ready || this.rest) return; // live points wait until the webview has the whole snapshot
    this.lastFlush = this.clock.now();
    if (this.runsDirty) {
      this.runsDirty = false;
      const runs = this.opts.source.listRuns();
      const known = new Set(runs.map((r) => r.id));
      const before = this.selected.length;
      this.selected = this.selected.filter((id) => known.has(id));
      this.post({ type: 'runs', seq: this.nextSeq(), runs });
      if (this.selected.length !== before) this.post({ type: 'runData', seq: this.nextSeq(), selected: [...this.selected], data: [] });
    }
    if (this.dirtyRuns.size === 0) return;
    const appends: RunData[] = [];
    const resend: string[] = [];
    for (const runId of this.dirtyRuns) {
      if (!this.selected.includes(runId)) continue;
      const update = this.appendFor(runId);
      if (update === 'resend') resend.push(runId);
      else if (update) appends.push(update);
    }
    this.dirtyRuns.clear();
    if (appends.length) this.post({ type: 'append', seq: this.nextSeq(), data: appends });
    if (resend.length) this.sendRunData(resend);
  }

  /** New points of a run since the last send; 'resend' when a fresh decimated copy is due. */
  private appendFor(runId: string): RunData | 'resend' | undefined {
    const state = this.sent.get(runId);
    const store = this.opts.source.getSeries(runId);
    if (!state || !store) return 'resend';
    // Points already sent were dropped or replaced (a resume re-runs steps): appending would draw them twice.
    if ((this.opts.source.getHistoryVersion?.(runId) ?? 0) !== state.history) return 'resend';
    const series: SeriesPayload[] = [];
    for (const name of store.names()) {
      const s = store.get(name)!;
      const had = state.points.get(name) ?? 0;
      if (s.length < had) return 'resend'; // the store started over (file replaced)
      if (s.length === had) continue;
      const appended = (state.appended.get(name) ?? 0) + (s.length - had);
      if (appended > state.budget.metric) return 'resend'; // the webview would hold twice the budget: re-decimate
      series.push(seriesTail(s, had, state.origin));
      state.points.set(name, s.length);
      state.appended.set(name, appended);
    }
    const evals = this.opts.source.getEvals(runId) ?? [];
    if (evals.length < state.evals) return 'resend';
    const benchmarks = evals.length > state.evals ? benchmarkPayloads(evals, state.evals, state.origin) : [];
    state.evals = evals.length;
    if (!series.length && !benchmarks.length) return undefined;
    return { runId, startTime: state.origin, series, benchmarks };
  }
}

/**
 * Splits metric names: the first `count` in the dashboard's display order (namespaces sorted, first-seen order within
 * one, as groupByNamespace orders them; prefix levels kept together), and the rest.
 */
export function splitNames(names: Iterable<string>, count: number): { first: Set<string>; later: Set<string> } {
  const ordered = [...groupByNamespace(names).values()].flat();
  const first = new Set(ordered.slice(0, count));
  // The prefix levels share one stacked chart: all of them or none.
  const levels = ordered.filter((n) => prefixLevel(n) !== undefined);
  if (levels.some((n) => first.has(n))) for (const n of levels) first.add(n);
  return { first, later: new Set(ordered.filter((n) => !first.has(n))) };
}

/** What the webview's layout is made of (see wantedLayout in webview/dashboard/main.ts). */
export interface ChartLayout {
  /** Metric names of the selected runs. */
  names: Iterable<string>;
  /** Charts of the benchmark group: one per benchmark and one for the average (0: no evaluations). */
  benchmarkCharts: number;
  /** Stacked prefix-level charts: one per selected run that has prefix/level_* metrics. */
  levelCharts: number;
  /** Groups (namespaces) the user collapsed: no chart of theirs is on screen. */
  collapsed: ReadonlySet<string>;
  /** Chart keys pinned first (metricChartKey of a metric). */
  pinned?: ReadonlySet<string>;
  /** The metric filter: charts whose title fails it are not shown. */
  matches?: (title: string) => boolean;
  /** Metrics needed whatever is on screen (the metric the x axis is drawn by). */
  needed?: Iterable<string>;
}

/**
 * Splits metric names into those whose charts are on the first screen and the rest, by the webview's layout: pinned
 * charts first, then one group per namespace in reading order (compareNamespaces: reward, the benchmark group with its
 * benchmark charts and any `eval/*` metrics, prefix, the rest by name, system last), each group starting a new row of
 * `columns` charts; in a namespace the stacked prefix-level charts first, then one chart per metric the filter shows.
 * Group headers take no room here, so the estimate errs towards sending a little more.
 */
export function splitFirstScreen(layout: ChartLayout, screen: FirstScreen): { first: Set<string>; later: Set<string> } {
  const matches = layout.matches ?? (() => true);
  const pinned = layout.pinned ?? new Set<string>();
  const all = [...groupByNamespace(layout.names)];
  const isPinned = (m: string) => pinned.has(metricChartKey(m));
  // Charts the filter hides take no room; pinned ones come first, in a group of their own.
  let groups: [string, string[]][] = all.map(([ns, ms]) => [ns, ms.filter((m) => !isPinned(m) && (prefixLevel(m) !== undefined || matches(m)))]);
  if (layout.benchmarkCharts > 0 && !groups.some(([ns]) => ns === BENCHMARK_GROUP)) groups.push([BENCHMARK_GROUP, []]);
  groups.sort((a, b) => compareNamespaces(a[0], b[0]));
  const pinnedMetrics = all.flatMap(([, ms]) => ms.filter(isPinned));
  if (pinnedMetrics.length) groups = [[PINNED_GROUP, pinnedMetrics], ...groups];
  const first = new Set<string>(layout.needed ?? []);
  let rows = screen.rows;
  for (const [ns, metrics] of groups) {
    if (rows <= 0) break;
    if (layout.collapsed.has(ns)) continue;
    const levels = metrics.filter((m) => prefixLevel(m) !== undefined);
    // The group's charts in display order: the metrics each draws, and how many charts that is.
    const charts: [string[], number][] = levels.length ? [[levels, Math.max(1, layout.levelCharts)]] : [];
    for (const m of metrics) if (prefixLevel(m) === undefined) charts.push([[m], 1]);
    let placed = ns === BENCHMARK_GROUP ? layout.benchmarkCharts : 0;
    for (const [names, count] of charts) {
      if (placed >= rows * screen.columns) break;
      for (const n of names) first.add(n);
      placed += count;
    }
    rows -= Math.ceil(placed / screen.columns);
  }
  const later = new Set<string>();
  for (const [, metrics] of all) for (const n of metrics) if (!first.has(n)) later.add(n);
  return { first, later };
}
