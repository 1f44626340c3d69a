"""The run format trapo-run/1.1 (and the 1 it extends) on the Python side: the writer's output validates against the
shipped schemas, and the committed fixtures (read by the TypeScript tests) are exactly what the writer produces today,
so a field renamed on this side only fails here."""

from __future__ import annotations

import filecmp
import json
import math
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from trapo.runformat import (
    BenchmarkResult,
    Checkpoint,
    Eval,
    Heartbeat,
    Metrics,
    RunFinished,
    RunWriter,
    decode_number,
    event_to_dict,
    read_events,
    read_rollouts,
    read_run_json,
    schema_path,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "test" / "fixtures" / "runs"
FORMATS = REPO / "test" / "fixtures" / "rollout-formats"


def _validator(name: str) -> jsonschema.Validator:
    schema = json.loads(schema_path(name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


RUN = _validator("run.schema.json")
EVENT = _validator("events.schema.json")
ROLLOUT = _validator("rollout.schema.json")
EVAL = _validator("eval.schema.json")
CHECKPOINT_EVAL = _validator("checkpoint_eval.schema.json")


def validate_run_dir(run_dir: Path, allow_torn_tail: bool = False) -> dict:
    """Validates every file of a run directory against the schemas; returns counts by event type."""
    RUN.validate(json.loads((run_dir / "run.json").read_text()))
    counts: dict = {}
    lines = (run_dir / "events.jsonl").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" or allow_torn_tail, "events.jsonl must end with a newline"
    for i, line in enumerate(lines):
        if not line:
            continue
        if allow_torn_tail and i == len(lines) - 1:
            continue
        event = json.loads(line)
        EVENT.validate(event)
        counts[event["type"]] = counts.get(event["type"], 0) + 1
        if event["type"] == "rollouts":
            rows = (run_dir / event["file"]).read_text(encoding="utf-8").splitlines()
            assert len(rows) == event["count"]
            for row in rows:
                ROLLOUT.validate(json.loads(row))
        if event["type"] == "eval":
            for bench in event["benchmarks"].values():
                rows = (run_dir / bench["file"]).read_text(encoding="utf-8").splitlines()
                assert len(rows) == bench["n"]
                for row in rows:
                    EVAL.validate(json.loads(row))
    for summary in sorted((run_dir / "checkpoint_evals").glob("*.json")):
        data = json.loads(summary.read_text(encoding="utf-8"))
        CHECKPOINT_EVAL.validate(data)
        assert summary.name == f"{data['step']:06d}.json"
        for bench in data["benchmarks"].values():
            rows = (run_dir / bench["file"]).read_text(encoding="utf-8").splitlines()
            assert len(rows) == bench["n"]
            for row in rows:
                EVAL.validate(json.loads(row))
        counts["checkpoint_evals"] = counts.get("checkpoint_evals", 0) + 1
    return counts


def test_fixtures_validate_against_schemas():
    runs = sorted(p for p in FIXTURES.iterdir() if p.is_dir())
    assert len(runs) == 4
    for run_dir in runs:
        counts = validate_run_dir(run_dir, allow_torn_tail="crashed" in run_dir.name)
        assert counts["run_started"] == 1
        assert counts["metrics"] >= 5


def test_fixtures_cover_every_event_type():
    schema = json.loads(schema_path("events.schema.json").read_text())
    names = {ref["$ref"].rsplit("/", 1)[1] for ref in schema["oneOf"]}
    seen = set()
    for run_dir in FIXTURES.iterdir():
        seen |= set(validate_run_dir(run_dir, allow_torn_tail="crashed" in run_dir.name))
    assert seen == names | {"checkpoint_evals"}


def test_committed_fixtures_equal_a_fresh_generation(tmp_path):
    out, formats = tmp_path / "runs", tmp_path / "formats"
    subprocess.run([sys.executable, str(REPO / "trainer" / "scripts" / "make_fixtures.py"), "--out", str(out),
                    "--formats-out", str(formats)], check=True, capture_output=True)

    def compare(a: Path, b: Path) -> None:
        cmp = filecmp.dircmp(a, b)
        assert not cmp.left_only and not cmp.right_only, f"{a}: files differ: {cmp.left_only} vs {cmp.right_only}"
        _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
        assert not mismatch and not errors, (
            f"{a}: {mismatch or errors} differ from a fresh generation; run `python trainer/scripts/make_fixtures.py`"
        )
        for sub in cmp.common_dirs:
            compare(a / sub, b / sub)

    compare(FIXTURES, out)
    compare(FORMATS, formats)


def test_writer_round_trip_and_atomic_run_json(tmp_path):
    clock = iter(range(100, 1000)).__next__
    w = RunWriter.create(tmp_path / "r", name="t", algorithm="grpo", config={"a": 1}, total_steps=3,
                         clock=lambda: float(clock()))
    w.emit(Metrics(values={"loss/total": 1.5, "reward/mean": float("nan"), "x/int": 3, "loss/kl": float("inf"),
                           "loss/policy": float("-inf"), "x/none": None}), step=1)
    w.emit(Checkpoint(path="checkpoints/000001", onnx=None, bytes=10), step=1)
    w.set_status("finished")
    w.emit(RunFinished(status="finished"), step=1)
    w.close()
    counts = validate_run_dir(tmp_path / "r")
    assert counts == {"metrics": 1, "checkpoint": 1, "run_finished": 1}
    events, skipped = read_events(tmp_path / "r")
    assert skipped == 0
    # NaN and the infinities have no JSON literal: they are written as tokens the schema names, the line stays
    # parseable by any JSON reader and keeps its other values; None is no value and is left out.
    assert events[0]["values"] == {"loss/total": 1.5, "reward/mean": "NaN", "x/int": 3, "loss/kl": "Infinity",
                                   "loss/policy": "-Infinity"}
    decoded = {k: decode_number(v) for k, v in events[0]["values"].items()}
    assert math.isnan(decoded["reward/mean"]) and decoded["loss/kl"] == math.inf and decoded["loss/policy"] == -math.inf
    line = (tmp_path / "r" / "events.jsonl").read_text().splitlines()[0]
    assert "NaN" in line and "null" not in line
    assert events[0]["time"] == 101.0 and events[0]["step"] == 1
    info = read_run_json(tmp_path / "r")
    assert info["status"] == "finished" and info["format"] == "trapo-run/1.1"
    assert not list((tmp_path / "r").glob(".run.json.tmp-*")), "temp file left behind"


def test_eval_accuracy_is_always_a_finite_number():
    # Unlike a metric, an accuracy has no non-finite token in the schema (the TypeScript reader refuses one too,
    # test/unit/runFormat.test.ts): the only 0/0, a benchmark with no problem, is refused before the run starts
    # (tests/test_stop_ids.py). A "NaN" written anyway would cost the whole eval line.
    def line(accuracy: float, average: float) -> dict:
        bench = BenchmarkResult(accuracy=accuracy, n=2, samples_per_problem=1, file="evals/000001/ops.jsonl")
        return event_to_dict(Eval(benchmarks={"ops": bench}, average=average), step=1, now=1.0)

    EVENT.validate(line(0.5, 0.5))
    for accuracy, average in ((float("nan"), 0.5), (0.5, float("nan")), (float("inf"), 0.5)):
        bad = line(accuracy, average)
        assert "NaN" in json.dumps(bad) or "Infinity" in json.dumps(bad)
        assert not EVENT.is_valid(bad), bad


def test_create_refuses_an_existing_run(tmp_path):
    RunWriter.create(tmp_path / "r", name="t", algorithm="trapo", config={}).close()
    with pytest.raises(FileExistsError, match="--resume"):
        RunWriter.create(tmp_path / "r", name="t", algorithm="trapo", config={})


def test_resume_appends_and_ends_a_torn_line(tmp_path):
    w = RunWriter.create(tmp_path / "r", name="t", algorithm="trapo", config={})
    w.emit(Heartbeat(phase="train"), step=1)
    w.close()
    with open(tmp_path / "r" / "events.jsonl", "a") as fh:
        fh.write('{"v":1,"type":"metr')  # killed mid-write
    w = RunWriter.open_existing(tmp_path / "r")
    w.emit(Heartbeat(phase="rollout"), step=2)
    w.close()
    events, skipped = read_events(tmp_path / "r")
    assert [e["step"] for e in events] == [1, 2]
    assert skipped == 1  # the torn line, now terminated, is skipped and counted, not fatal
    assert read_run_json(tmp_path / "r")["status"] == "running"


def test_schema_rejects_a_renamed_field():
    good = {"v": 1, "type": "rollouts", "time": 1.0, "step": 3, "file": "rollouts/000003.jsonl", "count": 8}
    EVENT.validate(good)
    renamed = dict(good)
    renamed["n"] = renamed.pop("count")
    with pytest.raises(jsonschema.ValidationError):
        EVENT.validate(renamed)
    assert math.isfinite(good["time"])


def test_fixtures_hold_both_format_versions():
    formats = {json.loads((d / "run.json").read_text())["format"] for d in FIXTURES.iterdir()}
    assert formats == {"trapo-run/1", "trapo-run/1.1"}
    legacy = FIXTURES / "20261118-100000-fixture-crashed-a003" / "rollouts" / "000001.jsonl"
    assert all(not {"token_stats", "completion_tokens"} & set(json.loads(x)) for x in legacy.read_text().splitlines())
    read_run_json(legacy.parents[1])  # a 1.1 reader reads a 1 run


def test_token_stats_read_back_as_the_old_per_token_objects():
    from trapo import compact_tokens

    old = [json.loads(x) for x in (FORMATS / "trapo-run-1.jsonl").read_text().splitlines()]
    raw = [json.loads(x) for x in (FORMATS / "trapo-run-1.1.jsonl").read_text().splitlines()]
    new = read_rollouts(FORMATS / "trapo-run-1.1.jsonl")
    assert len(old) == len(new) == 10
    assert [("prompt" in x) for x in raw] == [True, False, False, True, False, False, True, False, False, False]
    for a, b in zip(old, new):
        ROLLOUT.validate(a)
        ROLLOUT.validate(b)
        assert compact_tokens.decode(b["token_stats"], b["prefix"], b["completion"]) == a["tokens"]
        assert {k: v for k, v in a.items() if k != "tokens"} == {k: v for k, v in b.items() if k != "token_stats"}
    assert "text" in new[-1]["token_stats"] and all("text_len" in b["token_stats"] for b in new[:-1])
    old_bytes, new_bytes = (sum(len(x) for x in (FORMATS / f).read_bytes().splitlines()) for f in
                            ("trapo-run-1.jsonl", "trapo-run-1.1.jsonl"))
    assert new_bytes < old_bytes


def test_token_stats_encoding_edges():
    from trapo import compact_tokens

    stats = compact_tokens.encode(["a", "b", "<eos>"], [-0.5, float("-inf"), float("nan")], [1e6, 0.0, 2.0], 1,
                                  "a", "b")
    assert stats["text_len"] == "AQEA" and stats["special"] == {"2": "<eos>"}  # bytes 1, 1, 0
    toks = compact_tokens.decode(stats, "a", "b")
    assert [t["text"] for t in toks] == ["a", "b", "<eos>"] and [t["prefix"] for t in toks] == [True, False, False]
    assert toks[1]["logprob"] == float("-inf") and math.isnan(toks[2]["logprob"])
    assert toks[0]["entropy"] == 65504.0  # clamped to float16's largest
    with pytest.raises(ValueError, match="do not line up"):
        compact_tokens.encode(["a"], [0.0, 1.0], [0.0], 0, "", "a")
    long = "x" * 300  # a token text longer than a byte can count: every text is kept whole
    assert compact_tokens.encode([long], [0.0], [0.0], 0, "", long)["text"] == [long]
    assert compact_tokens.summary(stats, 0.1) == {"completion_tokens": 2, "prefix_tokens": 1,
                                               "mean_entropy": pytest.approx(65506 / 3),
                                               "outside_trust_region": 0.0}  # exp(-0.5) > 0.1


def test_resuming_a_trapo_run_1_run_goes_on_in_1_1(tmp_path):
    w = RunWriter.create(tmp_path / "r", name="t", algorithm="trapo", config={})
    w.update(format="trapo-run/1")
    w.close()
    w = RunWriter.open_existing(tmp_path / "r")
    w.close()
    assert read_run_json(tmp_path / "r")["format"] == "trapo-run/1.1"
