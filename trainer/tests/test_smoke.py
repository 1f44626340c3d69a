"""Every algorithm trains a few steps on the tiny model: parameters change, every line validates, all metrics."""

import json

import pytest
import torch
from conftest import validate_run_dir

from trapo.config import ALGORITHMS
from trapo.runformat import read_rollouts
from trapo.train import REQUIRED_METRICS, Trainer


def _run(cfg, run_dir):
    trainer = Trainer(cfg, run_dir, log=lambda m: None)
    before = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
    status = trainer.run()
    after = dict(trainer.model.named_parameters())
    return trainer, status, before, after


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_trains_and_writes_valid_events(tiny_cfg, tmp_path, algorithm):
    extra = {"train.sft_steps": 1} if algorithm == "sft_then_rl" else {}
    cfg = tiny_cfg(algorithm=algorithm, **extra)
    run_dir = tmp_path / "run"
    trainer, status, before, after = _run(cfg, run_dir)
    assert status == "finished"
    unchanged = [k for k, v in before.items() if torch.equal(v, after[k].detach())]
    assert not unchanged, f"parameters that did not change: {unchanged}"
    events = validate_run_dir(run_dir)
    types = [e["type"] for e in events if e["type"] != "phase"]  # preparation's progress comes before run_started
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert events[-1]["status"] == "finished"
    metrics = [e for e in events if e["type"] == "metrics"]
    assert [m["step"] for m in metrics] == [1, 2]
    rl_steps = [m for m in metrics if not (algorithm == "sft" or (algorithm == "sft_then_rl" and m["step"] == 1))]
    for m in rl_steps:
        missing = set(REQUIRED_METRICS) - set(m["values"])
        assert not missing, f"step {m['step']} lacks {missing}"
        assert m["values"]["perf/generation_calls"] <= 4  # one batched call per stage, not one per prompt
        assert abs(sum(m["values"][f"prefix/level_{i}"] for i in range(4)) - 1.0) < 1e-9
    assert len([e for e in events if e["type"] == "prefix_allocation"]) == len(rl_steps)
    assert len([e for e in events if e["type"] == "rollouts"]) == len(rl_steps)
    assert [e["step"] for e in events if e["type"] == "checkpoint"] == [2]  # at_end
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "finished" and run["step"] == 2 and run["algorithm"] == algorithm


def test_trapo_rollouts_follow_the_stage_plan(tiny_cfg, tmp_path):
    # random weights solve nothing: S = 0 everywhere, so every prompt is guided up to the full expert (level 3)
    # a budget the longest expert solution fits (hints and the full-expert sample are cut to the response budget)
    cfg = tiny_cfg(**{"train.steps": 1, "logging.token_stats": "true", "eval.at_start": "true",
                      "rollout.max_new_tokens": 80})
    run_dir = tmp_path / "run"
    Trainer(cfg, run_dir, log=lambda m: None).run()
    events = validate_run_dir(run_dir)
    alloc = next(e for e in events if e["type"] == "prefix_allocation")
    for p in alloc["prompts"]:
        assert p["level"] == 3
        assert [(s["n"], s["ratio"], s["guided"]) for s in p["stages"]] == [(4, 0.0, False), (2, 0.25, True),
                                                                           (1, 0.5, True), (1, 1.0, True)]
    lines = [json.loads(x) for x in (run_dir / "rollouts" / "000001.jsonl").read_text().splitlines()]
    assert len(lines) == 2 * 8
    first = [x for x in lines if x["prompt_id"] == lines[0]["prompt_id"]]
    assert [x["stage"] for x in first] == [0, 0, 0, 0, 1, 1, 2, 3]
    assert [x["sft_owner"] for x in first] == [False] * 4 + [False, True, True, True]
    assert first[4]["prefix"] == first[5]["prefix"] != ""  # one prefix shared by the stage
    full = first[7]
    assert full["completion"] == "" and full["reward"] == 1.0  # the expert solution is right
    # advantage = R - mean: only the expert sample is right here, mean = 1/8 -> 0.875 and -0.125
    assert full["advantage"] == pytest.approx(1 - sum(x["reward"] for x in first) / 8)
    # trapo-run/1.1: per-token statistics as parallel arrays; the prompt once per group; summaries follow from them
    from trapo import compact_tokens

    assert "prompt" in first[0] and not any("prompt" in x for x in first[1:])
    assert all("token_stats" in x and "tokens" not in x and "mean_entropy" not in x for x in first)
    for x in first:
        toks = compact_tokens.decode(x["token_stats"], x["prefix"], x["completion"])
        summary = compact_tokens.summary(x["token_stats"], 0.1)
        assert len(toks) == summary["prefix_tokens"] + summary["completion_tokens"] == x["token_stats"]["n"]
        assert sum(t["prefix"] for t in toks) == summary["prefix_tokens"]
        assert summary["mean_entropy"] == pytest.approx(sum(t["entropy"] for t in toks) / len(toks))
    assert all(t["prefix"] for t in compact_tokens.decode(full["token_stats"], full["prefix"], full["completion"]))
    # the same step without token stats: the trainer's own summaries (full precision) agree with those of the arrays
    plain_cfg = tiny_cfg(**{"train.steps": 1, "eval.at_start": "true", "rollout.max_new_tokens": 80})
    Trainer(plain_cfg, tmp_path / "plain", log=lambda m: None).run()
    plain = read_rollouts(tmp_path / "plain" / "rollouts" / "000001.jsonl")
    with_stats = read_rollouts(run_dir / "rollouts" / "000001.jsonl")
    assert [x["completion"] for x in plain] == [x["completion"] for x in with_stats]  # same seed, same samples
    for a, b in zip(plain, with_stats):
        assert "token_stats" not in a and a["prompt"] == b["prompt"]
        derived = compact_tokens.summary(b["token_stats"], 0.1)
        assert a["completion_tokens"] == derived["completion_tokens"] and a["prefix_tokens"] == derived["prefix_tokens"]
        assert a["mean_entropy"] == pytest.approx(derived["mean_entropy"], rel=2e-3, abs=1e-3)
        if a["prefix_tokens"]:
            assert a["outside_trust_region"] == pytest.approx(derived["outside_trust_region"], abs=0.1)
        else:
            assert "outside_trust_region" not in a and "outside_trust_region" not in derived
    assert any(e["type"] == "eval" and e["step"] == 0 for e in events)


def test_failure_is_recorded_with_traceback(tiny_cfg, tmp_path, monkeypatch):
    cfg = tiny_cfg()
    run_dir = tmp_path / "run"
    trainer = Trainer(cfg, run_dir, log=lambda m: None)

    def boom(*a, **k):
        raise RuntimeError("rollout exploded")

    monkeypatch.setattr(trainer, "rollout", boom)
    with pytest.raises(RuntimeError):
        trainer.run()
    events = validate_run_dir(run_dir)
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "failed"
    assert events[-1]["error"]["message"] == "rollout exploded" and "Traceback" in events[-1]["error"]["traceback"]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"


def test_setup_failure_is_recorded(tmp_path):
    from trapo.config import load_config

    cfg = load_config(None, ["device=cpu", f"model.name_or_path={tmp_path / 'no-model'}"], check_files=False)
    with pytest.raises(Exception):  # noqa: B017 - whichever error a missing model raises: the test is that it is recorded
        Trainer(cfg, tmp_path / "run", log=lambda m: None)
    events = validate_run_dir(tmp_path / "run")
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "failed"
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


def test_a_stop_asked_before_a_step_starts_none_and_ends_stopped(tiny_cfg, tmp_path):
    cfg = tiny_cfg(**{"train.steps": 5})
    run_dir = tmp_path / "run"
    trainer = Trainer(cfg, run_dir, log=lambda m: None)
    trainer.stop_requested = True  # what the SIGINT handler sets
    assert trainer.run() == "stopped"
    events = validate_run_dir(run_dir)
    # The first rollout is droppable work: a stop already asked does not start it; nothing finished, nothing saved.
    assert [e["step"] for e in events if e["type"] == "metrics"] == []
    assert [e["step"] for e in events if e["type"] == "checkpoint"] == []
    assert events[-1]["status"] == "stopped"


def test_stop_requested_late_in_a_step_still_saves(tiny_cfg, tmp_path):
    # The SIGINT can arrive after the step decided it was not the last one (here: while its log line is written);
    # the run must still save that step before it ends `stopped`, or Resume would lose it.
    cfg = tiny_cfg(**{"train.steps": 5, "checkpoint.every": 0})
    holder = {}

    def log(message):
        if message.startswith("[trapo] step 2/"):
            holder["trainer"].stop_requested = True

    trainer = Trainer(cfg, tmp_path / "run", log=log)
    holder["trainer"] = trainer
    assert trainer.run() == "stopped"
    events = validate_run_dir(tmp_path / "run")
    assert [e["step"] for e in events if e["type"] == "metrics"] == [1, 2]
    assert [e["step"] for e in events if e["type"] == "checkpoint"] == [2]
    assert events[-1]["status"] == "stopped"


def test_heartbeat_thread_beats_with_the_current_phase(tmp_path):
    import time

    from trapo.runformat import RunWriter
    from trapo.train import HeartbeatThread, Sink

    writer = RunWriter.create(tmp_path / "run", name="hb", algorithm="trapo", config={})
    hb = HeartbeatThread(Sink(writer), every_s=0.05)
    hb.phase, hb.step = "train", 3
    hb.start()
    time.sleep(0.3)
    hb.stop_event.set()
    hb.join(1)
    writer.close()
    events = validate_run_dir(tmp_path / "run")
    beats = [e for e in events if e["type"] == "heartbeat"]
    assert len(beats) >= 2 and all(b["phase"] == "train" and b["step"] == 3 for b in beats)


@pytest.mark.parametrize("options", [
    {"loss.ppo_clip": "true", "loss.update_epochs": 2, "loss.kl_coef": 0.05},
    {"loss.normalization": "token", "loss.group_std": "true", "loss.filter_uniform_groups": "true"},
    {"loss.normalization": "sequence", "micro_group.threshold_kind": "mean",
     "micro_group.stages": "[{n: 4, ratio: 0}, {n: 2, ratio: 0.2, threshold: 0.5}, {n: 1, ratio: 0.5, threshold: 0.7},"
                           " {n: 1, ratio: 1.0, threshold: 0.9}]"},
], ids=["ppo-clip-kl", "token-std-filter", "sequence-paper-stages"])
def test_loss_options_run(tiny_cfg, tmp_path, options):
    cfg = tiny_cfg(**{"train.steps": 1, **options})
    trainer, status, before, after = _run(cfg, tmp_path / "run")
    assert status == "finished"
    events = validate_run_dir(tmp_path / "run")
    values = next(e for e in events if e["type"] == "metrics")["values"]
    assert not set(REQUIRED_METRICS) - set(values)
    if "loss.ppo_clip" in options:
        assert "policy/clip_frac" in values and values["loss/kl"] >= 0.0
