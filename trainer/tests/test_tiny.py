"""The embedded default: offline tokenizer, tiny Qwen2 model, prompt building, load_policy and the warm-up cache."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from trapo.prompting import REFERENCE_INSTRUCTION, build_prompt, prompt_text
from trapo.task import builtin_train_problems
from trapo.tokenizer_tiny import CHAT_TEMPLATE, IM_END, IM_START, build_tiny_tokenizer, save_tokenizer


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer()


def test_tokenizer_round_trip_and_specials(tok):
    assert tok.eos_token == IM_END and tok.pad_token == "<|pad|>" and tok.bos_token == "<|endoftext|>"
    assert len({tok.eos_token_id, tok.pad_token_id, tok.bos_token_id}) == 3
    assert len(tok.convert_tokens_to_ids([IM_START])) == 1
    for p in builtin_train_problems(20, seed=0):
        for text in [p.question, *p.solutions]:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            assert tok.decode(ids) == text
    odd = "héllo wörld ✓ 12\n\n\t{}"  # bytes never seen in training still encode and decode exactly
    assert tok.decode(tok(odd, add_special_tokens=False)["input_ids"]) == odd
    # every digit is its own piece (Qwen2's split regex): " 35" -> "Ġ", "3", "5"
    assert tok.convert_ids_to_tokens(tok(" 35", add_special_tokens=False)["input_ids"]) == ["Ġ", "3", "5"]


def test_tokenizer_is_deterministic(tok):
    assert build_tiny_tokenizer().backend_tokenizer.to_str() == tok.backend_tokenizer.to_str()


def test_prompt_uses_chat_template_and_instruction(tok):
    text = build_prompt(tok, "Compute 1 + 2.")
    assert text == f"<|im_start|>user\nCompute 1 + 2. {REFERENCE_INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n"
    assert prompt_text(f"Q? {REFERENCE_INSTRUCTION}") == f"Q? {REFERENCE_INSTRUCTION}"  # not repeated

    class NoTemplate:
        chat_template = None

    assert build_prompt(NoTemplate(), "Q?") == f"Question: Q? {REFERENCE_INSTRUCTION}\nAnswer: "


def test_saved_tokenizer_files(tok, tmp_path):
    from transformers import AutoTokenizer

    from trapo.tiny import tiny_config

    # with a config.json saying model_type qwen2 beside it, transformers 5 loads the tokenizer as Qwen2Tokenizer,
    # which rebuilds the pre-tokeniser: the saved tokenizer must tokenize exactly as the built one after that
    tiny_config(tok).save_pretrained(tmp_path)
    save_tokenizer(tok, tmp_path)
    cfg = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert cfg["chat_template"] == CHAT_TEMPLATE  # the extension reads it from here with @huggingface/jinja
    assert cfg["eos_token"] == IM_END
    assert (tmp_path / "tokenizer.json").exists()
    again = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    s = build_prompt(tok, "Compute 7 - 2 + 3 * 4.") + "3 * 4 = 12\n\n7 - 2 = 5 héllo ✓ 35"
    assert again(s)["input_ids"] == tok(s)["input_ids"]
    assert json.loads(again.backend_tokenizer.to_str())["pre_tokenizer"] == json.loads(
        tok.backend_tokenizer.to_str())["pre_tokenizer"]
    assert build_prompt(again, "Q") == build_prompt(tok, "Q")


def test_tiny_model_is_a_real_architecture(tok, tmp_path):
    from transformers import AutoModelForCausalLM, Qwen2ForCausalLM

    from trapo.tiny import build_tiny_model, param_count

    m = build_tiny_model(tok, seed=0)
    assert isinstance(m, Qwen2ForCausalLM)
    n = param_count(m)
    # embeddings 349 x 128 = 44,672 (tied); per layer: q 128x128+128, k,v 128x64+64 each, o 128x128, MLP 3x128x384,
    # two norms 2x128: 16,512 + 16,512 + 16,384 + 147,456 + 256 = 197,120; x4 = 788,480; final norm 128
    assert n == len(tok) * 128 + 4 * 197_120 + 128
    assert 500_000 < n < 2_000_000
    m2 = build_tiny_model(tok, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(m.parameters(), m2.parameters()))  # seeded
    m.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, local_files_only=True)
    ids = torch.tensor([[1, 2, 3]])
    assert torch.allclose(loaded(ids).logits, m(ids).logits)


def test_load_policy_tiny_warmup_cache(tmp_path):
    from trapo.models import load_policy

    settings = {"steps": 2, "batch_size": 4, "n_problems": 8}
    m1, t1, name1 = load_policy("tiny", device="cpu", warmup=settings, cache_dir=str(tmp_path))
    dirs = [d for d in tmp_path.iterdir() if d.name.startswith("tiny-warmup-")]
    assert len(dirs) == 1
    stamp = (dirs[0] / "model.safetensors").stat().st_mtime_ns
    m2, _, name2 = load_policy("tiny", device="cpu", warmup=settings, cache_dir=str(tmp_path))
    assert name1 == name2 and (dirs[0] / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    assert m1.dtype == torch.float32 and t1.padding_side == "left"
    # other settings -> another cache entry
    load_policy("tiny", device="cpu", warmup={**settings, "lr": 1e-3}, cache_dir=str(tmp_path))
    assert len([d for d in tmp_path.iterdir() if d.name.startswith("tiny-warmup-")]) == 2
    with pytest.raises(ValueError, match="unknown warm-up setting"):
        load_policy("tiny", device="cpu", warmup={"stepz": 1}, cache_dir=str(tmp_path))


def test_load_policy_tiny_without_warmup_and_hf_dir(tmp_path):
    from trapo.models import load_policy

    m, t, name = load_policy("tiny", device="cpu", warmup={"enabled": False})
    assert name == "tiny-qwen2"
    m.save_pretrained(tmp_path / "ckpt")
    save_tokenizer(t, tmp_path / "ckpt")
    m2, t2, name2 = load_policy(str(tmp_path / "ckpt"), device="cpu")
    assert name2 == str(tmp_path / "ckpt") and m2.dtype == torch.float32
    assert t2.eos_token_id == t.eos_token_id and t2.padding_side == "left"
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load_policy(str(tmp_path / "nope"), device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_policy(str(tmp_path / "empty"), device="cpu")
    with pytest.raises(ValueError, match="unknown dtype"):
        load_policy("tiny", device="cpu", dtype="int3", warmup={"enabled": False})


def test_warmup_stops_at_target_accuracy(tok, monkeypatch):
    from trapo import warmup
    from trapo.tiny import build_tiny_model

    model = build_tiny_model(tok, seed=0)
    base = {"batch_size": 2, "n_problems": 4, "steps": 6}
    # target 0: every step runs
    assert len(warmup.run_warmup(model, tok, {**base, "target_accuracy": 0.0}, seed=0)) == 6
    # a check that reports 30% at once: the warm-up ends at the first check (step 3 of at most 6)
    calls = []
    monkeypatch.setattr(warmup, "measure_accuracy", lambda *a, **k: calls.append(1) or 0.3)
    assert len(warmup.run_warmup(model, tok, {**base, "target_accuracy": 0.2, "check_every": 3}, seed=0)) == 3
    assert len(calls) == 1
    # 30% < a 50% target: checks at steps 3 and 6, all 6 steps run
    calls.clear()
    assert len(warmup.run_warmup(model, tok, {**base, "target_accuracy": 0.5, "check_every": 3}, seed=0)) == 6
    assert len(calls) == 2
