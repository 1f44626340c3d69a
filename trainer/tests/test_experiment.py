"""The comparison experiment and its report: confidence intervals, reading run directories, the paper-shaped tables,
and the one command end to end on a tiny config (real trainer processes, two algorithms, one seed)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from trapo import report
from trapo.experiment import PlannedRun, command, plan, state


def test_mean_ci_uses_students_t():
    mean, hw = report.mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert hw == pytest.approx(4.303 * 1.0 / math.sqrt(3))  # sample sd 1, t(0.975, 2) = 4.303
    mean, hw = report.mean_ci([0.5, 0.7])
    assert mean == pytest.approx(0.6)
    assert hw == pytest.approx(12.706 * math.sqrt(0.02) / math.sqrt(2))
    assert report.mean_ci([0.4]) == (0.4, None)
    assert report.t975(100) == 1.96
    with pytest.raises(ValueError):
        report.mean_ci([])


def _write_run(root: Path, name: str, algorithm: str, seed: int, finals: dict, *, steps: int = 4,
               status: str = "finished", rewards=None, corrupt: bool = False, lr: float = 3e-4) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({"format": "trapo-run/1", "id": name, "name": name,
                                            "algorithm": algorithm, "status": status,
                                            "config": {"seed": seed, "algorithm": algorithm,
                                                       "train": {"steps": steps, "threads": seed + 1},
                                                       "optim": {"lr": lr}}}))
    lines = [{"v": 1, "type": "eval", "time": 0.0, "step": 0, "average": 0.2,
              "benchmarks": {b: {"accuracy": 0.2, "n": 4} for b in finals}}]
    rewards = rewards or [0.1 * (i + 1) for i in range(steps)]
    for i, r in enumerate(rewards, start=1):
        lines.append({"v": 1, "type": "metrics", "time": float(i), "step": i,
                      "values": {"reward/unguided_mean": r, "policy/entropy": 0.5, "response/mean_length": 20 + i,
                                 **{f"prefix/level_{k}": 0.25 for k in range(4)}}})
    if finals:
        lines.append({"v": 1, "type": "eval", "time": 9.0, "step": steps, "average": 0,
                      "benchmarks": {b: {"accuracy": a, "n": 4} for b, a in finals.items()}})
    text = "\n".join(json.dumps(x) for x in lines) + "\n"
    if corrupt:
        text = text.replace("\n", "\n{not json\n", 1)
    (d / "events.jsonl").write_text(text)
    return d


def test_load_run_reads_evals_curves_and_counts_bad_lines(tmp_path):
    d = _write_run(tmp_path, "grpo-seed0", "grpo", 0, {"ops1": 0.5, "ops2": 0.3}, steps=10, corrupt=True,
                   rewards=[0.0] * 9 + [1.0])
    r = report.load_run(d)
    assert (r.algorithm, r.seed, r.steps, r.total_steps) == ("grpo", 0, 10, 10)
    assert r.complete and r.skipped_lines == 1
    assert r.base == {"ops1": 0.2, "ops2": 0.2} and r.final == {"ops1": 0.5, "ops2": 0.3}
    assert r.evals == [(0, pytest.approx(0.2)), (10, pytest.approx(0.4))]
    assert r.tail_mean("reward/unguided_mean") == 1.0  # last 10% of 10 steps = the last step
    assert r.train_seconds == 9.0


def test_load_run_after_a_crash_and_a_resume_counts_every_step_once(tmp_path):
    """Steps 1..7 (eval and checkpoint at 5) then killed mid-line; resumed from 5, steps 6..10 again: the report
    reads each step once with the values of its last run; NaN values are read as NaN."""
    d = tmp_path / "trapo-seed0"
    d.mkdir()
    (d / "run.json").write_text(json.dumps({"format": "trapo-run/1", "id": "x", "name": "trapo-seed0",
                                            "algorithm": "trapo", "status": "finished",
                                            "config": {"seed": 0, "train": {"steps": 10}}}))

    def started(t, since):
        return {"v": 1, "type": "run_started", "time": t, "step": since or 0, "resumed_from_step": since}

    def metrics(t, step, reward, loss):
        return {"v": 1, "type": "metrics", "time": t, "step": step,
                "values": {"reward/unguided_mean": reward, "loss/total": loss}}

    def evaluation(t, step, acc):
        return {"v": 1, "type": "eval", "time": t, "step": step, "average": acc,
                "benchmarks": {"ops1": {"accuracy": acc, "n": 4}}}

    lines = [started(0.0, None), evaluation(0.5, 0, 0.1)]
    lines += [metrics(float(s), s, 0.0, 1.0) for s in range(1, 8)]
    lines.insert(7, evaluation(5.5, 5, 0.3))
    text = "\n".join(json.dumps(x) for x in lines) + "\n" + '{"v":1,"type":"metr' + "\n"  # torn, ended by the resume
    resumed = [started(100.0, 5)] + [metrics(100.0 + s, s, 1.0, "NaN" if s == 8 else 0.5) for s in range(6, 11)]
    resumed.append(evaluation(111.0, 10, 0.7))
    text += "\n".join(json.dumps(x) for x in resumed) + "\n"
    (d / "events.jsonl").write_text(text)
    r = report.load_run(d)
    assert [s for s, _ in r.curves["reward/unguided_mean"]] == list(range(1, 11))
    assert [v for _, v in r.curves["reward/unguided_mean"]] == [0.0] * 5 + [1.0] * 5, "re-run steps replace"
    loss = dict(r.curves["loss/total"])
    assert math.isnan(loss[8]) and loss[9] == 0.5
    assert r.evals == [(0, 0.1), (5, 0.3), (10, 0.7)]
    assert (r.steps, r.final_step, r.final, r.base) == (10, 10, {"ops1": 0.7}, {"ops1": 0.1})
    assert r.complete and r.skipped_lines == 1
    # A resume without a checkpoint (a later run_started with null) starts over from step 0.
    (d / "events.jsonl").write_text(text + json.dumps(started(200.0, None)) + "\n"
                                    + json.dumps(metrics(201.0, 1, 0.5, 0.5)) + "\n")
    r = report.load_run(d)
    assert r.curves["reward/unguided_mean"] == [(1, 0.5)] and r.evals == [(0, 0.1)] and r.steps == 1


def test_tables_give_mean_and_interval_over_seeds_and_leave_out_unfinished_runs(tmp_path):
    for seed, (a, b) in enumerate([(0.5, 0.1), (0.7, 0.3)]):
        _write_run(tmp_path, f"trapo-seed{seed}", "trapo", seed, {"ops1": a, "ops2": b})
        _write_run(tmp_path, f"grpo-seed{seed}", "grpo", seed, {"ops1": 0.4, "ops2": 0.2})
    _write_run(tmp_path, "sft-seed0", "sft", 0, {"ops1": 0.9, "ops2": 0.9}, status="stopped")
    results = [report.load_run(p) for p in report.find_runs(tmp_path)]
    t1 = report.table1(results)
    hw = 12.706 * math.sqrt(200) / math.sqrt(2)  # ops1 in %: 50, 70 -> sd sqrt(200)
    trapo_row = next(line for line in t1.splitlines() if line.startswith("| TRAPO"))
    assert f"60.0 ± {hw:.1f}" in trapo_row
    assert "**40.0 ± " in trapo_row  # average (30, 50) -> 40
    grpo_row = next(line for line in t1.splitlines() if line.startswith("| GRPO"))
    assert "40.0 ± 0.0" in grpo_row and "**30.0 ± 0.0**" in grpo_row
    sft_row = next(line for line in t1.splitlines() if line.startswith("| SFT |"))
    assert "| 0 |" in sft_row and "n/a" in sft_row  # the stopped run is not in the table
    t2 = report.table2(results)
    assert "32.3" in t2 and "56.6" in t2  # the paper's ladder beside ours


def test_paired_table_differences_by_seed(tmp_path):
    for seed, (t, g) in enumerate([(0.5, 0.4), (0.6, 0.3), (0.4, 0.45)]):
        _write_run(tmp_path, f"trapo-seed{seed}", "trapo", seed, {"ops1": t})
        _write_run(tmp_path, f"grpo-seed{seed}", "grpo", seed, {"ops1": g})
    _write_run(tmp_path, "sft-seed0", "sft", 0, {"ops1": 0.2})
    table = report.paired_table([report.load_run(p) for p in report.find_runs(tmp_path)])
    grpo = next(line for line in table.splitlines() if line.startswith("| grpo"))
    diffs = [10.0, 30.0, -5.0]
    mean, hw = report.mean_ci(diffs)
    assert f"+10.0, +30.0, -5.0 | {mean:+.1f} ± {hw:.1f} | 2 of 3 |" in grpo
    sft = next(line for line in table.splitlines() if line.startswith("| sft"))
    assert "| 1 | +30.0 | +30.0 | 1 of 1 |" in sft  # one common seed: no interval


def test_budget_is_described_from_the_runs_and_a_run_with_other_settings_is_named(tmp_path):
    _write_run(tmp_path, "grpo-seed0", "grpo", 0, {"ops1": 0.5}, steps=10)
    _write_run(tmp_path, "trapo-seed1", "trapo", 1, {"ops1": 0.5}, steps=10)  # other seed, algorithm, threads
    results = [report.load_run(p) for p in report.find_runs(tmp_path)]
    text = report.describe_budget(results)
    assert "10 steps" in text and "learning rate 0.0003" in text and "differ" not in text
    _write_run(tmp_path, "sft-seed0", "sft", 0, {"ops1": 0.5}, steps=10, lr=1e-3)
    results = [report.load_run(p) for p in report.find_runs(tmp_path)]
    assert report.describe_budget(results).endswith("differ from `grpo-seed0`: sft-seed0.")


def test_sampled_length_curve_leaves_out_sft_steps(tmp_path):
    d = _write_run(tmp_path, "sft_then_rl-seed0", "sft_then_rl", 0, {"ops1": 0.5}, steps=10)
    r = report.load_run(d)
    r.config["train"]["sft_steps"] = 6
    kept = report.rl_only(r)
    assert [s for s, _ in kept.curves["response/mean_length"]] == [7, 8, 9, 10]
    assert len(kept.curves["policy/entropy"]) == 10 and len(r.curves["response/mean_length"]) == 10
    sft = report.load_run(_write_run(tmp_path, "sft-seed0", "sft", 0, {"ops1": 0.5}, steps=10))
    assert report.rl_only(sft).curves["response/mean_length"] == []


def test_write_report_writes_tables_results_and_images(tmp_path):
    for seed in (0, 1):
        for alg in ("grpo", "trapo", "sft"):
            _write_run(tmp_path, f"{alg}-seed{seed}", alg, seed, {"ops1": 0.5 + 0.1 * seed}, steps=30)
    path = report.write_report(tmp_path, settings="Config `x.yaml`.")
    text = path.read_text()
    assert "## Table 1" in text and "## Table 2" in text and "Config `x.yaml`." in text
    data = json.loads((tmp_path / "report" / "results.json").read_text())
    assert data["summary"]["trapo"]["mean"] == pytest.approx(0.55)
    for name in ("curves-unguided-reward.png", "curves-level-shares.png", "curves-response-length.png",
                 "curves-entropy.png", "curves-benchmark-average.png"):
        png = tmp_path / "report" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"]({name})" in text


def test_plan_runs_costly_algorithms_first_and_state_follows_run_json(tmp_path):
    runs = plan(tmp_path, ["sft", "grpo", "trapo"], [0, 1])
    assert [r.name for r in runs][:2] == ["grpo-seed0", "trapo-seed0"]
    assert [r.algorithm for r in runs][-2:] == ["sft", "sft"]
    r = PlannedRun("grpo", 0, tmp_path / "grpo-seed0")
    assert state(r) == "new"
    r.run_dir.mkdir()
    (r.run_dir / "run.json").write_text(json.dumps({"status": "stopped"}))
    assert state(r) == "resume"
    cmd = command(r, Path("c.yaml"), ["optim.lr=1e-4"], threads=1, resume=True)
    assert "--resume" in cmd and "--config" not in cmd and "optim.lr=1e-4" not in cmd
    (r.run_dir / "run.json").write_text(json.dumps({"status": "finished"}))
    assert state(r) == "done"
    cmd = command(r, Path("c.yaml"), ["optim.lr=1e-4"], threads=2, resume=False)
    assert cmd[-2:] == ["--set", "train.threads=2"] and "algorithm=grpo" in cmd and "seed=0" in cmd


def _tiny_yaml(tmp_path: Path) -> Path:
    cfg = {"device": "cpu", "model": {"warmup": {"enabled": False}, "cache_dir": str(tmp_path / "cache")},
           "data": {"train_size": 16, "benchmark_size": 2},
           "rollout": {"max_new_tokens": 8},
           "train": {"steps": 2, "prompts_per_step": 2, "micro_batch_size": 6, "sft_steps": 1},
           "eval": {"every": 2, "samples_per_problem": 1},
           "checkpoint": {"every": 0, "onnx": False}, "logging": {"heartbeat_s": 0.2}}
    path = tmp_path / "cmp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _experiment(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "trapo", "experiment", "--out", str(tmp_path / "runs"),
                           "--config", str(_tiny_yaml(tmp_path)), *args],
                          capture_output=True, text=True, timeout=600)


def test_experiment_command_runs_every_pair_writes_the_report_and_skips_finished_runs(tmp_path):
    p = _experiment(tmp_path, "--algorithms", "grpo,sft_then_rl", "--seeds", "0", "--jobs", "2")
    assert p.returncode == 0, p.stdout + p.stderr
    root = tmp_path / "runs"
    for name in ("grpo-seed0", "sft_then_rl-seed0"):
        meta = json.loads((root / name / "run.json").read_text())
        assert meta["status"] == "finished" and meta["name"] == name
        assert (root / name / "logs" / "trainer.log").read_text().strip()
    text = (root / "report" / "report.md").read_text()
    grpo_row = next(line for line in text.splitlines() if line.startswith("| GRPO |"))
    assert "| 1 |" in grpo_row and "n/a" not in grpo_row
    again = _experiment(tmp_path, "--algorithms", "grpo,sft_then_rl", "--seeds", "0")
    assert again.returncode == 0 and "2 already finished" in again.stdout


def test_experiment_refuses_a_bad_override_before_starting_anything(tmp_path):
    p = _experiment(tmp_path, "--algorithms", "grpo", "--set", "optim.lr=-1")
    assert p.returncode == 2 and "optim.lr" in p.stderr
    assert not (tmp_path / "runs").exists()
    p = _experiment(tmp_path, "--algorithms", "grpo,ppo")
    assert p.returncode == 2 and "ppo" in p.stderr


def test_ctrl_c_stops_every_trainer_and_the_same_command_resumes_them(tmp_path):
    """SIGINT to the experiment: each trainer ends `stopped` (exit 130 overall); the same command then resumes the
    stopped runs in their own directories and finishes them."""
    import signal
    import time

    args = [sys.executable, "-m", "trapo", "experiment", "--out", str(tmp_path / "runs"), "--config",
            str(_tiny_yaml(tmp_path)), "--algorithms", "grpo,trapo", "--seeds", "0", "--set", "train.steps=80",
            "--no-report"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    events = [tmp_path / "runs" / f"{a}-seed0" / "events.jsonl" for a in ("grpo", "trapo")]
    deadline = time.time() + 300
    while time.time() < deadline and not all(e.exists() and '"type":"metrics"' in e.read_text() for e in events):
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    status = {a: json.loads((tmp_path / "runs" / f"{a}-seed0" / "run.json").read_text())["status"]
              for a in ("grpo", "trapo")}
    # a fast trainer may have finished its few steps before the signal; at least one was stopped mid-run
    assert set(status.values()) <= {"stopped", "finished"} and "stopped" in status.values(), (status, out)
    again = subprocess.run(args[:-1], capture_output=True, text=True, timeout=600)  # with the report this time
    assert again.returncode == 0, again.stdout + again.stderr
    for a, st in status.items():
        assert (f"resume {a}-seed0" in again.stdout) == (st == "stopped"), again.stdout
    for a in ("grpo", "trapo"):
        r = report.load_run(tmp_path / "runs" / f"{a}-seed0")
        assert r.status == "finished" and r.steps == 80
    assert (tmp_path / "runs" / "report" / "report.md").exists()
