import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeriesStore } from '../../src/core/series';
import {
  AppendMessage,
  HostToWebviewMessage,
  RunDataMessage,
  RunSummary,
  SnapshotMessage,
  groupByNamespace,
  metricNamespace,
  parseUiState,
  parseWebviewMessage,
  prefixLevel,
} from '../../src/shared/dashboardProtocol';
import {
  DashboardSource,
  DashboardEvalEntry,
  benchmarkPayloads,
  buildRunData,
  defaultSelection,
  jointIndices,
  pointBudget,
  runIdFromArg,
} from '../../src/dashboard/dashboardData';
import { Clock, DashboardSession, splitFirstScreen, splitNames } from '../../src/dashboard/dashboardSession';

function run(id: string, createdAt: number, status: RunSummary['status'] = 'finished'): RunSummary {
  return { id, name: id, algorithm: 'trapo', status, createdAt, step: null, totalSteps: null };
}

class FakeSource implements DashboardSource {
  runs: RunSummary[] = [];
  series = new Map<string, SeriesStore>();
  evals = new Map<string, DashboardEvalEntry[]>();
  private listeners: ((c: { runId?: string }) => void)[] = [];
  listRuns() {
    return this.runs;
  }
  getSeries(id: string) {
    return this.series.get(id);
  }
  getEvals(id: string) {
    return this.evals.get(id);
  }
  getStartTime(id: string) {
    return this.series.has(id) ? 1000 : null;
  }
  // a run without a start time: the origin is its earliest point
  onDidChange(l: (c: { runId?: string }) => void) {
    this.listeners.push(l);
    return { dispose: () => (this.listeners = this.listeners.filter((x) => x !== l)) };
  }
  fire(runId?: string) {
    for (const l of this.listeners) l({ runId });
  }
  get listenerCount() {
    return this.listeners.length;
  }
}

class FakeClock implements Clock {
  t = 0;
  timers: { at: number; fn: () => void; id: number }[] = [];
  private ids = 0;
  now() {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number) {
    const id = ++this.ids;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown) {
    this.timers = this.timers.filter((x) => x.id !== h);
  }
  advance(ms: number) {
    this.t += ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= this.t).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      due.fn();
    }
  }
}

function setup(opts: { maxPoints?: number; preferred?: string; firstScreen?: number } = {}) {
  const source = new FakeSource();
  const clock = new FakeClock();
  const posted: HostToWebviewMessage[] = [];
  const bad: string[] = [];
  const session = new DashboardSession({
    source,
    clock,
    post: (m) => posted.push(m),
    settings: () => ({ smoothing: 0.6, maxPointsPerSeries: opts.maxPoints ?? 8 }),
    preferredRunId: () => opts.preferred,
    onBadMessage: (r) => bad.push(r),
    firstScreenMetrics: opts.firstScreen,
  });
  return { source, clock, posted, bad, session };
}

const ready = (selected?: string[]) => ({ type: 'ready', version: 1, state: selected ? { selected } : {} });

describe('protocol helpers', () => {
  it('groups metrics by the namespace before the first "/": reward, eval, prefix first, system last, others sorted', () => {
    const g = groupByNamespace(['system/rss_gb', 'loss/total', 'loss/trsft', 'zzz/a/b', 'plain', 'reward/mean', 'prefix/mean_ratio', 'eval/x', 'reward/mean']);
    assert.deepEqual(
      [...g.entries()],
      [
        ['reward', ['reward/mean']],
        ['eval', ['eval/x']],
        ['prefix', ['prefix/mean_ratio']],
        ['loss', ['loss/total', 'loss/trsft']],
        ['other', ['plain']],
        ['zzz', ['zzz/a/b']],
        ['system', ['system/rss_gb']],
      ],
    );
    assert.equal(metricNamespace('/x'), 'other');
  });

  it('recognises prefix/level_<k> and nothing else', () => {
    assert.equal(prefixLevel('prefix/level_2'), 2);
    assert.equal(prefixLevel('prefix/level_10'), 10);
    assert.equal(prefixLevel('prefix/mean_ratio'), undefined);
    assert.equal(prefixLevel('x/prefix/level_1'), undefined);
  });

  it('checks webview messages and names what is wrong', () => {
    assert.deepEqual(parseWebviewMessage({ type: 'selectRuns', runIds: ['a'] }), { ok: true, message: { type: 'selectRuns', runIds: ['a'] } });
    assert.deepEqual(parseWebviewMessage({ type: 'selectRuns', runIds: [1] }), { ok: false, reason: 'selectRuns: "runIds" is not a list of strings' });
    assert.deepEqual(parseWebviewMessage({ type: 'ready', version: 2, state: {} }), { ok: false, reason: 'ready: protocol version 2, expected 1' });
    assert.deepEqual(parseWebviewMessage({ type: 'nope' }), { ok: false, reason: 'unknown message type "nope"' });
    assert.deepEqual(parseWebviewMessage('x'), { ok: false, reason: 'not a message object with a "type"' });
    assert.deepEqual(parseWebviewMessage({ type: 'rendered', seq: 1.5 }), { ok: false, reason: 'rendered: "seq" is not an integer' });
  });

  it('keeps only the well-formed parts of a stored UI state', () => {
    assert.deepEqual(parseUiState({ smoothing: 1.5, xAxis: 'time', collapsed: ['loss'], selected: 'a' }), { xAxis: 'time', collapsed: ['loss'] });
    assert.deepEqual(parseUiState(null), {});
  });
});

describe('dashboard data builders', () => {
  it('builds a run snapshot from a SeriesStore, decimated to the budget with min and max kept', () => {
    const source = new FakeSource();
    const store = new SeriesStore();
    // 16 points of loss/total; maxPoints 8 -> 2 buckets of 8: first, min, max, last of each
    const v = [5, 4, 9, 3, 4, 4, 4, 2, 1, 1, 0, 1, 7, 1, 1, 1];
    v.forEach((x, i) => store.push(i, 1000 + i, { 'loss/total': x, 'reward/mean': i / 10 }));
    source.series.set('r1', store);
    const data = buildRunData(source, 'r1', 8);
    const loss = data.series.find((s) => s.name === 'loss/total')!;
    // bucket [0,8): first 0, max 2 (9), min 7 (2), last 7 -> 0,2,7; bucket [8,16): first 8, min 10 (0), max 12 (7), last 15
    assert.deepEqual(loss.steps, [0, 2, 7, 8, 10, 12, 15]);
    assert.deepEqual(loss.values, [5, 9, 2, 1, 0, 7, 1]);
    // times count from the run's start time (1000 in FakeSource): 1000 + i -> i
    assert.deepEqual(loss.times, [0, 2, 7, 8, 10, 12, 15]);
    assert.equal(data.startTime, 1000);
  });

  it('turns evaluations into one accuracy line per benchmark plus the average', () => {
    const evals: DashboardEvalEntry[] = [
      { step: 10, time: 1, benchmarks: { easy: { accuracy: 0.5 }, hard: { accuracy: 0.1 } }, average: 0.3 },
      { step: 20, time: 2, benchmarks: { easy: { accuracy: 0.75 }, hard: { accuracy: 0.25 } }, average: 0.5 },
    ];
    // from the second evaluation on, times relative to origin 0.5: 2 - 0.5 = 1.5
    assert.deepEqual(benchmarkPayloads(evals, 1, 0.5), [
      { name: 'easy', steps: [20], times: [1.5], accuracy: [0.75] },
      { name: 'hard', steps: [20], times: [1.5], accuracy: [0.25] },
      { name: 'average', steps: [20], times: [1.5], accuracy: [0.5] },
    ]);
  });

  it('selects by default the preferred run, else the newest running one, else the newest', () => {
    const runs = [run('old', 1, 'running'), run('new', 3), run('mid', 2, 'running')];
    assert.deepEqual(defaultSelection(runs, 'new'), ['new']);
    assert.deepEqual(defaultSelection(runs, 'missing'), ['mid']);
    assert.deepEqual(defaultSelection([run('a', 1), run('b', 2)]), ['b']);
    assert.deepEqual(defaultSelection([]), []);
  });
});

describe('DashboardSession', () => {
  it('posts nothing before ready, then a snapshot of the default run', () => {
    const { source, posted, session } = setup();
    source.runs = [run('a', 1), run('b', 2, 'running')];
    const st = new SeriesStore();
    st.push(1, 1000, { 'loss/total': 1 });
    source.series.set('b', st);
    source.fire('b');
    assert.equal(posted.length, 0);
    session.handleMessage(ready());
    assert.equal(posted.length, 1);
    const snap = posted[0] as SnapshotMessage;
    assert.equal(snap.type, 'snapshot');
    assert.deepEqual(snap.selected, ['b']);
    assert.deepEqual(
      snap.data.map((d) => d.runId),
      ['b'],
    );
    assert.deepEqual(snap.data[0].series[0].values, [1]);
  });

  it('honours the selection the webview remembered, dropping runs that no longer exist', () => {
    const { source, posted, session } = setup();
    source.runs = [run('a', 1), run('b', 2)];
    session.handleMessage(ready(['a', 'gone']));
    assert.deepEqual((posted[0] as SnapshotMessage).selected, ['a']);
  });

  it('batches live points: the first change goes at once, the next ones wait for 100 ms and go together', () => {
    const { source, clock, posted, session } = setup({ maxPoints: 100 });
    source.runs = [run('a', 1, 'running')];
    const st = new SeriesStore();
    source.series.set('a', st);
    session.handleMessage(ready());
    posted.length = 0;

    st.push(1, 1001, { 'loss/total': 0.9 });
    source.fire('a');
    clock.advance(0); // quiet before: sent at t=0
    assert.equal(posted.length, 1);
    assert.deepEqual((posted[0] as AppendMessage).data[0].series[0].steps, [1]);

    clock.advance(10);
    st.push(2, 1002, { 'loss/total': 0.8 });
    source.fire('a');
    clock.advance(20);
    st.push(3, 1003, { 'loss/total': 0.7 });
    source.fire('a');
    clock.advance(69); // t = 99: still inside the 100 ms window
    assert.equal(posted.length, 1);
    clock.advance(1); // t = 100
    assert.equal(posted.length, 2);
    const m = posted[1] as AppendMessage;
    assert.deepEqual(m.data[0].series[0].steps, [2, 3]);
    assert.deepEqual(m.data[0].series[0].times, [2, 3]); // 1002, 1003 from start time 1000
    assert.deepEqual(m.data[0].series[0].values, [0.8, 0.7]);
    assert.ok(m.seq > posted[0].seq);
  });

  it('re-sends a run decimated once the appended points pass the budget', () => {
    const { source, clock, posted, session } = setup({ maxPoints: 8 });
    source.runs = [run('a', 1, 'running')];
    const st = new SeriesStore();
    source.series.set('a', st);
    session.handleMessage(ready());
    posted.length = 0;
    for (let i = 0; i < 8; i++) st.push(i, i, { x: i });
    source.fire('a');
    clock.advance(0);
    assert.equal(posted.at(-1)!.type, 'append'); // 8 appended: within the budget of 8
    st.push(8, 8, { x: 8 });
    source.fire('a');
    clock.advance(100);
    const last = posted.at(-1) as RunDataMessage;
    assert.equal(last.type, 'runData'); // 9 appended > 8: a fresh decimated copy (9 points -> 2 buckets)
    assert.deepEqual(last.data[0].series[0].steps, [0, 3, 4, 8]);
  });

  it('sends data of a newly ticked run, forgets an unticked one and ignores its changes', () => {
    const { source, clock, posted, session } = setup();
    source.runs = [run('a', 1), run('b', 2)];
    const sa = new SeriesStore();
    sa.push(1, 1, { 'r/x': 1 });
    source.series.set('a', sa);
    session.handleMessage(ready(['b']));
    session.handleMessage({ type: 'selectRuns', runIds: ['a'] });
    const m = posted.at(-1) as RunDataMessage;
    assert.equal(m.type, 'runData');
    assert.deepEqual(m.selected, ['a']);
    assert.deepEqual(
      m.data.map((d) => d.runId),
      ['a'],
    );
    const n = posted.length;
    source.fire('b');
    clock.advance(1000);
    assert.equal(posted.length, n);
  });

  it('a reloaded webview (second ready) gets a fresh snapshot; dispose stops listening', () => {
    const { source, posted, session } = setup();
    source.runs = [run('a', 1)];
    session.handleMessage(ready());
    session.handleMessage(ready(['a']));
    assert.deepEqual(
      posted.map((p) => p.type),
      ['snapshot', 'snapshot'],
    );
    session.dispose();
    assert.equal(source.listenerCount, 0);
  });

  it('reports bad messages instead of acting on them, and records rendered acks', () => {
    const { session, bad } = setup();
    session.handleMessage({ type: 'selectRuns' });
    assert.deepEqual(bad, ['selectRuns: "runIds" is not a list of strings']);
    session.handleMessage({ type: 'rendered', seq: 7 });
    assert.equal(session.lastRendered, 7);
  });

  it('a run asked for before the webview is ready joins the remembered selection once', () => {
    const { source, posted, session } = setup({ preferred: 'b' });
    source.runs = [run('a', 1), run('b', 2), run('c', 3)];
    session.showRun('a');
    session.handleMessage(ready(['c']));
    assert.deepEqual((posted[0] as SnapshotMessage).selected, ['c', 'a']);
    session.handleMessage(ready(['c'])); // a reload: the remembered selection alone
    assert.deepEqual((posted[1] as SnapshotMessage).selected, ['c']);
    session.handleMessage(ready()); // nothing remembered: the preferred run (the Runs view's selection)
    assert.deepEqual((posted[2] as SnapshotMessage).selected, ['b']);
  });

  it('Open Dashboard on another run adds it to the selection', () => {
    const { source, posted, session } = setup();
    source.runs = [run('a', 1), run('b', 2)];
    session.handleMessage(ready(['b']));
    session.showRun('a');
    const m = posted.at(-1) as RunDataMessage;
    assert.deepEqual(m.selected, ['b', 'a']);
    assert.deepEqual(
      m.data.map((d) => d.runId),
      ['a'],
    );
  });
});

describe('time origin', () => {
  it('counts times from the earliest point when the run has no start time', () => {
    const source = new FakeSource();
    source.getStartTime = () => null;
    const st = new SeriesStore();
    st.push(1, 500.25, { a: 1 });
    st.push(2, 501.5, { a: 2 });
    source.series.set('r', st);
    const d = buildRunData(source, 'r', 8);
    assert.equal(d.startTime, 500.25);
    assert.deepEqual(d.series[0].times, [0, 1.25]); // 501.5 - 500.25
  });
});

describe('first screen first', () => {
  it('splits metric names by display order: namespaces sorted, first-seen order within one', () => {
    // display order: acc/x, loss/b, loss/a, z/1 -> the first 2 are acc/x and loss/b
    const { first, later } = splitNames(['z/1', 'loss/b', 'loss/a', 'acc/x', 'loss/b'], 2);
    assert.deepEqual([...first], ['acc/x', 'loss/b']);
    assert.deepEqual([...later], ['loss/a', 'z/1']);
  });

  it('keeps the prefix levels together (one stacked chart)', () => {
    // display order: prefix/level_0, prefix/level_1, prefix/mean_ratio, z/1; the first 1 pulls in level_1 too
    const { first, later } = splitNames(['prefix/level_0', 'prefix/level_1', 'prefix/mean_ratio', 'z/1'], 1);
    assert.deepEqual([...first], ['prefix/level_0', 'prefix/level_1']);
    assert.deepEqual([...later], ['prefix/mean_ratio', 'z/1']);
  });

  it('posts the rest of the snapshot once the webview has drawn the first part, and holds live points until then', () => {
    const { source, clock, posted, session } = setup({ firstScreen: 1 });
    source.runs = [run('a', 1, 'running')];
    const st = new SeriesStore();
    st.push(1, 1000, { 'a/x': 1, 'b/y': 2 });
    source.series.set('a', st);
    session.handleMessage(ready());
    const snap = posted[0] as SnapshotMessage;
    assert.deepEqual(
      snap.data[0].series.map((s) => s.name),
      ['a/x'],
    );
    st.push(2, 1001, { 'a/x': 3, 'b/y': 4 });
    source.fire('a');
    clock.advance(500);
    assert.equal(posted.length, 1); // neither the rest nor the live point before the ack
    session.handleMessage({ type: 'rendered', seq: snap.seq });
    const rest = posted[1] as AppendMessage;
    assert.equal(rest.type, 'append');
    // the rest is decimated when it is sent: it already holds step 2 of b/y
    assert.deepEqual(
      rest.data[0].series.map((s) => [s.name, s.steps]),
      [['b/y', [1, 2]]],
    );
    clock.advance(100);
    const live = posted[2] as AppendMessage;
    assert.deepEqual(
      live.data[0].series.map((s) => [s.name, s.steps]),
      [['a/x', [2]]],
    );
  });

  it('sends the rest after 1 s without an ack', () => {
    const { source, clock, posted, session } = setup({ firstScreen: 1 });
    source.runs = [run('a', 1)];
    const st = new SeriesStore();
    st.push(1, 1000, { 'a/x': 1, 'b/y': 2 });
    source.series.set('a', st);
    session.handleMessage(ready());
    clock.advance(999);
    assert.equal(posted.length, 1);
    clock.advance(1);
    assert.equal(posted.length, 2);
  });
});

describe('runIdFromArg (Open Dashboard arguments)', () => {
  it('takes a run id, a tree node with runId, an object with run.id or id, and nothing else', () => {
    assert.equal(runIdFromArg('r1'), 'r1');
    assert.equal(runIdFromArg({ runId: 'r2', id: 'run:r2' }), 'r2');
    assert.equal(runIdFromArg({ run: { id: 'r3' } }), 'r3');
    assert.equal(runIdFromArg({ id: 'r4' }), 'r4');
    assert.equal(runIdFromArg(undefined), undefined);
    assert.equal(runIdFromArg(42), undefined);
  });
});

describe('stacked prefix levels', () => {
  it("decimates prefix/level_* with one set of indices (same x for every level), keeping each level's extremes", () => {
    const st = new SeriesStore();
    // 16 steps; level_0 peaks at step 3, level_1 dips at step 12; other metrics decimate on their own
    for (let i = 0; i < 16; i++) {
      const l0 = i === 3 ? 0.9 : 0.5;
      st.push(i, i, { 'prefix/level_0': l0, 'prefix/level_1': i === 12 ? 0 : 1 - l0, 'loss/total': i });
    }
    const source = new FakeSource();
    source.series.set('r', st);
    const d = buildRunData(source, 'r', 8);
    const l0 = d.series.find((s) => s.name === 'prefix/level_0')!;
    const l1 = d.series.find((s) => s.name === 'prefix/level_1')!;
    assert.deepEqual(l0.steps, l1.steps);
    assert.ok(l0.steps.includes(3) && l1.steps.includes(12));
    // budget 8 / 2 levels = 4 each -> one bucket of 16 per level, first/min/max/last:
    // level_0 (0.5 but 0.9 at 3): 0, 0 (min, first of equals), 3 (max), 15; level_1 (0.5, 0.1 at 3, 0 at 12): 0, 12 (min), 0 (max), 15
    // union: 0, 3, 12, 15
    assert.deepEqual(l0.steps, [0, 3, 12, 15]);
    assert.equal(jointIndices([st.get('prefix/level_0')!, st.get('loss/total')!], 100), undefined); // short: sent whole
  });
});

describe('point budget per chart', () => {
  it('shares maxPointsPerSeries between the runs overlaid on a metric chart, not below 400 a line', () => {
    assert.deepEqual(pointBudget(1200, 1), { metric: 1200, levels: 1200 });
    assert.deepEqual(pointBudget(1200, 2), { metric: 600, levels: 1200 }); // 1200 / 2
    assert.deepEqual(pointBudget(1200, 10), { metric: 400, levels: 1200 }); // 1200 / 10 = 120 < 400: the floor
    assert.deepEqual(pointBudget(300, 10), { metric: 300, levels: 300 }); // a setting below the floor is not raised
    assert.deepEqual(pointBudget(1200, 0), { metric: 1200, levels: 1200 });
  });

  /** A run with 2000 rising points of loss/total and of two prefix levels (a rising series keeps 2 points a bucket). */
  function risingRun(): SeriesStore {
    const st = new SeriesStore();
    for (let i = 0; i < 2000; i++) st.push(i, 1000 + i, { 'loss/total': i, 'prefix/level_0': i / 4000, 'prefix/level_1': 0.5 + i / 4000 });
    return st;
  }
  const length = (d: { series: { name: string; steps: number[] }[] }, name: string) => d.series.find((s) => s.name === name)!.steps.length;

  it('decimates each run of a 3-run snapshot to a third, the stacked levels (one run a chart) to the whole budget', () => {
    const { source, posted, session } = setup({ maxPoints: 1200 });
    source.runs = [run('a', 1), run('b', 2), run('c', 3)];
    for (const id of ['a', 'b', 'c']) source.series.set(id, risingRun());
    session.handleMessage(ready(['a', 'b', 'c']));
    const snap = posted[0] as SnapshotMessage;
    for (const d of snap.data) {
      // metric: 1200 / 3 = 400 points = 100 buckets of 20, first and last of each (rising: first = min, last = max)
      assert.equal(length(d, 'loss/total'), 200);
      // levels: 1200 / 2 levels = 600 each = 150 buckets, 2 points each; both levels pick the same indices
      assert.equal(length(d, 'prefix/level_0'), 300);
      assert.equal(length(d, 'prefix/level_1'), 300);
    }
  });

  it('re-sends the runs left, finer, when runs are unticked; a ticked run gets the new share', () => {
    const { source, posted, session } = setup({ maxPoints: 1200 });
    source.runs = [run('a', 1), run('b', 2), run('c', 3)];
    for (const id of ['a', 'b', 'c']) source.series.set(id, risingRun());
    session.handleMessage(ready(['a', 'b', 'c']));
    session.handleMessage({ type: 'selectRuns', runIds: ['a'] });
    let m = posted.at(-1) as RunDataMessage;
    assert.deepEqual(
      m.data.map((d) => d.runId),
      ['a'],
    );
    assert.equal(length(m.data[0], 'loss/total'), 600); // alone: 1200 points = 300 buckets, 2 points each
    session.handleMessage({ type: 'selectRuns', runIds: ['a', 'b'] });
    m = posted.at(-1) as RunDataMessage;
    assert.deepEqual(
      m.data.map((d) => d.runId),
      ['b'],
    ); // a keeps its finer copy: nothing to send
    assert.equal(length(m.data[0], 'loss/total'), 300); // 1200 / 2 = 600 points = 150 buckets, 2 points each
  });
});

describe('first screen from the webview', () => {
  const none = new Set<string>();
  const names = ['loss/a', 'loss/b', 'loss/c', 'loss/d', 'prefix/level_0', 'prefix/level_1', 'prefix/mean', 'z/1'];

  it('fills the rows left under the benchmark group, group by group', () => {
    // 3 columns x 3 rows; 4 benchmark charts take 2 rows; the row left holds prefix's 2 level charts and prefix/mean
    const { first, later } = splitFirstScreen({ names, benchmarkCharts: 4, levelCharts: 2, collapsed: none }, { columns: 3, rows: 3 });
    assert.deepEqual([...first], ['prefix/level_0', 'prefix/level_1', 'prefix/mean']);
    assert.deepEqual([...later], ['loss/a', 'loss/b', 'loss/c', 'loss/d', 'z/1']);
  });

  it('skips collapsed groups and counts one stacked level chart per run', () => {
    // eval collapsed: 3 rows; prefix: 2 level charts + prefix/mean = 1 row; loss: 4 charts = 2 rows; z: no row left
    const { first, later } = splitFirstScreen({ names, benchmarkCharts: 4, levelCharts: 2, collapsed: new Set(['eval']) }, { columns: 3, rows: 3 });
    assert.deepEqual([...first], ['prefix/level_0', 'prefix/level_1', 'prefix/mean', 'loss/a', 'loss/b', 'loss/c', 'loss/d']);
    assert.deepEqual([...later], ['z/1']);
  });

  it('puts pinned charts first, leaves out the ones the metric filter hides, always sends the x metric', () => {
    // 3 columns x 1 row: pinned z/1 first; the filter hides loss/*; prefix (3 charts) would fill the row after it
    const layout = {
      names,
      benchmarkCharts: 0,
      levelCharts: 1,
      collapsed: none,
      pinned: new Set(['metric:z/1']),
      matches: (t: string) => !t.startsWith('loss/'),
      needed: ['loss/d'],
    };
    const { first, later } = splitFirstScreen(layout, { columns: 3, rows: 1 });
    assert.deepEqual([...first], ['loss/d', 'z/1']);
    assert.deepEqual([...later], ['prefix/level_0', 'prefix/level_1', 'prefix/mean', 'loss/a', 'loss/b', 'loss/c']);
  });

  it('puts eval/* metrics in the benchmark group, after the benchmark charts', () => {
    // 2 columns x 2 rows: 2 benchmark charts + eval/x fill the benchmark group's 2 rows, nothing else fits
    const { first, later } = splitFirstScreen({ names: ['a/1', 'eval/x'], benchmarkCharts: 2, levelCharts: 0, collapsed: none }, { columns: 2, rows: 2 });
    assert.deepEqual([...first], ['eval/x']);
    assert.deepEqual([...later], ['a/1']);
  });

  it('reads the first screen from ready, ignoring a malformed one', () => {
    const ok = parseWebviewMessage({ type: 'ready', version: 1, state: {}, firstScreen: { columns: 3, rows: 4 } });
    assert.deepEqual(ok, { ok: true, message: { type: 'ready', version: 1, state: {}, firstScreen: { columns: 3, rows: 4 } } });
    for (const bad of [{ columns: 0, rows: 4 }, { columns: 3, rows: 1.5 }, { columns: '3', rows: 4 }, 'big']) {
      assert.deepEqual(parseWebviewMessage({ type: 'ready', version: 1, state: {}, firstScreen: bad }), {
        ok: true,
        message: { type: 'ready', version: 1, state: {} },
      });
    }
  });

  it('sends in the snapshot the metrics of the first screen the webview reported, the rest after its ack', () => {
    const { source, posted, session } = setup();
    source.runs = [run('a', 1)];
    const st = new SeriesStore();
    st.push(1, 1000, { 'a/x': 1, 'b/y': 2 });
    source.series.set('a', st);
    session.handleMessage({ ...ready(), firstScreen: { columns: 1, rows: 1 } }); // one chart: a/x
    const snap = posted[0] as SnapshotMessage;
    assert.deepEqual(
      snap.data[0].series.map((s) => s.name),
      ['a/x'],
    );
    // a listener hears the ack before the rest is built and posted (the first paint is the ack)
    const seen: number[] = [];
    session.onRendered(() => seen.push(posted.length));
    session.handleMessage({ type: 'rendered', seq: snap.seq });
    assert.deepEqual(seen, [1]);
    assert.deepEqual(
      (posted[1] as AppendMessage).data[0].series.map((s) => s.name),
      ['b/y'],
    );
  });

  it('does not send again in the rest what a run ticked before the ack got whole', () => {
    const { source, posted, session } = setup({ firstScreen: 1 });
    source.runs = [run('a', 1), run('b', 2)];
    for (const id of ['a', 'b']) {
      const st = new SeriesStore();
      st.push(1, 1000, { 'a/x': 1, 'b/y': 2 });
      source.series.set(id, st);
    }
    session.handleMessage(ready(['a']));
    const snap = posted[0] as SnapshotMessage;
    session.handleMessage({ type: 'selectRuns', runIds: ['a', 'b'] }); // b: sent whole
    assert.deepEqual(
      (posted[1] as RunDataMessage).data[0].series.map((s) => s.name),
      ['a/x', 'b/y'],
    );
    session.handleMessage({ type: 'rendered', seq: snap.seq });
    const rest = posted[2] as AppendMessage;
    assert.deepEqual(
      rest.data.map((d) => [d.runId, d.series.map((s) => s.name)]),
      [['a', ['b/y']]],
    );
  });
});
