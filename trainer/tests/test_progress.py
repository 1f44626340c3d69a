"""Preparation before the first step is visible: `phase` events (load the model, warm the tiny model up, load the
data) with a fraction, throttled, ending where run_started begins."""

from __future__ import annotations

import json

from conftest import validate_run_dir

from trapo.progress import PhaseReporter
from trapo.runformat import schema_path
from trapo.train import Trainer


def _phase_fraction_description() -> str:
    schema = json.loads(schema_path("events.schema.json").read_text())
    return schema["$defs"]["phase"]["properties"]["fraction"]["description"]


def test_phase_reporter_throttles_progress_but_never_a_new_phase_or_the_end():
    now = [0.0]
    out = []
    r = PhaseReporter(out.append, clock=lambda: now[0], min_delta=0.1, min_interval_s=5.0)
    r("load_model", None, "loading")
    r("warmup", 0.0, "step 0")
    r("warmup", 0.05, "step 5")  # moved too little, too soon: dropped
    now[0] = 1.0
    r("warmup", 0.12, "step 12")  # moved enough
    now[0] = 7.0
    r("warmup", 0.13, "step 13")  # little, but 6 s since the last one
    r("warmup", 1.5, "done")  # clamped to 1 and always sent
    r("load_data", None, "data")
    assert [(e.phase, e.fraction) for e in out] == [("load_model", None), ("warmup", 0.0), ("warmup", 0.12),
                                                    ("warmup", 0.13), ("warmup", 1.0), ("load_data", None)]
    assert out[2].message == "step 12"


def test_a_run_that_warms_the_tiny_model_up_reports_its_progress_before_run_started(tiny_cfg, tmp_path):
    # A warm-up no shipped base has (6 steps of 4 sequences, no accuracy check): built here, in the test's cache.
    cfg = tiny_cfg(**{"model.warmup.enabled": "true", "model.warmup.steps": 6, "model.warmup.batch_size": 4,
                      "model.warmup.n_problems": 8, "model.warmup.target_accuracy": 0, "train.steps": 1})
    run_dir = tmp_path / "run"
    Trainer(cfg, run_dir, log=lambda m: None).run()
    events = validate_run_dir(run_dir)
    first_start = next(i for i, e in enumerate(events) if e["type"] == "run_started")
    before = events[:first_start]
    assert before and all(e["type"] == "phase" for e in before), [e["type"] for e in before]
    assert all(e["type"] != "phase" for e in events[first_start:])
    phases = [e["phase"] for e in before]
    assert phases[0] == "load_model" and phases[-1] == "load_data"
    warm = [e["fraction"] for e in before if e["phase"] == "warmup"]
    assert warm[-1] == 1.0 and warm == sorted(warm) and len(warm) >= 2, warm
    assert "of at most 6" in next(e["message"] for e in before if e["phase"] == "warmup")
    # Loading the model or the data has no fraction (no per-shard hook in transformers), as the schema says.
    assert all(e["fraction"] is None for e in before if e["phase"] != "warmup")
    described = _phase_fraction_description()
    assert "load_model and load_data are always null" in described and "warmup has a fraction" in described
    assert list((tmp_path / "cache").glob("tiny-warmup-*/config.json")), "the warmed-up base went to the cache"


def test_a_warm_up_that_stops_early_at_its_target_accuracy_still_reports_its_end(tmp_path, monkeypatch):
    # The fraction counts steps against the most the warm-up may take (10 here); one that reaches its target
    # accuracy at step 4 would otherwise leave "preparing 40%" on screen until run_started.
    import trapo.warmup
    from trapo.models import build_warm_tiny

    def stops_at_step_4(model, tokenizer, settings, *, seed, log=None, on_step=None):
        for step in range(1, 5):
            on_step(step, model)
        return [1.0] * 4

    monkeypatch.setattr(trapo.warmup, "run_warmup", stops_at_step_4)
    calls = []
    build_warm_tiny({"steps": 10, "batch_size": 4, "n_problems": 8, "target_accuracy": 0.5}, seed=0,
                    cache_dir=tmp_path, progress=lambda f, m: calls.append((f, m)))
    assert [f for f, _ in calls] == [0.1, 0.2, 0.3, 0.4, 1.0]
    assert calls[-1][1] == "warmed up the tiny base model in 4 steps (target accuracy reached)"
    assert list(tmp_path.glob("tiny-warmup-*/config.json"))
