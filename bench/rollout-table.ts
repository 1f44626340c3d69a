// Benchmark: the rollout table on a run of 1,000 steps x 64 rollouts (the comparison's shape: 8 prompts x 8 samples a
// step, about 26 response tokens each, trapo-run/1.1 lines with token_stats as the trainer writes them).
//   node scripts/build.mjs && node --import tsx bench/rollout-table.ts [--steps 1000] [--per-step 64] [--keep]
// Prints: host loading (RolloutTableLoader over the 1,000 files: time to the first chunk and to all rows), then the real
// page in headless Chromium fed by the loader as the panel feeds it: time from navigating the page to the first rows
// drawn (goal <= 1 s), to all rows drawn, a sort and a filter over all rows, and scrolling: the page scrolls the table
// by 3 rows a frame for 2 s; frame times from requestAnimationFrame (goal: 60 frames per second, 16.7 ms a frame).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RolloutTableLoader } from '../src/rolloutTable/tableData';
import { rolloutTableHtml } from '../src/rolloutTable/tableHtml';
import { encodeTokenStats } from '../src/core/tokenStats';
import type { RowsMessage } from '../src/shared/rolloutTable';
import { launchChromium } from './dashboardPage';
import { serveWebview } from '../test/helpers/webviewPage';
import { mulberry32 } from '../src/core/bootstrap';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const STEPS = Number(arg('--steps', '1000'));
const PER_STEP = Number(arg('--per-step', '64'));
const GROUP = 8;

function writeRun(dir: string): number {
  mkdirSync(path.join(dir, 'rollouts'), { recursive: true });
  const rand = mulberry32(7);
  let bytes = 0;
  for (let step = 1; step <= STEPS; step++) {
    const lines: string[] = [];
    for (let i = 0; i < PER_STEP; i++) {
      const g = Math.floor(i / GROUP);
      const sample = i % GROUP;
      const pid = `arith${1 + (g % 3)}-${((step * 131 + g * 7919) % 100000).toString(16).padStart(5, '0')}`;
      const a = 2 + Math.floor(rand() * 40);
      const prompt = `<|im_start|>user\nCompute ${a} + ${g} * 3. Please reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n<|im_start|>assistant\n`;
      const stage = sample < 4 ? 0 : sample < 6 ? 1 : sample < 7 ? 2 : 3;
      const prefix = stage === 0 ? '' : `${a} + ${g} * 3 = ${a} + ${g * 3}\n\n`.slice(0, stage === 3 ? 999 : 8 * stage);
      const completion = stage === 3 ? '' : `${a} + ${g * 3} = ${a + g * 3}\n\nSo the answer is \\boxed{${a + g * 3 + (rand() < 0.5 ? 0 : 1)}}.`;
      const tokens = [...(prefix + completion)].reduce<{ text: string; prefix: boolean }[]>((acc, ch, k) => {
        if (k % 2 === 0) acc.push({ text: ch, prefix: k < prefix.length });
        else acc[acc.length - 1].text += ch;
        return acc;
      }, []);
      const reward = rand() < 0.4 ? 1 : 0;
      const line: Record<string, unknown> = {
        step,
        prompt_id: pid,
        sample,
        stage,
        level: 2,
        ...(sample === 0 ? { prompt } : {}),
        prefix,
        completion,
        reward,
        advantage: reward - 0.4,
        answer: String(a + g * 3),
        extracted: String(a + g * 3),
        sft_owner: stage === 3,
        prefix_ratio: stage / 4,
      };
      line.token_stats = encodeTokenStats(
        tokens.map((t) => ({ text: t.text, logprob: -rand() * 2, entropy: rand(), prefix: t.prefix })),
        prefix,
        completion,
      );
      lines.push(JSON.stringify(line));
    }
    const text = lines.join('\n') + '\n';
    bytes += Buffer.byteLength(text);
    writeFileSync(path.join(dir, 'rollouts', `${String(step).padStart(6, '0')}.jsonl`), text);
  }
  return bytes;
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'trapo-table-'));
  const dir = path.join(root, 'run');
  try {
    let t = performance.now();
    const bytes = writeRun(dir);
    console.log(
      `generated ${STEPS} steps x ${PER_STEP} rollouts: ${(bytes / 1e6).toFixed(1)} MB (${(bytes / STEPS / PER_STEP).toFixed(0)} bytes a rollout) in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    const files = Array.from({ length: STEPS }, (_, i) => ({ step: i + 1, file: path.join(dir, 'rollouts', `${String(i + 1).padStart(6, '0')}.jsonl`) }));

    // Host only.
    for (let k = 0; k < 2; k++) {
      let first = -1;
      let rows = 0;
      t = performance.now();
      await new RolloutTableLoader({
        onChunk: (c) => {
          if (first < 0) first = performance.now() - t;
          rows += c.rows.step.length;
        },
      }).load(files);
      console.log(`host: first chunk ${first.toFixed(0)} ms, all ${rows} rows in ${(performance.now() - t).toFixed(0)} ms${k === 0 ? ' (cold)' : ''}`);
    }

    const served = await serveWebview('rolloutTable', rolloutTableHtml);
    const browser = await launchChromium();
    try {
      for (let round = 0; round < 3; round++) {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        const events: { type: string; at: number; rows?: number; total?: number }[] = [];
        let t0 = 0;
        await page.exposeFunction('__toHost', (m: { type: string; rows?: number; total?: number }) => events.push({ ...m, at: performance.now() - t0 }));
        await page.addInitScript(`window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__toHost(m), getState: () => null, setState: () => {} });`);
        const post = (m: unknown) => page.evaluate(`window.postMessage(${JSON.stringify(m)}, '*')`);
        t0 = performance.now();
        const nav = page.goto(served.base + '/');
        await nav;
        while (!events.some((e) => e.type === 'ready')) await new Promise((r) => setTimeout(r, 2));
        await post({ type: 'init', run: { name: 'bench', dir }, query: '', files: STEPS });
        const sends: Promise<unknown>[] = [];
        await new RolloutTableLoader({ onChunk: (c) => void sends.push(post({ type: 'rows', ...c } as RowsMessage)) }).load(files);
        await Promise.all(sends);
        while (!events.some((e) => e.type === 'rendered' && e.total === STEPS * PER_STEP)) await new Promise((r) => setTimeout(r, 5));
        const firstRows = events.find((e) => e.type === 'rendered' && (e.total ?? 0) > 0)!;
        const allRows = events.find((e) => e.type === 'rendered' && e.total === STEPS * PER_STEP)!;
        // Sort by reward and filter, as a user would, timed in the page.
        const sortMs = (await page.evaluate(
          `(() => { const t = performance.now(); document.querySelector('#header > button:nth-child(6)').click(); return performance.now() - t; })()`,
        )) as number;
        const filterMs = (await page.evaluate(
          `(async () => { const q = document.getElementById('query'); const t = performance.now(); q.value = 'level:2 reward:>0 length:>=10'; q.dispatchEvent(new Event('input')); await new Promise((r) => setTimeout(r, 130)); return performance.now() - t - 120; })()`,
        )) as number;
        await page.evaluate(`(() => { const q = document.getElementById('query'); q.value = ''; q.dispatchEvent(new Event('input')); })()`);
        await new Promise((r) => setTimeout(r, 300));
        // Scroll for 2 s, 3 rows a frame; the renderer's main-thread CPU time over it says what a frame costs the page,
        // whatever else the machine runs.
        const cdp = await page.context().newCDPSession(page);
        await cdp.send('Performance.enable');
        const threadTime = async () =>
          ((await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] }).metrics.find((m) => m.name === 'ThreadTime')!.value;
        const cpu0 = await threadTime();
        const frames = (await page.evaluate(`new Promise((done) => {
          const body = document.getElementById('body'); const times = []; let last = performance.now(); const end = last + 2000;
          const tick = (now) => { times.push(now - last); last = now; body.scrollTop += 66; if (now < end) requestAnimationFrame(tick); else done(times); };
          requestAnimationFrame(tick);
        })`)) as number[];
        const cpuMs = ((await threadTime()) - cpu0) * 1000;
        frames.shift();
        const sorted = [...frames].sort((a, b) => a - b);
        const p95 = sorted[Math.floor(sorted.length * 0.95)];
        const fps = (1000 * frames.length) / frames.reduce((a, b) => a + b, 0);
        const dom = (await page.evaluate(`document.querySelectorAll('#rows > .row').length`)) as number;
        console.log(
          `page ${round + 1}: first rows ${firstRows.at.toFixed(0)} ms after navigation (goal <= 1000 ms), all ${allRows.total} rows ${allRows.at.toFixed(0)} ms; sort by reward ${sortMs.toFixed(0)} ms, filter ${filterMs.toFixed(0)} ms; scrolling ${fps.toFixed(1)} fps, p95 frame ${p95.toFixed(1)} ms (goal 60 fps), main thread ${(cpuMs / frames.length).toFixed(1)} ms CPU a frame; ${dom} row elements; page errors ${errors.length}`,
        );
        await page.close();
      }
    } finally {
      await browser.close();
      await served.close();
    }
    console.log(
      `machine: ${os.cpus().length} cores, load average ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
    );
  } finally {
    if (!process.argv.includes('--keep')) rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
