// What a person sees right after installing the extension: the TRAPO container in the activity bar with its three
// views and their welcome texts, and the palette finding "Start TRAPO Run".
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Session, guarded, startSession } from './harness';

describe('TRAPO container and palette in a fresh workspace', () => {
  let s: Session;
  before(async () => {
    s = await startSession({ label: 'views', demoConfig: false, workspaceFiles: { 'csp-check.md': '# CSP check\n\nA Markdown preview is a webview.\n' } });
  });
  after(async () => {
    await s?.close();
  });
  const guard = (name: string, fn: () => Promise<void>) => guarded(() => s, `views-${name}`, fn);

  test(
    'the activity bar has a TRAPO container with the Runs, Prefix Allocation and Benchmarks views',
    guard('container', async () => {
      const sidebar = await s.openTrapoContainer();
      for (const name of ['Runs', 'Prefix Allocation', 'Benchmarks']) {
        await s.waitForView(name);
      }
      // Exactly these three, in this order (package.json's contributes.views.trapo).
      const titles = (await sidebar.locator('.pane-header h3.title').allTextContents()).map((t) => t.trim().toLowerCase());
      assert.deepEqual(titles, ['runs', 'prefix allocation', 'benchmarks']);
      await s.screenshot('01-trapo-container-welcome');
    }),
  );

  test(
    'each view shows its welcome text and a Start TRAPO Run button while there are no runs',
    guard('welcome', async () => {
      await s.openTrapoContainer();
      const expected: Record<string, RegExp> = {
        Runs: /No TRAPO runs found in the runs folders of this workspace\./,
        'Prefix Allocation': /Select a run in the Runs view to see how expert guidance was allocated/,
        Benchmarks: /No evaluations yet\. Benchmarks appear here once the selected run evaluates/,
      };
      for (const [view, re] of Object.entries(expected)) {
        const body = await s.waitForView(view);
        const welcome = body.locator('.welcome-view-content');
        await welcome.waitFor({ state: 'visible', timeout: 15_000 });
        assert.match((await welcome.innerText()).replace(/\s+/g, ' '), re, `welcome text of ${view}`);
        const button = welcome.locator('.monaco-button', { hasText: 'Start TRAPO Run' });
        assert.equal(await button.count(), 1, `${view} welcome has one "Start TRAPO Run" button`);
        assert.ok(await button.isEnabled(), `${view}'s Start button is enabled in a trusted workspace`);
      }
    }),
  );

  test(
    'the palette finds "TRAPO: Start TRAPO Run" when typing "Start TRAPO run"',
    guard('palette', async () => {
      const row = await s.findPaletteRow('TRAPO: Start TRAPO Run', { query: 'Start TRAPO run' });
      // The category shows in front of the title: "TRAPO: Start TRAPO Run".
      const aria = (await row.getAttribute('aria-label')) ?? '';
      assert.match(aria, /^TRAPO: Start TRAPO Run\b/, `palette row: ${aria}`);
      await s.screenshot('02-palette-start-trapo-run');
      await s.page.keyboard.press('Escape');
    }),
  );

  test(
    'every TRAPO command meant for the palette is listed there',
    guard('palette-all', async () => {
      await s.openPalette('>TRAPO: ');
      const rows = s.page.locator('.quick-input-list .monaco-list-row');
      await rows.first().waitFor({ timeout: 10_000 });
      const labels = new Set<string>();
      // The list is virtualised: read it while scrolling with the arrow keys (at most 20 rows).
      for (let i = 0; i < 20; i++) {
        for (const a of await rows.evaluateAll((els) =>
          els.map((e) => (e as unknown as { getAttribute(n: string): string | null }).getAttribute('aria-label') ?? ''),
        )) {
          const m = /^TRAPO: ([^,]+?)(?:, |$)/.exec(a);
          if (m) labels.add(m[1].trim());
        }
        await s.page.keyboard.press('ArrowDown');
      }
      await s.page.keyboard.press('Escape');
      // package.json hides Reveal Run Folder and Delete Run… from the palette (they need a tree item).
      for (const title of [
        'Start TRAPO Run',
        'Stop Run',
        'Resume Run',
        'Open Dashboard',
        'Open Rollouts',
        'Compare Checkpoints',
        'Set Up Trainer Environment',
        'Open Run Config',
        'Refresh Runs',
      ]) {
        assert.ok(labels.has(title), `"TRAPO: ${title}" in the palette; seen: ${[...labels].join(' | ')}`);
      }
      assert.ok(!labels.has('Delete Run…'), 'Delete Run… is hidden from the palette');
    }),
  );

  test('no CSP violation in any webview of this session', () => {
    assert.deepEqual(s.webviewCspViolations(), []);
  });

  // Before any TRAPO webview exists, prove on VS Code's own Markdown preview (a webview with a nonce CSP) that the
  // harness counts a violation: the zero-violation checks of the other suites then mean something.
  test(
    'the harness counts a CSP violation in a webview (Markdown preview, inline script injected)',
    guard('csp-calibration', async () => {
      await s.page.keyboard.press('Control+P');
      await s.page.locator('.quick-input-widget input.input').fill('csp-check.md');
      await s.pickQuickPick('csp-check.md');
      await s.runCommand('Markdown: Open Preview', { query: 'Markdown: Open Preview' });
      const frame = await s.webviewFrame('h1');
      assert.equal(await frame.locator('h1').innerText(), 'CSP check');
      assert.deepEqual(s.webviewCspViolations(), [], 'the preview itself violates nothing');
      assert.equal(await s.calibrateCsp(), 1, 'one webview checked');
      // One violation, seen twice: the document's securitypolicyviolation event and Chromium's console message.
      const seen = s.webviewCspViolations();
      assert.ok(
        seen.some((v) => v.source === 'event' && v.blockedURI === 'inline'),
        JSON.stringify(seen),
      );
      assert.ok(
        seen.some((v) => v.source === 'console'),
        JSON.stringify(seen),
      );
    }),
  );
});
