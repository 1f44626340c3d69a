"""Step time on the demo config: rollout / train / eval / checkpoint split, and trapo vs grpo step time.

    trainer/.venv/bin/python trainer/bench/step_time.py [--steps 6] [--config trapo/configs/demo.trapo.yaml]

Runs short real trainings (same model, prompts, lengths) into temporary run dirs and prints the mean of each phase
over the steps after the first (the first step includes one-off costs). Figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trapo.config import load_config  # noqa: E402
from trapo.train import Trainer  # noqa: E402


def measure(config: str, algorithm: str, steps: int, extra: list[str]) -> dict:
    sets = [f"algorithm={algorithm}", f"train.steps={steps}", "eval.at_start=false", f"eval.every={steps}",
            f"checkpoint.every={steps}", *extra]
    cfg = load_config(config, sets)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        Trainer(cfg, run_dir, log=lambda m: None).run()
        rows = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    vals = [r["values"] for r in rows if r["type"] == "metrics"]
    timed = vals[1:] if len(vals) > 1 else vals
    out = {k: statistics.mean(v[k] for v in timed) for k in ("perf/rollout_s", "perf/train_s")}
    out["perf/step_s"] = out["perf/rollout_s"] + out["perf/train_s"]  # without the eval/checkpoint of the last step
    out["perf/eval_s"] = vals[-1]["perf/eval_s"]
    out["perf/checkpoint_s"] = vals[-1]["perf/checkpoint_s"]
    out["perf/tokens_per_s"] = statistics.mean(v["perf/tokens_per_s"] for v in timed)
    out["samples_per_step"] = cfg.train.prompts_per_step * 8
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "trapo/configs/demo.trapo.yaml"))
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    res = {a: measure(args.config, a, args.steps, args.set) for a in ("trapo", "grpo")}
    t = res["trapo"]
    train_steps = t["perf/step_s"]
    print(f"demo config, {args.steps} steps, mean over steps 2..{args.steps} (seconds)")
    print(f"{'phase':<14}{'trapo':>10}{'grpo':>10}")
    for key, label in (("perf/rollout_s", "rollout"), ("perf/train_s", "train"), ("perf/step_s", "rollout+train")):
        print(f"{label:<14}{t[key]:>10.3f}{res['grpo'][key]:>10.3f}")
    print(f"{'eval (once)':<14}{t['perf/eval_s']:>10.3f}{res['grpo']['perf/eval_s']:>10.3f}")
    print(f"{'checkpoint':<14}{t['perf/checkpoint_s']:>10.3f}{res['grpo']['perf/checkpoint_s']:>10.3f}")
    print(f"{'gen tok/s':<14}{t['perf/tokens_per_s']:>10.1f}{res['grpo']['perf/tokens_per_s']:>10.1f}")
    for a in ("trapo", "grpo"):
        print(f"{a}: {res[a]['samples_per_step'] / res[a]['perf/step_s']:.1f} samples/s (rollout + train)")
    print(f"trapo step time / grpo step time = {train_steps / res['grpo']['perf/step_s']:.2f} (goal <= 1.3)")


if __name__ == "__main__":
    main()
