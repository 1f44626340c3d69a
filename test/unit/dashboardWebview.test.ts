// The dashboard webview in headless Chromium (playwright-core, Debian's /usr/bin/chromium): the real page
// (dashboardHtml + the bundled webview/dashboard/main.ts + media/dashboard.css) under its strict CSP. Run names,
// metric names and benchmark names carry HTML and script; they must show as text. Also: the ready handshake, the
// rendered acks, the UI state kept with setState, and the selection sent back to the host.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ServedWebview, launchChromium, noChromium, serveWebview } from '../helpers/webviewPage';
import { dashboardHtml } from '../../src/dashboard/dashboardHtml';
import { HostToWebviewMessage, RunData, metricNamespace } from '../../src/shared/dashboardProtocol';

const EVIL = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>b</b>';

function run(id: string, name: string, createdAt: number) {
  return { id, name, algorithm: 'trapo', status: 'running' as const, createdAt, step: 3, totalSteps: 10 };
}
function data(runId: string, offset: number): RunData {
  const steps = [1, 2, 3];
  const times = [2.5, 5, 7.5];
  return {
    runId,
    startTime: 1795000000,
    series: [
      { name: 'loss/total', steps, times, values: [1 + offset, 0.8 + offset, 0.5 + offset] },
      { name: `ns${EVIL}/metric ${EVIL}`, steps, times, values: [1, 2, 3] },
      { name: 'prefix/level_0', steps, times, values: [0.2, 0.5, 0.7] },
      { name: 'prefix/level_1', steps, times, values: [0.8, 0.5, 0.3] },
    ],
    benchmarks: [{ name: `bench ${EVIL}`, steps: [2], times: [5], accuracy: [0.4 + offset] }],
  };
}

describe('Dashboard webview', { skip: noChromium }, () => {
  let served: ServedWebview;
  let base = '';

  before(async () => {
    served = await serveWebview('dashboard', dashboardHtml);
    base = served.base;
  });

  after(() => served.close());

  it('draws overlaid runs with untrusted names as text, acks each message, keeps UI choices and reports the selection', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      // Strings, not functions: tsx's transform would add helpers (__name) to function sources.
      await page.addInitScript(`
        window.__posted = [];
        window.__violations = [];
        window.__state = { smoothing: 0.3, collapsed: ['perf'] };
        document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
        window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__posted.push(m), getState: () => window.__state, setState: (s) => { window.__state = s; } });
      `);
      // Polls with page.evaluate: waitForFunction evaluates strings with eval, which this CSP forbids.
      const until = async (expression: string) => {
        for (let i = 0; i < 200; i++) {
          if (await page.evaluate(expression)) return;
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error(`timed out waiting for ${expression}`);
      };
      await page.goto(base + '/');
      await until(`(window.__posted || []).some((m) => m.type === 'ready')`);
      const ready = (await page.evaluate(`window.__posted.find((m) => m.type === 'ready')`)) as {
        version: number;
        state: unknown;
        firstScreen: { columns: number; rows: number };
      };
      const { firstScreen, ...rest } = ready;
      assert.deepEqual(rest, { type: 'ready', version: 1, state: { smoothing: 0.3, collapsed: ['perf'] } });
      // The first screen in charts, from the stylesheet: (1200 px - 24 of padding - 8 of grid padding + a 12 px gap) /
      // (360 px a column + 12) = 3.2 -> 3 columns; 1400 px less the toolbar (about 100) over cards of about 260 px
      // (220 px chart, title, padding, gap) = 5.0 -> 5 or 6 rows counting a partly visible one.
      assert.equal(firstScreen.columns, 3);
      assert.ok(firstScreen.rows >= 5 && firstScreen.rows <= 6, `rows ${firstScreen.rows}`);

      const send = (m: HostToWebviewMessage) => page.evaluate(`window.dispatchEvent(new MessageEvent('message', { data: ${JSON.stringify(m)} }))`);
      const acked = (seq: number) => until(`window.__posted.some((m) => m.type === 'rendered' && m.seq >= ${seq})`);
      await send({
        type: 'snapshot',
        seq: 1,
        runs: [run('a', `run A ${EVIL}`, 2), run('b', 'run B', 1)],
        selected: ['a', 'b'],
        settings: { smoothing: 0.6, maxPointsPerSeries: 1200 },
        data: [data('a', 0), data('b', 0.1)],
      });
      await acked(1);
      await send({
        type: 'append',
        seq: 2,
        data: [{ runId: 'a', startTime: 1795000000, series: [{ name: 'loss/total', steps: [4], times: [10], values: [0.4] }], benchmarks: [] }],
      });
      await acked(2);

      const r = (await page.evaluate(`({
        pwned: window.__pwned,
        violations: window.__violations,
        injected: document.querySelectorAll('img, b, main script').length,
        text: document.body.innerText,
        titles: [...document.querySelectorAll('.card-title')].map((e) => e.textContent),
        groups: [...document.querySelectorAll('vscode-collapsible')].map((e) => [e.title, e.open]),
        canvases: document.querySelectorAll('canvas').length,
        smoothing: document.getElementById('smoothing-value').textContent,
      })`)) as {
        pwned: unknown;
        violations: string[];
        injected: number;
        text: string;
        titles: string[];
        groups: [string, boolean][];
        canvases: number;
        smoothing: string;
      };
      assert.deepEqual(errors, []);
      assert.equal(r.pwned, undefined);
      assert.deepEqual(r.violations, []);
      assert.equal(r.injected, 0, 'no element was created from a name');
      // Groups by namespace, benchmarks and prefix first, then namespaces sorted; the stacked levels chart per run.
      // (the evil name's namespace ends at the first '/', inside "</script>")
      const evilNs = metricNamespace(`ns${EVIL}/metric ${EVIL}`);
      assert.ok(evilNs.startsWith('ns<img src=x onerror='));
      assert.deepEqual(
        r.groups.map((g) => g[0]),
        ['eval', 'prefix', 'loss', evilNs],
      );
      assert.deepEqual(
        r.groups.map((g) => g[1]),
        [true, true, true, true],
      );
      assert.deepEqual(r.titles, [
        `accuracy: bench ${EVIL}`,
        `prefix/level_* (stacked) — run A ${EVIL}`,
        'prefix/level_* (stacked) — run B',
        'loss/total',
        `ns${EVIL}/metric ${EVIL}`,
      ]);
      assert.ok(r.text.includes(`run A ${EVIL}`), 'the run name shows literally in the run list');
      assert.equal(r.canvases, 5, 'every on-screen chart is drawn');
      assert.equal(r.smoothing, '0.30', 'the remembered smoothing wins over the setting');

      // UI choices go to setState; unticking a run tells the host.
      await page.selectOption('#x-axis', 'time');
      await page.locator('vscode-checkbox').nth(1).click();
      await until(`window.__posted.some((m) => m.type === 'selectRuns')`);
      const after = (await page.evaluate(`({ state: window.__state, select: window.__posted.find((m) => m.type === 'selectRuns') })`)) as {
        state: { xAxis: string; selected: string[]; smoothing: number; collapsed: string[] };
        select: { runIds: string[] };
      };
      assert.deepEqual(after.select.runIds, ['a']);
      assert.deepEqual(after.state, { smoothing: 0.3, xAxis: 'time', collapsed: ['perf'], selected: ['a'] });
      assert.deepEqual(await page.evaluate(`window.__violations`), []);
      if (process.env.TRAPO_SCREENSHOT) await page.screenshot({ path: process.env.TRAPO_SCREENSHOT, fullPage: true });
    } finally {
      await browser.close();
    }
  });

  it('charts do not lie: constant series flat, minimum y range, one point on a 0..total axis, non-finite values marked, tooltips with raw and smoothed values, live labels', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.addInitScript(`
        window.__posted = [];
        window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__posted.push(m), getState: () => ({}), setState: () => {} });
      `);
      const until = async (expression: string) => {
        for (let i = 0; i < 200; i++) {
          if (await page.evaluate(expression)) return;
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error(`timed out waiting for ${expression}`);
      };
      await page.goto(base + '/');
      await until(`(window.__posted || []).some((m) => m.type === 'ready')`);
      const send = (m: HostToWebviewMessage) => page.evaluate(`window.dispatchEvent(new MessageEvent('message', { data: ${JSON.stringify(m)} }))`);
      const acked = (seq: number) => until(`window.__posted.some((m) => m.type === 'rendered' && m.seq >= ${seq})`);
      type Inspection = {
        key: string;
        note: string;
        datasets: { label: string; kind: string; points: { x: number; y: number | null; s?: number; t?: number; r?: number; k?: string }[] }[];
        x: { min: number; max: number };
        y: { min: number; max: number; ticks: string[] };
        area: { left: number; top: number; width: number; height: number };
        tooltip: { title: string[]; lines: string[] } | null;
      };
      const inspect = async () => (await page.evaluate(`window.trapoInspectCharts()`)) as Inspection[];
      const chart = async (key: string) => {
        const c = (await inspect()).find((x) => x.key === key);
        assert.ok(c, `a chart ${key} is drawn`);
        return c;
      };
      const n = 50;
      const steps = Array.from({ length: n }, (_, i) => i + 1);
      const times = steps.map((st) => st * 2);
      // 1 + rounding noise: varies by 2.2e-16, which an autoscaled axis would blow up to its full height.
      const noisy = steps.map((st) => (st % 2 ? 1 : 1 + 2.220446049250313e-16));
      await send({
        type: 'snapshot',
        seq: 1,
        runs: [
          {
            ...run('a', 'run A', 2),
            step: 50,
            totalSteps: 250,
            skipped: { malformed: 2, unknown: 0, badValues: 1, torn: 1 },
            anomaly: 'loss/total NaN at step 2',
          },
        ],
        selected: ['a'],
        settings: { smoothing: 0.6, maxPointsPerSeries: 1200 },
        data: [
          {
            runId: 'a',
            startTime: 1795000000,
            series: [
              { name: 'optim/lr', steps, times, values: steps.map(() => 3e-4) },
              { name: 'reward/mean', steps, times, values: noisy },
              { name: 'loss/total', steps: [1, 2, 3, 4, 5, 6], times: [2, 4, 6, 8, 10, 12], values: [1, 'NaN', 0.5, 'Infinity', '-Infinity', 0.25] },
            ],
            benchmarks: [{ name: 'ops1', steps: [0], times: [0], accuracy: [0.4] }],
          },
        ],
      });
      await acked(1);

      // A constant learning rate stays exactly flat under smoothing 0.6 (the debiased EMA alone is off by 1e-19).
      const lr = await chart('metric:optim/lr');
      const lrLine = lr.datasets.find((d) => d.kind === 'line')!;
      assert.deepEqual(new Set(lrLine.points.map((p) => p.y)), new Set([3e-4]));
      assert.equal(new Set(lr.y.ticks).size, lr.y.ticks.length, `distinct y ticks: ${lr.y.ticks}`);
      // Rounding noise around 1 gets an axis at least 1e-4 wide: a flat line, ticks that read differently.
      const reward = await chart('metric:reward/mean');
      assert.ok(reward.y.max - reward.y.min >= 1e-4 * 0.999, `y range ${reward.y.min}..${reward.y.max}`);
      assert.ok(reward.y.min < 1 && reward.y.max > 1);
      assert.equal(new Set(reward.y.ticks).size, reward.y.ticks.length, `distinct y ticks: ${reward.y.ticks}`);
      // One evaluation at step 0 of a 250-step run: the x axis is 0..250, not -1..1.
      const bench = await chart('bench:ops1');
      assert.deepEqual(bench.x, { min: 0, max: 250 });
      // NaN, +Infinity and -Infinity: gaps in the line, markers at the top (NaN, +Inf) and the bottom (-Inf) of their
      // own axis, and a note on the chart.
      const loss = await chart('metric:loss/total');
      assert.equal(loss.note, '⚠ 3 non-finite values (first: NaN at step 2)');
      const line = loss.datasets.find((d) => d.kind === 'line')!;
      assert.deepEqual(
        line.points.map((p) => p.y === null || Number.isNaN(p.y)),
        [false, true, false, true, true, false],
        'gaps where the values are not finite',
      );
      const marks = loss.datasets.find((d) => d.kind === 'mark')!;
      assert.deepEqual(
        marks.points.map((p) => [p.s, p.k, p.y]),
        [
          [2, 'NaN', 0.96],
          [4, 'Infinity', 0.96],
          [5, '-Infinity', 0.04],
        ],
      );
      assert.ok(loss.y.min >= 0 && loss.y.max <= 1.5, `the markers do not stretch the data's axis: ${loss.y.min}..${loss.y.max}`);
      // The finite points carry their raw value beside the smoothed one, and their step and time.
      assert.deepEqual([line.points[2].s, line.points[2].t, line.points[2].r], [3, 6, 0.5]);

      // The tooltip over step 3: the step, the time since the start with the clock, the smoothed and the raw value.
      const box = (await page.locator('.card', { hasText: 'loss/total' }).locator('canvas').boundingBox())!;
      const px = box.x + loss.area.left + ((3 - loss.x.min) / (loss.x.max - loss.x.min)) * loss.area.width;
      await page.mouse.move(px, box.y + loss.area.top + loss.area.height / 2);
      await until(`window.trapoInspectCharts().some((c) => c.key === 'metric:loss/total' && c.tooltip)`);
      const tip = (await chart('metric:loss/total')).tooltip!;
      assert.match(tip.title.join(' '), /^step 3 · 6s after start \(.+\)$/);
      const smoothed = line.points[2].y!;
      assert.ok(
        tip.lines.some((l) => l === `run A: ${Number(smoothed.toPrecision(4))} smoothed · 0.5 raw`),
        tip.lines.join(' | '),
      );

      // The run list and the notes: the anomaly and every skipped count, in words.
      const notes = (await page.locator('#notes').innerText()).split('\n');
      assert.deepEqual(notes, [
        '⚠ run A: loss/total NaN at step 2',
        '⚠ run A: 2 malformed lines, a torn last line, 1 unreadable metric value skipped in events.jsonl',
      ]);
      // Live labels: a `runs` message updates the run's entry in place (the same element, the new step).
      await page.evaluate(`document.querySelector('vscode-checkbox').__mark = 'kept'`);
      await send({ type: 'runs', seq: 2, runs: [{ ...run('a', 'run A', 2), step: 51, totalSteps: 250 }] });
      await acked(2);
      const label = (await page.evaluate(
        `({ label: document.querySelector('vscode-checkbox').label, mark: document.querySelector('vscode-checkbox').__mark, notes: document.getElementById('notes').hidden })`,
      )) as { label: string; mark: string; notes: boolean };
      assert.deepEqual(label, { label: 'run A · running · step 51/250', mark: 'kept', notes: true });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});
