// The rollout table over the fixture runs: loading across steps (newest first, chunks, prompts numbered once), the
// sort by any column, the filter (the Open Rollouts picker's query language) and the histograms, by hand; then the
// real page in headless Chromium under its CSP: virtualised rows, sorting, filtering, histograms, selection, open
// and diff messages, and untrusted prompt ids shown as text.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { readFileSync, readdirSync } from 'node:fs';
import { RolloutTableLoader, StepFile } from '../../src/rolloutTable/tableData';
import { rolloutTableHtml } from '../../src/rolloutTable/tableHtml';
import { tableArgument } from '../../src/rolloutTable/tableArgument';
import { RolloutTable, RowsMessage, histogram, parseTableMessage } from '../../src/shared/rolloutTable';
import { parseRolloutQuery } from '../../src/shared/rolloutQuery';
import { withPrompts } from '../../src/core/runFormat';
import { tokenStatsSummary } from '../../src/core/tokenStats';
import { ServedWebview, launchChromium, noChromium, serveWebview } from '../helpers/webviewPage';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'runs');
const TRAPO = path.join(FIXTURES, '20261118-080000-fixture-trapo-a001');
const LEGACY = path.join(FIXTURES, '20261118-100000-fixture-crashed-a003');

function stepFiles(runDir: string): StepFile[] {
  return readdirSync(path.join(runDir, 'rollouts')).map((f) => ({ step: Number(f.slice(0, 6)), file: path.join(runDir, 'rollouts', f) }));
}

async function load(runDir: string, chunkMs = 0): Promise<{ chunks: Omit<RowsMessage, 'type'>[]; table: RolloutTable }> {
  const chunks: Omit<RowsMessage, 'type'>[] = [];
  await new RolloutTableLoader({ onChunk: (c) => chunks.push(c), chunkMs }).load(stepFiles(runDir));
  const table = new RolloutTable();
  for (const c of chunks) table.append(c.newPrompts, c.rows);
  return { chunks, table };
}

/** Every rollout line of a run, parsed the plain way, with its prompt and summaries (the expectation). */
function allLines(runDir: string) {
  return stepFiles(runDir).flatMap((f) => {
    const raw = readFileSync(f.file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    return withPrompts(raw).map((r) => ({ ...r, ...(r.token_stats ? tokenStatsSummary(r.token_stats, 0.1) : {}) }));
  });
}

describe('rollout table data', () => {
  it('loads every step newest first, in chunks, with the summaries of trapo-run/1.1 lines', async () => {
    const { chunks, table } = await load(TRAPO);
    const lines = allLines(TRAPO);
    assert.equal(table.size, lines.length);
    assert.equal(table.size, 20 * 32);
    assert.equal(chunks.at(-1)!.done, true);
    assert.equal(chunks.at(-1)!.filesDone, 20);
    assert.equal(chunks[0].rows.step[0], 20); // newest step first
    assert.equal(new Set(table.promptIds).size, table.promptIds.length); // each prompt sent once
    // row 0 is step 20's first line
    const first = lines.find((l) => l.step === 20)!;
    assert.deepEqual(table.ref(0), { step: 20, promptId: first.prompt_id, sample: first.sample });
    assert.equal(table.value(0, 'length'), first.completion_tokens);
    assert.ok(Math.abs(table.value(0, 'entropy') - first.mean_entropy!) < 1e-6);
    assert.equal(table.value(0, 'advantage'), first.advantage);
  });

  it('reads a trapo-run/1 run alike (summaries unknown without per-token data)', async () => {
    const { table } = await load(LEGACY);
    assert.equal(table.size, allLines(LEGACY).length);
    assert.ok(Number.isNaN(table.value(0, 'length')) && Number.isNaN(table.value(0, 'entropy')));
  });

  it('sorts by any column, unknown values last, ties in step/prompt/sample order', async () => {
    const { table } = await load(TRAPO);
    const all = () => table.filter(parseRolloutQuery(''));
    const byReward = table.sort(all(), 'reward', true);
    const rewards = Array.from(byReward, (r) => table.value(r, 'reward'));
    assert.deepEqual(
      rewards,
      [...rewards].sort((a, b) => b - a),
    );
    // within equal rewards: ascending step, then prompt, then sample
    const ones = Array.from(byReward).filter((r) => table.value(r, 'reward') === 1);
    const key = (r: number) => [table.value(r, 'step'), table.promptIds.indexOf(table.promptId(r)), table.value(r, 'sample')];
    const before = (x: number[], y: number[]) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
    for (let i = 1; i < ones.length; i++) assert.ok(before(key(ones[i - 1]), key(ones[i])) < 0, `tie order at ${i}`);
    const byPrompt = Array.from(table.sort(all(), 'prompt', false), (r) => table.promptId(r));
    assert.deepEqual(byPrompt, [...byPrompt].sort());
    // full-expert samples have no generated tokens (length 0); every length known here
    const byLength = Array.from(table.sort(all(), 'length', false), (r) => table.value(r, 'length'));
    assert.equal(byLength[0], 0);
    // outside: NaN (no prefix) last in both directions
    for (const desc of [true, false]) {
      const v = Array.from(table.sort(all(), 'outside', desc), (r) => table.value(r, 'outside'));
      const firstNaN = v.findIndex(Number.isNaN);
      assert.ok(firstNaN > 0 && v.slice(firstNaN).every(Number.isNaN), 'unknown values last');
    }
  });

  it('filters with the picker query language, as a plain scan of the lines does', async () => {
    const { table } = await load(TRAPO);
    const lines = allLines(TRAPO);
    const count = (q: string) => table.filter(parseRolloutQuery(q)).length;
    assert.equal(count('step:12'), lines.filter((l) => l.step === 12).length);
    assert.equal(count('step:5..9 level:3 reward:>0'), lines.filter((l) => l.step >= 5 && l.step <= 9 && l.level === 3 && l.reward > 0).length);
    assert.equal(count('advantage:<0 stage:0'), lines.filter((l) => l.advantage < 0 && l.stage === 0).length);
    const pid = lines[0].prompt_id;
    assert.equal(count(`id:${pid}`), lines.filter((l) => l.prompt_id === pid).length);
    assert.equal(count('outside:>0.5'), lines.filter((l) => typeof l.outside_trust_region === 'number' && l.outside_trust_region > 0.5).length);
    // words: in the prompt id or text; all must occur
    const word = lines[0].prompt.split(' ')[1]; // e.g. "36"
    assert.equal(
      count(`${word} compute`),
      lines.filter((l) => `${l.prompt_id} ${l.prompt}`.toLowerCase().includes(word) && l.prompt.toLowerCase().includes('compute')).length,
    );
    assert.equal(count('nothing-like-this'), 0);
  });

  it('histograms: integer data in whole bins, reals in equal bins, NaN counted apart', () => {
    const values = Float64Array.from([0, 1, 1, 1, Number.NaN, 0]);
    assert.deepEqual(histogram(values, [0, 1, 2, 3, 4, 5]), { edges: [0, 1, 2], counts: [2, 3], unknown: 1 });
    assert.deepEqual(histogram(values, [1, 2]), { edges: [1, 2], counts: [2], unknown: 0 });
    const lengths = Float64Array.from({ length: 100 }, (_, i) => i); // 0..99 in 20 bins of 5
    const h = histogram(
      lengths,
      Array.from({ length: 100 }, (_, i) => i),
      20,
    );
    assert.equal(h.counts.length, 20);
    assert.ok(h.counts.every((c) => c === 5));
    assert.deepEqual([h.edges[0], h.edges[20]], [0, 100]);
    const reals = Float64Array.from([0.1, 0.2, 0.35, 0.9]);
    const r = histogram(reals, [0, 1, 2, 3], 4);
    assert.deepEqual(r.counts, [2, 1, 0, 1]); // 0.1..0.3 | ..0.5 | ..0.7 | ..0.9 (last bin holds the maximum)
    assert.deepEqual(histogram(values, []), { edges: [], counts: [], unknown: 0 });
  });

  it('checks webview messages and reads command arguments', () => {
    assert.deepEqual(parseTableMessage({ type: 'open', row: { step: 3, promptId: 'p', sample: 1 } }), {
      ok: true,
      message: { type: 'open', row: { step: 3, promptId: 'p', sample: 1 } },
    });
    assert.equal(parseTableMessage({ type: 'open', row: { step: '3', promptId: 'p', sample: 1 } }).ok, false);
    assert.equal(parseTableMessage({ type: 'diff', a: { step: 1, promptId: 'p', sample: 0 } }).ok, false);
    assert.equal(parseTableMessage({ type: 'nope' }).ok, false);
    assert.deepEqual(
      tableArgument({ runDir: '/r', step: 12 }, () => undefined),
      { runDir: '/r', query: 'step:12' },
    );
    assert.deepEqual(
      tableArgument({ runId: 'x', query: 'level:3' }, (id) => `/runs/${id}`),
      { runDir: '/runs/x', query: 'level:3' },
    );
    assert.deepEqual(
      tableArgument({ run: { dir: '/d' }, step: 7 }, () => undefined),
      { runDir: '/d', query: 'step:7' },
    );
    assert.deepEqual(
      tableArgument(undefined, () => undefined),
      { runDir: undefined, query: undefined },
    );
  });
});

const EVIL = '<img src=x onerror="window.__pwned=1">';

describe('rollout table webview', { skip: noChromium }, () => {
  let served: ServedWebview;
  before(async () => {
    served = await serveWebview('rolloutTable', rolloutTableHtml);
  });
  after(() => served.close());

  it('shows virtualised rows, sorts, filters, draws histograms, opens and diffs rows, under the CSP', async () => {
    const { chunks } = await load(TRAPO);
    // one untrusted prompt id and text
    chunks[0].newPrompts.ids[0] = `p${EVIL}`;
    chunks[0].newPrompts.texts[0] = `text ${EVIL}`;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.addInitScript(`
        window.__posted = [];
        window.__violations = [];
        window.__state = { sort: 'reward', descending: true };
        document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
        window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__posted.push(m), getState: () => window.__state, setState: (s) => { window.__state = s; } });
      `);
      const until = async (expression: string) => {
        for (let i = 0; i < 400; i++) {
          if (await page.evaluate(expression)) return;
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error(`timed out waiting for ${expression}`);
      };
      const post = (m: unknown) => page.evaluate(`window.postMessage(${JSON.stringify(m)}, '*')`);
      await page.goto(served.base + '/');
      await until(`window.__posted.some((m) => m.type === 'ready')`);
      await post({ type: 'init', run: { name: 'fixture-trapo', dir: TRAPO }, query: '', files: 20 });
      for (const c of chunks) await post({ type: 'rows', ...c });
      await until(`document.getElementById('status').textContent.includes('640 of 640 rollouts')`);
      await until(`window.__posted.some((m) => m.type === 'rendered' && m.total === 640)`);
      // virtualised: far fewer row elements than rows
      const domRows = (await page.evaluate(`document.querySelectorAll('#rows > .row:not([hidden])').length`)) as number;
      assert.ok(domRows > 10 && domRows < 60, `${domRows} rows in the DOM`);
      // the remembered sort: reward descending
      const firstReward = await page.evaluate(`document.querySelector('#rows > .row').children[5].textContent`);
      assert.equal(firstReward, '1');
      assert.equal(await page.evaluate(`document.querySelector('#header > button:nth-child(6)').getAttribute('aria-sort')`), 'descending');
      // sort by length ascending: click twice (descending first)
      await page.click('#header > button:nth-child(8)');
      await page.click('#header > button:nth-child(8)');
      // the table recomputes at most every 250 ms: wait for the sorted rows, not a fixed time
      await until(`document.querySelector('#rows > .row').children[7].textContent === '0'`);
      assert.deepEqual(await page.evaluate(`({ sort: window.__state.sort, descending: window.__state.descending })`), { sort: 'length', descending: false });
      // filter: step 12, level 3 — as the plain scan counts
      const lines = allLines(TRAPO);
      const expected = lines.filter((l) => l.step === 12 && l.level === 3).length;
      await page.fill('#query', 'step:12 level:3');
      await until(`document.getElementById('status').textContent.startsWith('fixture-trapo: ${expected} of 640')`);
      const shownSteps = `[...document.querySelectorAll('#rows > .row:not([hidden])')].map((r) => r.children[0].textContent)`;
      await until(`(${shownSteps}).length === ${expected}`); // rows are drawn on the next frame
      assert.ok(((await page.evaluate(shownSteps)) as string[]).every((x) => x === '12'));
      // histograms of the rows shown
      const rewards = lines.filter((l) => l.step === 12 && l.level === 3).map((l) => l.reward);
      const titles = (await page.evaluate(`document.getElementById('hist-reward-title').textContent`)) as string;
      assert.match(titles, new RegExp(`^reward: ${rewards.length} rows, ${Math.min(...rewards)} … `));
      assert.match((await page.evaluate(`document.getElementById('hist-length-title').textContent`)) as string, /^length: \d+ rows/);
      // select, open, a second row, diff; same prompt over time
      await page.click('#rows > .row:nth-child(1)');
      await page.click('#open');
      await page.click('#rows > .row:nth-child(2)', { modifiers: ['Control'] });
      await page.click('#diff');
      const posted = (await page.evaluate(`window.__posted.filter((m) => m.type === 'open' || m.type === 'diff')`)) as {
        type: string;
        row?: { step: number };
        a?: unknown;
        b?: unknown;
      }[];
      assert.equal(posted[0].type, 'open');
      assert.equal(posted[0].row!.step, 12);
      assert.equal(posted[1].type, 'diff');
      assert.notDeepEqual(posted[1].a, posted[1].b);
      const pid = (await page.evaluate(`document.querySelector('#rows > .row.selected').children[1].textContent`)) as string;
      await page.click('#same-prompt');
      assert.equal(await page.inputValue('#query'), `id:${pid}`);
      await until(`document.getElementById('status').textContent.startsWith('fixture-trapo: ${lines.filter((l) => l.prompt_id === pid).length} of 640')`);
      // a host query (a chart point): step 3
      await post({ type: 'query', query: 'step:3' });
      assert.equal(await page.inputValue('#query'), 'step:3');
      // the untrusted prompt id and text are text
      await post({ type: 'query', query: 'onerror' });
      await until(`document.querySelector('#rows > .row:not([hidden])')?.children[1].textContent === ${JSON.stringify(`p${EVIL}`)}`);
      assert.equal(await page.evaluate(`document.querySelector('#rows > .row').children[1].title`), `text ${EVIL}`);
      assert.equal(await page.evaluate(`document.querySelectorAll('#rows img, #rows script').length`), 0);
      assert.equal(await page.evaluate('window.__pwned'), undefined);
      assert.deepEqual(await page.evaluate('window.__violations'), []);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});
