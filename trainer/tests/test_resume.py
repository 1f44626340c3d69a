"""Resume: a run stopped at step 2 and resumed to step 4 logs exactly the metrics of an uninterrupted run (CPU, fixed
seed), appending to the same events.jsonl."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import validate_run_dir

from trapo.train import Trainer

ROOT = Path(__file__).resolve().parents[1]


def _metrics(run_dir):
    out = {}
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["type"] == "metrics":
            # perf/ and system/ are not deterministic
            out[e["step"]] = {k: v for k, v in e["values"].items() if not k.startswith(("perf/", "system/"))}
    return out


def test_resumed_metrics_equal_uninterrupted(tiny_cfg, tmp_path):
    sets = {"train.steps": 4, "checkpoint.every": 2, "eval.every": 2}
    straight = tmp_path / "straight"
    Trainer(tiny_cfg(**sets), straight, log=lambda m: None).run()

    resumed = tmp_path / "resumed"
    Trainer(tiny_cfg(**{**sets, "train.steps": 2}), resumed, log=lambda m: None).run()
    Trainer(tiny_cfg(**sets), resumed, resume=True, log=lambda m: None).run()

    a, b = _metrics(straight), _metrics(resumed)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4]
    for step in (1, 2, 3, 4):
        assert a[step] == b[step], f"step {step} differs"
    events = validate_run_dir(resumed)
    starts = [e for e in events if e["type"] == "run_started"]
    assert [s["resumed_from_step"] for s in starts] == [None, 2]
    assert [e["status"] for e in events if e["type"] == "run_finished"] == ["finished", "finished"]
    assert json.loads((resumed / "run.json").read_text())["step"] == 4


def _spawn_train(cfg, run_dir):
    """`python -m trapo train` as a person starts it, its output unbuffered on one pipe."""
    return subprocess.Popen([sys.executable, "-m", "trapo", "train", "--config", str(cfg), "--run-dir", str(run_dir)],
                            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_cli_sigint_finishes_step_and_resume_continues(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("device: cpu\nmodel: {warmup: {enabled: false}, cache_dir: %s}\n"
                   "data: {train_size: 32, benchmark_size: 2}\nrollout: {max_new_tokens: 10}\n"
                   "train: {steps: 200, prompts_per_step: 2}\neval: {every: 0, at_start: false}\n"
                   "checkpoint: {every: 0, onnx: false}\n" % (tmp_path / "cache"))
    run_dir = tmp_path / "run"
    proc = _spawn_train(cfg, run_dir)
    try:
        deadline = time.time() + 600
        while time.time() < deadline:
            ev = run_dir / "events.jsonl"
            if ev.exists() and '"type":"metrics"' in ev.read_text():
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "stopped"
    stopped_at = run["step"]
    assert (run_dir / "checkpoints" / f"{stopped_at:06d}").is_dir()
    r = subprocess.run([sys.executable, "-m", "trapo", "train", "--run-dir", str(run_dir), "--resume",
                        "--max-steps", str(stopped_at + 1)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    events = validate_run_dir(run_dir)
    assert [e["step"] for e in events if e["type"] == "metrics"][-1] == stopped_at + 1
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"


def test_cli_sigint_during_the_warm_up_ends_stopped_and_resume_works(tmp_path):
    """Stop while the tiny model warms up (before the first step): the run ends `stopped` with no traceback, exit 0,
    the warm-up cache is not left half-written, and --resume starts it from step 0."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("device: cpu\nmodel: {warmup: {steps: 100000, check_every: 100000}, cache_dir: %s}\n"
                   "data: {train_size: 16, benchmark_size: 1}\nrollout: {max_new_tokens: 6}\n"
                   "train: {steps: 1, prompts_per_step: 2, threads: 1}\neval: {every: 0, at_start: false}\n"
                   "checkpoint: {every: 0, at_end: false, onnx: false}\n" % (tmp_path / "cache"))
    run_dir = tmp_path / "run"
    proc = _spawn_train(cfg, run_dir)
    seen = []
    killer = threading.Timer(300, proc.kill)  # never hang the suite if the warm-up line does not come
    killer.start()
    try:
        for line in proc.stdout:  # wait until the warm-up is under way
            seen.append(line)
            if "warm-up step" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
    out = "".join(seen) + out
    assert any("warm-up step" in x for x in seen), out
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    assert "interrupted during set-up" in out
    assert json.loads((run_dir / "run.json").read_text())["status"] == "stopped"
    events = validate_run_dir(run_dir)
    assert [e["status"] for e in events if e["type"] == "run_finished"] == ["stopped"]
    assert not (run_dir / "checkpoints").exists() or not any((run_dir / "checkpoints").iterdir())
    assert not list((tmp_path / "cache").glob("tiny-warmup-*/config.json"))  # no half-built base model cached
    # Resume with the warm-up off (fast): it starts from step 0 and finishes.
    r = subprocess.run([sys.executable, "-m", "trapo", "train", "--run-dir", str(run_dir), "--resume",
                        "--set", "model.warmup.enabled=false"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    events = validate_run_dir(run_dir)
    assert [e["step"] for e in events if e["type"] == "metrics"] == [1]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
