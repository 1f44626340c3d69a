"""Stopping and lengths (docs/algorithm.md §7.4): every id of generation_config.eos_token_id stops a row and nothing
after it gets loss or reward; guided samples' prefix + continuation fit the response budget together; the prompt +
response check against the model's context window."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from test_generation import EOS, PAD, CountingLM
from transformers import GenerationConfig

from trapo.generation import Generator, TorchGenerator
from trapo.micro_group import Stage
from trapo.models import stop_token_ids
from trapo.rollout import build_token_batch, cut_at_stop, make_prompt_item, sample_step
from trapo.task import Problem


def test_generation_stops_on_the_second_stop_id():
    # CountingLM: next token = last + 1. From 2: 3, 4, 5, ... -> with stop ids [9, 5] the row ends on 5
    out = TorchGenerator().generate(CountingLM(), [[2], [6]], max_new_tokens=8, temperature=0.0,
                                    eos_token_id=[EOS, 5], pad_token_id=PAD)
    assert out == [[3, 4, 5], [7, 8, 9]]  # the second row ends on the first id (9), the first on the second (5)
    single = TorchGenerator().generate(CountingLM(), [[2]], max_new_tokens=8, temperature=0.0, eos_token_id=EOS,
                                       pad_token_id=PAD)
    assert single == [[3, 4, 5, 6, 7, 8, 9]]  # a single id still works


def test_stop_token_ids_reads_generation_config(tmp_path):
    class Tok:
        eos_token_id = 7

    class Model:
        generation_config = GenerationConfig(eos_token_id=[5, 7, 11])

    assert stop_token_ids(Tok(), Model()) == [7, 5, 11]  # the tokenizer's eos first, no duplicates
    (tmp_path / "generation_config.json").write_text('{"eos_token_id": 3}')
    assert stop_token_ids(Tok(), tmp_path) == [7, 3]
    assert stop_token_ids(Tok(), None) == [7]
    assert cut_at_stop([1, 2, 3, 9, 4, 5], {3, 9}) == [1, 2, 3]


class ToyTokenizer:
    """Characters as ids (a..z = 1..26, space 27, \\n 28), eos 30, <|endoftext|> 31: enough for sample_step."""

    eos_token_id, pad_token_id = 30, 0
    CH = {**{chr(96 + i): i for i in range(1, 27)}, " ": 27, "\n": 28, "{": 40, "}": 41, "\\": 42, "5": 43}
    INV = {v: k for k, v in CH.items()}

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [self.CH[c] for c in text]}

    def decode(self, ids, skip_special_tokens=False):
        return "".join(self.INV.get(i, "" if skip_special_tokens else f"<{i}>") for i in ids)

    def get_vocab(self):
        return {**self.CH, "<eos>": 30, "<eot>": 31}


class RunsOnEngine(Generator):
    """An engine that ignores stop ids (as a buggy or foreign engine might) and records its calls."""

    def __init__(self, tail):
        self.tail, self.calls = tail, []

    def generate(self, model, prompts, *, max_new_tokens, temperature, eos_token_id, pad_token_id, generator=None):
        self.calls.append((max_new_tokens, list(eos_token_id)))
        return [list(self.tail)[:max_new_tokens] for _ in prompts]


def test_nothing_after_a_stop_id_gets_loss_or_reward():
    tok = ToyTokenizer()
    problem = Problem("p", "q", ["ab ab ab ab"], "5")
    item = make_prompt_item(tok, problem, lambda t, q: "qq", max_response=20)
    # the continuation "\boxed{5}" comes only AFTER the second stop id (31): it must not count
    engine = RunsOnEngine([1, 2, 31] + tok("\\boxed{5}")["input_ids"])
    ro = sample_step(None, tok, [item], [Stage(2, 0.0, None)], engine=engine,
                     score=lambda text, truth: (1.0 if "5" in text else 0.0, None), max_new_tokens=20,
                     temperature=1.0, generator=None, stop_ids=[30, 31], prefix_rule="reference")
    assert engine.calls[0][1] == [30, 31]  # every stop id reaches the engine
    for s in ro.samples:
        assert s.completion_ids == [1, 2, 31] and s.reward == 0.0 and not s.truncated
    batch = build_token_batch(ro.samples, 0)
    assert int(batch.continuation[0].sum()) == 3  # a, b and the stop id: nothing after it


def test_prefix_and_continuation_share_the_response_budget():
    tok = ToyTokenizer()
    hint = "abcdefghijklmnopqrst"  # 20 tokens
    item = make_prompt_item(tok, Problem("p", "q", [hint], "5"), lambda t, q: "qq", max_response=12)
    assert item.solution_ids[0] == tok(hint[:12])["input_ids"]  # hints are cut to the budget on the right
    engine = RunsOnEngine(list(range(1, 27)))
    # every sample guided with ratio 0.5 (S = 0 < 1): prefix = floor(0.5 * 13) = 6 tokens of 12 + EOS
    ro = sample_step(None, tok, [item], [Stage(1, 0.0, None), Stage(1, 0.5, 1), Stage(1, 1.0, 1)], engine=engine,
                     score=lambda text, truth: (0.0, None), max_new_tokens=12, temperature=1.0, generator=None,
                     stop_ids=[30], prefix_rule="reference")
    unguided, half, full = ro.samples
    assert len(unguided.completion_ids) == 12 and unguided.truncated
    assert len(half.prefix_ids) == 6 and len(half.prefix_ids) + len(half.completion_ids) == 12 and half.truncated
    assert engine.calls[1][0] == 6  # the guided stage's continuation may only fill what the prefix left
    assert half.prefix_text + half.completion_text == "abcdef" + tok.decode(list(range(1, 7)))
    # the full-expert sample is the hint + EOS, cut to the budget: 12 hint tokens, the EOS falls off
    assert full.full_expert and full.prefix_ids == tok(hint[:12])["input_ids"] and not full.completion_ids


def test_context_window_is_checked_before_anything_starts(tmp_path):
    from realdata import qwen_dir, trapo_rows, write_parquet

    from trapo.config import ConfigError, load_config
    from trapo.models import load_policy
    from trapo.pipeline import build_pipeline

    model_dir = qwen_dir(tmp_path)
    data = write_parquet(tmp_path / "train.parquet", trapo_rows())
    model, tok, _ = load_policy(str(model_dir), device="cpu")
    cfg = load_config(None, [f"model.name_or_path={model_dir}", f"data.train={data}", "data.benchmarks=[]",
                             "rollout.max_new_tokens=1000", "reward.workers=0"])
    with pytest.raises(ConfigError, match=r"rollout.max_new_tokens: the longest training prompt \(\d+ tokens\) \+ "
                                          r"the response budget \(1000\) = \d+ tokens exceeds the model's context "
                                          r"window \(1024"):
        build_pipeline(cfg, tok, model, log=lambda m: None)
    cfg = load_config(None, [f"model.name_or_path={model_dir}", f"data.train={data}", "data.benchmarks=[]",
                             "rollout.max_new_tokens=64", "data.max_prompt_length=10", "reward.workers=0"])
    with pytest.raises(ConfigError, match="data.max_prompt_length: .*every prompt is longer than 10 tokens"):
        build_pipeline(cfg, tok, model, log=lambda m: None)
    logs = []
    cfg = load_config(None, [f"model.name_or_path={model_dir}", f"data.train={data}", "data.benchmarks=[]",
                             "rollout.max_new_tokens=64", "reward.workers=0"])
    pipe = build_pipeline(cfg, tok, model, log=logs.append)
    assert len(pipe.problems) == 3 and pipe.stop_ids == [tok.eos_token_id, tok.convert_tokens_to_ids("<|endoftext|>")]
    assert any("1 without a usable thought" in m for m in logs)
    pipe.close()


def test_a_benchmark_left_with_no_problem_is_refused_not_scored(tmp_path):
    # An empty benchmark has no accuracy (0 / 0): it would show as 0% (or "NaN", which the eval event's schema
    # refuses), so the pipeline refuses it before anything starts, naming the key that emptied it.
    from realdata import eval_rows, qwen_dir, write_jsonl

    from trapo.config import ConfigError, load_config
    from trapo.models import load_policy
    from trapo.pipeline import build_pipeline

    model_dir = qwen_dir(tmp_path)
    model, tok, _ = load_policy(str(model_dir), device="cpu")
    problems = [("What is 2 + 3?", "5"), ("What is 4 * 4?", "16")]
    bench = write_jsonl(tmp_path / "valid.ops.jsonl", eval_rows("ops", problems, 1))
    base = [f"model.name_or_path={model_dir}", f"data.benchmarks=[{bench}]", "rollout.max_new_tokens=64",
            "reward.workers=0"]
    pipe = build_pipeline(load_config(None, base), tok, model, train=False, log=lambda m: None)
    assert [len(ps) for ps in pipe.benchmarks.values()] == [2]
    pipe.close()
    with pytest.raises(ConfigError, match=r"^config error: data.max_prompt_length: benchmark ops: .*2 prompt over "
                                          r"max_prompt_length: no problem left to evaluate; fix: raise "
                                          r"data.max_prompt_length"):
        build_pipeline(load_config(None, base + ["data.max_prompt_length=5"]), tok, model, train=False,
                       log=lambda m: None)
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "no problem column"}] * 2)
    cfg = load_config(None, [f"model.name_or_path={model_dir}", f"data.benchmarks=[{bad}]", "data.skip_bad_rows=true",
                             "rollout.max_new_tokens=64", "reward.workers=0"])
    with pytest.raises(ConfigError, match=r"^config error: data.benchmarks: benchmark bad: .*2 skipped as bad.*: no "
                                          r"problem left to evaluate"):
        build_pipeline(cfg, tok, model, train=False, log=lambda m: None)
