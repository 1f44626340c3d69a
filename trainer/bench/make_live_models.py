"""Checkpoints for the live prompt benchmark (bench/live-prompt.ts): a random-weight model of Qwen2.5-0.5B's
architecture (24 layers, width 896, 14 query / 2 key-value heads, MLP 4864, vocabulary 151,936, tied embeddings;
494M parameters, about 2 GB in float32), with the small byte-level BPE tokenizer and ChatML template of the tests
(its 512 tokens cover any text; ids above them decode to nothing, which changes no timing).

    trainer/.venv/bin/python trainer/bench/make_live_models.py OUT_DIR      # writes OUT_DIR/qwen2.5-0.5b-random
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

QWEN25_05B = dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                  intermediate_size=4864, vocab_size=151936, max_position_embeddings=32768, rope_theta=1000000.0,
                  rms_norm_eps=1e-6, tie_word_embeddings=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    import torch
    from model_dirs import ENDOFTEXT, IM_END, bpe_tokenizer
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from trapo.tokenizer_tiny import save_tokenizer

    target = args.out / "qwen2.5-0.5b-random"
    if (target / "config.json").exists():
        print(target)
        return 0
    t0 = time.perf_counter()
    tok = bpe_tokenizer()
    cfg = Qwen2Config(**QWEN25_05B, eos_token_id=IM_END, pad_token_id=ENDOFTEXT)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg)
    model.generation_config.eos_token_id = [IM_END, ENDOFTEXT]
    model.generation_config.pad_token_id = ENDOFTEXT
    model.save_pretrained(target)
    save_tokenizer(tok, target)
    n = sum(p.numel() for p in model.parameters())
    print(f"{target}: {n:,} parameters, written in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
