// Latency from an event line appended to events.jsonl to the dashboard chart drawing it, in a real webview page
// (headless Chromium), p50/p95 over 1,000 metrics events. Goal: p95 <= 250 ms.
//
// The whole extension-host path runs as in VS Code: RunStore (fs.watch + the lead's EventTail) -> runStoreSource ->
// DashboardSession (batching, <= 1 message / 100 ms) -> JSON over the page bridge -> webview main.ts -> chart.js draw
// -> the webview's `rendered{seq}` ack back over the bridge. Latency of a line = arrival of the first ack whose
// message carried its step - the time it was appended (so the ack's trip back is counted too).
//   node scripts/build.mjs && node --import tsx bench/dashboard-latency.ts [events=1000] [intervalMs=20]
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RunStore } from '../src/core/runStore';
import { systemCrashProbe } from '../src/core/crash';
import { DashboardSession } from '../src/dashboard/dashboardSession';
import { runStoreSource } from '../src/dashboard/runStoreSource';
import type { HostToWebviewMessage } from '../src/shared/dashboardProtocol';
import { launchChromium, openDashboardPage, percentile } from './dashboardPage';
import { fakeMetrics, metricNames, rng, writeFakeRun } from './fakeRuns';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 1000);
  const intervalMs = Number(process.argv[3] ?? 20);
  const history = 2000;
  const metrics = 23;
  const root = mkdtempSync(path.join(os.tmpdir(), 'trapo-latency-'));
  const dir = writeFakeRun({ root, index: 0, steps: history, metrics, evalEvery: 250, status: 'running', createdAt: Date.now() / 1000 - history * 2.5 });
  const events = path.join(dir, 'events.jsonl');
  const store = new RunStore({ roots: [root], crashProbe: systemCrashProbe(os.hostname()), watch: true });
  await store.start();

  const appendedAt = new Map<number, number>(); // step -> performance.now() at append
  const seqMaxStep = new Map<number, number>();
  const latencies: number[] = [];
  const hostPart: number[] = []; // append -> message posted by the session
  const postedAt = new Map<number, number>(); // seq -> performance.now() at post
  const pagePart: number[] = []; // message posted -> rendered ack received
  let drawnUpTo = history;
  let firstRendered = false;
  const browser = await launchChromium();
  let session: DashboardSession | undefined;
  try {
    const dp = await openDashboardPage(browser, { onMessage: (m) => session?.handleMessage(m) });
    session = new DashboardSession({
      source: runStoreSource(store),
      settings: () => ({ smoothing: 0.6, maxPointsPerSeries: 1200 }),
      post: (m: HostToWebviewMessage) => {
        if (m.type === 'append' || m.type === 'runData' || m.type === 'snapshot') {
          let max = -1;
          for (const d of m.data) for (const s of d.series) if (s.steps.length) max = Math.max(max, s.steps[s.steps.length - 1]);
          seqMaxStep.set(m.seq, max);
          const now = performance.now();
          postedAt.set(m.seq, now);
          for (const d of m.data)
            for (const s of d.series)
              if (s.name === 'loss/total')
                for (const st of s.steps) {
                  const t = appendedAt.get(st);
                  if (t !== undefined) hostPart.push(now - t);
                }
        }
        void dp.post(m);
      },
    });
    session.onRendered((seq) => {
      const now = performance.now();
      if (firstRendered && postedAt.has(seq)) pagePart.push(now - postedAt.get(seq)!);
      firstRendered = true;
      let max = -1;
      for (const [s, step] of seqMaxStep)
        if (s <= seq) {
          max = Math.max(max, step);
          seqMaxStep.delete(s);
        }
      for (let step = drawnUpTo + 1; step <= max; step++) {
        const t = appendedAt.get(step);
        if (t !== undefined) latencies.push(now - t);
      }
      if (max > drawnUpTo) drawnUpTo = max;
    });
    await dp.load();
    while (!firstRendered) await sleep(20);

    const names = metricNames(metrics);
    const rand = rng(7);
    const t0 = performance.now();
    for (let i = 1; i <= count; i++) {
      const step = history + i;
      const line = JSON.stringify({ v: 1, type: 'metrics', time: Date.now() / 1000, step, values: fakeMetrics(names, step, history + count, rand) }) + '\n';
      appendedAt.set(step, performance.now());
      appendFileSync(events, line);
      const next = t0 + i * intervalMs;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
    }
    const deadline = performance.now() + 5000;
    while (drawnUpTo < history + count && performance.now() < deadline) await sleep(20);
    const violations = await dp.violations();
    const p = (q: number) => percentile(latencies, q).toFixed(1);
    console.log(
      `dashboard latency: ${latencies.length}/${count} events drawn, one line every ${intervalMs} ms, run with ${history} steps of history, ${metrics} metrics`,
    );
    console.log(`  p50 ${p(50)} ms   p95 ${p(95)} ms   p99 ${p(99)} ms   max ${p(100)} ms   (goal p95 <= 250 ms)`);
    const h = (q: number) => percentile(hostPart, q).toFixed(1);
    console.log(`  of which host side (append -> message posted): p50 ${h(50)} ms   p95 ${h(95)} ms`);
    const w = (q: number) => percentile(pagePart, q).toFixed(1);
    console.log(`  of which page side (message posted -> rendered ack, bridge both ways): p50 ${w(50)} ms   p95 ${w(95)} ms`);
    console.log(
      `  machine load average at the end: ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} (${os.cpus().length} cores)`,
    );
    console.log(`  CSP violations ${violations.length}, page errors ${dp.errors.length}`);
  } finally {
    session?.dispose();
    await browser.close();
    store.dispose();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
