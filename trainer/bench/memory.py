"""Peak memory of one training pass against response length, full logits vs the vocabulary-chunked head, on CPU.

    trainer/.venv/bin/python trainer/bench/memory.py [--lengths 1024 2048 4096] [--vocab 152064] [--rows 1]

A random-weight Qwen2 with Qwen's 152k vocabulary and a small body (hidden 256, 2 layers, untied head as in 7B) runs
the trainer's own pass (Trainer.train_batch: forward, TRAPO loss, backward, clipping; the optimizer step is left out,
it is the same either way) over `rows` rows of a 64-token prompt + L response tokens. Each figure comes from a fresh
process: peak resident memory (Linux VmHWM, reset just before the pass) minus the resident memory before it, with
glibc told to return large blocks to the system at once (MALLOC_MMAP_THRESHOLD_), so that RSS follows the tensors.
The parameter gradients (the same at every length) are subtracted and shown apart; the rest is the pass's transient
memory, given per token and per token x vocabulary. `full` = train.logprob_vocab_chunk 0, the model's full logits
(the way before this change); `chunked` = the default slices of 8192 vocabulary entries. A length whose full-logits
pass would not fit in the free memory is skipped and said so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT = 64


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def build_model(vocab: int, hidden: int = 256, layers: int = 2, seed: int = 0):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16384,
                      tie_word_embeddings=False, bos_token_id=0, eos_token_id=1, pad_token_id=2)
    return Qwen2ForCausalLM(cfg)


def token_batch(rows: int, length: int, vocab: int, seed: int = 0):
    """`rows` samples of one prompt (PROMPT tokens) + `length` continuation tokens, advantages of both signs."""
    import random

    from trapo.rollout import Sample, build_token_batch

    rng = random.Random(seed)
    prompt = [rng.randrange(3, vocab) for _ in range(PROMPT)]
    samples = []
    for j in range(rows):
        s = Sample(0, j, 0, False, 0.0, prompt, [], [rng.randrange(3, vocab) for _ in range(length)], False, False,
                   False)
        s.advantage = 0.5 if j % 2 == 0 else -0.5
        samples.append(s)
    return build_token_batch(samples, 2)


class _NoStep:
    """Stands in for AdamW: the measured pass is forward + backward (the optimizer's memory is the same either way)."""

    def __init__(self, params):
        self.params = list(params)

    def zero_grad(self, set_to_none: bool = True):
        for p in self.params:
            p.grad = None

    def step(self):
        pass


def measure_one(length: int, mode: str, vocab: int, rows: int, threads: int) -> dict:
    """Runs in its own process (see main)."""
    import gc

    import torch

    from trapo import distributed as D
    from trapo.config import load_config
    from trapo.train import Trainer

    torch.set_num_threads(threads)
    chunk = 0 if mode == "full" else 8192
    cfg = load_config(None, ["device=cpu", f"train.logprob_vocab_chunk={chunk}", "train.share_prompts=false",
                             f"train.micro_batch_size={rows}", f"rollout.max_new_tokens={length}"])
    model = build_model(vocab)
    trainer = Trainer.for_updates(cfg, model, D.DistInfo())
    trainer.optimizer = _NoStep(model.parameters())
    trainer.train_batch(token_batch(rows, 8, vocab, seed=1), "trapo", False)  # one-off allocations
    batch = token_batch(rows, length, vocab)
    trainer.optimizer.zero_grad()
    gc.collect()
    before = _status_kb("VmRSS") * 1024
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    trainer.train_batch(batch, "trapo", False)
    peak = _status_kb("VmHWM") * 1024
    grads = sum(p.numel() * p.element_size() for p in model.parameters())
    tokens = rows * (PROMPT + length)
    return {"length": length, "mode": mode, "tokens": tokens, "peak_above_start": peak - before, "param_grads": grads}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096])
    ap.add_argument("--vocab", type=int, default=152064)
    ap.add_argument("--rows", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", nargs="+", default=["full", "chunked"], choices=["full", "chunked"])
    ap.add_argument("--one", nargs=2, metavar=("LENGTH", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure_one(int(args.one[0]), args.one[1], args.vocab, args.rows, args.threads)))
        return
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
    v = args.vocab
    print(f"one training pass (forward + TRAPO loss + backward), random-weight Qwen2, vocabulary {v:,}, hidden 256, "
          f"2 layers, {args.rows} row(s) of {PROMPT} prompt + L response tokens, CPU, {args.threads} threads")
    print(f"{'L':>6} {'mode':>8} {'tokens':>7} {'peak-start MB':>14} {'grads MB':>9} {'rest MB':>8} "
          f"{'bytes/token':>12} {'bytes/token/V':>14}")
    for length in args.lengths:
        for mode in args.modes:
            tokens = args.rows * (PROMPT + length)
            need = (24 if mode == "full" else 2) * tokens * v + 2 * 10**9
            if need > _available_bytes():
                print(f"{length:>6} {mode:>8} {tokens:>7}   skipped: needs about {need / 1e9:.1f} GB, "
                      f"{_available_bytes() / 1e9:.1f} GB free")
                continue
            r = subprocess.run([sys.executable, __file__, "--one", str(length), mode, "--vocab", str(v), "--rows",
                                str(args.rows), "--threads", str(args.threads)], env=env, capture_output=True,
                               text=True)
            if r.returncode != 0:
                print(f"{length:>6} {mode:>8} failed: {r.stderr.strip().splitlines()[-1:]}")
                continue
            m = json.loads(r.stdout.strip().splitlines()[-1])
            rest = m["peak_above_start"] - m["param_grads"]
            print(f"{length:>6} {mode:>8} {m['tokens']:>7} {m['peak_above_start'] / 2**20:>14.0f} "
                  f"{m['param_grads'] / 2**20:>9.0f} {rest / 2**20:>8.0f} {rest / m['tokens']:>12,.0f} "
                  f"{rest / m['tokens'] / v:>14.2f}", flush=True)
    print("rest = peak above the start of the pass minus the parameter gradients: activations, logits and their "
          "gradients; goal for the logits: <= 2 bytes/token/V")


if __name__ == "__main__":
    main()
