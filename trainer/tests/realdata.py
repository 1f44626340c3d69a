"""Fixtures for the real-data tests, made here: rows in the TRAPO and LUFFY layouts with R1-style <think>
solutions, written as parquet, JSONL and a `datasets` save_to_disk folder; evaluation files in the reference's
layout; and a small random-weight Qwen2 with a byte-level BPE tokenizer and a ChatML template, built with the
`tokenizers` library."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PROBLEMS = [
    {
        "question": "What is the sum of the first 10 positive odd integers?",
        "answer": "100",
        "solutions": [
            "<think>\nThe first 10 positive odd integers are 1, 3, 5, ..., 19.\n\nTheir sum is n^2 for n terms, so "
            "10^2 = 100.\n\nCheck: (1 + 19) * 10 / 2 = 100.\n</think>\n\nThe sum is $\\boxed{100}$.",
            "<think>\nPair them: 1 + 19 = 20, 3 + 17 = 20, and so on.\n\nThere are 5 pairs, so the sum is 5 * 20 = "
            "100.\n</think>\n\nSo the answer is \\boxed{100}.",
        ],
        "hints": [
            "The first 10 positive odd integers are 1, 3, 5, ..., 19.\n\nTheir sum is n^2 for n terms, so 10^2 = "
            "100.\n\nCheck: (1 + 19) * 10 / 2 = 100.",
            "Pair them: 1 + 19 = 20, 3 + 17 = 20, and so on.\n\nThere are 5 pairs, so the sum is 5 * 20 = 100.",
        ],
    },
    {
        "question": "Solve for $x$: $2x + 3 = 11$.",
        "answer": "4",
        "solutions": [
            "<think>\nSubtract 3 from both sides: 2x = 8.\n\nDivide by 2: x = 4.\n</think>\n\n$x = \\boxed{4}$",
            "<think>\nTry x = 4: 2 * 4 + 3 = 11. It works.\n\nThe equation is linear, so that is the only "
            "solution.\n</think>\n\n\\boxed{4}",
        ],
        "hints": [
            "Subtract 3 from both sides: 2x = 8.\n\nDivide by 2: x = 4.",
            "Try x = 4: 2 * 4 + 3 = 11. It works.\n\nThe equation is linear, so that is the only solution.",
        ],
    },
    {
        "question": "A rectangle has sides 3 and 4. What is the length of its diagonal?",
        "answer": "5",
        "solutions": [
            "<think>\nThe diagonal is the hypotenuse of a right triangle with legs 3 and 4.\n\nBy Pythagoras, "
            "d^2 = 9 + 16 = 25, so d = 5.\n</think>\n\nThe diagonal is $\\boxed{5}$.",
            "<think>\n3, 4, 5 is a Pythagorean triple.\n\nSo the diagonal is 5.\n</think>\n\n\\boxed{5}",
        ],
        "hints": [
            "The diagonal is the hypotenuse of a right triangle with legs 3 and 4.\n\nBy Pythagoras, d^2 = 9 + 16 "
            "= 25, so d = 5.",
            "3, 4, 5 is a Pythagorean triple.\n\nSo the diagonal is 5.",
        ],
    },
]
# a row whose solutions have no usable thought (filtered and counted)
NO_THOUGHT = {"question": "What is 1 + 1?", "answer": "2", "solutions": ["<think>\n\n</think>\n\n\\boxed{2}",
                                                                          "<think> </think>2"]}


def trapo_rows(with_no_thought: bool = True) -> list[dict]:
    """The layout of the reference's training parquet (Elliott/Openr1-Math-46k-8192)."""
    probs = PROBLEMS + ([NO_THOUGHT] if with_no_thought else [])
    return [{
        "data_source": "openr1",
        "prompt": [{"role": "user", "content": p["question"]}],
        "target": [{"role": "assistant", "content": p["solutions"][0]}],
        "ability": "math",
        "reward_model": {"ground_truth": p["answer"], "style": "rule"},
        "extra_info": {"index": i, "split": "default", "answer_list": p["solutions"], "uuid": f"u{i}"},
    } for i, p in enumerate(probs)]


def luffy_rows(with_no_thought: bool = True) -> list[dict]:
    """LUFFY's openr1.parquet: no answer_list, the expert is `target` as chat messages."""
    probs = PROBLEMS + ([NO_THOUGHT] if with_no_thought else [])
    return [{
        "data_source": "openr1",
        "prompt": [{"role": "user", "content": p["question"]}],
        "target": [{"role": "assistant", "content": p["solutions"][0]}],
        "ability": "math",
        "reward_model": {"ground_truth": p["answer"], "style": "rule"},
        "extra_info": {"index": i, "split": "default"},
    } for i, p in enumerate(probs)]


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_saved_dataset(path: Path, rows: list[dict]) -> Path:
    import datasets

    datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path


def eval_rows(data_source: str, problems: list[tuple[str, str]], repeats: int) -> list[dict]:
    """The reference's evaluation layout: a system + user chat, every problem's row `repeats` times."""
    system = {"role": "system", "content": "Your task is to follow a systematic, thorough reasoning process."}
    out = []
    for i, (q, a) in enumerate(problems):
        for _ in range(repeats):
            out.append({"data_source": data_source, "prompt": [system, {"role": "user", "content": q}],
                        "ability": "math", "reward_model": {"ground_truth": a, "style": "rule"},
                        "extra_info": {"index": i, "split": "default"}})
    return out


# ---------------------------------------------------------------------------------------------------------- model

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def build_qwen_like(out_dir: Path, vocab_size: int = 700) -> Path:
    """A random-weight Qwen2 (2 layers, width 64) with a byte-level BPE tokenizer trained on the fixture texts,
    ChatML special tokens and template, eos <|im_end|>, and generation_config.eos_token_id = [<|im_end|>,
    <|endoftext|>] (as Qwen2.5-Instruct models ship)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    from trapo.prompting import REFERENCE_INSTRUCTION
    from trapo.tokenizer_tiny import save_tokenizer

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [s for p in PROBLEMS for s in p["solutions"] + [p["question"]]] * 4 + [REFERENCE_INSTRUCTION,
                                                                                  "You are a helpful assistant."]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                        show_progress=False))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", additional_special_tokens=["<|im_start|>"],
                                   clean_up_tokenization_spaces=False)
    fast.chat_template = CHATML
    cfg = Qwen2Config(vocab_size=len(fast), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=1, intermediate_size=128, max_position_embeddings=1024,
                      eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg)
    model.generation_config = GenerationConfig(eos_token_id=[fast.convert_tokens_to_ids("<|im_end|>"),
                                                             fast.convert_tokens_to_ids("<|endoftext|>")],
                                               pad_token_id=fast.pad_token_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    save_tokenizer(fast, out_dir)
    return out_dir


_BUILT: dict = {}


def qwen_dir(tmp_path: Path) -> Path:
    """The random Qwen2 of build_qwen_like, built once per test process."""
    if "qwen" not in _BUILT or not (_BUILT["qwen"] / "config.json").exists():
        _BUILT["qwen"] = build_qwen_like(tmp_path / "qwen-like")
    return _BUILT["qwen"]
