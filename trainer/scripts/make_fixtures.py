"""Writes the shared fixture run directories (test/fixtures/runs/) with the Python run writer.

Both sides test against them: trainer/tests/test_runformat.py validates every file against the JSON Schemas and
checks that the committed fixtures equal a fresh generation; test/unit/runFormat.test.ts parses every line into the
TypeScript union. Regenerate after a format change:  python trainer/scripts/make_fixtures.py
Deterministic: fixed clock, pid, host and seed.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trapo.runformat import (  # noqa: E402
    BenchmarkResult,
    Checkpoint,
    ErrorInfo,
    Eval,
    EvalRecord,
    EvalSample,
    Heartbeat,
    Log,
    Metrics,
    ModelInfo,
    PrefixAllocation,
    PromptAllocation,
    RolloutRecord,
    RunFinished,
    RunStarted,
    RunWriter,
    StageRecord,
    TokenInfo,
)

from trapo.checkpoint_evals import benchmark_digest, write_benchmark  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "test" / "fixtures" / "runs"
T0 = 1795000000.0  # 2026-11-18 (a fixed clock)
STAGES = [(4, 0.0, None), (2, 0.25, 2), (1, 0.5, 4), (1, 1.0, 7)]  # the reference code's micro-group plan
BENCHMARKS = ["arith-easy", "arith-medium", "arith-hard"]


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def tick(self, dt: float) -> None:
        self.t = round(self.t + dt, 3)


def config_for(algorithm: str, steps: int) -> dict:
    return {
        "algorithm": algorithm,
        "seed": 0,
        "model": {"name_or_path": "tiny"},
        "data": {"train": "builtin:arithmetic"},
        "train": {"steps": steps, "prompts_per_step": 4, "lr": 1e-4},
        "trapo": {"alpha": 0.1, "stages": [{"n": n, "ratio": r, "threshold": t} for n, r, t in STAGES]},
        "eval": {"every": 5, "samples_per_problem": 2},
    }


def problem(rng: random.Random, i: int) -> tuple[str, str, str, str]:
    a, b, c = rng.randint(2, 40), rng.randint(2, 40), rng.randint(2, 9)
    answer = str(a + b * c)
    prompt = f"Compute {a} + {b} * {c}.\nPlease reason step by step, and put your final answer within \\boxed{{}}."
    expert = f"First, {b} * {c} = {b * c}.\n\nThen, {a} + {b * c} = {answer}.\n\nThe answer is \\boxed{{{answer}}}."
    return f"p{i:04d}", prompt, expert, answer


def tokens_of(text: str, rng: random.Random, prefix: bool) -> list:
    out = []
    for word in text.replace("\n", " \n ").split(" "):
        if word == "":
            continue
        lp = -rng.random() * (3.5 if prefix else 1.5)
        out.append(TokenInfo(text=word if word == "\n" else word + " ", logprob=round(lp, 4), entropy=round(rng.random() * 2, 4), prefix=prefix))
    return out


def simulate_step(writer: RunWriter, step: int, rng: random.Random, skill: float, with_tokens: bool) -> dict:
    """One step of plausible micro-group results; returns its metric values."""
    allocations, rollouts, levels = [], [], [0, 0, 0, 0]
    unguided, rewards = [], []
    for i in range(4):
        pid, prompt, expert, answer = problem(rng, step * 10 + i)
        stages, correct_so_far, level, sample = [], 0, 0, 0
        group = []
        for s, (n, ratio, threshold) in enumerate(STAGES):
            guided = threshold is not None and correct_so_far < threshold
            if threshold is not None and not guided:
                # Not guided: ordinary unguided rollouts (the last stage is skipped when nothing failed).
                ratio_used = 0.0
            else:
                ratio_used = ratio
            if guided:
                level = s
            correct = 0
            for k in range(n):
                full = guided and ratio_used >= 1.0
                p_ok = 1.0 if full else min(0.95, skill + ratio_used * 0.5)
                ok = rng.random() < p_ok
                correct += ok
                cut = int(len(expert) * ratio_used)
                prefix = expert if full else (expert[:cut] if guided else "")
                completion = "" if full else (f"... so the result is \\boxed{{{answer if ok else int(answer) + 1}}}.")
                group.append(
                    dict(stage=s, sample=sample, ok=ok, prefix=prefix, completion=completion, owner=guided and k == n - 1, ratio=ratio_used if guided else 0.0)
                )
                sample += 1
            stages.append(StageRecord(n=n, ratio=ratio, guided=guided, correct=correct, correct_before=correct_so_far))
            correct_so_far += correct
        levels[level] += 1
        mean = sum(g["ok"] for g in group) / len(group)
        for g in group:
            reward = 1.0 if g["ok"] else 0.0
            rewards.append(reward)
            if g["stage"] == 0:
                unguided.append(reward)
            toks = None
            if with_tokens:
                toks = tokens_of(g["prefix"], rng, True) + tokens_of(g["completion"], rng, False)
            rollouts.append(
                RolloutRecord(
                    step=step, prompt_id=pid, sample=g["sample"], stage=g["stage"], level=level, prompt=prompt,
                    prefix=g["prefix"], completion=g["completion"], reward=reward, advantage=round(reward - mean, 6),
                    answer=answer, extracted=answer if g["ok"] else str(int(answer) + 1), sft_owner=g["owner"],
                    prefix_ratio=g["ratio"], tokens=toks,
                )
            )
        allocations.append(PromptAllocation(prompt_id=pid, level=level, stages=stages))
    writer.emit(PrefixAllocation(prompts=allocations), step=step)
    writer.write_rollouts(step, rollouts)
    n = len(allocations)
    values = {
        "loss/total": round(1.2 - 0.02 * step + rng.random() * 0.05, 5),
        "loss/trsft": round(0.8 - 0.015 * step, 5),
        "loss/policy": round(rng.uniform(-0.05, 0.05), 5),
        "loss/entropy": round(-0.001 * (1.5 - 0.01 * step), 6),
        "reward/unguided_mean": sum(unguided) / len(unguided),
        "reward/mean": sum(rewards) / len(rewards),
        **{f"prefix/level_{k}": levels[k] / n for k in range(4)},
        "prefix/mean_ratio": round(sum(r.prefix_ratio for r in rollouts) / len(rollouts), 5),
        "trsft/outside_trust_region": round(max(0.0, 0.3 - 0.01 * step), 5),
        "groups/all_correct": round(rng.random() * 0.2, 5),
        "groups/all_wrong": round(max(0.0, 0.4 - 0.02 * step), 5),
        "response/mean_length": round(40 + rng.random() * 10, 3),
        "response/clip_ratio": 0.0,
        "policy/entropy": round(1.5 - 0.01 * step, 5),
        "optim/grad_norm": round(0.5 + rng.random(), 5),
        "optim/lr": 1e-4,
        "perf/step_s": 2.5,
        "perf/rollout_s": 1.5,
        "perf/train_s": 1.0,
        "perf/tokens_per_s": 400.0,
    }
    writer.emit(Metrics(values=values), step=step)
    return values


def eval_records(b: int, name: str, rng: random.Random, skill: float) -> list:
    records = []
    for i in range(6):
        _, prompt, _, answer = problem(random.Random(1000 * b + i), i)  # the same problems at every step
        samples = []
        for _ in range(2):
            ok = rng.random() < max(0.05, skill - 0.15 * b)
            samples.append(EvalSample(completion=f"... \\boxed{{{answer if ok else 0}}}", extracted=answer if ok else "0", correct=ok))
        records.append(EvalRecord(problem_id=f"{name}-{i:03d}", prompt=prompt, answer=answer, samples=samples, accuracy=sum(s.correct for s in samples) / 2))
    return records


def digest_of(records: list) -> str:
    return benchmark_digest(SimpleNamespace(id=r.problem_id, question=r.prompt, answer=r.answer) for r in records)


def write_eval(writer: RunWriter, step: int, rng: random.Random, skill: float) -> None:
    results = {}
    for b, name in enumerate(BENCHMARKS):
        records = eval_records(b, name, rng, skill)
        rel, count = writer.write_eval_file(step, name, records)
        results[name] = BenchmarkResult(accuracy=sum(r.accuracy for r in records) / count, n=count, samples_per_problem=2, file=rel,
                                        source=f"builtin:{name}", digest=digest_of(records))
    average = sum(r.accuracy for r in results.values()) / len(results)
    writer.emit(Eval(benchmarks=results, average=average), step=step)


def write_checkpoint(writer: RunWriter, step: int) -> None:
    rel = f"checkpoints/{step:06d}"
    ckpt = writer.run_dir / rel
    ckpt.mkdir(parents=True, exist_ok=True)
    # A stand-in: fixtures carry the layout's config file only, not weights.
    (ckpt / "config.json").write_text(json.dumps({"model_type": "fixture", "step": step}) + "\n")
    writer.emit(Checkpoint(path=rel, onnx=None, bytes=(ckpt / "config.json").stat().st_size), step=step)


def write_checkpoint_evals(run_dir: Path, step: int, seed: int, skill: float) -> None:
    """An evaluation asked for after training (checkpoint_evals/): a benchmark the trainer also ran, and one it did
    not (arith-extra, a file), so that both kinds of pairing have a fixture."""
    rng = random.Random(seed)
    clock = Clock(T0 + seed * 3600 + 7200)
    for b, name, source in [(0, "arith-easy", "builtin:arith-easy"), (3, "arith-extra", "data/arith-extra.jsonl")]:
        clock.tick(30.0)
        records = eval_records(b, name, rng, skill)
        meta = {"samples_per_problem": 2, "temperature": 0.6, "max_new_tokens": 64, "source": source, "digest": digest_of(records),
                "model": "tiny", "device": "cpu", "engine": "TorchGenerator"}
        write_benchmark(run_dir, step, f"checkpoints/{step:06d}", name, records, meta, clock=clock)


def make_run(out: Path, run_id: str, algorithm: str, steps: int, *, end: str, seed: int, with_tokens: bool) -> None:
    clock = Clock(T0 + seed * 3600)
    run_dir = out / run_id
    cfg = config_for(algorithm, steps)
    writer = RunWriter.create(run_dir, name=run_id.split("-", 2)[2].rsplit("-", 1)[0], algorithm=algorithm, config=cfg, total_steps=steps, clock=clock)
    writer.update(pid=999999, host="fixture-host")
    (run_dir / "logs" / "trainer.log").write_text(f"[fixture] trainer log of {run_id}\nstep 1 ...\n", encoding="utf-8")
    rng = random.Random(seed)
    writer.emit(RunStarted(config=cfg, total_steps=steps, model=ModelInfo(name="tiny", parameters=812544), device="cpu", world_size=1, resumed_from_step=None), step=0)
    writer.emit(Log(level="info", message="fixture run <b>not HTML</b> & \"quoted\""), step=0)
    last = steps if end in ("finished", "stopped") else steps // 2
    for step in range(1, last + 1):
        clock.tick(1.0)
        writer.emit(Heartbeat(phase="rollout"), step=step)
        clock.tick(1.5)
        simulate_step(writer, step, rng, skill=0.2 + 0.5 * step / steps, with_tokens=with_tokens)
        if step % 5 == 0:
            clock.tick(0.7)
            writer.emit(Heartbeat(phase="eval"), step=step)
            write_eval(writer, step, rng, skill=0.2 + 0.5 * step / steps)
            write_checkpoint(writer, step)
    writer.update(step=last)
    if end == "finished":
        writer.emit(RunFinished(status="finished"), step=last)
        writer.set_status("finished")
    elif end == "failed":
        err = ErrorInfo(type="RuntimeError", message="CUDA out of memory (fixture)", traceback="Traceback (most recent call last):\n  File \"train.py\", line 1\nRuntimeError: CUDA out of memory (fixture)\n")
        writer.emit(RunFinished(status="failed", error=err), step=last)
        writer.set_status("failed")
    elif end == "crashed":
        # Killed hard: status stays "running", the pid is dead, and the last line is torn.
        writer.close()
        with open(run_dir / "events.jsonl", "a", encoding="utf-8") as fh:
            fh.write('{"v":1,"type":"metrics","time":')
    writer.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    make_run(args.out, "20261118-080000-fixture-trapo-a001", "trapo", 20, end="finished", seed=1, with_tokens=True)
    make_run(args.out, "20261118-090000-fixture-grpo-a002", "grpo", 20, end="finished", seed=2, with_tokens=False)
    write_checkpoint_evals(args.out / "20261118-080000-fixture-trapo-a001", 20, seed=11, skill=0.8)
    write_checkpoint_evals(args.out / "20261118-090000-fixture-grpo-a002", 20, seed=12, skill=0.6)
    make_run(args.out, "20261118-100000-fixture-crashed-a003", "trapo", 20, end="crashed", seed=3, with_tokens=False)
    make_run(args.out, "20261118-110000-fixture-failed-a004", "luffy", 10, end="failed", seed=4, with_tokens=False)
    print(f"wrote fixtures to {args.out}")


if __name__ == "__main__":
    main()
