"""`python -m trapo eval CKPT --run-dir RUN` (Evaluate Checkpoint in the extension): the run's settings, the
trainer's per-problem files in checkpoint_evals/, progress lines, refusals before loading, and a cancel that keeps
what finished."""

import json
from pathlib import Path

import pytest
from test_runformat import validate_run_dir

from trapo import eval_command
from trapo.__main__ import main
from trapo.checkpoint_evals import benchmark_digest, read_summary
from trapo.task import load_benchmark_file
from trapo.train import Trainer


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2-step tiny run that evaluated and saved a checkpoint at step 2."""
    from conftest import tiny_config

    tmp = tmp_path_factory.mktemp("ckpt-eval")
    cfg = tiny_config(tmp, **{"eval.every": 2, "eval.samples_per_problem": 2, "eval.temperature": 1.0})
    run_dir = tmp / "run"
    assert Trainer(cfg, run_dir, log=lambda m: None).run() == "finished"
    return run_dir


def _events(run_dir: Path) -> list:
    return [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines() if x.strip()]


def test_reproduces_the_trainers_evaluation_in_its_own_folder(run, capsys):
    ckpt = run / "checkpoints" / "000002"
    assert main(["eval", str(ckpt), "--run-dir", str(run), "--progress"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    (trainer_eval,) = [e for e in _events(run) if e["type"] == "eval" and e["step"] == 2]
    names = list(trainer_eval["benchmarks"])
    assert [x["type"] for x in lines] == ["start"] + ["progress", "benchmark"] * len(names) + ["result"]
    assert lines[0]["benchmarks"] == names and lines[0]["samples_per_problem"] == 2
    assert lines[-3]["problems_done"] == lines[0]["problems"]
    summary = read_summary(run, 2)
    for name, b in trainer_eval["benchmarks"].items():
        mine = summary["benchmarks"][name]
        # the same settings, seeds and model: the very same records as the trainer's evaluation of that step
        assert (run / mine["file"]).read_text() == (run / b["file"]).read_text()
        assert mine["file"] == f"checkpoint_evals/000002/{name}.jsonl"
        assert (mine["accuracy"], mine["n"], mine["samples_per_problem"]) == (b["accuracy"], b["n"], 2)
        assert mine["digest"] == b["digest"] and mine["source"] == b["source"] == f"builtin:{name}"
        assert mine["temperature"] == 1.0 and mine["max_new_tokens"] == 10
    assert summary["average"] == pytest.approx(trainer_eval["average"])
    assert validate_run_dir(run)["checkpoint_evals"] == 1


def test_a_benchmark_file_and_overrides(run, tmp_path, capsys):
    bench = tmp_path / "mini.jsonl"
    bench.write_text("".join(json.dumps({"problem": f"Compute {i} + 1.", "answer": str(i + 1)}) + "\n"
                             for i in range(3)))
    args = ["eval", str(run / "checkpoints" / "000002"), "--run-dir", str(run), "--benchmark", str(bench),
            "--set", "eval.samples_per_problem=3", "--chunk", "2", "--progress"]
    assert main(args) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["done"], x["total"]) for x in lines if x["type"] == "progress"] == [(2, 3), (3, 3)]
    entry = read_summary(run, 2)["benchmarks"]["mini"]
    assert (entry["n"], entry["samples_per_problem"], entry["source"]) == (3, 3, str(bench))
    assert entry["digest"] == benchmark_digest(load_benchmark_file(bench))
    rows = [json.loads(x) for x in (run / entry["file"]).read_text().splitlines()]
    assert [len(r["samples"]) for r in rows] == [3, 3, 3]
    # the earlier benchmarks of this step stay in the summary
    assert {"mini", "ops1"} <= set(read_summary(run, 2)["benchmarks"])


@pytest.mark.parametrize("args, words", [
    (["--run-dir", "{run}", "--step", "-1"], "--step: -1 is negative"),
    (["--run-dir", "{tmp}"], "holds no run"),
    (["--run-dir", "{run}", "--benchmark", "{tmp}/missing.parquet"], "file '{tmp}/missing.parquet' not found"),
    (["--run-dir", "{run}", "--set", "eval.samples_per_problem=0"], "eval.samples_per_problem"),
])
def test_bad_arguments_exit_2_with_one_line(run, tmp_path, capsys, args, words):
    ckpt = str(run / "checkpoints" / "000002")
    args = [a.format(run=run, tmp=tmp_path) for a in args]
    assert main(["eval", ckpt, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words.format(tmp=tmp_path) in err, err


def test_a_deleted_checkpoint_is_refused(run, capsys):
    assert main(["eval", str(run / "checkpoints" / "000007"), "--run-dir", str(run)]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_cancel_keeps_the_finished_benchmarks(run, tmp_path, monkeypatch, capsys):
    import shutil

    run2 = tmp_path / "run"
    shutil.copytree(run, run2)
    shutil.rmtree(run2 / "checkpoint_evals", ignore_errors=True)
    real = eval_command.write_benchmark
    calls = []

    def write_then_interrupt(*a, **kw):
        calls.append(a[3])
        if len(calls) == 2:
            raise KeyboardInterrupt  # as SIGINT lands: during the second benchmark
        return real(*a, **kw)

    monkeypatch.setattr(eval_command, "write_benchmark", write_then_interrupt)
    assert main(["eval", str(run2 / "checkpoints" / "000002"), "--run-dir", str(run2), "--progress"]) == 130
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert out[-1] == {"type": "cancelled", "step": 2, "finished": [calls[0]]}
    summary = read_summary(run2, 2)
    assert list(summary["benchmarks"]) == [calls[0]]
    assert not (run2 / "checkpoint_evals" / "000002" / f"{calls[1]}.jsonl").exists()
