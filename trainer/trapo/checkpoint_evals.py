"""Evaluations of a run's checkpoint asked for after (or beside) training: `python -m trapo eval CKPT --run-dir RUN`.

They live in the run directory next to the trainer's own, in a folder of their own so that neither can overwrite
the other (the trainer re-evaluates a step after a resume; the user may evaluate a step the trainer evaluated):

    <run>/checkpoint_evals/<step:06d>.json                 the summary: one entry per benchmark evaluated
    <run>/checkpoint_evals/<step:06d>/<benchmark>.jsonl    one evaluated problem a line (eval.schema.json, as the
                                                           trainer's evals/<step:06d>/<benchmark>.jsonl)

The summary (schemas/checkpoint_eval.schema.json) is rewritten atomically after each benchmark, so a cancelled or
failed evaluation keeps the benchmarks it finished; evaluating a benchmark again replaces its entry. The summaries
sit directly in checkpoint_evals/, so a reader sees a new one by the folder's modification time alone.

A benchmark's `digest` identifies its problems (ids, questions, answers), whichever file or name they came from:
the extension pairs problems of two checkpoints, of one run or of two, when their digests agree.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .runformat import EvalRecord, _plain, _write_lines, atomic_write_text

FORMAT = "trapo-checkpoint-eval/1"
FOLDER = "checkpoint_evals"


def summary_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / FOLDER / f"{step:06d}.json"


def records_path(run_dir: Path, step: int, benchmark: str) -> Path:
    return Path(run_dir) / FOLDER / f"{step:06d}" / f"{benchmark}.jsonl"


def benchmark_digest(problems: Iterable) -> str:
    """sha256 over the problems' (id, question, answer), sorted by id: the same for the same problems whatever
    file, name or order they came in."""
    rows = sorted((str(p.id), str(p.question), str(p.answer)) for p in problems)
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def benchmark_identity(name: str, problems: list) -> dict:
    """{source, digest} of a benchmark: its file as configured (builtin:<name> for the embedded sets) and the
    digest of its problems."""
    meta = getattr(problems[0], "meta", None) if problems else None
    source = str(meta["source"]) if isinstance(meta, dict) and meta.get("source") else f"builtin:{name}"
    return {"source": source, "digest": benchmark_digest(problems)}


def read_summary(run_dir: Path, step: int) -> dict | None:
    try:
        data = json.loads(summary_path(run_dir, step).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as err:
        where = summary_path(run_dir, step)
        raise ValueError(f"{where} is not valid JSON ({err}); move it away to start afresh") from err
    if data.get("format") != FORMAT:
        raise ValueError(f"{summary_path(run_dir, step)}: format {data.get('format')!r}, expected {FORMAT!r}")
    return data


def write_benchmark(run_dir: Path, step: int, checkpoint: str, name: str, records: list[EvalRecord],
                    meta: dict, clock: Callable[[], float] = time.time) -> dict:
    """Writes one benchmark's records, then the step's summary with this benchmark's entry added or replaced.
    Returns the entry. `meta`: samples_per_problem, temperature, max_new_tokens, source, digest, model, device,
    engine."""
    run_dir = Path(run_dir)
    path = records_path(run_dir, step, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = _write_lines(path, records)
    accuracy = sum(r.accuracy for r in records) / count if count else 0.0
    now = clock()
    entry = {"accuracy": accuracy, "n": count, "file": path.relative_to(run_dir).as_posix(), "time": now, **meta}
    summary = read_summary(run_dir, step) or {"format": FORMAT, "step": step, "benchmarks": {}}
    summary["checkpoint"] = checkpoint
    summary["benchmarks"][name] = entry
    summary["updated_at"] = now
    accs = [b["accuracy"] for b in summary["benchmarks"].values()]
    summary["average"] = sum(accs) / len(accs)
    atomic_write_text(summary_path(run_dir, step), json.dumps(_plain(summary), indent=2, allow_nan=False) + "\n")
    return entry


def step_of_checkpoint(path: Path) -> int | None:
    """200 for <run>/checkpoints/000200, else None."""
    path = Path(path)
    if path.parent.name == "checkpoints" and path.name.isdigit():
        return int(path.name)
    return None


def run_dir_of_checkpoint(path: Path) -> Path | None:
    path = Path(path).resolve()
    if path.parent.name == "checkpoints" and (path.parent.parent / "run.json").is_file():
        return path.parent.parent
    return None
