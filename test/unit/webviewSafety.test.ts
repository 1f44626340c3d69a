// Untrusted text in the Compare Checkpoints webview renders as text. The real page (compareHtml + the bundled
// webview/compare/main.ts + media/compare.css) is served under its strict CSP to headless Chromium (playwright-core,
// Debian's /usr/bin/chromium); the host's messages carry HTML and script in every field a run or a model fills.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ServedWebview, launchChromium, noChromium, serveWebview } from '../helpers/webviewPage';
import { compareHtml } from '../../src/compare/compareHtml';
import type { HostMessage } from '../../src/shared/compareProtocol';

const EVIL_SCRIPT = '<script>window.__pwned = "script"</script>';
const EVIL_IMG = '<img src=x onerror="window.__pwned = \'img\'">';
const EVIL = `${EVIL_SCRIPT}${EVIL_IMG}<b>bold</b><iframe src="javascript:alert(1)"></iframe>`;

const init: HostMessage = {
  type: 'init',
  a: { label: `A ${EVIL}`, runDir: `/runs/${EVIL}`, step: 10, hasOnnx: true, hasCheckpoint: true },
  b: { label: 'B', runDir: '/runs/b', step: 20, hasOnnx: true, hasCheckpoint: true },
  rows: [
    {
      benchmark: `bench ${EVIL}`,
      presence: 'both',
      a: { accuracy: 0.5, problems: 2, skipped: 0, source: 'trainer' },
      b: { accuracy: 1, problems: 2, skipped: 0, source: 'checkpoint' },
      paired: { n: 2, difference: 0.5, low: 0, high: 1, flipsToA: 0, flipsToB: 1 },
      unpairedA: 0,
      unpairedB: 0,
      flips: [{ problemId: `p ${EVIL}`, prompt: `prompt ${EVIL}`, answer: EVIL, accuracyA: 0, accuracyB: 1, direction: 'toB' }],
      note: `note ${EVIL}`,
    },
    { benchmark: `only ${EVIL}`, presence: 'onlyB', b: { accuracy: 0.25, problems: 4, skipped: 1, source: 'trainer' }, unpairedA: 0, unpairedB: 4, flips: [] },
  ],
  average: { benchmarks: [`bench ${EVIL}`], n: 2, accuracyA: 0.5, accuracyB: 1, difference: 0.5, low: 0, high: 1, flipsToA: 0, flipsToB: 1 },
  live: { engine: 'service', unavailable: null, note: `python ${EVIL}`, promptModes: ['training', 'chat', 'raw'] },
};

describe('Compare webview renders untrusted text as text', { skip: noChromium }, () => {
  let served: ServedWebview;
  let base = '';

  before(async () => {
    served = await serveWebview('compare', compareHtml);
    base = served.base;
  });

  after(() => served.close());

  it('shows HTML and script from benchmarks, problems and streamed completions as text, with no CSP violation', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      // Scripts given to the page as strings: tsx's transform would add helpers (__name) to function sources.
      await page.addInitScript(`
        window.__posted = [];
        window.__violations = [];
        document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
        window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__posted.push(m) });
      `);
      await page.goto(base + '/');
      await page.waitForFunction(`(window.__posted || []).some((m) => m.type === 'ready')`);
      const send = (m: HostMessage) => page.evaluate(`window.dispatchEvent(new MessageEvent('message', { data: ${JSON.stringify(m)} }))`);
      const elementsBefore = await page.evaluate(`document.querySelectorAll('script').length`);
      await send(init);
      await send({ type: 'token', side: 'a', generation: 0, text: EVIL_SCRIPT });
      await send({ type: 'token', side: 'b', generation: 0, text: EVIL_IMG });
      await send({ type: 'error', side: 'b', generation: 0, message: EVIL });
      await send({ type: 'liveStatus', side: 'a', generation: null, text: `model ${EVIL}` });
      await send({ type: 'done', side: 'a', generation: 0, stopped: 'eos', tokens: 12, seconds: 0.5, firstTokenSeconds: 0.125 });
      await page.waitForSelector('vscode-table-row');
      // The only benchmark with flips shows its list open; a click sends the problem id back verbatim.
      await page.click('button.flip');

      const r = (await page.evaluate(`({
        pwned: window.__pwned,
        violations: window.__violations,
        posted: window.__posted,
        scripts: document.querySelectorAll('script').length,
        injected: document.querySelectorAll('img, iframe, b').length,
        text: document.body.innerText,
        outA: document.getElementById('out-a').textContent,
        outB: document.getElementById('out-b').textContent,
        rows: document.querySelectorAll('vscode-table-row').length,
        statusA: document.getElementById('out-a-status').textContent,
        modelA: document.getElementById('out-a-model').textContent,
      })`)) as {
        pwned: unknown;
        violations: string[];
        posted: { type: string; problemId?: string }[];
        scripts: number;
        injected: number;
        text: string;
        outA: string;
        outB: string;
        rows: number;
        statusA: string;
        modelA: string;
      };
      assert.deepEqual(errors, []);
      assert.equal(r.pwned, undefined);
      assert.deepEqual(r.violations, []);
      assert.equal(r.scripts, elementsBefore, 'no script element was added');
      assert.equal(r.injected, 0, 'no img, iframe or b element was created from the text');
      assert.equal(r.rows, 3, 'two benchmarks and the average row');
      assert.ok(r.text.includes(`note ${EVIL}`), 'a pairing note shows literally');
      assert.ok(r.text.includes(`Answered by python ${EVIL}.`), "the engine's note shows literally");
      assert.ok(r.text.includes('Average (1 benchmark)'), 'the average row');
      assert.ok(r.text.includes('100.0% (2) ◆'), "Evaluate Checkpoint's result is marked");
      assert.equal(r.modelA, `model ${EVIL}`);
      assert.equal(r.statusA, 'finished · 12 tokens in 0.50 s (24.0 tokens/s) · first token after 0.13 s');
      assert.ok(r.text.includes(`bench ${EVIL}`), 'the benchmark name shows literally');
      assert.ok(r.text.includes(`p ${EVIL}: prompt ${EVIL_SCRIPT}`), 'the flipped problem shows literally (prompt cut at 100 characters)');
      assert.equal(r.outA, EVIL_SCRIPT);
      assert.equal(r.outB, EVIL_IMG);
      assert.ok(r.text.includes('only on B'), 'a benchmark evaluated on one side is shown as such');
      assert.deepEqual(
        r.posted.find((m) => m.type === 'openDiff'),
        { type: 'openDiff', benchmark: `bench ${EVIL}`, problemId: `p ${EVIL}` },
      );
      if (process.env.TRAPO_SCREENSHOT) await page.screenshot({ path: process.env.TRAPO_SCREENSHOT, fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
