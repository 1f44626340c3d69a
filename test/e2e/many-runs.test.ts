// Working with many runs in a real VS Code: the comparison's shape (7 algorithms x 3 seeds = 21 runs under
// runs/comparison/) on the dashboard, grouped by algorithm into means with bands, one chart zoomed and exported as
// CSV through VS Code's save dialog; and the rollout table of a fixture run with a row opened as a rollout document.
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Frame } from 'playwright-core';
import { FIXTURE_RUNS, Session, guarded, startSession } from './harness';
import { COMPARISON_ALGORITHMS, writeFakeRun } from '../../bench/fakeRuns';

function comparisonRuns(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'trapo-e2e-comparison-'));
  for (let i = 0; i < 21; i++) {
    writeFakeRun({ root, index: i, steps: 200, metrics: 26, evalEvery: 50, algorithm: COMPARISON_ALGORITHMS[i % 7], seed: Math.floor(i / 7) });
  }
  return root;
}

interface Inspected {
  key: string;
  datasets: { label: string; kind: string }[];
  x: { min: number; max: number };
  area: { left: number; top: number; width: number; height: number };
}

describe('many runs: groups, zoom and export on the dashboard; the rollout table', () => {
  let s: Session;
  let comparison = '';
  before(async () => {
    comparison = comparisonRuns();
    s = await startSession({ label: 'many-runs', demoConfig: false, copyDirs: { 'runs/comparison': comparison, 'runs/fixtures': FIXTURE_RUNS } });
    await s.openTrapoContainer();
  });
  after(async () => {
    await s?.close();
    if (comparison) fs.rmSync(comparison, { recursive: true, force: true });
  });
  const guard = (name: string, fn: () => Promise<void>) => guarded(() => s, `many-runs-${name}`, fn);

  /** The dashboard's content frame, for reading its charts (window.trapoInspectCharts). */
  const dashboardFrame = () =>
    s.waitUntil('the dashboard frame', async () => {
      for (const f of s.webviewContentFrames()) {
        if (await f.evaluate('typeof window.trapoInspectCharts === "function"').catch(() => false)) return f;
      }
      return undefined;
    });
  const charts = async (f: Frame) => (await f.evaluate('window.trapoInspectCharts()')) as Inspected[];

  test(
    'the 21 runs grouped by algorithm: a mean with a band per algorithm; a chart zoomed and exported as CSV',
    guard('dashboard', async () => {
      await s.treeRow('Runs', 'trapo-seed2').waitFor({ state: 'visible', timeout: 30_000 });
      await s.runCommand('TRAPO: Open Dashboard', { query: 'TRAPO Open Dashboard' });
      const frame = await s.webviewFrame('#run-filter');
      // the comparison's runs: filter, show them all
      await frame.locator('#run-filter').fill('-seed');
      await frame.locator('#runs-tick').click();
      await s.waitUntil('21 runs shown', async () => /^21 of 25 shown/.test((await frame.locator('#runs-count').textContent()) ?? ''));
      assert.equal(await frame.locator('#group-by').inputValue(), 'algorithm');
      const f = await dashboardFrame();
      const reward = await s.waitUntil('the reward chart with seven group means', async () => {
        const c = (await charts(f)).find((x) => x.key === 'metric:reward/mean');
        return c && c.datasets.filter((d) => d.kind === 'line').length === 7 ? c : undefined;
      });
      for (const a of COMPARISON_ALGORITHMS) {
        assert.ok(
          reward.datasets.some((d) => d.label === `${a} (3 runs) mean`),
          `${a}'s mean`,
        );
        assert.ok(
          reward.datasets.some((d) => d.kind === 'band' && d.label.startsWith(`${a} (3 runs) min–max`)),
          `${a}'s band`,
        );
      }
      // group order: reward first
      const groups = await frame.locator('vscode-collapsible').evaluateAll((els) => els.map((e) => (e as unknown as { title: string }).title));
      assert.equal(groups[0], 'reward');
      await s.screenshot('18-dashboard-21-runs-grouped');

      // zoom: drag a box over the middle of the reward chart
      const canvas = frame.locator('.card:has(.card-title:text-is("reward/mean")) canvas');
      const box = (await canvas.boundingBox())!;
      const y = box.y + reward.area.top + reward.area.height / 2;
      await s.page.mouse.move(box.x + reward.area.left + reward.area.width * 0.25, y - 30);
      await s.page.mouse.down();
      await s.page.mouse.move(box.x + reward.area.left + reward.area.width * 0.5, y, { steps: 6 });
      await s.page.mouse.move(box.x + reward.area.left + reward.area.width * 0.75, y + 30, { steps: 6 });
      await s.page.mouse.up();
      const zoomed = await s.waitUntil('the reward chart zoomed', async () => {
        const c = (await charts(f)).find((x) => x.key === 'metric:reward/mean')!;
        return c.x.max - c.x.min < (reward.x.max - reward.x.min) * 0.75 ? c : undefined;
      });
      assert.ok(zoomed.x.min > reward.x.min, `zoomed ${zoomed.x.min}..${zoomed.x.max} of ${reward.x.min}..${reward.x.max}`);
      await s.screenshot('19-dashboard-chart-zoomed');

      // export: the CSV through VS Code's save dialog (the simple dialog of the web build: the path, then Enter)
      await frame.locator('.card:has(.card-title:text-is("reward/mean")) .tool-csv').click();
      const input = s.page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 15_000 });
      const target = path.join(s.workspace, 'reward-mean.csv');
      await s.waitUntil('the dialog suggests reward-mean.csv', async () => (await input.inputValue()).endsWith('reward-mean.csv'));
      await input.press('Enter');
      const csv = await s.waitUntil('the exported file', async () => (fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : undefined));
      const lines = csv.trim().split('\n');
      assert.equal(lines[0], 'chart,series,step,value,step,time_s,raw');
      assert.ok(
        lines.some((l) => l.startsWith('reward/mean,trapo (3 runs) mean,')),
        lines.slice(0, 3).join('\n'),
      );
      assert.ok(lines.length > 7 * 3 * 20, `${lines.length} lines`);
      await s.waitForNotification(/chart exported to/);
    }),
  );

  test(
    "Open Rollout Table lists a run's rollouts across steps; a row opens its rollout document",
    guard('rollout-table', async () => {
      // (the fixture runs sit at the end of a long Runs tree: the palette, then the run picker)
      await s.runCommand('TRAPO: Open Rollout Table', { query: 'TRAPO Open Rollout Table' });
      await s.pickQuickPick('fixture-trapo', 'fixture-trapo');
      const frame = await s.webviewFrame('#query');
      await s.waitUntil('640 rollouts listed', async () => /640 of 640 rollouts/.test((await frame.locator('#status').textContent()) ?? ''));
      await frame.locator('#query').fill('step:12 level:3');
      await s.waitUntil('the filter applied', async () => {
        const m = /^fixture-trapo: (\d+) of 640 rollouts/.exec((await frame.locator('#status').textContent()) ?? '');
        return m !== null && Number(m[1]) > 0 && Number(m[1]) < 640;
      });
      await s.screenshot('20-rollout-table');
      const first = frame.locator('#rows > .row:not([hidden])').first();
      const pid = (await first.locator('span').nth(1).textContent()) ?? '';
      await first.dblclick();
      const text = await s.waitUntil('the rollout document', async () => {
        const t = await s.activeEditorText();
        return t.includes(`prompt ${pid}`) && t.includes('step 12') ? t : undefined;
      });
      assert.match(text, /guidance level 3/);
    }),
  );

  test('no CSP violation in any webview of this session', () => {
    assert.deepEqual(s.webviewCspViolations(), []);
  });
});
