// Render check of the dashboard in headless Chromium with synthetic runs (and the fixture runs): screenshots, CSP
// violations, page errors, and that run names are shown as text, never parsed as HTML.
//   node --import tsx bench/dashboard-render.ts [outDir]      (build first: node scripts/build.mjs)
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunStore } from '../src/core/runStore';
import { systemCrashProbe } from '../src/core/crash';
import { DashboardSession } from '../src/dashboard/dashboardSession';
import { runStoreSource } from '../src/dashboard/runStoreSource';
import { launchChromium, openDashboardPage } from './dashboardPage';
import { runId, writeFakeRun } from './fakeRuns';

async function main(): Promise<void> {
  const outDir = process.argv[2] ?? path.join(os.tmpdir(), 'trapo-dashboard-render');
  const root = mkdtempSync(path.join(os.tmpdir(), 'trapo-render-'));
  for (let i = 0; i < 3; i++) writeFakeRun({ root, index: i, steps: 3000, metrics: 23, evalEvery: 250, status: i === 2 ? 'running' : 'finished' });
  // A run whose name is markup: it must show up literally.
  const evil = path.join(root, runId(2), 'run.json');
  const info = JSON.parse(readFileSync(evil, 'utf8'));
  info.name = '<img src=x onerror=alert(1)><b>bold?</b>';
  writeFileSync(evil, JSON.stringify(info));

  const store = new RunStore({ roots: [root, path.resolve(__dirname, '../test/fixtures/runs')], crashProbe: systemCrashProbe(os.hostname()), watch: false });
  await store.refresh();
  await store.refresh();
  const browser = await launchChromium();
  try {
    let session: DashboardSession | undefined;
    const rendered: number[] = [];
    const dp = await openDashboardPage(browser, {
      state: { selected: [runId(0), runId(1), runId(2)], collapsed: ['perf'] },
      onMessage: (m) => session?.handleMessage(m),
    });
    session = new DashboardSession({
      source: runStoreSource(store),
      post: (m) => void dp.post(m),
      settings: () => ({ smoothing: 0.6, maxPointsPerSeries: 1200 }),
    });
    session.onRendered((seq) => rendered.push(seq));
    await dp.load();
    const deadline = Date.now() + 10000;
    while (!rendered.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await dp.page.waitForTimeout(300);
    await dp.page.screenshot({ path: path.join(outDir + '-step.png'), fullPage: false });
    // x axis by wall time
    await dp.page.selectOption('#x-axis', 'time');
    await dp.page.waitForTimeout(300);
    await dp.page.mouse.wheel(0, 900);
    await dp.page.waitForTimeout(400);
    await dp.page.screenshot({ path: path.join(outDir + '-time-scrolled.png'), fullPage: false });
    await dp.page.locator('.card-title', { hasText: 'level_*' }).first().scrollIntoViewIfNeeded();
    await dp.page.waitForTimeout(400);
    await dp.page.screenshot({ path: path.join(outDir + '-prefix.png'), fullPage: false });
    // Switch to a light theme the way VS Code does: body class and --vscode-* variables on <html>.
    await dp.page.evaluate(`(() => {
      const vars = { '--vscode-foreground': '#3b3b3b', '--vscode-descriptionForeground': '#717171', '--vscode-editor-background': '#ffffff',
        '--vscode-editorWidget-background': '#f8f8f8', '--vscode-editorWidget-border': '#c8c8c8', '--vscode-panel-border': '#e5e5e5',
        '--vscode-charts-blue': '#1a85ff', '--vscode-charts-orange': '#d18616', '--vscode-charts-green': '#388a34',
        '--vscode-charts-purple': '#652d90', '--vscode-charts-red': '#e51400', '--vscode-charts-yellow': '#bf8803' };
      for (const [k, v] of Object.entries(vars)) document.documentElement.style.setProperty(k, v);
      document.body.className = 'vscode-light';
    })()`);
    await dp.page.waitForTimeout(400);
    await dp.page.screenshot({ path: path.join(outDir + '-light.png'), fullPage: false });
    const charts = await dp.page.locator('canvas').count();
    const cards = await dp.page.locator('.card').count();
    const imgs = await dp.page.locator('img').count();
    const evilShown = await dp.page.getByText('<img src=x onerror=alert(1)>', { exact: false }).count();
    const state = await dp.page.evaluate('globalThis.__vscodeState()');
    const violations = await dp.violations();
    console.log(
      JSON.stringify(
        {
          screenshots: [outDir + '-step.png', outDir + '-time-scrolled.png', outDir + '-prefix.png', outDir + '-light.png'],
          runs: store.runs().length,
          cards,
          chartsCreated: charts,
          imgElements: imgs,
          markupNameShownAsText: evilShown > 0,
          cspViolations: violations.length,
          violations,
          pageErrors: dp.errors,
          savedState: state,
        },
        null,
        2,
      ),
    );
  } finally {
    await browser.close();
    store.dispose();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
