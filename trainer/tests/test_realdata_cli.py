"""3-step runs through the CLI's entry point on every real-data layout, with the tiny model and with a random-weight
Qwen2 whose byte-level BPE tokenizer and chat template are built here: the rollout files' prefix texts are the
reference's cuts of the thought-only hints, run_started carries the reference prompt, benchmarks are avg@k."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import yaml
from realdata import (
    PROBLEMS,
    eval_rows,
    luffy_rows,
    qwen_dir,
    trapo_rows,
    write_jsonl,
    write_parquet,
    write_saved_dataset,
)

from trapo.__main__ import main
from trapo.micro_group import break_token_ids, prefix_cut_ids
from trapo.prompting import reference_prompt
from trapo.runformat import read_rollouts

BUDGET = 48
LAYOUTS = {
    "trapo-parquet": lambda d: write_parquet(d / "train.parquet", trapo_rows()),
    "luffy-parquet": lambda d: write_parquet(d / "openr1.parquet", luffy_rows()),
    "trapo-jsonl": lambda d: write_jsonl(d / "train.jsonl", trapo_rows()),
    "luffy-save_to_disk": lambda d: write_saved_dataset(d / "openr1_ds", luffy_rows()),
}


def _tokenizer(model: str):
    from trapo.models import load_policy

    return load_policy(model, device="cpu", warmup={"enabled": False})[1]


def _expected_prefix(tok, hint: str, ratio: float) -> str:
    ids = tok(hint, add_special_tokens=False)["input_ids"][:BUDGET] + [tok.eos_token_id]
    k = prefix_cut_ids(ids, ratio, break_token_ids(tok.get_vocab()))
    return tok.decode(ids[:k][:BUDGET], skip_special_tokens=True)


@pytest.mark.parametrize("model_kind", ["tiny", "qwen"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_three_steps_on_each_layout(tmp_path, capsys, layout, model_kind):
    data = LAYOUTS[layout](tmp_path)
    model = "tiny" if model_kind == "tiny" else str(qwen_dir(tmp_path))
    with_eval = layout == "trapo-parquet"  # one run per model also evaluates a file in the reference's layout
    bench = write_parquet(tmp_path / "valid.aime.parquet",
                          eval_rows("aime", [(p["question"], p["answer"]) for p in PROBLEMS[:2]], repeats=3))
    cfg = {
        "device": "cpu", "model": {"name_or_path": model, "warmup": {"enabled": False},
                                   "cache_dir": str(tmp_path / "cache")},
        "data": {"train": str(data), "benchmarks": [str(bench)] if with_eval else []},
        "rollout": {"max_new_tokens": BUDGET},
        "train": {"steps": 3, "prompts_per_step": 1, "micro_batch_size": 8, "threads": 1},
        "eval": {"every": 0, "at_start": with_eval, "samples_per_problem": 1},
        "checkpoint": {"every": 0, "at_end": False, "onnx": False},
        # the math-verify pool is exercised by the qwen runs; the tiny runs check in the main thread
        "reward": {"workers": 1 if model_kind == "qwen" else 0, "timeout_s": 30},
        "logging": {"heartbeat_s": 1},
    }
    (tmp_path / "c.trapo.yaml").write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    assert main(["train", "--config", str(tmp_path / "c.trapo.yaml"), "--run-dir", str(run)]) == 0
    log = capsys.readouterr().out
    assert "4 rows; 3 kept" in log and "1 without a usable thought" in log  # filtered and counted
    events = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()]
    started = next(e for e in events if e["type"] != "phase")  # the preparation's phase events come first
    assert started["type"] == "run_started"
    tok = _tokenizer(model)
    first_question = started["prompt_example"].split("<|im_start|>user\n")[1].split("\n")[0]
    assert started["prompt_example"] == reference_prompt(tok, first_question)
    assert "Please reason step by step" in started["prompt_example"] and "first prompt" in log
    metrics = [e for e in events if e["type"] == "metrics"]
    assert len(metrics) == 3 and all(m["values"]["reward/verify_timeouts"] == 0 for m in metrics)
    by_question = {p["question"]: p for p in PROBLEMS}
    checked = 0
    for step in (1, 2, 3):
        for r in read_rollouts(run / "rollouts" / f"{step:06d}.jsonl"):  # prompts filled in (trapo-run/1.1)
            problem = by_question[r["prompt"].split("<|im_start|>user\n")[1].split("\n")[0]]
            hints = problem["hints"] if layout.startswith("trapo") else problem["hints"][:1]
            if r["prefix_ratio"] == 0:
                assert r["prefix"] == ""
                continue
            hint = hints[1] if (r["prefix_ratio"] >= 1.0 and len(hints) > 1) else hints[0]
            assert r["prefix"] == _expected_prefix(tok, hint, r["prefix_ratio"])
            assert "<think>" not in r["prefix"] and "</think>" not in r["prefix"]  # the thought only
            checked += 1
    assert checked >= 3  # random weights are wrong: the guided stages ran
    if with_eval:
        ev = next(e for e in events if e["type"] == "eval")
        assert ev["benchmarks"]["aime"]["n"] == 2 and ev["benchmarks"]["aime"]["samples_per_problem"] == 3
        assert ev["benchmarks"]["aime"]["metric"] == "avg@3"
        recs = [json.loads(x) for x in (run / ev["benchmarks"]["aime"]["file"]).read_text().splitlines()]
        assert [len(r["samples"]) for r in recs] == [3, 3]
