"""A Stop never loses finished work, and never waits for work that can be dropped (trapo/stopping.py).

The first SIGINT during a rollout, a training pass (before its optimizer step) or an evaluation drops that work, saves
the last finished step and ends `stopped` within seconds; a resume from there logs what an uninterrupted run logs."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import validate_run_dir

from trapo import train as train_mod
from trapo.train import Trainer, install_sigint

ROOT = Path(__file__).resolve().parents[1]


def _metrics(run_dir):
    out = {}
    for e in validate_run_dir(run_dir):
        if e["type"] == "metrics":
            # perf/ and system/ are not deterministic
            out[e["step"]] = {k: v for k, v in e["values"].items() if not k.startswith(("perf/", "system/"))}
    return out


def _run_with_signals(trainer):
    """trainer.run() with the trainer's own SIGINT handler installed, as `python -m trapo train` runs it."""
    previous = install_sigint(trainer)
    try:
        return trainer.run()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def test_sigint_during_a_rollout_saves_the_step_before_and_the_resume_equals_an_uninterrupted_run(tiny_cfg,
                                                                                                   tmp_path):
    sets = {"train.steps": 3, "checkpoint.every": 0}
    straight = tmp_path / "straight"
    Trainer(tiny_cfg(**sets), straight, log=lambda m: None).run()

    run_dir = tmp_path / "stopped"
    trainer = Trainer(tiny_cfg(**sets), run_dir, log=lambda m: None)
    engine = trainer.engine
    original = engine.generate
    calls = {"n": 0}

    def generate(*args, **kw):  # the signal comes in the middle of step 2's rollout
        calls["n"] += 1
        if trainer.heartbeat.step == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return original(*args, **kw)

    engine.generate = generate
    assert _run_with_signals(trainer) == "stopped"
    events = validate_run_dir(run_dir)
    assert [e["step"] for e in events if e["type"] == "metrics"] == [1]
    assert [e["step"] for e in events if e["type"] == "checkpoint"] == [1], "the last finished step is saved"
    assert not (run_dir / "rollouts" / "000002.jsonl").exists(), "nothing of the dropped step is written"
    assert any("the rollout of step 2 was abandoned" in e.get("message", "") for e in events if e["type"] == "log")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "stopped"

    Trainer(tiny_cfg(**sets), run_dir, resume=True, log=lambda m: None).run()
    a, b = _metrics(straight), _metrics(run_dir)
    assert sorted(a) == sorted(b) == [1, 2, 3]
    for step in (1, 2, 3):
        assert a[step] == b[step], f"step {step} differs from the uninterrupted run"
    starts = [e["resumed_from_step"] for e in validate_run_dir(run_dir) if e["type"] == "run_started"]
    assert starts == [None, 1]


def test_sigint_during_a_training_pass_drops_the_step_before_its_optimizer_step(tiny_cfg, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    trainer = Trainer(tiny_cfg(**{"train.steps": 2, "train.micro_batch_size": 2}), run_dir, log=lambda m: None)
    original = train_mod.run_forward
    params = {}

    def forward(*args, **kw):  # the first micro-batch of step 2
        if trainer.heartbeat.step == 2 and not params:
            params["before"] = [p.detach().clone() for p in trainer.model.parameters()]
            os.kill(os.getpid(), signal.SIGINT)
        return original(*args, **kw)

    monkeypatch.setattr(train_mod, "run_forward", forward)
    assert _run_with_signals(trainer) == "stopped"
    events = validate_run_dir(run_dir)
    assert [e["step"] for e in events if e["type"] == "metrics"] == [1]
    assert [e["step"] for e in events if e["type"] == "checkpoint"] == [1]
    logs = [e.get("message", "") for e in events if e["type"] == "log"]
    assert any("the training pass of step 2 was abandoned" in m for m in logs)
    after = list(trainer.model.parameters())
    assert all((a == b).all() for a, b in zip(params["before"], after)), "no optimizer step was taken"


def test_sigint_during_a_long_evaluation_saves_the_trained_step_within_seconds_and_resume_continues(tmp_path):
    """`python -m trapo train` as the extension runs it: SIGINT while step 2's evaluation runs (64 problems x 4
    samples of up to 160 tokens on four benchmarks: far longer than the stop may take)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("device: cpu\nmodel: {warmup: {enabled: false}, cache_dir: %s}\n"
                   "data: {train_size: 32, benchmark_size: 64}\nrollout: {max_new_tokens: 10}\n"
                   "train: {steps: 4, prompts_per_step: 2, threads: 1}\n"
                   "eval: {every: 2, at_start: false, samples_per_problem: 4, max_new_tokens: 160}\n"
                   "checkpoint: {every: 0, onnx: false}\nlogging: {heartbeat_s: 0.2}\n" % (tmp_path / "cache"))
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "trapo", "train", "--config", str(cfg), "--run-dir", str(run_dir)],
                            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 600
        events = run_dir / "events.jsonl"
        while time.time() < deadline and proc.poll() is None:
            if events.exists() and any(json.loads(x).get("phase") == "eval" and json.loads(x)["step"] == 2
                                       for x in events.read_text().splitlines() if '"heartbeat"' in x):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before its evaluation"
        signalled = time.time()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=600)
        took = time.time() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    print(f"stop during the evaluation took {took:.1f} s")
    assert took < 30, f"the stop took {took:.1f} s: it waited for the evaluation"
    evs = validate_run_dir(run_dir)
    assert [e["step"] for e in evs if e["type"] == "eval"] == [], "the evaluation was abandoned, not finished"
    assert [e["step"] for e in evs if e["type"] == "metrics"] == [1, 2], "the trained step keeps its metrics"
    assert [e["step"] for e in evs if e["type"] == "checkpoint"] == [2]
    run = json.loads((run_dir / "run.json").read_text())
    assert (run["status"], run["step"]) == ("stopped", 2)
    assert not (run_dir / "evals" / "000002").exists(), "no half-written evaluation"
    r = subprocess.run([sys.executable, "-m", "trapo", "train", "--run-dir", str(run_dir), "--resume", "--max-steps",
                        "3", "--set", "eval.every=0"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    evs = validate_run_dir(run_dir)
    assert [e["resumed_from_step"] for e in evs if e["type"] == "run_started"] == [None, 2]
    assert [e["step"] for e in evs if e["type"] == "metrics"] == [1, 2, 3]
