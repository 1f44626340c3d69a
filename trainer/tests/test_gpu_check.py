"""The GPU check script runs end to end on CPU with a small model (--small): every check reports ok, the table is
printed, the TRAPO run's events come back."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_small_on_cpu(tmp_path):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "bench/gpu_check.py", "--small", "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=2400)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())["results"]
    assert list(report) == ["train step", "decode", "memory", "trapo run"]
    assert all(v["ok"] for v in report.values()), report
    assert report["train step"]["tflops"] > 0 and report["decode"]["tokens_per_s"] > 0
    assert report["memory"]["bytes"]["chunked"] < report["memory"]["bytes"]["full"]
    assert "computed in bfloat16" in report["trapo run"]["precision"]
    for line in ("train step  ok", "decode      ok", "memory      ok", "trapo run   ok"):
        assert line in r.stdout, r.stdout
    events = [json.loads(x) for x in (out / "trapo_run_events.jsonl").read_text().splitlines()]
    assert sum(e["type"] == "metrics" for e in events) == 10
