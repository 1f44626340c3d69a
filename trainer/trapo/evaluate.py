"""Benchmark evaluation: k samples per problem, batched generation calls of at most eval.batch_size sequences per
benchmark, per-problem records."""

from __future__ import annotations

from typing import Callable, Optional

import torch

from .runformat import EvalRecord, EvalSample


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
    generator: Optional[torch.Generator],
    batch_size: Optional[int] = None,
) -> list[EvalRecord]:
    """`batch_size`: most sequences generated in one call (eval.batch_size; None = all at once)."""
    if not problems:
        return []
    prompts = [build_prompt(tokenizer, p.question) for p in problems]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in prompts]
    flat = [x for x in ids for _ in range(samples_per_problem)]
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    step = batch_size or len(flat)
    outs = []
    for i in range(0, len(flat), step):  # bounded batches: the KV cache holds at most `step` sequences
        outs += engine.generate(model, flat[i:i + step], max_new_tokens=max_new_tokens, temperature=temperature,
                                eos_token_id=eos, pad_token_id=pad, generator=generator)
    records = []
    for i, (p, text) in enumerate(zip(problems, prompts)):
        samples = []
        for out in outs[i * samples_per_problem:(i + 1) * samples_per_problem]:
            completion = tokenizer.decode(out, skip_special_tokens=True)
            reward, extracted = score(completion, p.answer)
            samples.append(EvalSample(completion=completion, extracted=extracted, correct=reward > 0.5))
        acc = sum(s.correct for s in samples) / len(samples)
        records.append(EvalRecord(problem_id=p.id, prompt=text, answer=p.answer, samples=samples, accuracy=acc))
    return records


def accuracy(records: list[EvalRecord]) -> float:
    return sum(r.accuracy for r in records) / len(records) if records else 0.0


def load_benchmarks(specs: list[str], n_builtin: int, seed: int) -> dict[str, list]:
    """{name: problems} from config entries: 'builtin' (the embedded graded sets) or parquet/jsonl files."""
    from pathlib import Path

    from . import task

    out: dict[str, list] = {}
    for spec in specs:
        if spec == "builtin":
            out.update(task.builtin_benchmarks(n_builtin, seed))
        else:
            name = Path(spec).stem
            out[name if name not in out else f"{name}_{len(out)}"] = task.load_benchmark_file(spec)
    return out
