"""A 5-step trapo run with rollout.engine vllm (a trainer process of its own, as a user starts it) whose run
directory validates, with the engine's metrics in every step."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import main_suite_helpers

TRAINER = Path(__file__).resolve().parents[1]


def test_five_step_trapo_run_with_vllm_validates(tmp_path):
    helpers = main_suite_helpers()
    cfg = helpers.tiny_config(tmp_path, **{"rollout.engine": "vllm", "train.steps": 5, "algorithm": "trapo",
                                           "eval.every": 5, "data.benchmark_size": 2, "loss.tis_cap": 2.0,
                                           "logging.token_stats": "true"})
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps(cfg.to_dict()))
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "trapo", "train", "--config", str(config), "--run-dir", str(run_dir)],
                          cwd=TRAINER, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "vLLM" in proc.stdout and "engine ready" in proc.stdout
    events = helpers.validate_run_dir(run_dir)
    metrics = [e["values"] for e in events if e["type"] == "metrics"]
    assert len(metrics) == 5
    for m in metrics:
        assert m["perf/weight_sync_s"] > 0
        assert 0 <= m["rollout/logp_mismatch"] < 1e-3  # float32 on both sides: the same numbers up to rounding
    assert any(e["type"] == "eval" for e in events)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
