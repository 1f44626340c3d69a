// Benchmark: tokens/s of greedy generation with onnxruntime-node in node (as in the extension host), on a checkpoint
// with model.onnx (no KV cache: each token re-runs the whole sequence).
//   node --import tsx bench/ort-generate.ts [CHECKPOINT_DIR] [--max-tokens 64] [--threads N]
// Prints tokens/s for one session, then for two sessions generating at once (what the Compare live prompt does).
// Default checkpoint: the tiny fixture test/unit/ortGenerate.test.ts makes ($TMPDIR/trapo-ort-fixture-v2); run that
// test first, or pass a demo run's checkpoints/<step>/ folder.
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { OrtModel, defaultThreads } from '../src/ort/generate';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const dir = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--'))) ?? join(tmpdir(), 'trapo-ort-fixture-v2');
const maxTokens = flag('--max-tokens', 64);
const threads = flag('--threads', defaultThreads());
const prompts = [
  'What is 12 + 7? Please reason step by step, and put your final answer within \\boxed{}.',
  'What is 3 * (4 + 5)? Please reason step by step, and put your final answer within \\boxed{}.',
  'Compute 48 - 19. Please reason step by step, and put your final answer within \\boxed{}.',
];

async function main(): Promise<void> {
  const t0 = performance.now();
  const model = await OrtModel.load(dir, undefined, threads);
  console.log(`checkpoint      ${dir} (${threads} intra-op thread${threads > 1 ? 's' : ''} a session)`);
  console.log(`load            ${(performance.now() - t0).toFixed(0)} ms (tokenizer, chat template, ONNX session)`);
  await model.generate(prompts[0], { maxTokens: 4 }); // warm-up
  let tokens = 0;
  let seconds = 0;
  for (const p of prompts) {
    const r = await model.generate(p, { maxTokens });
    tokens += r.ids.length;
    seconds += r.seconds;
    console.log(
      `  ${r.ids.length} tokens in ${r.seconds.toFixed(3)} s (${(r.ids.length / r.seconds).toFixed(0)} tokens/s, prompt ${r.promptIds.length} tokens, stopped: ${r.stopped}) ${JSON.stringify(r.text.slice(0, 60))}`,
    );
  }
  console.log(
    `greedy          ${tokens} tokens in ${seconds.toFixed(2)} s = ${(tokens / seconds).toFixed(0)} tokens/s (max ${maxTokens} new tokens a prompt; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs)`,
  );
  const other = await OrtModel.load(dir, undefined, threads);
  const t1 = performance.now();
  const pair = await Promise.all([model, other].map((m) => m.generate(prompts[0], { maxTokens })));
  const pairS = (performance.now() - t1) / 1000;
  const pairTokens = pair[0].ids.length + pair[1].ids.length;
  console.log(
    `two at once     ${pairTokens} tokens in ${pairS.toFixed(2)} s = ${(pairTokens / pairS).toFixed(0)} tokens/s together (${(pair[0].ids.length / pair[0].seconds).toFixed(0)} + ${(pair[1].ids.length / pair[1].seconds).toFixed(0)})`,
  );
  await model.dispose();
  await other.dispose();
}

void main();
