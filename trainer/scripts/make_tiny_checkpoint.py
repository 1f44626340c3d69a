"""Write a small Hugging Face checkpoint directory (tiny Qwen2 + its tokenizer + model.onnx) and print, as JSON on
stdout, the greedy completion of a prompt, so that a test in another language (the VS Code extension's
onnxruntime-node + @huggingface/tokenizers + @huggingface/jinja path) can check that it produces the same thing.

    trainer/.venv/bin/python trainer/scripts/make_tiny_checkpoint.py OUT_DIR [--question "Compute 7 - 2 + 3 * 4."]
        [--max-new-tokens 24] [--seed 0] [--warmup {none,default}]

--warmup none (the default) writes the randomly initialised model with its weights scaled by 3 (peaked, varied
next-token distributions, so greedy decoding exercises many tokens), in seconds; --warmup default writes the
warmed-up base model of `load_policy("tiny")` (cached; minutes the first time), whose completions look like answers.
Output JSON: question, prompt (the chat-templated text), prompt_ids, completion_ids, completion (text, special
tokens included), eos_token_id, max_new_tokens, onnx_max_abs_diff.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--question", default="Compute 7 - 2 + 3 * 4.")
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", choices=["none", "default"], default="none")
    args = ap.parse_args(argv)

    import torch

    from trapo.generation import TorchGenerator
    from trapo.models import load_policy
    from trapo.onnx_export import export_onnx, verify_onnx
    from trapo.prompting import build_prompt
    from trapo.tokenizer_tiny import save_tokenizer

    torch.manual_seed(args.seed)
    if args.warmup == "none":
        model, tok, _ = load_policy("tiny", device="cpu", seed=args.seed, warmup={"enabled": False})
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(3.0)
    else:
        model, tok, _ = load_policy("tiny", device="cpu", seed=args.seed, warmup={},
                                    log=lambda m: print(m, file=sys.stderr))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out_dir)
    save_tokenizer(tok, args.out_dir)
    export_onnx(args.out_dir)
    diff = verify_onnx(args.out_dir)

    prompt = build_prompt(tok, args.question)
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    out = TorchGenerator().generate(model, [ids], max_new_tokens=args.max_new_tokens, temperature=0.0,
                                    eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)[0]
    print(json.dumps({
        "question": args.question,
        "prompt": prompt,
        "prompt_ids": ids,
        "completion_ids": out,
        "completion": tok.decode(out, skip_special_tokens=False),
        "eos_token_id": tok.eos_token_id,
        "max_new_tokens": args.max_new_tokens,
        "onnx_max_abs_diff": diff,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
