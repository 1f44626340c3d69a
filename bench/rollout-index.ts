// Benchmark: index a 1 GB rollout file and open one rollout from it.
//   node --expose-gc --import tsx bench/rollout-index.ts [--bytes 1e9] [--file PATH] [--keep]
// Prints index throughput (MB/s), the time to open one rollout (read by offset + parse + render the document text),
// and peak memory (max RSS of the process, and heap after indexing). Goals (issue 6): >= 300 MB/s, <= 200 ms.
// The file is generated once in the temp folder (lines shaped like the trainer's, with per-token data) and reused.
import { createWriteStream, existsSync, statSync, unlinkSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { RolloutIndex } from '../src/core/rolloutIndex';
import { renderRollout } from '../src/core/rolloutText';
import type { RolloutRecord } from '../src/core/runFormat';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const targetBytes = Number(arg('--bytes', '1e9'));
const file = arg('--file', join(tmpdir(), `trapo-bench-rollouts-${targetBytes}.jsonl`));

function record(i: number): RolloutRecord {
  const group = Math.floor(i / 8);
  const words = 40 + (i % 200);
  const prefixTokens = i % 3 === 0 ? 0 : 60;
  const tokens = [];
  for (let t = 0; t < prefixTokens + words; t++) {
    tokens.push({ text: t < prefixTokens ? ` e${t % 10}` : ` w${t % 10}`, logprob: -((t * 7919) % 1000) / 300, entropy: ((t * 104729) % 1000) / 400, prefix: t < prefixTokens });
  }
  return {
    step: 1,
    prompt_id: `p${String(group).padStart(6, '0')}`,
    sample: i % 8,
    stage: i % 8 < 4 ? 0 : 1,
    level: group % 4,
    prompt: `What is ${group} + ${group * 3} * 7? Please reason step by step, and put your final answer within \\boxed{}.`,
    prefix: Array.from({ length: prefixTokens }, (_, t) => ` e${t % 10}`).join(''),
    completion: Array.from({ length: words }, (_, t) => ` w${t % 10}`).join('') + ' ≈ "quoted" \\boxed{42}',
    reward: i % 2,
    advantage: (i % 2) - 0.5,
    answer: '42',
    extracted: i % 2 ? '42' : '41',
    sft_owner: i % 8 === 4,
    prefix_ratio: prefixTokens ? 0.25 : 0,
    tokens,
  };
}

async function generate(): Promise<void> {
  const out = createWriteStream(file);
  let bytes = 0;
  let i = 0;
  while (bytes < targetBytes) {
    const chunk: string[] = [];
    for (let j = 0; j < 200; j++) chunk.push(JSON.stringify(record(i++)) + '\n');
    const s = chunk.join('');
    bytes += Buffer.byteLength(s);
    if (!out.write(s)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function main(): Promise<void> {
  if (!existsSync(file) || statSync(file).size < targetBytes) {
    const t = performance.now();
    await generate();
    console.log(`generated ${file}: ${(statSync(file).size / 1e6).toFixed(0)} MB in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const size = statSync(file).size;
  (globalThis as { gc?: () => void }).gc?.();
  const rssBefore = process.memoryUsage().rss;
  // Three runs: this machine is shared, so wall time varies with the load; CPU time (user + system) does less.
  let index!: RolloutIndex;
  const runs: { wall: number; cpu: number }[] = [];
  for (let r = 0; r < 3; r++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    index = await RolloutIndex.build(file);
    const cpu = process.cpuUsage(cpu0);
    runs.push({ wall: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6 });
  }
  const heapAfter = process.memoryUsage().heapUsed;
  const rssAfter = process.memoryUsage().rss;

  // Open one rollout near the end of the file, as the document provider does: find, read by offset, parse, render.
  const opens: number[] = [];
  for (const k of [index.count - 1, Math.floor(index.count / 2), 17]) {
    const s = index.summary(k);
    const t = performance.now();
    const at = index.find(s.promptId, s.sample);
    const rec = await index.read(at);
    const doc = renderRollout(rec, { groupSize: index.group(s.promptId).length });
    opens.push(performance.now() - t);
    if (!doc.text.includes(rec.completion)) throw new Error('render lost the completion');
  }
  console.log(`file            ${(size / 1e6).toFixed(0)} MB, ${index.count} rollouts, ${index.skipped} skipped lines`);
  const mb = size / 1e6;
  const best = Math.min(...runs.map((r) => r.wall));
  console.log(`index (3 runs)  ${runs.map((r) => `${r.wall.toFixed(2)} s = ${(mb / r.wall).toFixed(0)} MB/s`).join('; ')} (goal >= 300 MB/s)`);
  console.log(`index best      ${(mb / best).toFixed(0)} MB/s wall; ${runs.map((r) => (mb / r.cpu).toFixed(0)).join(' / ')} MB per CPU-second; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs`);
  console.log(`open 1 rollout  ${opens.map((x) => x.toFixed(1)).join(' / ')} ms (last / middle / early line; goal <= 200 ms; includes group lookup)`);
  console.log(`memory          max RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; RSS ${(rssBefore / 1e6).toFixed(0)} -> ${(rssAfter / 1e6).toFixed(0)} MB over three indexings; heap after ${(heapAfter / 1e6).toFixed(0)} MB`);
  if (!process.argv.includes('--keep') && !process.argv.includes('--file')) unlinkSync(file);
}

void main();
