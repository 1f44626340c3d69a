// The dashboard with many runs, in headless Chromium under its CSP: seeds grouped by algorithm into a mean with a
// min-max or 95% band (checked against the numbers by hand), each run on demand, the run picker's filter, the chart
// filter, pins, the group order, log y, zoom and reset, CSV and PNG export as host messages, a chart full size, a click
// on a point asking for that step's rollouts, and an x axis by a metric that only grows.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ServedWebview, launchChromium, noChromium, serveWebview } from '../helpers/webviewPage';
import { dashboardHtml } from '../../src/dashboard/dashboardHtml';
import type { HostToWebviewMessage, RunData, RunSummary } from '../../src/shared/dashboardProtocol';

const STEPS = [1, 2, 3, 4, 5];
/** reward of run (algorithm k, seed s) at step t: k + s + t/10, with a bump at step 3 (trapo k=0, grpo k=1). */
const reward = (k: number, seed: number, t: number) => k + seed + t / 10 + (t === 3 ? 0.5 : 0);

function summary(id: string, algorithm: string, seed: number): RunSummary {
  return {
    id,
    name: `${algorithm}-seed${seed}`,
    algorithm,
    status: 'finished',
    createdAt: 1795000000 + seed,
    step: 5,
    totalSteps: 5,
    config: { algorithm, seed },
  };
}
function runData(id: string, k: number, seed: number): RunData {
  const times = STEPS.map((t) => t * 2);
  return {
    runId: id,
    startTime: 1795000000,
    series: [
      { name: 'reward/mean', steps: STEPS, times, values: STEPS.map((t) => reward(k, seed, t)) },
      { name: 'loss/total', steps: STEPS, times, values: STEPS.map((t) => 10 ** (3 - t)) },
      { name: 'system/rss_gb', steps: STEPS, times, values: STEPS.map(() => 1.5) },
      { name: 'data/epoch', steps: STEPS, times, values: STEPS.map((t) => t * 0.25) },
    ],
    benchmarks: [{ name: 'ops1', steps: [0, 5], times: [0, 10], accuracy: [0.2, 0.3 + 0.1 * seed] }],
  };
}
const RUNS: [string, string, number, number][] = [
  ['t0', 'trapo', 0, 0],
  ['t1', 'trapo', 1, 0],
  ['g0', 'grpo', 0, 1],
  ['g1', 'grpo', 1, 1],
];

interface Inspected {
  key: string;
  title: string;
  datasets: { label: string; kind: string; points: { x: number; y: number; s?: number }[] }[];
  x: { min: number; max: number };
  y: { type: string };
  area: { left: number; top: number; width: number; height: number };
}

describe('dashboard with grouped runs', { skip: noChromium }, () => {
  let served: ServedWebview;
  before(async () => {
    served = await serveWebview('dashboard', dashboardHtml);
  });
  after(() => served.close());

  it('draws groups with bands, filters, pins, zooms, exports and opens a step', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1300, height: 1800 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.addInitScript(`
        window.__posted = [];
        window.__violations = [];
        window.__state = { smoothing: 0 };
        document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
        window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__posted.push(m), getState: () => window.__state, setState: (s) => { window.__state = s; } });
      `);
      const until = async (expression: string, what = expression) => {
        for (let i = 0; i < 400; i++) {
          if (await page.evaluate(expression)) return;
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error(`timed out waiting for ${what}`);
      };
      let seq = 0;
      const send = (m: HostToWebviewMessage) => page.evaluate(`window.dispatchEvent(new MessageEvent('message', { data: ${JSON.stringify(m)} }))`);
      const acked = () => until(`window.__posted.some((m) => m.type === 'rendered' && m.seq >= ${seq})`, `ack ${seq}`);
      const charts = async () => (await page.evaluate('window.trapoInspectCharts()')) as Inspected[];
      const chart = async (key: string) => (await charts()).find((c) => c.key === key)!;
      const posted = async (type: string) => (await page.evaluate(`window.__posted.filter((m) => m.type === '${type}')`)) as Record<string, unknown>[];
      const tool = (key: string, name: string) => page.locator(`.card:has(.card-title:text-is("${key}")) .tool-${name}`);
      await page.goto(served.base + '/');
      await until(`window.__posted.some((m) => m.type === 'ready')`);
      await send({
        type: 'snapshot',
        seq: ++seq,
        runs: RUNS.map(([id, a, s]) => summary(id, a, s)),
        selected: RUNS.map(([id]) => id),
        settings: { smoothing: 0, maxPointsPerSeries: 1200 },
        data: RUNS.map(([id, , s, k]) => runData(id, k, s)),
      });
      await acked();

      // Seeds repeat the algorithms: grouped by algorithm. Group order: reward, benchmarks, the rest, system last.
      const groups = (await page.evaluate(`[...document.querySelectorAll('vscode-collapsible')].map((e) => e.title)`)) as string[];
      assert.deepEqual(groups, ['reward', 'eval', 'data', 'loss', 'system']);
      assert.equal(await page.inputValue('#group-by'), 'algorithm');
      let r = await chart('metric:reward/mean');
      const mean = r.datasets.find((d) => d.label === 'trapo (2 runs) mean')!;
      assert.deepEqual(
        mean.points.map((p) => p.y),
        STEPS.map((t) => (reward(0, 0, t) + reward(0, 1, t)) / 2),
      );
      const lo = r.datasets.find((d) => d.label === 'trapo (2 runs) min–max low')!;
      const hi = r.datasets.find((d) => d.label === 'trapo (2 runs) min–max high')!;
      assert.deepEqual(
        lo.points.map((p) => p.y),
        STEPS.map((t) => reward(0, 0, t)),
      );
      assert.deepEqual(
        hi.points.map((p) => p.y),
        STEPS.map((t) => reward(0, 1, t)),
      );
      assert.equal(r.datasets.filter((d) => d.kind === 'line').length, 2, 'one mean per group, no single runs');
      // the 95% interval: two seeds 1 apart: sd = 1/sqrt(2), half = 12.706 * sd / sqrt(2) = 6.353
      await page.selectOption('#band', 'ci95');
      await until(`window.trapoInspectCharts().find((c) => c.key === 'metric:reward/mean').datasets.some((d) => d.label.includes('95% interval'))`);
      r = await chart('metric:reward/mean');
      const ciLo = r.datasets.find((d) => d.label === 'grpo (2 runs) 95% interval low')!;
      assert.ok(Math.abs(ciLo.points[0].y - (reward(1, 0, 1) + 0.5 - 6.353)) < 1e-9);
      // each run on demand
      await page.check('#show-runs');
      await until(`window.trapoInspectCharts().find((c) => c.key === 'metric:reward/mean').datasets.filter((d) => d.kind === 'line').length === 6`);
      // no groups: four runs, four distinct colours
      await page.selectOption('#group-by', '');
      await until(`window.trapoInspectCharts().find((c) => c.key === 'metric:reward/mean').datasets.filter((d) => d.kind === 'line').length === 4`);
      const swatches = (await page.evaluate(`[...document.querySelectorAll('.swatch')].map((s) => getComputedStyle(s).backgroundColor)`)) as string[];
      assert.equal(new Set(swatches).size, 4);
      await page.selectOption('#group-by', 'algorithm');

      // the chart filter (a regex over titles), an invalid one as text; pins first
      await page.fill('#metric-filter', '^(loss|reward)/');
      await until(`document.querySelectorAll('.card').length === 2`);
      await page.fill('#metric-filter', 'loss/(');
      await until(`document.getElementById('metric-filter').classList.contains('invalid') && document.querySelectorAll('.card').length === 0`);
      await page.fill('#metric-filter', '');
      await until(`document.querySelectorAll('.card').length === 5`);
      await tool('system/rss_gb', 'pin').click();
      await until(`document.querySelector('vscode-collapsible').title === 'pinned'`);
      assert.deepEqual((await page.evaluate('window.__state.pinned')) as string[], ['metric:system/rss_gb']);

      // log y
      await tool('loss/total', 'log').click();
      await until(`window.trapoInspectCharts().find((c) => c.key === 'metric:loss/total').y.type === 'logarithmic'`);
      // zoom: drag a box over the middle of the reward chart; the range is kept; reset
      r = await chart('metric:reward/mean');
      const box = await page.locator('.card:has(.card-title:text-is("reward/mean")) canvas').boundingBox();
      const yMid = box!.y + r.area.top + r.area.height / 2;
      await page.mouse.move(box!.x + r.area.left + r.area.width * 0.3, yMid - 40);
      await page.mouse.down();
      await page.mouse.move(box!.x + r.area.left + r.area.width * 0.5, yMid, { steps: 5 });
      await page.mouse.move(box!.x + r.area.left + r.area.width * 0.7, yMid + 40, { steps: 5 });
      await page.mouse.up();
      await until(`window.__state.zoom && window.__state.zoom['metric:reward/mean']`, 'a remembered zoom');
      const zoomed = await chart('metric:reward/mean');
      assert.ok(zoomed.x.min > 1.5 && zoomed.x.max < 4.5, `zoomed x ${zoomed.x.min}..${zoomed.x.max}`);
      await tool('reward/mean', 'reset').click();
      await until(`!window.__state.zoom`);
      const reset = await chart('metric:reward/mean');
      assert.ok(reset.x.min <= 1 && reset.x.max >= 5);

      // export: CSV and PNG go to the host as messages
      await tool('reward/mean', 'csv').click();
      await tool('reward/mean', 'png').click();
      await until(`window.__posted.filter((m) => m.type === 'export').length === 2`);
      const [csv, png] = (await posted('export')) as { format: string; name: string; data: string }[];
      assert.equal(csv.format, 'csv');
      assert.equal(csv.name, 'reward/mean');
      const lines = csv.data.trim().split('\n');
      assert.equal(lines[0], 'chart,series,step,value,step,time_s,raw');
      assert.ok(lines.includes(`reward/mean,trapo (2 runs) mean,3,${(reward(0, 0, 3) + reward(0, 1, 3)) / 2},,,`), lines.slice(0, 5).join('\n'));
      assert.equal(png.format, 'png');
      assert.equal(Buffer.from(png.data, 'base64').subarray(1, 4).toString('latin1'), 'PNG');

      // full size, closed with Escape
      await tool('reward/mean', 'full').click();
      await until(`!document.getElementById('fullsize').hidden && document.querySelector('#fullsize canvas') !== null`);
      await until(`window.trapoInspectCharts().some((c) => c.key === 'full:metric:reward/mean')`);
      await page.keyboard.press('Escape');
      await until(`document.getElementById('fullsize').hidden`);

      // a click on a point: that step's rollouts (a group's mean: its first run)
      r = await chart('metric:reward/mean');
      const x = box!.x + r.area.left + (r.area.width * (4 - r.x.min)) / (r.x.max - r.x.min);
      await page.mouse.click(x, yMid);
      await until(`window.__posted.some((m) => m.type === 'openRolloutTable')`);
      const open = (await posted('openRolloutTable'))[0];
      assert.equal(open.step, 4);
      assert.ok(['t0', 'g0'].includes(open.runId as string));

      // x by a metric that only grows
      const xs = (await page.evaluate(`[...document.getElementById('x-axis').options].map((o) => o.value)`)) as string[];
      assert.deepEqual(xs, ['step', 'time', 'metric:data/epoch']);
      await page.selectOption('#x-axis', 'metric:data/epoch');
      await until(`window.trapoInspectCharts().find((c) => c.key === 'metric:reward/mean').datasets.some((d) => d.points[0]?.x === 0.25)`);
      r = await chart('metric:reward/mean');
      assert.deepEqual(
        r.datasets.find((d) => d.label === 'trapo (2 runs) mean')!.points.map((p) => p.x),
        STEPS.map((t) => t * 0.25),
      );

      // the run picker: filter by a config value, hide what it lists
      await page.fill('#run-filter', 'seed:1');
      await until(`[...document.querySelectorAll('.run-item')].filter((e) => !e.hidden).length === 4`); // ticked runs stay listed
      await page.click('#runs-untick');
      await until(`window.__posted.some((m) => m.type === 'selectRuns')`);
      const sel = (await posted('selectRuns')).at(-1)!;
      assert.deepEqual(sel.runIds, ['t0', 'g0']);
      await until(`document.getElementById('runs-count').textContent.startsWith('2 of 4 shown')`);
      assert.equal(await page.inputValue('#group-by'), 'algorithm');

      assert.deepEqual(await page.evaluate('window.__violations'), []);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});
