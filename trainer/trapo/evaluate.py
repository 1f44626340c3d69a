"""Benchmark evaluation: k samples per problem, generated in bounded batches, per-problem records.

A benchmark file in the reference's evaluation layout repeats a problem's row k times (AIME24: 30 problems x 32):
it is loaded as one problem with k samples (trapo.data.load_benchmark), and its accuracy, the mean over problems of
the share of correct samples, is named avg@k; with one sample it is pass@1.

Generation runs in batches of at most eval.batch_size sequences (the KV cache holds at most that many).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, overload

import torch

from .runformat import EvalRecord, EvalSample


def samples_for(problem, default: int) -> int:
    """k of a problem: its repeated rows in the file when there are several, else `default`."""
    repeats = int(problem.meta.get("repeats", 1)) if isinstance(getattr(problem, "meta", None), dict) else 1
    return repeats if repeats > 1 else default


def evaluate_benchmark(
    model,
    tokenizer,
    problems: list,
    *,
    engine,
    build_prompt: Callable,
    score: Callable,
    samples_per_problem: int,
    temperature: float,
    max_new_tokens: int,
    generator: torch.Generator | None,
    stop_ids: Sequence[int] | None = None,
    batch_size: int | None = None,
) -> list[EvalRecord]:
    """`batch_size`: most sequences generated in one call (eval.batch_size; None = all at once)."""
    if not problems:
        return []
    prompts = [build_prompt(tokenizer, p.question) for p in problems]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in prompts]
    ks = [samples_for(p, samples_per_problem) for p in problems]
    flat = [x for x, k in zip(ids, ks) for _ in range(k)]
    eos = tokenizer.eos_token_id
    stops = list(stop_ids) if stop_ids else [eos]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    step = batch_size or len(flat)
    outs = []
    for i in range(0, len(flat), step):  # bounded batches: the KV cache holds at most `step` sequences
        outs += engine.generate(model, flat[i:i + step], max_new_tokens=max_new_tokens, temperature=temperature,
                                eos_token_id=stops, pad_token_id=pad, generator=generator)
    from .rollout import cut_at_stop

    completions = [tokenizer.decode(cut_at_stop(list(o), set(stops)), skip_special_tokens=True) for o in outs]
    truths = [p.answer for p, k in zip(problems, ks) for _ in range(k)]
    batch = getattr(score, "batch", None)
    pairs = list(zip(completions, truths))
    verdicts = batch(pairs) if batch is not None else [score(c, t) for c, t in pairs]
    records, at = [], 0
    for p, text, k in zip(problems, prompts, ks):
        samples = [EvalSample(completion=c, extracted=ex, correct=r > 0.5)
                   for c, (r, ex) in zip(completions[at:at + k], verdicts[at:at + k])]
        at += k
        acc = sum(s.correct for s in samples) / len(samples)
        records.append(EvalRecord(problem_id=p.id, prompt=text, answer=p.answer, samples=samples, accuracy=acc))
    return records


def accuracy(records: list[EvalRecord]) -> float:
    return sum(r.accuracy for r in records) / len(records) if records else 0.0


def benchmark_metric(records: list[EvalRecord], default_k: int) -> tuple[int, str]:
    """(k, name) of a benchmark's accuracy: avg@k for k > 1 samples a problem, pass@1 for one."""
    k = max((len(r.samples) for r in records), default=default_k)
    return k, (f"avg@{k}" if k > 1 else "pass@1")


@overload
def load_benchmarks(specs: list[str], n_builtin: int, seed: int, skip_bad_rows: bool = False,
                    with_reports: Literal[False] = False) -> dict[str, list]: ...
@overload
def load_benchmarks(specs: list[str], n_builtin: int, seed: int, skip_bad_rows: bool = False, *,
                    with_reports: Literal[True]) -> tuple[dict[str, list], dict]: ...
def load_benchmarks(specs: list[str], n_builtin: int, seed: int, skip_bad_rows: bool = False,
                    with_reports: bool = False):
    """{name: problems} from config entries: 'builtin' (the embedded graded sets) or files / save_to_disk folders
    in the reference's evaluation layout (named after their data_source, else the file). With `with_reports`:
    ({name: problems}, {name: LoadReport})."""
    from . import data, task

    out: dict[str, list] = {}
    reports: dict = {}
    for spec in specs:
        if spec == "builtin":
            out.update(task.builtin_benchmarks(n_builtin, seed))
            continue
        problems, report = data.load_benchmark(spec, skip_bad_rows=skip_bad_rows)
        name = data.benchmark_name(spec, problems)
        name = name if name not in out else f"{name}_{len(out)}"
        out[name], reports[name] = problems, report
    return (out, reports) if with_reports else out
