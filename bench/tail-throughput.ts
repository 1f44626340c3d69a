// Tailing throughput on a large generated events.jsonl: MB/s, events/s, peak RSS, and the longest event-loop stall
// while the run store reads it (the store reads in slices and must never block the extension host).
//
//   node --import tsx bench/tail-throughput.ts            # 100 MB (default)
//   node --import tsx bench/tail-throughput.ts --size 1GB # the figure for the README
//   options: --size N[MB|GB]  --keep (keep the generated file)  --file PATH (use an existing events.jsonl)
//
// The generated run looks like a real TRAPO run per step: one metrics line (23 metrics, as the fixture runs), one
// prefix_allocation of 64 prompts x 4 stages, one rollouts line and two heartbeats; an eval every 50 steps and a
// checkpoint every 100. Each measurement runs in a fresh child process, so that its peak RSS is its own.
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { EventTail } from '../src/core/tail';
import { RunStore } from '../src/core/runStore';
import { metricNames } from './fakeRuns';

const METRICS = metricNames(23); // the trainer's metric names, as the fixture runs have them
const RUN_ID = '20261125-000000-bench-0000';

function parseSize(s: string): number {
  const m = /^([0-9.]+)\s*(KB|MB|GB)?$/i.exec(s);
  if (!m) throw new Error(`--size: expected e.g. 100MB or 1GB, got "${s}"`);
  const mult = { KB: 1 << 10, MB: 1 << 20, GB: 1 << 30 }[(m[2] ?? 'MB').toUpperCase() as 'KB' | 'MB' | 'GB'];
  return Math.round(Number(m[1]) * mult);
}

function stepLines(step: number, t: number): string {
  let s = '';
  const values: Record<string, number> = {};
  METRICS.forEach((name, i) => (values[name] = Math.sin(step / 50 + i) * 0.5 + 0.5 + step * 1e-6));
  const prompts = [];
  for (let p = 0; p < 64; p++) {
    const level = (step + p) % 4;
    const stages = [4, 2, 1, 1].map((n, k) => ({
      n,
      ratio: [0, 0.25, 0.5, 1][k],
      guided: k > 0 && k <= level,
      correct: (step * 7 + p * 3 + k) % (n + 1),
      correct_before: k * 2,
    }));
    prompts.push({ prompt_id: `arith-${step}-${p}`, level, stages });
  }
  const line = (type: string, time: number, payload: object) => JSON.stringify({ v: 1, type, time, step, ...payload }) + '\n';
  s += line('heartbeat', t, { phase: 'rollout' });
  s += line('prefix_allocation', t + 1, { prompts });
  s += line('rollouts', t + 1, { file: `rollouts/${String(step).padStart(6, '0')}.jsonl`, count: 512 });
  s += line('heartbeat', t + 2, { phase: 'train' });
  s += line('metrics', t + 3, { values });
  if (step % 50 === 0) {
    const b = (acc: number, name: string) => ({ accuracy: acc, n: 500, samples_per_problem: 4, file: `evals/${String(step).padStart(6, '0')}/${name}.jsonl` });
    s += line('eval', t + 4, { benchmarks: { math500: b(0.5, 'math500'), aime24: b(0.1, 'aime24') }, average: 0.3 });
  }
  if (step % 100 === 0) s += line('checkpoint', t + 5, { path: `checkpoints/${String(step).padStart(6, '0')}`, onnx: null, bytes: 3e9 });
  return s;
}

async function generate(dir: string, bytes: number): Promise<{ steps: number }> {
  mkdirSync(dir, { recursive: true });
  const info = {
    format: 'trapo-run/1',
    id: RUN_ID,
    name: 'bench',
    algorithm: 'trapo',
    created_at: 1.7e9,
    updated_at: 1.7e9,
    config: {},
    status: 'finished',
    pid: null,
    host: 'bench',
    trainer_version: '0.1.0',
    world_size: 1,
    device: 'cpu',
  };
  writeFileSync(path.join(dir, 'run.json'), JSON.stringify(info));
  const out = createWriteStream(path.join(dir, 'events.jsonl'));
  let written = 0;
  let step = 0;
  const header =
    JSON.stringify({
      v: 1,
      type: 'run_started',
      time: 1.7e9,
      step: null,
      config: {},
      total_steps: 1e9,
      model: { name: 'bench', parameters: 1 },
      device: 'cpu',
      world_size: 1,
      resumed_from_step: null,
    }) + '\n';
  out.write(header);
  written += header.length;
  while (written < bytes) {
    step++;
    const chunk = stepLines(step, 1.7e9 + step * 10);
    written += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return { steps: step };
}

interface Measurement {
  what: string;
  seconds: number;
  /** CPU time of the measuring process: on a shared, loaded machine MB per CPU second varies less than MB/s. */
  cpuSeconds: number;
  mb: number;
  events: number;
  malformed: number;
  maxRssMb: number;
  heapUsedMb: number;
  maxLoopStallMs: number;
  p99LoopStallMs: number;
  detail: string;
}

async function measure(what: 'tail' | 'store', runDir: string): Promise<Measurement> {
  const file = path.join(runDir, 'events.jsonl');
  const size = statSync(file).size;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let events = 0;
  let malformed = 0;
  let detail = '';
  if (what === 'tail') {
    // The tailer alone, reading everything in 1 MB polls (as the store does).
    const tail = new EventTail(file, { maxBytesPerPoll: 1 << 20 });
    for (;;) {
      const r = await tail.poll();
      events += r.events.length;
      if (!r.more) break;
    }
    malformed = tail.stats.malformed;
  } else {
    // The run store as the extension uses it: slices of 1 MB, state built per event.
    const store = new RunStore({
      roots: [path.dirname(runDir)],
      crashProbe: { now: () => Date.now() / 1000, hostname: 'x', isPidAlive: () => false },
      watch: false,
    });
    await store.refresh();
    const run = store.get(RUN_ID)!;
    const series = run.metrics.get('loss/total')!;
    events = run.metrics.size ? series.length : 0;
    malformed = run.skipped.malformed;
    detail =
      `${run.metrics.size} metrics x ${series.length} steps in series (${(run.metrics.byteLength / 2 ** 20).toFixed(1)} MB of typed arrays), ` +
      `${run.prefixSteps.length} prefix steps kept, ${run.rolloutFiles.length} rollout files, ${run.evals.length} evals`;
    if (run.bytesRead !== size) throw new Error(`store read ${run.bytesRead} of ${size} bytes`);
    store.dispose();
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  loop.disable();
  return {
    what,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    mb: size / 2 ** 20,
    events,
    malformed,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20,
    maxLoopStallMs: loop.max / 1e6,
    p99LoopStallMs: loop.percentile(99) / 1e6,
    detail,
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const child = opt('--measure');
  if (child) {
    const m = await measure(child as 'tail' | 'store', opt('--run-dir')!);
    process.stdout.write(JSON.stringify(m));
    return;
  }
  let runDir: string;
  let generated = false;
  const existing = opt('--file');
  if (existing) {
    runDir = path.dirname(path.resolve(existing));
  } else {
    const bytes = parseSize(opt('--size') ?? '100MB');
    const base = path.join(os.tmpdir(), `trapo-tail-bench-${process.pid}`);
    runDir = path.join(base, RUN_ID);
    const t = Date.now();
    const { steps } = await generate(runDir, bytes);
    generated = true;
    console.log(
      `generated ${(statSync(path.join(runDir, 'events.jsonl')).size / 2 ** 20).toFixed(0)} MB, ${steps} steps, in ${((Date.now() - t) / 1000).toFixed(1)} s: ${runDir}`,
    );
  }
  try {
    for (const what of ['tail', 'store'] as const) {
      const r = spawnSync(process.execPath, [...process.execArgv, __filename, '--measure', what, '--run-dir', runDir], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      });
      if (r.status !== 0) throw new Error(`measure ${what} failed: ${r.stderr}`);
      const m = JSON.parse(r.stdout) as Measurement;
      console.log(
        `${what === 'tail' ? 'EventTail alone ' : 'RunStore (views)'}: ${m.mb.toFixed(0)} MB in ${m.seconds.toFixed(2)} s = ` +
          `${(m.mb / m.seconds).toFixed(1)} MB/s (${(m.mb / m.cpuSeconds).toFixed(1)} MB per CPU second); peak RSS ${m.maxRssMb.toFixed(0)} MB, heap after ${m.heapUsedMb.toFixed(0)} MB; ` +
          `event loop: longest stall ${m.maxLoopStallMs.toFixed(0)} ms, p99 ${m.p99LoopStallMs.toFixed(0)} ms; ` +
          `${what === 'tail' ? `${m.events} events` : m.detail}; malformed ${m.malformed}`,
      );
    }
  } finally {
    if (generated && !args.includes('--keep') && existsSync(runDir)) rmSync(path.dirname(runDir), { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
