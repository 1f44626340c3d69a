"""Samples per second of our `grpo` step (generation + rewards + loss + optimizer step) against TRL's GRPOTrainer, on
the same tiny model, prompts, group size, lengths and temperature, side by side in one run; and our `trapo` step
time against our `grpo` step time.

TRL is not a trainer dependency: it lives in its own virtual environment, which shares torch and transformers with
the trainer's (a .pth file) so that both sides run the very same library versions:

    python3 -m venv /tmp/trl-venv
    echo "$PWD/trainer/.venv/lib/python3.11/site-packages" > /tmp/trl-venv/lib/python3.11/site-packages/_shared.pth
    /tmp/trl-venv/bin/pip install trl            # (or: this script with --setup-trl)

Run (from the repository root):

    trainer/.venv/bin/python trainer/bench/grpo_vs_trl.py [--steps 5] [--prompts 8] [--group 8]
        [--max-new-tokens 64] [--threads 2] [--trl-python /tmp/trl-venv/bin/python]

What is timed: for each side, the wall time of every training step after the first (the first pays for lazy
initialisation), on one process with `--threads` torch threads; the sides run one after the other in `--rounds`
alternating rounds (a shared machine's load changes by the minute); samples/s = prompts x group / the median over
rounds of each run's median step time.
Ours: `perf/rollout_s + perf/train_s` of each step from the run's events (eval and checkpoints are off); TRL: the
time between `on_step_begin` and `on_step_end` of a TrainerCallback (its step generates, scores and trains).
Both use the same checkpoint directory (the warmed-up tiny model, fp32 on CPU), temperature 1.0, no KL term (TRL
beta 0), one optimizer step per batch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAINER = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINER))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_model_dir(out: Path) -> Path:
    from trapo.models import load_policy
    from trapo.tokenizer_tiny import save_tokenizer

    model, tok, _ = load_policy("tiny", device="cpu", warmup={}, log=lambda m: print(m, file=sys.stderr))
    model.save_pretrained(out)
    save_tokenizer(tok, out)
    return out


def run_ours(model_dir: Path, algorithm: str, args, work: Path) -> dict:
    cfg = {
        "name": f"bench-{algorithm}", "algorithm": algorithm, "seed": 0, "device": "cpu",
        "model": {"name_or_path": str(model_dir)},
        "data": {"train": "builtin:arithmetic", "train_size": 512, "benchmarks": []},
        "rollout": {"max_new_tokens": args.max_new_tokens, "temperature": 1.0},
        "micro_group": {"group_size": args.group},
        "optim": {"lr": 5e-4},
        "train": {"steps": args.steps, "prompts_per_step": args.prompts, "micro_batch_size": args.prompts * args.group,
                  "threads": args.threads},
        "eval": {"every": 0, "at_start": False},
        "checkpoint": {"every": 0, "at_end": False, "onnx": False},
        "logging": {"token_stats": False},
    }
    work.mkdir(parents=True, exist_ok=True)
    cfg_path = work / f"{algorithm}.json"
    cfg_path.write_text(json.dumps(cfg))
    run_dir = work / f"run-{algorithm}"
    env = {**os.environ, "PYTHONPATH": str(TRAINER)}
    proc = subprocess.run([sys.executable, "-m", "trapo", "train", "--config", str(cfg_path), "--run-dir",
                           str(run_dir)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"our {algorithm} run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    events = run_dir / "events.jsonl"
    if not events.exists():
        cands = list(run_dir.glob("*/events.jsonl"))
        events = cands[0]
    steps = []
    for line in events.read_text().splitlines():
        e = json.loads(line)
        if e.get("type") == "metrics":
            v = e["values"]
            steps.append({"step": e["step"], "s": v["perf/rollout_s"] + v["perf/train_s"],
                          "rollout_s": v["perf/rollout_s"], "train_s": v["perf/train_s"],
                          "len": v.get("response/mean_length", float("nan"))})
    timed = steps[1:] if len(steps) > 1 else steps
    med = statistics.median(s["s"] for s in timed)
    samples = args.prompts * args.group
    return {"side": f"ours-{algorithm}", "median_step_s": med, "samples_per_s": samples / med,
            "median_rollout_s": statistics.median(s["rollout_s"] for s in timed),
            "median_train_s": statistics.median(s["train_s"] for s in timed),
            "mean_response_len": statistics.mean(s["len"] for s in timed), "steps_timed": len(timed)}


def trl_worker(args) -> None:
    """Runs inside the TRL venv: GRPOTrainer on the same model directory and prompts; prints one JSON line."""
    import dataclasses

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from trapo.prompting import prompt_text
    from trapo.rewards import score
    from trapo.task import builtin_train_problems

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(args.model_dir, local_files_only=True)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32, local_files_only=True)
    problems = builtin_train_problems(512, seed=0)
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": prompt_text(p.question)}], "answer": p.answer}
                            for p in problems])

    def correctness(completions, answer, **_):
        texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
        return [score(t, a, "exact")[0] for t, a in zip(texts, answer)]

    wanted = dict(output_dir=str(Path(args.work) / "trl-out"), per_device_train_batch_size=args.prompts * args.group,
                  gradient_accumulation_steps=1, num_generations=args.group, max_completion_length=args.max_new_tokens,
                  temperature=1.0, learning_rate=5e-4, beta=0.0, max_steps=args.steps, logging_steps=1,
                  report_to="none", save_strategy="no", use_cpu=True, bf16=False, fp16=False, seed=0,
                  num_iterations=1, dataloader_num_workers=0, disable_tqdm=True, loss_type="dr_grpo",
                  scale_rewards="none", lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.01,
                  max_grad_norm=1.0)
    names = {f.name for f in dataclasses.fields(GRPOConfig)}
    cfg = GRPOConfig(**{k: v for k, v in wanted.items() if k in names})
    times: list[float] = []
    lengths: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.t0)

        def on_log(self, _args, state, control, logs=None, **k):
            if logs and "completions/mean_length" in logs:
                lengths.append(float(logs["completions/mean_length"]))

    trainer = GRPOTrainer(model=model, reward_funcs=[correctness], args=cfg, train_dataset=ds,
                          processing_class=tok, callbacks=[Timer()])
    trainer.train()
    timed = times[1:] if len(times) > 1 else times
    med = statistics.median(timed)
    import trl

    print(json.dumps({"side": f"trl-{trl.__version__}", "median_step_s": med,
                      "samples_per_s": args.prompts * args.group / med,
                      "mean_response_len": statistics.mean(lengths[1:] or lengths) if lengths else None,
                      "steps_timed": len(timed)}))


def setup_trl(venv: Path) -> Path:
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        site = next((TRAINER / ".venv" / "lib").glob("python3*/site-packages"))
        tgt = next((venv / "lib").glob("python3*/site-packages"))
        (tgt / "_trapo_shared.pth").write_text(str(site) + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "trl"], check=True)
    return py


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--trl-python", default="/tmp/trl-venv/bin/python")
    ap.add_argument("--setup-trl", action="store_true", help="create the TRL venv at the --trl-python location")
    ap.add_argument("--skip-trl", action="store_true")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of (ours grpo, TRL, ours trapo)")
    ap.add_argument("--worker", choices=["trl"], help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "trl":
        trl_worker(args)
        return 0

    import torch

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="trapo-bench-"))
    model_dir = make_model_dir(work / "model")
    rounds: dict[str, list[dict]] = {}
    trl_py = Path(args.trl_python)
    if not args.skip_trl and args.setup_trl:
        trl_py = setup_trl(trl_py.parents[1])
    if not args.skip_trl and not trl_py.exists():
        print(f"TRL venv not found at {trl_py}; create it (see the docstring) or pass --setup-trl", file=sys.stderr)
        args.skip_trl = True
    # the sides alternate round by round, so that a change in machine load hits all of them alike
    for rnd in range(args.rounds):
        for side in ("grpo", "trl", "trapo"):
            if side == "trl":
                if args.skip_trl:
                    continue
                proc = subprocess.run([str(trl_py), __file__, "--worker", "trl", "--model-dir", str(model_dir),
                                       "--work", str(work), "--steps", str(args.steps), "--prompts", str(args.prompts),
                                       "--group", str(args.group), "--max-new-tokens", str(args.max_new_tokens),
                                       "--threads", str(args.threads)], capture_output=True, text=True,
                                      env={**os.environ, "PYTHONPATH": str(TRAINER)})
                if proc.returncode != 0:
                    print(f"TRL run failed:\n{proc.stderr[-4000:]}", file=sys.stderr)
                    args.skip_trl = True
                    continue
                r = json.loads(proc.stdout.strip().splitlines()[-1])
            else:
                r = run_ours(model_dir, side, args, work / f"round{rnd}")
            r["round"] = rnd
            rounds.setdefault("trl" if side == "trl" else f"ours-{side}", []).append(r)
            print(json.dumps(r), flush=True)
    results = []
    for key, rs in rounds.items():
        med = statistics.median(r["median_step_s"] for r in rs)
        lens = [r["mean_response_len"] for r in rs if r.get("mean_response_len") is not None]
        results.append({"side": rs[0]["side"] if key == "trl" else key, "median_step_s": med,
                        "samples_per_s": args.prompts * args.group / med,
                        "mean_response_len": statistics.mean(lens) if lens else None})
    by = {("trl" if r["side"].startswith("trl") else r["side"]): r for r in results}
    print(f"\nsettings: {args.prompts} prompts x {args.group} samples, max {args.max_new_tokens} new tokens, "
          f"temperature 1.0, {args.steps} steps (first not timed), {args.threads} torch threads, tiny Qwen2 on CPU, "
          f"median over {args.rounds} alternating rounds")
    print(f"{'side':<16}{'median step s':>15}{'samples/s':>12}{'mean len':>10}")
    for r in results:
        ml = r.get("mean_response_len")
        print(f"{r['side']:<16}{r['median_step_s']:>15.3f}{r['samples_per_s']:>12.1f}"
              f"{(f'{ml:.1f}' if ml is not None else '-'):>10}")
    if "trl" in by and "ours-grpo" in by:
        print(f"ours grpo / TRL samples/s: {by['ours-grpo']['samples_per_s'] / by['trl']['samples_per_s']:.2f}x "
              f"(goal >= 1.5x)")
    if "ours-trapo" in by and "ours-grpo" in by:
        print(f"trapo / grpo step time: {by['ours-trapo']['median_step_s'] / by['ours-grpo']['median_step_s']:.2f}x "
              f"(goal <= 1.3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
