"""Shared helpers: a tiny, fast config (random-weight tiny model, no warm-up, short rollouts) and schema checks."""

import json
from pathlib import Path

import jsonschema
import pytest

from trapo.config import load_config
from trapo.runformat import schema_path


def tiny_config(tmp_path: Path, **sections):
    """A config for tests: seconds per step on a shared 2-core machine."""
    sets = [
        "device=cpu", "model.warmup.enabled=false", f"model.cache_dir={tmp_path / 'cache'}",
        "data.train_size=32", "data.benchmark_size=2", "rollout.max_new_tokens=10",
        "train.steps=2", "train.prompts_per_step=2", "train.micro_batch_size=6",
        "eval.every=0", "eval.at_start=false", "eval.samples_per_problem=1",
        "checkpoint.every=0", "checkpoint.onnx=false", "logging.heartbeat_s=0.2", "optim.lr=1e-3",
    ]
    sets += [f"{k}={v}" for k, v in sections.items()]
    return load_config(None, sets)


def validator(name: str):
    schema = json.loads(schema_path(name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def validate_run_dir(run_dir: Path) -> list:
    """Every event, rollout and eval line validates against the shipped schemas; returns the events."""
    ev, ro, evl, run = (validator(n) for n in ("events.schema.json", "rollout.schema.json", "eval.schema.json",
                                               "run.schema.json"))
    run.validate(json.loads((run_dir / "run.json").read_text()))
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line.strip()]
    for e in events:
        ev.validate(e)
    for f in (run_dir / "rollouts").glob("*.jsonl"):
        for line in f.read_text().splitlines():
            ro.validate(json.loads(line))
    for f in (run_dir / "evals").rglob("*.jsonl"):
        for line in f.read_text().splitlines():
            evl.validate(json.loads(line))
    return events


@pytest.fixture
def tiny_cfg(tmp_path):
    return lambda **kw: tiny_config(tmp_path, **kw)
