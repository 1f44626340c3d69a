// Inspecting runs that already exist (the fixture runs the Python writer produced, copied into the workspace's runs/):
// the trees, the dashboard, a rollout in the editor with its hover, and two checkpoints compared.
// These paths need no trainer process, so they are quick and deterministic.
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIXTURE_RUNS, Session, guarded, pending, sleep, startSession } from './harness';

// Fixture runs (test/fixtures/runs, made by trainer/scripts/make_fixtures.py): name → status in run.json.
const FINISHED = 'fixture-trapo';
const CRASHED = 'fixture-crashed';
const FAILED = 'fixture-failed';
const GRPO = 'fixture-grpo';

// An experiment's run one folder below the runs root (as `npm run experiment` writes runs/comparison/<alg>-seed<k>):
// the grpo fixture's run.json and events under another id and name.
const NESTED = 'comparison-grpo-seed0';
function nestedRunFiles(): Record<string, string> {
  const src = fs.readdirSync(FIXTURE_RUNS).find((d) => d.endsWith('-fixture-grpo-a002'));
  assert.ok(src, 'the grpo fixture run');
  const meta = JSON.parse(fs.readFileSync(path.join(FIXTURE_RUNS, src, 'run.json'), 'utf8'));
  const id = '20261118-120000-comparison-grpo-seed0-a005';
  return {
    [`runs/comparison/grpo-seed0/run.json`]: JSON.stringify({ ...meta, id, name: NESTED }),
    [`runs/comparison/grpo-seed0/events.jsonl`]: fs.readFileSync(path.join(FIXTURE_RUNS, src, 'events.jsonl'), 'utf8'),
    [`runs/comparison/report/report.md`]: '# not a run\n',
  };
}

describe('inspecting existing runs (fixture runs in the workspace)', () => {
  let s: Session;
  before(async () => {
    s = await startSession({ label: 'inspect', demoConfig: false, copyDirs: { runs: FIXTURE_RUNS }, workspaceFiles: nestedRunFiles() });
    await s.openTrapoContainer();
  });
  after(async () => {
    await s?.close();
  });
  const guard = (name: string, fn: () => Promise<void>) => guarded(() => s, `inspect-${name}`, fn);

  // The Runs tree shows a run's status as its icon (src/trees/runsTree.ts statusIcon): codicon → status.
  const STATUS_ICON: Record<string, string> = { pass: 'finished', warning: 'crashed', error: 'failed', 'debug-stop': 'stopped', sync: 'running' };

  test(
    'the Runs tree lists the runs found under runs/ with their status, algorithm and step/total',
    guard('runs-tree', async () => {
      for (const name of [FINISHED, GRPO, CRASHED, FAILED]) {
        await s.treeRow('Runs', name).waitFor({ state: 'visible', timeout: 20_000 });
      }
      const status = async (name: string) => STATUS_ICON[await s.rowIcon(s.treeRow('Runs', name))] ?? 'unknown';
      assert.equal(await status(FINISHED), 'finished');
      assert.equal(await status(GRPO), 'finished');
      assert.equal(await status(CRASHED), 'crashed');
      assert.equal(await status(FAILED), 'failed');
      const rows = await s.treeRows('Runs');
      const row = (name: string) => rows.find((r) => r.startsWith(name)) ?? '';
      // fixture-trapo: algorithm trapo, 20 of 20 steps, best evaluation average 75.0 % (make_fixtures.py).
      assert.match(row(FINISHED), /trapo · 20\/20 · best 75\.0%/, `${FINISHED}: ${row(FINISHED)}`);
      assert.match(row(GRPO), /grpo · 20\/20/, `${GRPO}: ${row(GRPO)}`);
      assert.match(row(CRASHED), /trapo · 10\/20/, `${CRASHED}: ${row(CRASHED)}`);
      await s.screenshot('03-runs-tree-fixtures');
    }),
  );

  test(
    "a run one folder down (an experiment's runs/comparison/...) is listed, and its evaluations fill Benchmarks",
    guard('nested-run', async () => {
      const row = s.treeRow('Runs', NESTED);
      await row.waitFor({ state: 'visible', timeout: 20_000 });
      await row.click();
      const benches = await s.waitUntil('Benchmarks rows of the nested run', async () => {
        const r = await s.treeRows('Benchmarks');
        return r.some((b) => b.startsWith('arith-easy') && /\d+\.\d%/.test(b)) ? r : undefined;
      });
      assert.ok(benches.length >= 3, benches.join(' | '));
    }),
  );

  test(
    'the crashed run offers Resume',
    guard('crashed-resume', async () => {
      const row = s.treeRow('Runs', CRASHED);
      await row.hover();
      await row.locator('.actions .action-label[aria-label^="Resume Run"]').first().waitFor({ state: 'visible', timeout: 10_000 });
    }),
  );

  test(
    'selecting a run fills the Prefix Allocation and Benchmarks trees',
    guard('select-run', async () => {
      await s.treeRow('Runs', FINISHED).click();
      // The fixture run has 20 steps, newest first, and evaluations at steps 5, 10, 15, 20 on three benchmarks.
      const steps = await s.waitUntil("Prefix Allocation showing fixture-trapo's step 20 first", async () => {
        const r = await s.treeRows('Prefix Allocation');
        if (r.length > 0 && /^step 20\b/.test(r[0])) return r;
        throw new Error(`rows: ${JSON.stringify(r.slice(0, 3))}`);
      });
      assert.match(steps[1], /^step 19\b/);
      const benches = await s.waitUntil('Benchmarks rows of fixture-trapo', async () => {
        const r = await s.treeRows('Benchmarks');
        return r.some((b) => b.startsWith('arith-easy')) ? r : undefined;
      });
      for (const b of ['arith-easy', 'arith-medium', 'arith-hard']) {
        assert.ok(
          benches.some((r) => r.startsWith(b) && /\d+\.\d%/.test(r)),
          `${b} with its accuracy: ${benches.join(' | ')}`,
        );
      }
      await s.screenshot('04-trees-filled-fixture');
    }),
  );

  test(
    "the dashboard shows the run's metrics as charts with points",
    guard('dashboard', async () => {
      await s.runCommand('TRAPO: Open Dashboard', { query: 'TRAPO Open Dashboard' });
      const frame = await s.webviewFrame('#groups canvas');
      const charts = frame.locator('#groups canvas');
      await s.waitUntil('at least four charts', async () => (await charts.count()) >= 4);
      // The dashboard's status line counts what it drew: "<k> of <n> runs · <m> series · <p> points drawn".
      const status = await s.waitUntil('points drawn', async () => {
        const t = (await frame.locator('#status').textContent()) ?? '';
        const m = /([\d,]+) points drawn/.exec(t);
        return m && Number(m[1].replace(/,/g, '')) > 0 ? t : undefined;
      });
      assert.match(status, /of 5 runs/, status); // the four fixture runs and the nested comparison-grpo-seed0
      // A chart that drew points has painted pixels; read the first chart's canvas.
      const painted = await charts.first().evaluate((c) => {
        const cv = c as unknown as {
          width: number;
          height: number;
          getContext(k: string): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } };
        };
        const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
        return n;
      });
      assert.ok(painted > 100, `the first chart painted ${painted} pixels`);
      await sleep(500);
      await s.screenshot('05-dashboard-fixture');
    }),
  );

  test(
    "a rollout opens in the editor with the prefix decorated, and a hover shows a token's log-probability",
    guard('rollout', async () => {
      await s.runCommand('TRAPO: Open Rollouts', { query: 'TRAPO Open Rollouts' });
      await s.pickQuickPick(FINISHED); // the run
      await s.pickQuickPick(/^step 20$/, 'step 20'); // the step
      await s.page.locator('.quick-input-widget .quick-input-title', { hasText: 'rollouts' }).waitFor({ timeout: 15_000 });
      // p0200 (Compute 33 + 38 * 7) sample 7 carries the full expert solution as its prefix (make_fixtures.py); the
      // picker's input filters by words of the prompt.
      await s.pickQuickPick(/p0200 · sample 7/, '33 + 38');
      const text = await s.waitUntil('a rollout document', async () => {
        const t = await s.activeEditorText();
        return /reward/i.test(t) && /sample 7/.test(t) ? t : undefined;
      });
      assert.match(text, /step 20 · prompt p0200 · sample 7/, 'the header names the step, prompt and sample');
      assert.match(text, /First, 38 \* 7 = 266\./, 'the expert prefix is shown');
      // Decorations made with createTextEditorDecorationType get generated `ced-` classes; a background decoration is
      // drawn in the line's overlay (.view-overlays > div at the same top as the text line).
      const editor = s.page.locator('.editor-group-container.active .monaco-editor').first();
      const prefixLine = editor.locator('.view-lines .view-line', { hasText: 'First, 38 * 7 = 266.' }).first();
      await prefixLine.waitFor({ timeout: 15_000 });
      const decorated = await s.waitUntil('the prefix line decorated', async () => {
        const top = await prefixLine.evaluate((el) => (el as unknown as { style: { top: string } }).style.top);
        const n = await editor
          .locator(`.view-overlays > div[style*="top:${top}"] [class*="ced-"], .view-overlays > div[style*="top: ${top}"] [class*="ced-"]`)
          .count();
        return n > 0 ? n : undefined;
      });
      assert.ok(decorated > 0);
      await s.screenshot('06-rollout');
      // Hover a token of the prefix: the hover gives its log-probability, probability and entropy.
      const hover = s.page.locator('.monaco-hover:not(.hidden)').first();
      const hoverText = await s.waitUntil(
        'a token hover',
        async () => {
          const box = await prefixLine.boundingBox();
          if (!box) return undefined;
          await s.page.mouse.move(box.x + 5, box.y + box.height / 2);
          await s.page.mouse.move(box.x + 30, box.y + box.height / 2, { steps: 3 });
          await sleep(1000);
          if (!(await hover.isVisible())) return undefined;
          const t = (await hover.innerText()).replace(/\u00a0/g, ' '); // Markdown hovers use non-breaking spaces
          return /log-probability/.test(t) ? t : undefined;
        },
        20_000,
      );
      assert.match(hoverText, /expert prefix/);
      assert.match(hoverText, /log-probability -?\d+\.\d{4} · probability \d\.\d{4} · entropy \d+\.\d{4} nats/);
      await s.screenshot('07-rollout-hover', { keepHover: true });
      await s.page.keyboard.press('Escape');
    }),
  );

  test(
    'two checkpoints are compared: the table shows and a flipped problem opens the diff editor',
    guard('compare', async () => {
      await s.runCommand('TRAPO: Compare Checkpoints', { query: 'TRAPO Compare Checkpoints' });
      await s.pickQuickPick(`${FINISHED} @ 5`);
      await s.pickQuickPick(`${FINISHED} @ 20`);
      const frame = await s.webviewFrame('#table-host vscode-table-row');
      const title = (await frame.locator('#title').textContent()) ?? '';
      assert.match(title, /fixture-trapo @ 5 vs fixture-trapo @ 20/, title);
      // One row per benchmark evaluated on both sides (arith-easy, arith-medium, arith-hard), plus the average when
      // the view shows one.
      const rows = frame.locator('#table-host vscode-table-body vscode-table-row');
      assert.ok((await rows.count()) >= 3, `benchmark rows: ${await rows.count()}`);
      // arith-easy in the fixture: 25.0 % of 6 problems solved at step 5, 91.7 % at step 20 (by Evaluate Checkpoint,
      // checkpoint_evals/ of the fixture: marked ◆); 91.7 - 25.0 = +66.7 points; 3 problems flipped from wrong to
      // right, none the other way.
      const easy = (await rows.filter({ hasText: 'arith-easy' }).first().locator('vscode-table-cell').allTextContents()).map((t) => t.trim());
      assert.deepEqual(easy.slice(0, 4), ['arith-easy', '25.0% (6)', '91.7% (6) ◆', '+66.7'], `arith-easy row: ${easy.join(' | ')}`);
      assert.equal(easy[5], '3 / 0', `flips of arith-easy: ${easy.join(' | ')}`);
      // the average over the 3 benchmarks both evaluated: 13.9% -> 75.0%, +61.1 points, 12 flips to B
      const avg = (await rows.filter({ hasText: 'Average (3 benchmarks)' }).first().locator('vscode-table-cell').allTextContents()).map((t) => t.trim());
      assert.deepEqual([avg[1], avg[2], avg[3], avg[5], avg[6]], ['13.9%', '75.0%', '+61.1', '12 / 0', '18'], `average row: ${avg.join(' | ')}`);
      await s.screenshot('08-compare-table');
      const summary = frame.locator('#flips details summary').first();
      await summary.waitFor({ timeout: 10_000 });
      if (!(await frame.locator('#flips details[open]').count())) await summary.click();
      await frame.locator('#flips button.flip').first().click();
      await s.page.locator('.monaco-diff-editor').first().waitFor({ state: 'visible', timeout: 15_000 });
      await sleep(500);
      await s.screenshot('09-compare-diff');
    }),
  );

  test(
    'the live prompt answers from both checkpoints',
    pending('needs checkpoints with model.onnx (the fixture runs have none); covered by the live-run suite once a demo run exports ONNX'),
    guard('live-prompt', async () => {
      assert.fail('not reached');
    }),
  );

  test(
    'no CSP violation in any webview of this session',
    guard('csp', async () => {
      assert.deepEqual(s.webviewCspViolations(), []);
      // The counter itself works: an inline script injected on purpose into each open webview is counted.
      const checked = await s.calibrateCsp();
      process.stderr.write(`[e2e inspect] CSP counter checked in ${checked} webview(s)\n`);
    }),
  );
});
