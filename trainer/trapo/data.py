"""Real data: training rows in the TRAPO / LUFFY layouts and benchmark files in the reference's evaluation layout.

Sources (docs/algorithm.md §7.1, §7.7): a parquet file, a JSONL file with the same fields, or a folder written by
Hugging Face `datasets`' `save_to_disk` (a Dataset, or a DatasetDict whose "train" split is used).

Training layouts, both read without guessing:

| layout | expert solutions |
|---|---|
| TRAPO (`Elliott/Openr1-Math-46k-8192` saved as parquet) | `extra_info.answer_list`: strings (two per problem) |
| LUFFY (`openr1.parquet`) | `target`: chat messages `[{"role": "assistant", "content": ...}]`, each message's content |

The problem is the last message's `content` of the `prompt` column (a plain string prompt, or a `problem` /
`question` column, is accepted too); the ground truth is `reward_model.ground_truth`. An expert is always a message's
`content` string: a printed dict or list (`"{'content': ...}"`) is refused, never trained on. A row whose expert
cannot be found is an error naming the row and the column, or, with `skip_bad_rows`, skipped and counted.

Hints are the thought only: the text between `<think>` and `</think>` (stripped), or the whole solution stripped
when there is no such block (the reference's rule). Rows none of whose solutions has a non-empty hint are filtered
and counted. For `sft` the target is the full solution without its leading "<think>\\n" (the reference's SFT data).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .task import Problem

THOUGHT_RE = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.MULTILINE)
_PROMPT_KEYS = ["prompt", "problem", "question"]
_TRUTH_KEYS = ["reward_model.ground_truth", "extra_info.ground_truth", "ground_truth", "extra_info.answer", "answer",
               "final_answer", "gt"]
_EXPERT_KEYS = ["extra_info.answer_list", "target"]


class DataError(ValueError):
    """A row or file that cannot be read as it says: names the source, the row and the column."""


@dataclass
class LoadReport:
    """What loading did to the rows: every row is kept or counted under one reason."""

    source: str
    rows: int = 0
    kept: int = 0
    layouts: dict = field(default_factory=dict)  # "trapo" / "luffy" -> rows
    no_thought: int = 0  # filtered: no solution with a non-empty thought
    bad_rows: int = 0  # skipped (skip_bad_rows): expert or ground truth missing or malformed
    bad_lines: int = 0  # JSONL lines that are not JSON objects (skipped with skip_bad_rows)
    prompt_too_long: int = 0  # filtered later, once the tokenizer is known (data.max_prompt_length)
    first_bad: str | None = None  # the first skipped row's reason

    def summary(self) -> str:
        parts = [f"{self.rows} rows", f"{self.kept} kept"]
        if self.layouts:
            parts.append("layout " + ", ".join(f"{k} {v}" for k, v in sorted(self.layouts.items())))
        for name, n in (("without a usable thought", self.no_thought), ("skipped as bad", self.bad_rows),
                        ("corrupt lines skipped", self.bad_lines), ("prompt over max_prompt_length",
                                                                    self.prompt_too_long)):
            if n:
                parts.append(f"{n} {name}")
        text = f"{self.source}: " + "; ".join(parts)
        return text + (f" (first skipped: {self.first_bad})" if self.first_bad else "")


# ---------------------------------------------------------------------------------------------------- reading


def read_rows(path: str | Path, skip_bad_lines: bool = False, report: LoadReport | None = None) -> list[dict]:
    """Rows of a parquet file, a JSONL/JSON file or a `save_to_disk` folder, as plain dicts (nested columns too)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data file not found: {path}")
    if path.is_dir():
        return _read_saved_dataset(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        columns = None
        extra = schema.field("extra_info").type if "extra_info" in schema.names else None
        if extra is not None and pa.types.is_struct(extra) and extra.get_field_index("answer_list") >= 0:
            # the TRAPO layout also carries `target` (a third copy of a solution): read only for rows that need it
            columns = [n for n in schema.names if n != "target"]
        rows = pq.read_table(path, columns=columns).to_pylist()
        if columns is not None and "target" in schema.names:
            need = [i for i, r in enumerate(rows) if (r.get("extra_info") or {}).get("answer_list") is None]
            if need:
                target = pq.read_table(path, columns=["target"]).column("target")
                for i in need:
                    rows[i]["target"] = target[i].as_py()
        return rows
    if suffix in (".jsonl", ".json"):
        text = path.read_text(encoding="utf-8")
        if suffix == ".json" and text.lstrip().startswith("["):
            return list(json.loads(text))
        rows = []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError(f"a JSON {type(obj).__name__}, not an object")
            except ValueError as e:
                if not skip_bad_lines:
                    raise DataError(f"{path}:{i}: not a JSON object ({e}); fix the line or set "
                                    "data.skip_bad_rows: true to skip and count it") from None
                if report is not None:
                    report.bad_lines += 1
                    report.first_bad = report.first_bad or f"line {i}: {e}"
                continue
            rows.append(obj)
        return rows
    raise DataError(f"{path}: unsupported data file type {suffix!r} (use .parquet, .jsonl or a datasets "
                    "save_to_disk folder)")


def _read_saved_dataset(path: Path) -> list[dict]:
    """A folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`, read with `datasets` itself."""
    if not ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
        raise DataError(f"{path}: a folder, but not one written by datasets' save_to_disk (no dataset_info.json or "
                        "dataset_dict.json)")
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - a dependency of the package
        raise DataError(f"{path}: reading a save_to_disk folder needs the `datasets` package ({e})") from None
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        if "train" in ds:
            ds = ds["train"]
        elif len(ds) == 1:
            ds = next(iter(ds.values()))
        else:
            raise DataError(f"{path}: a DatasetDict with splits {sorted(ds)} and no 'train' split; save one split")
    return ds.to_list()


# ---------------------------------------------------------------------------------------------------- fields


def _plain(value: Any) -> Any:
    """numpy arrays (pandas-written parquet) -> lists."""
    return value.tolist() if hasattr(value, "tolist") and not isinstance(value, (str, bytes)) else value


def get_field(row: dict, dotted: str) -> Any:
    """row["a"]["b"] for "a.b"; a JSON-object string on the way is decoded; None when absent."""
    cur: Any = row
    for part in dotted.split("."):
        if isinstance(cur, str) and cur.lstrip().startswith("{"):
            try:
                cur = json.loads(cur)
            except ValueError:
                return None
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = _plain(cur[part])
    return cur


def _first_present(row: dict, keys: list[str]) -> tuple[str | None, Any]:
    for k in keys:
        v = get_field(row, k)
        if v is not None and not (isinstance(v, str) and v == ""):
            return k, v
    return None, None


def _looks_printed(text: str) -> bool:
    """A str() of a dict or list of messages, e.g. "{'content': '<think>\\n...', 'role': 'assistant'}"."""
    t = text.lstrip()
    return (t.startswith("{") or t.startswith("[")) and ("'content'" in t[:400] or '"content"' in t[:400])


def question_of(prompt: Any) -> str:
    """The problem text: a string prompt, or the last chat message's content (the reference's `chat[-1]`)."""
    prompt = _plain(prompt)
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, (list, tuple)) and prompt:
        last = _plain(prompt[-1])
        if isinstance(last, dict) and isinstance(last.get("content"), str):
            return last["content"]
    raise ValueError(f"neither a string nor a list of chat messages with 'content': {str(prompt)[:80]!r}")


def experts_of(row: dict) -> tuple[str, list[str]]:
    """(layout, expert solution strings) of a training row; ValueError naming the column when there are none."""
    answers = get_field(row, "extra_info.answer_list")
    if answers is not None:
        if isinstance(answers, str):
            answers = [answers]
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise ValueError("column extra_info.answer_list: expected a list of strings, got "
                             f"{type(answers).__name__} {str(answers)[:60]!r}")
        bad = [a for a in answers if _looks_printed(a)]
        if bad:
            raise ValueError("column extra_info.answer_list: holds a printed dict/list, not a solution: "
                             f"{bad[0][:60]!r}")
        return "trapo", answers
    target = get_field(row, "target")
    if target is None:
        raise ValueError("no expert solution column; looked for " + ", ".join(_EXPERT_KEYS))
    if isinstance(target, str):
        if _looks_printed(target):
            raise ValueError(f"column target: a printed dict/list, not a message's content: {target[:60]!r}; "
                             "save target as a list of {role, content} messages")
        return "luffy", [target]
    if isinstance(target, dict):
        target = [target]
    if isinstance(target, list):
        contents = []
        for m in map(_plain, target):
            if not isinstance(m, dict) or not isinstance(m.get("content"), str):
                raise ValueError(f"column target: a message without a string 'content': {str(m)[:60]!r}")
            if m.get("role", "assistant") == "assistant":
                contents.append(m["content"])
        if not contents:
            raise ValueError("column target: no assistant message")
        return "luffy", contents
    raise ValueError(f"column target: expected chat messages or a string, got {type(target).__name__}")


def thought_of(solution: str) -> str:
    """The hint of a solution: the text between <think> and </think> (stripped), else the whole solution stripped."""
    m = THOUGHT_RE.search(solution)
    return m.group(1).strip() if m else solution.strip()


def sft_target_of(solution: str) -> str:
    """The reference's SFT target: the whole solution, without a leading "<think>\\n"."""
    return solution[len("<think>\n"):] if solution.startswith("<think>\n") else solution


def _truth_of(row: dict, what: str = "ground truth") -> str:
    key, truth = _first_present(row, _TRUTH_KEYS)
    if truth is None:
        raise ValueError(f"no {what} column; looked for " + ", ".join(_TRUTH_KEYS))
    if isinstance(truth, (list, tuple)):
        truth = truth[0] if truth else ""
    return str(truth)


def _strip_instruction(text: str) -> str:
    """A problem that already ends with the reference instruction: without it (the prompt adds it back once)."""
    from .prompting import REFERENCE_INSTRUCTION

    if text.rstrip().endswith(REFERENCE_INSTRUCTION):
        return text.rstrip()[: -len(REFERENCE_INSTRUCTION)].rstrip()
    return text


def _row_id(row: dict, fallback: str) -> str:
    for key in ("extra_info.index", "id", "unique_id", "uuid", "extra_info.uuid"):
        v = get_field(row, key)
        if v is not None and v != "":
            return str(v)
    return fallback


# ---------------------------------------------------------------------------------------------------- loaders


def load_training(path: str | Path, *, skip_bad_rows: bool = False, with_sft_targets: bool = True
                  ) -> tuple[list[Problem], LoadReport]:
    """Training problems (hints = thought only) and what loading did; see the module doc."""
    path = Path(path)
    report = LoadReport(source=str(path))
    rows = read_rows(path, skip_bad_lines=skip_bad_rows, report=report)
    report.rows = len(rows)
    if not rows:
        raise DataError(f"{path}: no rows")
    problems: list[Problem] = []
    seen_ids: dict[str, int] = {}
    for i, row in enumerate(rows):
        try:
            pkey, prompt = _first_present(row, _PROMPT_KEYS)
            if prompt is None:
                raise ValueError("no prompt column; looked for " + ", ".join(_PROMPT_KEYS) +
                                 f"; the file has {sorted(row)}")
            try:
                question = question_of(prompt)
            except ValueError as e:
                raise ValueError(f"column {pkey}: {e}") from None
            layout, solutions = experts_of(row)
            truth = _truth_of(row)
        except ValueError as e:
            if not skip_bad_rows:
                raise DataError(f"{path}: row {i}: {e}; fix the data or set data.skip_bad_rows: true to skip and "
                                "count such rows") from None
            report.bad_rows += 1
            report.first_bad = report.first_bad or f"row {i}: {e}"
            continue
        report.layouts[layout] = report.layouts.get(layout, 0) + 1
        hints = [h for h in (thought_of(s) for s in solutions) if h]
        if not hints:
            report.no_thought += 1
            continue
        pid = _row_id(row, f"{path.stem}-{i}")
        if pid in seen_ids:  # ids must be unique: they key the prefix-allocation view and rollouts
            seen_ids[pid] += 1
            pid = f"{pid}#{seen_ids[pid]}"
        else:
            seen_ids[pid] = 0
        sft = [sft_target_of(s) for s in solutions] if with_sft_targets else []
        problems.append(Problem(id=pid, question=_strip_instruction(question), solutions=hints, answer=truth,
                                meta={"source": str(path), "layout": layout}, sft_targets=sft))
    report.kept = len(problems)
    if not problems:
        raise DataError(f"{report.summary()}: no usable training row")
    return problems, report


def load_benchmark(path: str | Path, *, skip_bad_rows: bool = False) -> tuple[list[Problem], LoadReport]:
    """Benchmark problems in the reference's evaluation layout; identical rows (the same problem and ground truth,
    e.g. AIME24's 30 problems repeated 32 times) become ONE problem with meta["repeats"] = k (k samples)."""
    path = Path(path)
    report = LoadReport(source=str(path))
    rows = read_rows(path, skip_bad_lines=skip_bad_rows, report=report)
    report.rows = len(rows)
    if not rows:
        raise DataError(f"{path}: no rows")
    grouped: OrderedDict[tuple[str, str], Problem] = OrderedDict()
    for i, row in enumerate(rows):
        try:
            pkey, prompt = _first_present(row, ["problem", "question", "prompt"])
            if prompt is None:
                raise ValueError("no problem column; looked for problem, question, prompt; the file has "
                                 f"{sorted(row)}")
            question = question_of(prompt)
            truth = _truth_of(row, "answer").strip()
        except ValueError as e:
            if not skip_bad_rows:
                raise DataError(f"{path}: row {i}: {e}") from None
            report.bad_rows += 1
            report.first_bad = report.first_bad or f"row {i}: {e}"
            continue
        key = (question, truth)
        if key in grouped:
            grouped[key].meta["repeats"] += 1
            continue
        sol = get_field(row, "solution")
        grouped[key] = Problem(id=_row_id(row, f"{path.stem}-{i}"), question=_strip_instruction(question),
                               solutions=[str(sol)] if sol else [], answer=truth,
                               meta={"source": str(path), "repeats": 1,
                                     "data_source": get_field(row, "data_source")})
    problems = list(grouped.values())
    ids: dict[str, int] = {}
    for p in problems:  # distinct problems sharing an id (files without ids reuse none; some reuse indexes)
        n = ids.get(p.id, 0)
        ids[p.id] = n + 1
        if n:
            p.id = f"{p.id}#{n}"
    report.kept = len(problems)
    return problems, report


def benchmark_name(path: str | Path, problems: Iterable[Problem]) -> str:
    """The file's single `data_source` when it has one (valid.aime.parquet -> "aime"), else the file's stem."""
    sources = {p.meta.get("data_source") for p in problems}
    if len(sources) == 1:
        (src,) = sources
        if isinstance(src, str) and src.strip():
            return src.strip()
    p = Path(path)
    return p.name if p.is_dir() else p.stem


def filter_long_prompts(problems: list[Problem], prompt_length: Callable[[Problem], int], max_length: int | None,
                        report: LoadReport | None = None) -> list[Problem]:
    """Problems whose prompt has at most `max_length` tokens (None: all); the others are counted in `report`."""
    if max_length is None:
        return problems
    kept = [p for p in problems if prompt_length(p) <= max_length]
    if report is not None:
        report.prompt_too_long += len(problems) - len(kept)
        report.kept = len(kept)
    return kept
