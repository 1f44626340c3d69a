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
    label: 'Real model: a Hugging Face model and LUFFY/TRAPO parquet data',
    detail: 'Opens a config with commented paths to fill in (model directory, training data, benchmarks).',
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

export const REAL_MODEL_TEMPLATE = `# TRAPO on a real model. Fill in the paths marked TODO, then run "TRAPO: Start TRAPO Run".
# Every key not written here takes its default; hover a key for its description.
name: math-trapo
algorithm: trapo            # trapo | grpo | sft | sft_then_rl | luffy | prefix_context | prefix_sft
device: auto                # auto = cuda when available
model:
  # TODO: a Hugging Face causal-LM directory (config.json, *.safetensors, tokenizer files, chat template),
  # e.g. a local copy of Qwen2.5-Math-1.5B.
  name_or_path: /path/to/Qwen2.5-Math-1.5B
  dtype: auto               # bfloat16 on GPU
  gradient_checkpointing: true
data:
  # TODO: training prompts in the LUFFY/TRAPO parquet layout (prompt, extra_info.answer_list, ground truth).
  train: /path/to/openr1_math_train.parquet
  # TODO: benchmark files (parquet or JSONL), one accuracy line each in the Benchmarks view.
  benchmarks:
    - /path/to/math500.parquet
    - /path/to/aime24.parquet
rollout:
  max_new_tokens: 4096
  temperature: 1.0
micro_group:
  threshold_kind: count     # count = the reference code's thresholds; mean = the paper's text
loss:
  alpha: 0.1                # trust region of TrSFT: prefix tokens with p < alpha are down-weighted
optim:
  lr: 1.0e-6
train:
  steps: 500
  prompts_per_step: 64
eval:
  every: 50
checkpoint:
  every: 50
  onnx: false               # ONNX export is for small models
distributed:
  strategy: fsdp2           # with the torchrun launcher (setting trapo.launcher)
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
