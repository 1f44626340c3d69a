// Config templates offered by "Start TRAPO Run" (no vscode). They come from the trainer shipped inside the extension
// (trainer/trapo/configs/*.trapo.yaml) when it is there; DEMO_FALLBACK and REAL_MODEL_TEMPLATE otherwise.
// Both templates are checked against the trainer's config schema in test/unit/configValidation.test.ts.

export interface ConfigTemplate {
  id: 'demo' | 'real-model';
  label: string;
  detail: string;
  fileName: string;
  /** The file in trainer/trapo/configs/ of the shipped trainer, preferred over the built-in text. */
  shippedFile: string;
  /** Start right after creating it (the demo), or open it to fill in paths first (the real model). */
  startImmediately: boolean;
}

export const TEMPLATES: readonly ConfigTemplate[] = [
  {
    id: 'demo',
    label: 'Demo: the embedded tiny model on the arithmetic task',
    detail: 'Runs offline on a CPU in minutes; shows every view of the extension.',
    fileName: 'demo.trapo.yaml',
    shippedFile: 'demo.trapo.yaml',
    startImmediately: true,
  },
  {
    id: 'real-model',
    label: "Real model: the paper's run (a Qwen2.5-Math-class model, TRAPO/LUFFY data, six benchmarks)",
    detail: 'Opens a config with commented paths to fill in (model, training data, benchmarks); comments say what to change for 1.5B on one GPU.',
    fileName: 'real-model.trapo.yaml',
    shippedFile: 'real-model.trapo.yaml',
    startImmediately: false,
  },
];

export const DEMO_FALLBACK = `# TRAPO demo: the embedded tiny model learns the embedded arithmetic task on a CPU in minutes.
# Every key has a default (see the trainer's config schema; hover a key for its description).
name: demo
algorithm: trapo
model:
  name_or_path: tiny
  warmup:                 # the shipped demo's warm-up: its warmed-up base ships with the trainer (no wait)
    target_accuracy: 0.4
    level2_share: 0.5
data:
  train: builtin:arithmetic
  benchmarks: [builtin]
train:
  steps: 40
  prompts_per_step: 8
eval:
  every: 10
checkpoint:
  every: 20
`;

export const REAL_MODEL_TEMPLATE = `# TRAPO on a real model, with the paper's run as defaults (Qwen2.5-Math-7B class, the reference's released script).
# Fill in the paths marked TODO, then "TRAPO: Start TRAPO Run" (or: python -m trapo train --config FILE --run-dir DIR;
# torchrun --nproc-per-node 8 -m trapo train ... on a node of 8 GPUs, as the reference).
# Every key not written here takes its default, which is the reference's behaviour: its own ChatML prompt, hints =
# the <think> thought only, math-verify rewards, the token-id prefix cut, Dr.GRPO's constant normalisation.
#
# For a 1.5B model on ONE GPU (e.g. Qwen2.5-Math-1.5B, 80 GB): change what the lines marked [1.5B] say.
# Qwen2.5-Math models ship a 4096-token context window (max_position_embeddings): prompt + response must fit it,
# and the trainer refuses, before anything starts, a config whose longest prompt + response budget does not. The
# reference's script points at a copy of the 7B model with a 16k window, hence its 8192-token responses.
name: math-trapo
algorithm: trapo                 # trapo | grpo | sft | sft_then_rl | luffy | prefix_context | prefix_sft
seed: 0
device: auto                     # cuda when available (bfloat16)
model:
  # TODO: a Hugging Face causal-LM directory (config.json, *.safetensors, tokenizer files).
  name_or_path: /path/to/Qwen2.5-Math-7B        # [1.5B] /path/to/Qwen2.5-Math-1.5B
  dtype: auto                    # stored (weights + AdamW state): float32 master weights
  compute_dtype: auto            # computed: bfloat16 on the GPU (FSDP2 MixedPrecisionPolicy, fp32 reduction)
  gradient_checkpointing: true   # switches train.share_prompts off (set below to say so)
data:
  # TODO: training data in the TRAPO layout (the reference's Elliott/Openr1-Math-46k-8192 saved as parquet) or the
  # LUFFY layout (openr1.parquet); a JSONL file or a datasets save_to_disk folder with the same fields works too.
  train: /path/to/openr1.parquet
  max_prompt_length: 1024        # longer prompts are filtered out and counted (the reference's value)
  # TODO: the reference's evaluation files (its data/ folder). AIME24, AIME25 and AMC repeat every problem 32 times:
  # each becomes one problem with 32 samples, reported as avg@32; the others are pass@1 (eval.samples_per_problem).
  benchmarks:
    - /path/to/valid.aime.parquet            # AIME24
    - /path/to/valid.aime25.parquet          # AIME25
    - /path/to/valid.amc.parquet             # AMC
    - /path/to/valid.math.parquet            # MATH-500
    - /path/to/valid.minerva.parquet         # Minerva
    - /path/to/valid.olympiad_bench.parquet  # OlympiadBench
rollout:
  max_new_tokens: 8192           # the response budget: expert prefix + continuation  [1.5B] 3072 (4096 window)
  temperature: 1.0
micro_group:                     # the reference code's 8 samples: n 4/2/1/1, ratios 0/0.25/0.5/1.0, counts -/2/4/7
  stages:
    - {n: 4, ratio: 0.0, threshold: null}
    - {n: 2, ratio: 0.25, threshold: 2}
    - {n: 1, ratio: 0.5, threshold: 4}
    - {n: 1, ratio: 1.0, threshold: 7}
loss:
  alpha: 0.1                     # TrSFT trust region: prefix tokens with p < alpha get a damped gradient
  normalization: constant        # summed token losses / (L_max x processes), L_max = rollout.max_new_tokens
  entropy_coef: 0.001
optim:
  lr: 1.0e-6
train:
  steps: 500
  prompts_per_step: 8            # the released script's train_batch_size (x 8 samples = 64 sequences a step)
  micro_batch_size: 8            # rows per pass at most; the token budget below decides at 8k-token responses
  max_tokens_per_micro_batch: 16384  # rows x longest row per forward/backward pass (bounds activations and logits)
  share_prompts: false           # off with gradient checkpointing anyway (a replayed layer gets no KV cache)
eval:
  every: 50
  at_start: true
  samples_per_problem: 1         # pass@1 files; repeated-row files (AIME/AMC) get their 32 samples
  batch_size: 64                 # sequences generated at once (bounds the KV cache at 8k new tokens)
  temperature: 0.6
  max_new_tokens: 8192           # [1.5B] 3072
reward:
  timeout_s: 10                  # per answer; past it: scored 0, counted in reward/verify_timeouts
checkpoint:
  every: 50
  keep_last: 2
  onnx: false                    # the ONNX export is for small models
distributed:
  strategy: fsdp2                # with torchrun (the extension's trapo.launcher); [1.5B] one GPU: no torchrun needed
`;

/** A file name not in `taken`: demo.trapo.yaml, demo-2.trapo.yaml, ... */
export function freeFileName(fileName: string, taken: (name: string) => boolean): string {
  if (!taken(fileName)) return fileName;
  const m = /^(.*?)(\.trapo\.(?:ya?ml|json))$/.exec(fileName) ?? [fileName, fileName, ''];
  for (let i = 2; ; i++) {
    const candidate = `${m[1]}-${i}${m[2]}`;
    if (!taken(candidate)) return candidate;
  }
}
