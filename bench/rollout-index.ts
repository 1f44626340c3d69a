// Benchmark: index a 1 GB rollout file and open one rollout from it, in both formats.
//   node --expose-gc --import tsx bench/rollout-index.ts [--bytes 1e9] [--format 1|1.1|both] [--short] [--text-array] [--file PATH] [--keep]
// --short: rollouts of the comparison's size (about 30 response tokens, as trainer/bench/rollout_bytes.py measures)
// instead of the default 40-240 words + a 60-token prefix: more lines per MB, the harder case for the indexer.
// --text-array: token texts that do not line up with the text (see record()), so 1.1 lines carry the list of texts.
// Prints index throughput (MB/s), the time to open one rollout (read by offset + parse + render the document text),
// and peak memory (max RSS of the process, and heap after indexing). Goals (issues 6 and 18): >= 300 MB/s,
// <= 200 ms. The same synthetic rollouts (lines shaped like the trainer's, with per-token data) are written as
// trapo-run/1 (an object per token, the prompt on every line) and as trapo-run/1.1 (token_stats, the prompt once per
// group; the lines the trainer writes, see src/core/tokenStats.ts encodeTokenStats), with their bytes per rollout.
// For 1.1 it also times the index with `summaries` (what the rollout table asks: the arrays decoded for the mean
// entropy and the share outside the trust region). Files are generated once in the temp folder and reused.
import { createWriteStream, existsSync, statSync, unlinkSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { RolloutIndex } from '../src/core/rolloutIndex';
import { renderRollout } from '../src/core/rolloutText';
import type { RolloutRecord } from '../src/core/runFormat';
import { encodeTokenStats } from '../src/core/tokenStats';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const targetBytes = Number(arg('--bytes', '1e9'));
const formats = arg('--format', 'both') === 'both' ? (['1', '1.1'] as const) : ([arg('--format', '1.1')] as ('1' | '1.1')[]);
const fileOf = (format: string) =>
  arg(
    '--file',
    join(
      tmpdir(),
      `trapo-bench-rollouts-v${format}${process.argv.includes('--short') ? '-short' : ''}${process.argv.includes('--text-array') ? '-textarray' : ''}-${targetBytes}.jsonl`,
    ),
  );

const short = process.argv.includes('--short');
const textArray = process.argv.includes('--text-array');

/** The end of every completion, as a tokenizer splits it (a quote, a backslash and braces to escape or skip). */
const TAIL = [' ≈', ' "', 'quoted', '"', ' \\', 'boxed', '{', '42', '}'];

/**
 * Rollout i. Its token texts follow each other in prefix + completion, as a tokenizer's decoded pieces do, plus an
 * end-of-sequence token with a text of its own: the trainer then writes `text_len` (one byte a token) and `special`.
 * --text-array: the completion starts with "é" that the tokenizer split into two byte-level pieces decoded one by one
 * ("\ufffd" each, as in test/fixtures/rollout-formats), so the texts do not line up and the trainer's fallback, a
 * list of every token's text, is written instead (a line with a quote every few bytes: the harder case to index).
 */
function record(i: number): RolloutRecord {
  const group = Math.floor(i / 8);
  const words = short ? 8 + (i % 30) : 40 + (i % 200);
  const prefixTokens = i % 3 === 0 ? 0 : short ? 16 : 60;
  const texts: string[] = [];
  for (let t = 0; t < prefixTokens; t++) texts.push(` e${t % 10}`);
  if (textArray) texts.push('\ufffd', '\ufffd');
  for (let w = 0; w < words; w++) texts.push(` w${w % 10}`);
  texts.push(...TAIL);
  const prefix = texts.slice(0, prefixTokens).join('');
  const completion = (textArray ? 'é' : '') + texts.slice(prefixTokens + (textArray ? 2 : 0)).join('');
  texts.push('<|im_end|>');
  const tokens = texts.map((text, t) => ({
    text,
    logprob: -((t * 7919) % 1000) / 300,
    entropy: ((t * 104729) % 1000) / 400,
    prefix: t < prefixTokens,
  }));
  return {
    step: 1,
    prompt_id: `p${String(group).padStart(6, '0')}`,
    sample: i % 8,
    stage: i % 8 < 4 ? 0 : 1,
    level: group % 4,
    prompt: `What is ${group} + ${group * 3} * 7? Please reason step by step, and put your final answer within \\boxed{}.`,
    prefix,
    completion,
    reward: i % 2,
    advantage: (i % 2) - 0.5,
    answer: '42',
    extracted: i % 2 ? '42' : '41',
    sft_owner: i % 8 === 4,
    prefix_ratio: prefixTokens ? 0.25 : 0,
    tokens,
  };
}

/** One line as each format writes it: 1.1 leaves the prompt to the group's first line and puts token_stats in. */
function lineOf(r: RolloutRecord, format: '1' | '1.1'): string {
  if (format === '1') return JSON.stringify(r) + '\n';
  // The trainer's key order: step, prompt_id, sample, stage, level, prompt (first of its group), prefix, completion, ...
  const { tokens, prompt, ...rest } = r;
  const line: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rest)) {
    line[k] = v;
    if (k === 'level' && r.sample === 0) line.prompt = prompt;
  }
  line.token_stats = encodeTokenStats(tokens ?? [], r.prefix, r.completion);
  return JSON.stringify(line) + '\n';
}

async function generate(file: string, format: '1' | '1.1'): Promise<void> {
  const out = createWriteStream(file);
  let bytes = 0;
  let i = 0;
  while (bytes < targetBytes) {
    const chunk: string[] = [];
    for (let j = 0; j < 200; j++) chunk.push(lineOf(record(i++), format));
    const s = chunk.join('');
    bytes += Buffer.byteLength(s);
    if (!out.write(s)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function main(): Promise<void> {
  // Bytes per rollout of the same 4,000 rollouts in both formats.
  const sample = Array.from({ length: 4000 }, (_, i) => record(i));
  const per = (f: '1' | '1.1') => sample.reduce((a, r) => a + Buffer.byteLength(lineOf(r, f)), 0) / sample.length;
  console.log(
    `bytes per rollout (these synthetic lines, ${(sample.reduce((a, r) => a + (r.tokens?.length ?? 0), 0) / sample.length).toFixed(0)} tokens each): trapo-run/1 ${per('1').toFixed(0)}, trapo-run/1.1 ${per('1.1').toFixed(0)} (${(per('1') / per('1.1')).toFixed(2)}x); the trainer's own: trainer/bench/rollout_bytes.py`,
  );
  for (const format of formats) await bench(format);
  console.log(`load average ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs at the end`);
}

async function bench(format: '1' | '1.1'): Promise<void> {
  const file = fileOf(format);
  console.log(`--- trapo-run/${format}`);
  if (!existsSync(file) || statSync(file).size < targetBytes) {
    const t = performance.now();
    await generate(file, format);
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
  let withSummaries = '';
  if (format === '1.1') {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const s = await RolloutIndex.build(file, { summaries: true });
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    withSummaries = `index + summaries (the rollout table) ${wall.toFixed(2)} s = ${(size / 1e6 / wall).toFixed(0)} MB/s wall, ${(size / 1e6 / ((cpu.user + cpu.system) / 1e6)).toFixed(0)} MB per CPU-second; mean entropy of rollout 0: ${s.summary(0).meanEntropy.toFixed(4)}`;
  }

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
  console.log(
    `index best      ${(mb / best).toFixed(0)} MB/s wall; ${runs.map((r) => (mb / r.cpu).toFixed(0)).join(' / ')} MB per CPU-second; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs`,
  );
  console.log(`rollouts/s     ${(index.count / best / 1e6).toFixed(2)} million indexed per second (${(size / index.count).toFixed(0)} bytes a line)`);
  console.log(`open 1 rollout  ${opens.map((x) => x.toFixed(1)).join(' / ')} ms (last / middle / early line; goal <= 200 ms; includes group lookup)`);
  console.log(
    `memory          max RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; RSS ${(rssBefore / 1e6).toFixed(0)} -> ${(rssAfter / 1e6).toFixed(0)} MB over three indexings; heap after ${(heapAfter / 1e6).toFixed(0)} MB`,
  );
  if (withSummaries) console.log(withSummaries);
  if (!process.argv.includes('--keep') && !process.argv.includes('--file')) unlinkSync(file);
}

void main();
