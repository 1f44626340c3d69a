// Benchmark: the Compare panel's live prompt, time to first token and tokens/s, through the trainer's service
// (`python -m trapo serve`, the extension's ServeClient) and through onnxruntime-node in process, side by side.
//
//   node --import tsx bench/live-prompt.ts [--tiny DIR] [--big DIR] [--max-tokens 64] [--threads N] [--rounds 3]
//                                          [--device cpu|cuda|cuda:N|auto] [--python PY]
//
// --device: where the service runs the models (`trapo serve --device`; default cpu, so that figures of two machines
// compare; cuda for the GPU figures: the checkpoints then load in the run's dtype or bf16). onnxruntime-node always
// runs on the CPU.
// --tiny: a checkpoint with model.onnx (default: the fixture of test/unit/ortGenerate.test.ts, $TMPDIR/trapo-ort-
// fixture-v2; run that test first). --big: a random-weight model of Qwen2.5-0.5B's architecture, made by
// `trainer/.venv/bin/python trainer/bench/make_live_models.py DIR` (service only: ONNX is exported below 30M
// parameters). Greedy, chat template, the same prompts on both paths; the first generation of each path is a warm-up.
// Time to first token counts from the request to the first token (prompt encoding, prefill, one sampling step);
// tokens/s is new tokens over the whole request. "both sides" is what the panel does: A and B answer at once.
import { spawn } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import * as path from 'node:path';
import { OrtModel } from '../src/ort/generate';
import { GenerateEvent, ServeClient } from '../src/core/serveClient';

const args = process.argv.slice(2);
const flag = (name: string, dflt: string | undefined) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const TINY = flag('--tiny', path.join(tmpdir(), 'trapo-ort-fixture-v2'))!;
const BIG = flag('--big', undefined);
const MAX = Number(flag('--max-tokens', '64'));
const THREADS = Number(flag('--threads', String(Math.max(1, Math.floor(cpus().length / 2)))));
const ROUNDS = Number(flag('--rounds', '3'));
const DEVICE = flag('--device', 'cpu')!;
const PYTHON = flag('--python', path.join(__dirname, '..', 'trainer', '.venv', 'bin', 'python'))!;
const PROMPTS = [
  'What is 12 + 7? Please reason step by step, and put your final answer within \\boxed{}.',
  'Compute 3 * (4 + 5). Please reason step by step, and put your final answer within \\boxed{}.',
  'Compute 48 - 19. Please reason step by step, and put your final answer within \\boxed{}.',
];

interface Sample {
  ttft: number;
  tokens: number;
  seconds: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

function summary(label: string, samples: Sample[]): string {
  const tok = samples.reduce((s, x) => s + x.tokens, 0);
  const sec = samples.reduce((s, x) => s + x.seconds, 0);
  return `${label.padEnd(44)} first token ${(1000 * median(samples.map((s) => s.ttft))).toFixed(0).padStart(6)} ms (median of ${samples.length})   ${(tok / sec).toFixed(1).padStart(7)} tokens/s   (${tok} tokens)`;
}

async function ortRuns(): Promise<string[]> {
  const t0 = performance.now();
  const a = await OrtModel.load(TINY, undefined, THREADS);
  const b = await OrtModel.load(TINY, undefined, THREADS);
  const load = (performance.now() - t0) / 1000;
  const one = async (m: OrtModel, p: string): Promise<Sample> => {
    const start = performance.now();
    let first = 0;
    const r = await m.generate(p, { maxTokens: MAX }, () => {
      first ||= performance.now();
    });
    return { ttft: (first - start) / 1000, tokens: r.ids.length, seconds: (performance.now() - start) / 1000 };
  };
  await one(a, PROMPTS[0]);
  const single: Sample[] = [];
  const both: Sample[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const p of PROMPTS) {
      single.push(await one(a, p));
      both.push(...(await Promise.all([one(a, p), one(b, p)])));
    }
  }
  await a.dispose();
  await b.dispose();
  return [
    `onnxruntime-node: two sessions loaded in ${load.toFixed(2)} s (${THREADS} thread${THREADS > 1 ? 's' : ''} each)`,
    summary('  tiny, onnxruntime-node, one side', single),
    summary('  tiny, onnxruntime-node, both sides at once', both),
  ];
}

async function serviceRuns(label: string, ckpt: string, withBoth: boolean): Promise<string[]> {
  const t0 = performance.now();
  const proc = spawn(PYTHON, ['-m', 'trapo', 'serve', '--device', DEVICE, '--threads', String(THREADS)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const client = await ServeClient.start(proc);
  const ready = (performance.now() - t0) / 1000;
  const la = await client.load('a', ckpt);
  const lb = withBoth ? await client.load('b', ckpt) : undefined;
  const gen = async (slots: string[], prompt: string): Promise<Sample[]> => {
    const done: Sample[] = [];
    const g = client.generate({ slots, prompt, max_tokens: MAX, temperature: 0, seed: 0, prompt_mode: 'chat' }, (e: GenerateEvent) => {
      if (e.type === 'done') done.push({ ttft: e.first_token_seconds ?? NaN, tokens: e.tokens, seconds: e.seconds });
    });
    await g.result;
    return done;
  };
  await gen(['a'], PROMPTS[0]);
  const single: Sample[] = [];
  const both: Sample[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const p of PROMPTS) {
      single.push(...(await gen(['a'], p)));
      if (withBoth) both.push(...(await gen(['a', 'b'], p)));
    }
  }
  await client.shutdown();
  const out = [
    `service (${label}, ${client.ready.device}): ready in ${ready.toFixed(1)} s (Python, torch, transformers imported); ${la.model.split('/').pop()} loaded in ${la.seconds.toFixed(2)} s` +
      (lb ? `, second copy in ${lb.seconds.toFixed(2)} s` : '') +
      ` (${la.parameters.toLocaleString()} parameters, ${la.dtype})`,
    summary(`  ${label}, trainer service, one side`, single),
  ];
  if (withBoth) out.push(summary(`  ${label}, trainer service, both sides at once`, both));
  return out;
}

async function main(): Promise<void> {
  const lines: string[] = [];
  lines.push(
    `live prompt: greedy, chat template, ${MAX} new tokens at most, ${PROMPTS.length} prompts x ${ROUNDS} rounds; service on --device ${DEVICE}; ${cpus().length} CPUs, load average ${loadavg()[0].toFixed(1)} at start`,
  );
  lines.push(...(await ortRuns()));
  lines.push(...(await serviceRuns('tiny', TINY, true)));
  if (BIG) lines.push(...(await serviceRuns('0.5B random', BIG, false)));
  lines.push(`load average ${loadavg()[0].toFixed(1)} at the end`);
  console.log(lines.join('\n'));
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
