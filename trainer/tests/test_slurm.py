"""Slurm on the trainer's side: run.json records the job it runs in, launch.json is read and validated, and
Slurm's notice before the time limit (SIGUSR1) stops the trainer the way a first Ctrl-C does: it finishes the step,
saves and ends `stopped`."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import validate_run_dir, validator

from trapo import signals
from trapo.runformat import RunWriter, read_launch_json, slurm_job_from_env
from trapo.train import install_sigint

ROOT = Path(__file__).resolve().parents[1]

SLURM_ENV = {"SLURM_JOB_ID": "4242", "SLURM_RESTART_COUNT": "1", "SLURM_JOB_NODELIST": "node[01-02]",
             "SLURM_CLUSTER_NAME": "c1"}


def test_slurm_job_from_env():
    assert slurm_job_from_env({}) is None
    assert slurm_job_from_env(SLURM_ENV) == {"job_id": "4242", "restart_count": 1, "node_list": "node[01-02]",
                                             "cluster": "c1"}
    arr = slurm_job_from_env({"SLURM_JOB_ID": "10", "SLURM_ARRAY_JOB_ID": "9", "SLURM_ARRAY_TASK_ID": "3"})
    assert arr["job_id"] == "9_3" and arr["restart_count"] == 0 and arr["cluster"] is None


def test_run_json_records_the_job_under_slurm_only(tmp_path, monkeypatch):
    for k in SLURM_ENV:
        monkeypatch.delenv(k, raising=False)
    plain = RunWriter.create(tmp_path / "plain", name="p", algorithm="trapo", config={})
    plain.close()
    assert "slurm" not in json.loads((tmp_path / "plain" / "run.json").read_text())

    for k, v in SLURM_ENV.items():
        monkeypatch.setenv(k, v)
    w = RunWriter.create(tmp_path / "r", name="r", algorithm="trapo", config={})
    w.set_status("stopped")
    w.close()
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    validator("run.schema.json").validate(info)
    assert info["slurm"]["job_id"] == "4242" and info["slurm"]["restart_count"] == 1

    # Resumed outside Slurm: the old job is not this process's.
    for k in SLURM_ENV:
        monkeypatch.delenv(k)
    RunWriter.open_existing(tmp_path / "r").close()
    assert "slurm" not in json.loads((tmp_path / "r" / "run.json").read_text())


def _launch(**over):
    info = {"format": "trapo-launch/1", "launcher": "slurm", "run_id": "20261201-120000-demo-ab12", "name": "demo",
            "algorithm": "trapo", "created_at": 1.0, "config_file": "/ws/demo.trapo.yaml", "total_steps": 250,
            "jobs": [{"job_id": "17", "submitted_at": 2.0, "script": "slurm/job-1.sbatch", "reason": "start",
                      "options": {"nodes": 2, "time": "04:00:00"}}]}
    info.update(over)
    return info


def test_launch_json_reader_and_schema(tmp_path):
    assert read_launch_json(tmp_path) is None
    (tmp_path / "launch.json").write_text(json.dumps(_launch()))
    info = read_launch_json(tmp_path)
    validator("launch.schema.json").validate(info)
    assert info["jobs"][0]["job_id"] == "17"
    for bad, field in ((_launch(format="trapo-launch/2"), "format"), (_launch(jobs=[{"job_id": "1"}]), "job"),
                       (_launch(name=3), "name")):
        (tmp_path / "launch.json").write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=field):
            read_launch_json(tmp_path)


def test_launch_schema_rejects_a_bad_job_id():
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        validator("launch.schema.json").validate(_launch(jobs=[{"job_id": "abc", "submitted_at": 1, "script": "s",
                                                                 "reason": "start"}]))


class _FakeTrainer:
    def __init__(self):
        self.stop_requested, self.logged = False, []

    def _log(self, message, level="info"):
        self.logged.append((level, message))


def test_notice_requests_the_stop_once_and_never_escalates():
    t = _FakeTrainer()
    previous = install_sigint(t)
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert t.stop_requested and len(t.logged) == 1 and "SIGUSR1" in t.logged[0][1]
        os.kill(os.getpid(), signal.SIGUSR1)  # the same notice again: ignored, no KeyboardInterrupt
        assert len(t.logged) == 1
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def test_a_signal_inside_the_writers_lock_does_not_deadlock(tmp_path):
    """The handler runs on the main thread, possibly while it holds the run writer's lock (emitting a step's
    events): it must not take that lock. Its line reaches events.jsonl from the heartbeat thread or the run's end."""
    from types import SimpleNamespace

    from trapo.train import Sink

    t = _FakeTrainer()
    t.sink = Sink(RunWriter.create(tmp_path / "r", name="r", algorithm="trapo", config={}))
    t.started, t.dist = True, SimpleNamespace(is_main=True)
    previous = install_sigint(t)
    try:
        with t.sink.lock:  # as inside Sink.emit
            os.kill(os.getpid(), signal.SIGUSR1)
            assert t.stop_requested
        t.sink.drain_notes()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        t.sink.call("close")
    logs = [json.loads(line) for line in (tmp_path / "r" / "events.jsonl").read_text().splitlines()]
    assert [e["message"] for e in logs if e["type"] == "log"] == [signals.notice_text(signal.SIGUSR1)]


def test_a_twin_interrupt_under_slurm_is_not_a_second_ctrl_c(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    signals.forget_interrupts()
    assert not signals.is_twin(signal.SIGINT)  # scancel --signal=INT: the Stop
    assert signals.is_twin(signal.SIGINT)  # its other copy (Slurm's and torchrun's), however late its handler runs
    assert signals.is_twin(signal.SIGINT)
    assert not signals.is_twin(signal.SIGTERM)  # scancel after it: stop now
    assert signals.is_twin(signal.SIGTERM)
    assert "scancel" in signals.stop_now_hint()
    monkeypatch.delenv("SLURM_JOB_ID")
    signals.forget_interrupts()
    assert not signals.is_twin(signal.SIGINT)
    assert not signals.is_twin(signal.SIGINT)  # outside Slurm a second Ctrl-C still means "stop now"
    assert "Ctrl-C again" in signals.stop_now_hint()


def test_early_notice_stops_before_the_trainer_starts(tiny_cfg, tmp_path):
    from trapo.train import run_training

    previous = signals.install_early_notice()
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        lines = []
        assert run_training(tiny_cfg(), tmp_path / "run", log=lines.append) == "stopped"
        assert not (tmp_path / "run" / "run.json").exists()
        assert any("before the trainer started" in line for line in lines)
    finally:
        signals.install_early_notice()  # forget the notice for the other tests
        for sig, old in previous.items():
            signal.signal(sig, old)


def test_cli_sigusr1_saves_and_stops_like_a_first_ctrl_c(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("device: cpu\nmodel: {warmup: {enabled: false}, cache_dir: %s}\n"
                   "data: {train_size: 32, benchmark_size: 2}\nrollout: {max_new_tokens: 10}\n"
                   "train: {steps: 200, prompts_per_step: 2}\neval: {every: 0, at_start: false}\n"
                   "checkpoint: {every: 0, onnx: false}\n" % (tmp_path / "cache"))
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "trapo", "train", "--config", str(cfg), "--run-dir", str(run_dir)],
                            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **SLURM_ENV},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 600
        while time.time() < deadline:
            ev = run_dir / "events.jsonl"
            if ev.exists() and '"type":"metrics"' in ev.read_text():
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGUSR1)
        proc.send_signal(signal.SIGUSR1)  # Slurm's and torchrun's copy: still one stop, with its save
        try:
            out, _ = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the trainer did not stop on SIGUSR1 within 600 s:\n" + proc.communicate()[0])
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "stopped" and run["slurm"]["job_id"] == "4242"
    assert (run_dir / "checkpoints" / f"{run['step']:06d}").is_dir(), out
    assert "Slurm's notice before the time limit" in out
    events = validate_run_dir(run_dir)
    assert [e["status"] for e in events if e["type"] == "run_finished"] == ["stopped"]
