"""Writes the shared fixture run directories (test/fixtures/runs/) with the Python run writer.

Both sides test against them: trainer/tests/test_runformat.py validates every file against the JSON Schemas and
checks that the committed fixtures equal a fresh generation; test/unit/runFormat.test.ts parses every line into the
TypeScript union. Regenerate after a format change:  python trainer/scripts/make_fixtures.py
Deterministic: fixed clock, pid, host and seed.

The trapo run is written as the trainer writes today (trapo-run/1.1: `token_stats`, rollout summaries); the failed run
has an `anomaly` event; the crashed run is a trapo-run/1 run, as older trainers wrote it, so that readers are tested on
both. test/fixtures/rollout-formats/ holds the same rollouts in both forms (per-token objects and parallel arrays;
values exact in float16).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import shutil
import struct
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trapo import compact_tokens  # noqa: E402
from trapo.anomalies import AnomalyDetector, Thresholds  # noqa: E402
from trapo.checkpoint_evals import benchmark_digest, write_benchmark  # noqa: E402
from trapo.runformat import (  # noqa: E402
    Anomaly,
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
    PhaseProgress,
    PrefixAllocation,
    PromptAllocation,
    RolloutRecord,
    RunFinished,
    RunStarted,
    RunWriter,
    StageRecord,
    TokenInfo,
)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "test" / "fixtures" / "runs"
FORMATS_OUT = REPO / "test" / "fixtures" / "rollout-formats"
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


def half(x: float) -> float:
    """x as float16 reads it back: both token forms then carry exactly the same numbers."""
    return struct.unpack("<e", struct.pack("<e", x))[0]


def tokens_of(text: str, rng: random.Random, prefix: bool) -> list:
    out = []
    # a word with the spaces after it, or a newline: the texts follow each other in the text (and, for the texts of
    # these fixtures, the pieces are the words of trapo-run/1's fixtures: the same random draws, the same values)
    for piece in re.findall(r"\n|[^ \n]+ *| +", text):
        lp = -rng.random() * (3.5 if prefix else 1.5)
        entropy = half(round(rng.random() * 2, 4))
        out.append(TokenInfo(text=piece, logprob=half(round(lp, 4)), entropy=entropy, prefix=prefix))
    return out


def compact(record: RolloutRecord) -> RolloutRecord:
    """The trapo-run/1.1 form of a record written with per-token objects: token_stats and the summaries."""
    toks = record.tokens or []
    n_pre = sum(t.prefix for t in toks)
    stats = compact_tokens.encode([t.text for t in toks], [t.logprob for t in toks], [t.entropy for t in toks], n_pre,
                               record.prefix, record.completion) if toks else None
    outside = sum(1 for t in toks if t.prefix and t.logprob < -2.302585092994046) / n_pre if n_pre else None
    return dataclasses.replace(record, tokens=None, token_stats=stats, completion_tokens=len(toks) - n_pre,
                               prefix_tokens=n_pre, mean_entropy=round(sum(t.entropy for t in toks) / len(toks), 6)
                               if toks else None, outside_trust_region=outside)


def simulate_step(writer: RunWriter, step: int, rng: random.Random, skill: float, with_tokens: bool, legacy: bool,
                  diverged: bool = False) -> dict:
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
                    dict(stage=s, sample=sample, ok=ok, prefix=prefix, completion=completion,
                         owner=guided and k == n - 1, ratio=ratio_used if guided else 0.0)
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
    writer.write_rollouts(step, rollouts if legacy else [compact(r) for r in rollouts])
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
    if diverged:  # non-finite values are written as "NaN" / "Infinity" (events.schema.json)
        values.update({"loss/total": float("nan"), "optim/grad_norm": float("inf")})
    writer.emit(Metrics(values=values), step=step)
    return values


def eval_records(b: int, name: str, rng: random.Random, skill: float) -> list:
    records = []
    for i in range(6):
        _, prompt, _, answer = problem(random.Random(1000 * b + i), i)  # the same problems at every step
        samples = []
        for _ in range(2):
            ok = rng.random() < max(0.05, skill - 0.15 * b)
            completion = f"... \\boxed{{{answer if ok else 0}}}"
            samples.append(EvalSample(completion=completion, extracted=answer if ok else "0", correct=ok))
        records.append(EvalRecord(problem_id=f"{name}-{i:03d}", prompt=prompt, answer=answer, samples=samples,
                                  accuracy=sum(s.correct for s in samples) / 2))
    return records


def digest_of(records: list) -> str:
    return benchmark_digest(SimpleNamespace(id=r.problem_id, question=r.prompt, answer=r.answer) for r in records)


def write_eval(writer: RunWriter, step: int, rng: random.Random, skill: float) -> None:
    results = {}
    for b, name in enumerate(BENCHMARKS):
        records = eval_records(b, name, rng, skill)
        rel, count = writer.write_eval_file(step, name, records)
        results[name] = BenchmarkResult(accuracy=sum(r.accuracy for r in records) / count, n=count,
                                        samples_per_problem=2, file=rel, source=f"builtin:{name}",
                                        digest=digest_of(records))
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
        meta = {"samples_per_problem": 2, "temperature": 0.6, "max_new_tokens": 64, "source": source,
                "digest": digest_of(records), "model": "tiny", "device": "cpu", "engine": "TorchGenerator"}
        write_benchmark(run_dir, step, f"checkpoints/{step:06d}", name, records, meta, clock=clock)


def make_run(out: Path, run_id: str, algorithm: str, steps: int, *, end: str, seed: int, with_tokens: bool,
             legacy: bool = False, diverged: bool = False) -> None:
    """`diverged`: the last step's loss is NaN and its gradient norm infinite (how the failed run went wrong)."""
    clock = Clock(T0 + seed * 3600)
    run_dir = out / run_id
    cfg = config_for(algorithm, steps)
    writer = RunWriter.create(run_dir, name=run_id.split("-", 2)[2].rsplit("-", 1)[0], algorithm=algorithm, config=cfg,
                              total_steps=steps, clock=clock)
    writer.update(pid=999999, host="fixture-host", **({"format": "trapo-run/1"} if legacy else {}))
    health = AnomalyDetector(Thresholds(window=4))
    (run_dir / "logs" / "trainer.log").write_text(f"[fixture] trainer log of {run_id}\nstep 1 ...\n", encoding="utf-8")
    rng = random.Random(seed)
    if with_tokens:  # one run shows the preparation before its first step (at the start's clock time)
        writer.emit(PhaseProgress(phase="load_model", fraction=None, message="loading model tiny"), step=None)
        for f in (0.0, 0.4, 1.0):
            message = f"warming up: step {int(f * 1500)} of at most 1500"
            writer.emit(PhaseProgress(phase="warmup", fraction=f, message=message), step=None)
        writer.emit(PhaseProgress(phase="load_data", fraction=None, message="loading the training problems"), step=None)
    writer.emit(RunStarted(config=cfg, total_steps=steps, model=ModelInfo(name="tiny", parameters=812544), device="cpu",
                           world_size=1, resumed_from_step=None), step=0)
    writer.emit(Log(level="info", message="fixture run <b>not HTML</b> & \"quoted\""), step=0)
    last = steps if end in ("finished", "stopped") else steps // 2
    for step in range(1, last + 1):
        clock.tick(1.0)
        writer.emit(Heartbeat(phase="rollout"), step=step)
        clock.tick(1.5)
        simulate_step(writer, step, rng, skill=0.2 + 0.5 * step / steps, with_tokens=with_tokens, legacy=legacy,
                      diverged=diverged and step == last)
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
        # the loss went NaN before the failure: the health rule says so (the metrics event cannot carry a NaN)
        for f in health.on_step({"loss/total": float("nan"), "loss/policy": 0.01}):
            writer.emit(Anomaly(kind=f.kind, message=f.message, metric=f.metric, value=f.value, threshold=f.threshold),
                        step=last)
        err = ErrorInfo(type="RuntimeError", message="CUDA out of memory (fixture)",
                        traceback="Traceback (most recent call last):\n  File \"train.py\", line 1\n"
                                  "RuntimeError: CUDA out of memory (fixture)\n")
        writer.emit(RunFinished(status="failed", error=err), step=last)
        writer.set_status("failed")
    elif end == "crashed":
        # Killed hard: status stays "running", the pid is dead, and the last line is torn.
        writer.close()
        with open(run_dir / "events.jsonl", "a", encoding="utf-8") as fh:
            fh.write('{"v":1,"type":"metrics","time":')
    writer.close()


def write_formats(out: Path) -> None:
    """One step of rollouts in both forms: trapo-run-1.jsonl (per-token objects) and trapo-run-1.1.jsonl."""
    from trapo.runformat import dumps_line, rollout_lines

    rng = random.Random(7)
    rollouts = []
    for i in range(3):
        pid, prompt, expert, answer = problem(rng, 900 + i)
        for k, cut in enumerate((0, len(expert) // 3, len(expert))):
            prefix = expert[:cut]
            completion = "" if cut == len(expert) else f"... so the result is \\boxed{{{answer}}}. é→ \"q\""
            toks = tokens_of(prefix, rng, True) + tokens_of(completion, rng, False)
            if completion:  # an end-of-sequence token: decoded on its own, not part of the completion text
                toks.append(TokenInfo(text="<|im_end|>", logprob=half(-0.01), entropy=half(0.1), prefix=False))
            rollouts.append(RolloutRecord(step=1, prompt_id=pid, sample=k, stage=k, level=k, prompt=prompt,
                                          prefix=prefix, completion=completion, reward=1.0, advantage=0.25,
                                          answer=answer, extracted=answer, sft_owner=k > 0,
                                          prefix_ratio=cut / len(expert), tokens=toks))
    # byte-level tokens that split a character decode to U+FFFD each: the texts no longer line up with the completion
    split = dataclasses.replace(rollouts[0], sample=3, completion="é!", tokens=[
        TokenInfo(text="\ufffd", logprob=half(-3.0), entropy=half(1.5), prefix=False),
        TokenInfo(text="\ufffd", logprob=half(-0.5), entropy=half(0.25), prefix=False),
        TokenInfo(text="!", logprob=half(-0.125), entropy=half(0.5), prefix=False)])
    rollouts.append(split)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "trapo-run-1.jsonl").write_text("".join(dumps_line(x) for x in rollout_lines(rollouts, legacy=True)),
                                           encoding="utf-8")
    compact_lines = rollout_lines(compact(r) for r in rollouts)
    (out / "trapo-run-1.1.jsonl").write_text("".join(dumps_line(x) for x in compact_lines), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--formats-out", type=Path, default=FORMATS_OUT)
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    make_run(args.out, "20261118-080000-fixture-trapo-a001", "trapo", 20, end="finished", seed=1, with_tokens=True)
    make_run(args.out, "20261118-090000-fixture-grpo-a002", "grpo", 20, end="finished", seed=2, with_tokens=False)
    write_checkpoint_evals(args.out / "20261118-080000-fixture-trapo-a001", 20, seed=11, skill=0.8)
    write_checkpoint_evals(args.out / "20261118-090000-fixture-grpo-a002", 20, seed=12, skill=0.6)
    make_run(args.out, "20261118-100000-fixture-crashed-a003", "trapo", 20, end="crashed", seed=3, with_tokens=False,
             legacy=True)
    make_run(args.out, "20261118-110000-fixture-failed-a004", "luffy", 10, end="failed", seed=4, with_tokens=False,
             diverged=True)
    write_formats(args.formats_out)
    print(f"wrote fixtures to {args.out} and {args.formats_out}")


if __name__ == "__main__":
    main()
