"""Generation throughput of the default engine (`TorchGenerator`) against transformers' `model.generate` on the
tiny model, same prompts, same sampling settings.

    trainer/.venv/bin/python trainer/bench/generation_speed.py [--prompts 64] [--max-new-tokens 64] [--threads 2]
        [--warm]   # the warmed-up base model (cached); default: random weights (every row runs to max length)

Prints generated tokens per second (EOS included) for each engine, best of --repeats runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warm", action="store_true")
    args = ap.parse_args()

    import torch

    from trapo.generation import TorchGenerator, left_pad
    from trapo.models import load_policy
    from trapo.prompting import build_prompt
    from trapo.task import builtin_train_problems

    torch.set_num_threads(args.threads)
    model, tok, name = load_policy("tiny", device="cpu", warmup={} if args.warm else {"enabled": False})
    problems = builtin_train_problems(args.prompts, seed=0)
    prompts = [tok(build_prompt(tok, p.question), add_special_tokens=False)["input_ids"] for p in problems]
    kw = dict(max_new_tokens=args.max_new_tokens, temperature=args.temperature, eos_token_id=tok.eos_token_id,
              pad_token_id=tok.pad_token_id)

    def ours():
        out = TorchGenerator().generate(model, prompts, generator=torch.Generator().manual_seed(0), **kw)
        return sum(len(o) for o in out)

    def hf():
        ids, mask, _ = left_pad(prompts, tok.pad_token_id, "cpu")
        with torch.inference_mode():
            out = model.generate(ids, attention_mask=mask, max_new_tokens=args.max_new_tokens, do_sample=True,
                                 temperature=args.temperature, top_k=0, top_p=1.0, eos_token_id=tok.eos_token_id,
                                 pad_token_id=tok.pad_token_id)
        new = out[:, ids.shape[1]:].tolist()
        # count tokens up to and including EOS per row, as ours does
        return sum((row.index(tok.eos_token_id) + 1) if tok.eos_token_id in row else len(row) for row in new)

    print(f"model {name}, {args.prompts} prompts, max {args.max_new_tokens} new tokens, temperature "
          f"{args.temperature}, {args.threads} threads")
    for label, fn in (("TorchGenerator", ours), ("model.generate", hf)):
        best = 0.0
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            n = fn()
            dt = time.perf_counter() - t0
            best = max(best, n / dt)
        print(f"{label:<16} {best:9.0f} tokens/s  ({n} tokens in the last run, {dt:.2f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
