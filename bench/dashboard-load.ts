// 10 runs x 40 metrics x 10,000 steps: memory of the extension-host store and time to first paint of the dashboard
// (headless Chromium). Goals: first paint <= 500 ms, host store <= 300 MB.
//
// Host store: the real RunStore reads the 10 events.jsonl files (the lead's EventTail) into SeriesStores; memory is
// the growth of the host process (heap + typed arrays) after a forced GC, and the typed-array bytes alone.
// First paint: from navigating the webview to the `rendered` ack of the snapshot (page load, script start, ready
// handshake, host snapshot with min/max decimation to trapo.dashboard.maxPointsPerSeries, JSON over the bridge,
// charts created for what is on screen and drawn). Median of 3 fresh pages per case.
//   node scripts/build.mjs && node --expose-gc --import tsx bench/dashboard-load.ts [runs=10] [metrics=40] [steps=10000] [--comparison]
// --comparison: the runs are the comparison's shape (7 algorithms x seeds 0, 1, 2, ... with those names and configs),
// and the cases are all of them grouped by algorithm (mean and min-max band per group) and all overlaid ungrouped.
// --picker: a sweep for the run picker (default 100 runs x 40 metrics x 1000 steps: 7 algorithms x 5 seeds x 3
// learning rates, every tenth still running): first paint with the newest run and with all runs grouped, then in the
// open page the picker's render (100 new items; the same 100 updated, as on each status change) and its filter (name,
// algorithm:, status:, a config key, two terms, cleared), each timed in the page from the event to the end of its
// handler (filter and DOM update) and to the next frame (layout and paint), median of 5.
//   node --expose-gc --import tsx bench/dashboard-load.ts --picker [runs=100] [metrics=40] [steps=1000]
// --profile FILE: also writes a CPU profile of the page (.cpuprofile, for Chromium's DevTools) of the first measured
// first paint, navigation to paint.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RunStore } from '../src/core/runStore';
import { systemCrashProbe } from '../src/core/crash';
import { DashboardSession } from '../src/dashboard/dashboardSession';
import { runStoreSource } from '../src/dashboard/runStoreSource';
import type { HostToWebviewMessage } from '../src/shared/dashboardProtocol';
import { ORIGIN, launchChromium, openDashboardPage, percentile } from './dashboardPage';
import { COMPARISON_ALGORITHMS, runId, writeFakeRun } from './fakeRuns';
import type { Browser, Page } from 'playwright-core';

const MB = 1024 * 1024;
const profileAt = process.argv.indexOf('--profile');
let profileFile: string | undefined = profileAt > 0 ? process.argv[profileAt + 1] : undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with node --expose-gc');
  g();
  g();
}
const hostBytes = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

interface PaintResult {
  ms: number;
  /** CPU seconds of the renderer process (all its threads) and of its main thread, navigation -> first paint. */
  rendererCpuMs: number;
  mainThreadCpuMs: number;
  /** Navigation start -> `ready` received (page load and script start). */
  readyMs: number;
  snapshotBuildMs: number;
  messageBytes: number;
  charts: number;
  pageHeapMB: number;
  violations: number;
  errors: number;
}

async function firstPaint(
  browser: Browser,
  store: RunStore,
  selected: string[] | undefined,
  maxPoints: number,
  extraState: Record<string, unknown> = {},
  /** Runs in the painted page before it closes (with the snapshot's runs list). */
  probe?: (page: Page, runs: unknown[], seq: number) => Promise<void>,
): Promise<PaintResult> {
  let session: DashboardSession | undefined;
  let snapshotSeq = -1;
  let snapshotRuns: unknown[] = [];
  let snapshotBuildMs = 0;
  let messageBytes = 0;
  let paintedAt = -1;
  let readyAt = -1;
  const dp = await openDashboardPage(browser, {
    state: selected ? { selected, ...extraState } : null,
    onMessage: (m) => {
      if ((m as { type?: string }).type === 'ready') readyAt = performance.now();
      session?.handleMessage(m);
    },
  });
  session = new DashboardSession({
    source: runStoreSource(store),
    settings: () => ({ smoothing: 0.6, maxPointsPerSeries: maxPoints }),
    post: (m: HostToWebviewMessage) => {
      if (m.type === 'snapshot') {
        snapshotRuns = m.runs;
        snapshotSeq = m.seq;
        snapshotBuildMs = performance.now() - readyAt;
        messageBytes = JSON.stringify(m).length;
      }
      void dp.post(m);
    },
  });
  session.onRendered((seq) => {
    if (seq >= snapshotSeq && snapshotSeq >= 0 && paintedAt < 0) paintedAt = performance.now();
  });
  // CPU time of the page's renderer: wall time on a loaded machine says little, CPU time says what the page costs.
  // A same-origin blank page first, so that the dashboard loads in the renderer process measured.
  await dp.page.goto(`${ORIGIN}/blank`);
  const cdp = await dp.page.context().newCDPSession(dp.page);
  await cdp.send('Performance.enable');
  const profileTo = profileFile;
  profileFile = undefined; // the first measured paint only
  if (profileTo) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
  }
  const cpu = async () => {
    const { metrics } = (await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] };
    const get = (n: string) => metrics.find((m) => m.name === n)?.value ?? Number.NaN;
    return { process: get('ProcessTime'), thread: get('ThreadTime') };
  };
  const cpu0 = await cpu();
  const t0 = performance.now();
  await dp.load();
  while (paintedAt < 0 && performance.now() - t0 < 30000) await sleep(5);
  const cpu1 = await cpu();
  if (profileTo) {
    const { profile } = (await cdp.send('Profiler.stop')) as { profile: unknown };
    writeFileSync(profileTo, JSON.stringify(profile));
    console.log(`  (CPU profile of this paint: ${profileTo})`);
  }
  const charts = await dp.page.locator('canvas').count();
  const pageHeapMB = ((await dp.page.evaluate('performance.memory.usedJSHeapSize')) as number) / MB;
  const violations = (await dp.violations()).length;
  if (probe) await probe(dp.page, snapshotRuns, snapshotSeq);
  const result = {
    ms: paintedAt - t0,
    rendererCpuMs: (cpu1.process - cpu0.process) * 1000,
    mainThreadCpuMs: (cpu1.thread - cpu0.thread) * 1000,
    readyMs: readyAt - t0,
    snapshotBuildMs,
    messageBytes,
    charts,
    pageHeapMB,
    violations,
    errors: dp.errors.length,
  };
  session.dispose();
  await dp.page.close();
  return result;
}

const PICKER_QUERIES = ['seed1', 'algorithm:trapo', 'status:running', 'optim.lr:0.001', 'algorithm:grpo seed:2', ''];

/**
 * The run picker in the painted page, timed in the page (JavaScript source, not a serialised function: tsx's
 * helpers would not exist there): a `runs` message with new ids (every item created) and with the same runs (every
 * item updated), then each filter query typed into the box. Median of `reps` per case, in ms.
 */
async function pickerTimes(page: Page, runs: unknown[], seq: number, reps = 5): Promise<string[]> {
  const source = `(async () => {
    const runs = ${JSON.stringify(runs)};
    const queries = ${JSON.stringify(PICKER_QUERIES)};
    const reps = ${reps};
    let seq = ${seq};
    const nextFrame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
    const timed = async (act) => {
      const sync = [], frame = [];
      for (let k = 0; k < reps; k++) {
        await nextFrame();
        const t0 = performance.now();
        act(k);
        sync.push(performance.now() - t0);
        await nextFrame();
        frame.push(performance.now() - t0);
      }
      return { sync: median(sync), frame: median(frame) };
    };
    const post = (list) => window.dispatchEvent(new MessageEvent('message', { data: { type: 'runs', seq: ++seq, runs: list } }));
    const items = () => document.querySelectorAll('#runs .run-item').length;
    const out = {};
    // new ids each time (alternating two sets): every item is made, the old ones removed
    out.created = await timed((k) => post(runs.map((r) => ({ ...r, id: r.id + (k % 2 ? '-b' : '-c') }))));
    out.createdItems = items();
    post(runs);
    await nextFrame();
    out.updated = await timed(() => post(runs));
    const box = document.getElementById('run-filter');
    const count = document.getElementById('runs-count');
    out.filters = [];
    for (const q of queries) {
      const t = await timed(() => { box.value = q; box.dispatchEvent(new Event('input')); });
      const visible = [...document.querySelectorAll('#runs .run-item')].filter((e) => !e.hidden).length;
      out.filters.push({ q, ...t, visible, count: count.textContent });
    }
    return out;
  })()`;
  type Timing = { sync: number; frame: number };
  const r = (await page.evaluate(source)) as {
    created: Timing;
    createdItems: number;
    updated: Timing;
    filters: (Timing & { q: string; visible: number; count: string })[];
  };
  const ms = (t: Timing) => `${t.sync.toFixed(1)} ms handler, ${t.frame.toFixed(1)} ms to the next frame`;
  return [
    `  picker render, ${runs.length} new items: ${ms(r.created)} (${r.createdItems} items in the list)`,
    `  picker update, the same ${runs.length} runs again: ${ms(r.updated)}`,
    ...r.filters.map((f) => `  picker filter ${JSON.stringify(f.q).padEnd(24)} ${ms(f)}; ${f.visible} items visible ("${f.count}")`),
  ];
}

async function main(): Promise<void> {
  const picker = process.argv.includes('--picker');
  const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--profile');
  const runs = Number(positional[0] ?? (picker ? 100 : 10));
  const metrics = Number(positional[1] ?? 40);
  const steps = Number(positional[2] ?? (picker ? 1000 : 10000));
  const comparison = process.argv.includes('--comparison');
  const root = mkdtempSync(path.join(os.tmpdir(), 'trapo-load-'));
  try {
    let t = performance.now();
    for (let i = 0; i < runs; i++) {
      const algorithms = COMPARISON_ALGORITHMS.length;
      const shape = picker
        ? {
            algorithm: COMPARISON_ALGORITHMS[i % algorithms],
            seed: Math.floor(i / algorithms) % 5,
            lr: [1e-4, 3e-4, 1e-3][Math.floor(i / (algorithms * 5)) % 3],
            status: i % 10 === 9 ? ('running' as const) : ('finished' as const),
          }
        : comparison
          ? { algorithm: COMPARISON_ALGORITHMS[i % algorithms], seed: Math.floor(i / algorithms) }
          : {};
      writeFakeRun({ root, index: i, steps, metrics, evalEvery: comparison || picker ? Math.max(1, Math.floor(steps / 4)) : 500, ...shape });
    }
    console.log(`generated ${runs} runs x ${metrics} metrics x ${steps} steps in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    gc();
    const before = hostBytes();
    const rssBefore = process.memoryUsage().rss;
    t = performance.now();
    const store = new RunStore({ roots: [root], crashProbe: systemCrashProbe(os.hostname()), watch: false });
    await store.refresh();
    while (store.runs().some((r) => r.loading)) await store.refresh();
    const loadS = (performance.now() - t) / 1000;
    gc();
    const storeMB = (hostBytes() - before) / MB;
    const rssMB = (process.memoryUsage().rss - rssBefore) / MB;
    const typedMB = store.runs().reduce((a, r) => a + r.metrics.byteLength, 0) / MB;
    const points = store.runs().reduce((a, r) => a + r.metrics.names().reduce((b, n) => b + r.metrics.get(n)!.length, 0), 0);
    console.log(`host store: ${store.runs().length} runs, ${points.toLocaleString()} points read in ${loadS.toFixed(1)} s`);
    console.log(
      `  memory growth after GC: ${storeMB.toFixed(1)} MB (heap + array buffers; typed arrays alone ${typedMB.toFixed(1)} MB; RSS +${rssMB.toFixed(0)} MB)   goal <= 300 MB`,
    );

    const browser = await launchChromium();
    try {
      const all = store.runs().map((r) => r.id);
      const cases: [string, string[] | undefined, number, Record<string, unknown>][] = picker
        ? [
            [`default selection (newest run), ${runs} runs in the picker, decimated to 1200`, undefined, 1200, {}],
            [`all ${runs} runs grouped by algorithm (mean and min-max band), decimated to 1200`, all, 1200, {}],
          ]
        : comparison
          ? [
              [`all ${runs} runs grouped by algorithm (mean and min-max band), decimated to 1200`, all, 1200, {}],
              [`all ${runs} runs overlaid, not grouped, decimated to 1200`, all, 1200, { groupBy: '' }],
              [`all ${runs} runs grouped, 95% interval and each run drawn too`, all, 1200, { band: 'ci95', showRuns: true }],
            ]
          : [
              ['default selection (newest run), decimated to 1200', undefined, 1200, {}],
              [`all ${runs} runs overlaid, decimated to 1200`, all, 1200, {}],
              ['default selection, full resolution (no decimation), for contrast', undefined, steps, {}],
            ];
      const wanted = profileFile;
      profileFile = undefined;
      await firstPaint(browser, store, undefined, 1200); // warm-up: browser process, caches
      profileFile = wanted;
      for (const [label, selected, maxPoints, extra] of cases) {
        const results: PaintResult[] = [];
        for (let k = 0; k < 3; k++) results.push(await firstPaint(browser, store, selected, maxPoints, extra));
        const med = (f: (r: PaintResult) => number) => percentile(results.map(f), 50);
        console.log(
          `first paint, ${label}: median ${med((r) => r.ms).toFixed(0)} ms (runs: ${results.map((r) => r.ms.toFixed(0)).join(', ')} ms)   goal <= 500 ms`,
        );
        console.log(`  renderer CPU time ${med((r) => r.rendererCpuMs).toFixed(0)} ms (main thread ${med((r) => r.mainThreadCpuMs).toFixed(0)} ms)`);
        console.log(
          `  ready after ${med((r) => r.readyMs).toFixed(0)} ms; snapshot built in ${med((r) => r.snapshotBuildMs).toFixed(0)} ms, ${(med((r) => r.messageBytes) / MB).toFixed(1)} MB of JSON; ${results[0].charts} charts created on screen (lazy); page JS heap ${med((r) => r.pageHeapMB).toFixed(0)} MB; CSP violations ${results[0].violations}; page errors ${results[0].errors}`,
        );
      }
      if (picker) {
        let lines: string[] = [];
        await firstPaint(browser, store, undefined, 1200, {}, async (page, list, seq) => {
          lines = await pickerTimes(page, list, seq);
        });
        console.log(`run picker with ${runs} runs (in the page of the default selection):`);
        for (const line of lines) console.log(line);
      }
    } finally {
      await browser.close();
      store.dispose();
    }
    void runId;
    console.log(
      `machine load average at the end: ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} (${os.cpus().length} cores)`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
