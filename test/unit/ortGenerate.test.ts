// onnxruntime-node greedy generation in node equals the trainer's greedy generation (PyTorch, KV cache) for the same
// tiny checkpoint and prompt. The checkpoint (tiny Qwen2 + its tokenizer + chat template + model.onnx) is made by the
// trainer's own code (trapo.tiny, trapo.tokenizer_tiny, trapo.onnx_export, trapo.generation) and cached in the temp
// folder (about 30 s the first time, with a 60-step SFT warm-up). Skips, saying why, when trainer/.venv is missing.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OrtModel, OrtGenerateError, argmax, sample } from '../../src/ort/generate';
import { mulberry32 } from '../../src/core/bootstrap';

const root = join(__dirname, '..', '..');
const PYTHON = join(root, 'trainer', '.venv', 'bin', 'python');
const FIXTURE_VERSION = 2; // bump when the script below changes
const PROMPTS = ['What is 12 + 7? Please reason step by step, and put your final answer within \\boxed{}.', 'Héllo <b>wörld</b> 😀'];
const MAX_NEW = 24;

const SCRIPT = `
import json, sys
from pathlib import Path
import torch
from trapo.tokenizer_tiny import build_tiny_tokenizer, save_tokenizer
from trapo.tiny import build_tiny_model
from trapo.onnx_export import export_model_onnx
from trapo.generation import generate
from trapo.warmup import resolve_warmup, run_warmup
out = Path(sys.argv[1]); prompts = json.loads(sys.argv[2]); n = int(sys.argv[3])
tok = build_tiny_tokenizer()
model = build_tiny_model(tok, seed=0)
# A short SFT warm-up so that greedy decoding says something (a random model repeats one token).
run_warmup(model, tok, resolve_warmup({"steps": 60, "batch_size": 16}), seed=0)
model = model.eval()
model.save_pretrained(out)
save_tokenizer(tok, out)
export_model_onnx(model, out / "model.onnx")
results = []
for p in prompts:
    text = tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
    ids = tok(text, add_special_tokens=False).input_ids
    with torch.no_grad():
        gen = generate(model, [ids], max_new_tokens=n, temperature=0.0, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)[0]
    gen = [t for t in gen if t != tok.eos_token_id]
    results.append({"prompt": p, "prompt_ids": ids, "ids": gen, "text": tok.decode(gen, skip_special_tokens=True)})
print(json.dumps(results))
`;

interface Expected {
  prompt: string;
  prompt_ids: number[];
  ids: number[];
  text: string;
}

const noPython = !existsSync(PYTHON) && `no trainer Python environment at ${PYTHON} (create trainer/.venv to run this test)`;

describe('ORT greedy generation', { skip: noPython }, () => {
  const dir = join(tmpdir(), `trapo-ort-fixture-v${FIXTURE_VERSION}`);
  let expected: Expected[];

  before(() => {
    const done = join(dir, 'expected.json');
    if (!existsSync(done)) {
      mkdirSync(dir, { recursive: true });
      const out = execFileSync(PYTHON, ['-c', SCRIPT, dir, JSON.stringify(PROMPTS), String(MAX_NEW)], {
        cwd: join(root, 'trainer'),
        encoding: 'utf8',
        env: { ...process.env, PYTHONPATH: join(root, 'trainer'), HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' },
        maxBuffer: 16 << 20,
      });
      writeFileSync(done, out.trim().split('\n').pop()!);
    }
    expected = JSON.parse(readFileSync(done, 'utf8')) as Expected[];
  });

  it('tokenizes the chat-templated prompt as the trainer does and generates the same tokens greedily', async () => {
    const model = await OrtModel.load(dir);
    try {
      assert.ok(model.hasChatTemplate);
      for (const e of expected) {
        assert.deepEqual(model.encodePrompt(e.prompt), e.prompt_ids, `prompt ids of ${JSON.stringify(e.prompt)}`);
        const streamed: string[] = [];
        const r = await model.generate(e.prompt, { maxTokens: MAX_NEW }, (t) => streamed.push(t.text));
        assert.deepEqual(r.ids, e.ids, `greedy ids for ${JSON.stringify(e.prompt)}`);
        assert.equal(r.text, e.text);
        assert.equal(streamed.join(''), r.text, 'the streamed pieces add up to the text');
        assert.equal(r.stopped, e.ids.length < MAX_NEW ? 'eos' : 'max_tokens');
      }
    } finally {
      await model.dispose();
    }
  });

  it('stops when cancelled and samples reproducibly at a temperature', async () => {
    const model = await OrtModel.load(dir);
    try {
      let n = 0;
      const r = await model.generate(PROMPTS[0], { maxTokens: 20, isCancelled: () => n >= 3 }, () => n++);
      assert.equal(r.stopped, 'cancelled');
      assert.equal(r.ids.length, 3);
      const s1 = await model.generate(PROMPTS[0], { maxTokens: 8, temperature: 1, seed: 5 });
      const s2 = await model.generate(PROMPTS[0], { maxTokens: 8, temperature: 1, seed: 5 });
      assert.deepEqual(s1.ids, s2.ids);
    } finally {
      await model.dispose();
    }
  });

  it('says what is missing for a checkpoint without model.onnx', async () => {
    await assert.rejects(
      OrtModel.load(join(dir, 'nope')),
      (e: unknown) => e instanceof OrtGenerateError && /no ONNX export at .*nope[\\/]model\.onnx/.test(e.message),
    );
  });
});

describe('decoding helpers', () => {
  it('argmax takes the first of tied maxima, as torch.argmax does', () => {
    assert.equal(argmax([0.1, 0.7, 0.7, -1]), 1);
  });
  it('sampling at a tiny temperature picks the maximum; the sampler follows the weights', () => {
    const rand = mulberry32(1);
    assert.equal(sample([0, 5, 1], 1e-3, rand), 1);
    // logits [0, ln 3]: probabilities 1/4 and 3/4.
    let ones = 0;
    for (let i = 0; i < 4000; i++) ones += sample([0, Math.log(3)], 1, rand);
    assert.ok(Math.abs(ones / 4000 - 0.75) < 0.03, `share ${ones / 4000}`);
  });
});
