"""Problems: the embedded arithmetic task, and loaders for real data (LUFFY/TRAPO parquet, benchmark files).

The embedded task stands in for the paper's math data on a CPU. A problem is an integer expression over the digits
1..9 with `+`, `-`, `*` (usual precedence, left to right otherwise), e.g. "Compute 7 - 2 + 3 * 4.". Difficulty is the
number of operations (1..4). Every problem carries TWO different, correct, step-by-step expert solutions whose
paragraphs are separated by "\\n\\n" and that end in `\\boxed{answer}`:

- solution 0 ("one operation a paragraph"):  "3 * 4 = 12\\n\\n7 - 2 = 5\\n\\n5 + 12 = 17\\n\\nThe answer is \\boxed{17}."
- solution 1 ("rewrite the expression"):     "7 - 2 + 3 * 4 = 7 - 2 + 12\\n\\n7 - 2 + 12 = 5 + 12\\n\\n5 + 12 = 17\\n\\n"
                                              "So the answer is \\boxed{17}."

Every intermediate value lies in 0..20 (problems that leave that range are redrawn), so answers are small
non-negative integers, the table of arithmetic facts a tiny model must learn stays small, and responses stay short
(15 tiny-tokenizer tokens for one operation, up to 70 for four).

Train and benchmark problems are disjoint whatever the seeds: a problem belongs to the held-out pool when a hash of
its question text falls in one eighth of the hash space (`_is_held_out`), and only there.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Difficulty (number of operations) -> share of generated training problems. The warm-up trains on level 1 (and a
# little of level 2), so levels 2-3 are where RL and expert prefixes have something to teach.
TRAIN_LEVEL_WEIGHTS: dict[int, float] = {1: 0.2, 2: 0.4, 3: 0.4}
# Held-out benchmarks, easiest first (stand-ins for AIME/AMC/MATH-500/Minerva/Olympiad). ops4 is longer
# than anything in the training data: it measures generalisation.
BENCHMARK_LEVELS: dict[str, int] = {"ops1": 1, "ops2": 2, "ops3": 3, "ops4": 4}
MAX_VALUE = 20  # every intermediate value and answer lies in 0..MAX_VALUE (a small table of facts to learn)
_HELD_OUT_BUCKETS = 8  # one bucket out of eight (12.5% of all expressions) is held out for benchmarks


@dataclass
class Problem:
    id: str
    question: str
    solutions: list[str]  # expert solutions (one or more), each ending in \boxed{answer}
    answer: str  # ground truth, as text
    meta: dict[str, Any] = field(default_factory=dict)  # optional: difficulty, source; never needed by the trainer


# ----------------------------------------------------------------------------------------------------------------
# the embedded arithmetic task


def _apply(a: int, op: str, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    raise ValueError(f"unknown operator {op!r}")


def _fmt(tokens: list) -> str:
    return " ".join(str(t) for t in tokens)


def _reduce_once(tokens: list) -> tuple[list, tuple[int, str, int, int]] | None:
    """Evaluate the first operation due under precedence (leftmost `*`, else leftmost `+`/`-`)."""
    if len(tokens) == 1:
        return None
    ops = [i for i in range(1, len(tokens), 2)]
    mul = [i for i in ops if tokens[i] == "*"]
    i = mul[0] if mul else ops[0]
    a, op, b = tokens[i - 1], tokens[i], tokens[i + 1]
    value = _apply(a, op, b)
    return tokens[: i - 1] + [value] + tokens[i + 2 :], (a, op, b, value)


def solve_steps(tokens: list) -> list[tuple[list, tuple[int, str, int, int]]]:
    """All reduction steps of an expression: (expression after the step, (a, op, b, value))."""
    steps = []
    cur = tokens
    while True:
        nxt = _reduce_once(cur)
        if nxt is None:
            return steps
        cur = nxt[0]
        steps.append(nxt)


def expert_solutions(tokens: list) -> tuple[list[str], int]:
    """The two expert solutions of an expression and its value."""
    steps = solve_steps(tokens)
    value = steps[-1][0][0] if steps else tokens[0]
    one_op = [f"{a} {op} {b} = {v}" for _, (a, op, b, v) in steps]
    rewrite = []
    before = tokens
    for after, _ in steps:
        rewrite.append(f"{_fmt(before)} = {_fmt(after)}")
        before = after
    # the closing lines differ too, so that the two solutions differ even for a single operation
    return [
        "\n\n".join(one_op + [f"The answer is \\boxed{{{value}}}."]),
        "\n\n".join(rewrite + [f"So the answer is \\boxed{{{value}}}."]),
    ], value


def _is_held_out(question: str) -> bool:
    digest = hashlib.sha1(question.encode()).digest()
    return digest[0] % _HELD_OUT_BUCKETS == 0


def _in_range(tokens: list) -> bool:
    for after, (_, _, _, v) in solve_steps(tokens):
        if v < 0 or v > MAX_VALUE:
            return False
    return True


def make_problem(tokens: list) -> Problem:
    """A Problem from an expression given as [int, op, int, op, ...]."""
    question = f"Compute {_fmt(tokens)}."
    solutions, value = expert_solutions(tokens)
    level = len(tokens) // 2
    pid = f"arith{level}-{hashlib.sha1(question.encode()).hexdigest()[:8]}"
    return Problem(id=pid, question=question, solutions=solutions, answer=str(value), meta={"difficulty": level})


def _random_expression(rng: random.Random, n_ops: int) -> list:
    while True:
        tokens: list = [rng.randint(1, 9)]
        for _ in range(n_ops):
            tokens += [rng.choice("+-*"), rng.randint(1, 9)]
        if _in_range(tokens):
            return tokens


def _draw(rng: random.Random, level: int, n: int, held_out: bool, seen: set[str]) -> list[Problem]:
    out: list[Problem] = []
    attempts = 0
    limit = 200 * n + 2000
    while len(out) < n and attempts < limit:
        attempts += 1
        tokens = _random_expression(rng, level)
        question = f"Compute {_fmt(tokens)}."
        if question in seen or _is_held_out(question) != held_out:
            continue
        seen.add(question)
        out.append(make_problem(tokens))
    return out


def builtin_train_problems(n: int, seed: int) -> list[Problem]:
    """`n` distinct training problems, levels mixed by TRAIN_LEVEL_WEIGHTS, shuffled; none is in any benchmark.

    Level 1 has only about 150 training expressions; when a level runs out, the remainder comes from harder levels.
    """
    if n < 1:
        raise ValueError(f"builtin_train_problems: n must be >= 1, got {n}")
    rng = random.Random(f"trapo-train-{seed}")
    seen: set[str] = set()
    problems: list[Problem] = []
    levels = sorted(TRAIN_LEVEL_WEIGHTS)
    total_w = sum(TRAIN_LEVEL_WEIGHTS.values())
    quotas = [round(n * TRAIN_LEVEL_WEIGHTS[lv] / total_w) for lv in levels]
    quotas[-1] = n - sum(quotas[:-1])
    carry = 0
    for lv, q in zip(levels, quotas):
        got = _draw(rng, lv, q + carry, held_out=False, seen=seen)
        carry = q + carry - len(got)
        problems += got
    if carry > 0:  # every level exhausted (n in the tens of thousands): top up from the hardest level
        problems += _draw(rng, levels[-1] + 1, carry, held_out=False, seen=seen)
    rng.shuffle(problems)
    return problems


def builtin_warmup_problems(n: int, seed: int, max_level: int = 1, level2_share: float = 0.0) -> list[Problem]:
    """Easy training-side problems (never held out) for the warm-up SFT of the tiny model."""
    rng = random.Random(f"trapo-warmup-{seed}")
    seen: set[str] = set()
    n2 = int(round(n * level2_share)) if max_level >= 2 else 0
    out = _draw(rng, 1, n - n2, held_out=False, seen=seen)
    # level 1 has ~150 training expressions: repeat them to reach n
    base = list(out)
    while len(out) < n - n2 and base:
        out.append(base[len(out) % len(base)])
    out += _draw(rng, 2, n2, held_out=False, seen=seen)
    rng.shuffle(out)
    return out


def builtin_benchmarks(n_per_benchmark: int, seed: int) -> dict[str, list[Problem]]:
    """Held-out benchmark sets of graded difficulty, {name: problems}, easiest first.

    `ops1` has only about 20 held-out expressions, so it holds min(n_per_benchmark, ~20) problems.
    """
    if n_per_benchmark < 1:
        raise ValueError(f"builtin_benchmarks: n_per_benchmark must be >= 1, got {n_per_benchmark}")
    out: dict[str, list[Problem]] = {}
    for name, level in BENCHMARK_LEVELS.items():
        rng = random.Random(f"trapo-bench-{name}-{seed}")
        out[name] = _draw(rng, level, n_per_benchmark, held_out=True, seen=set())
    return out


# ----------------------------------------------------------------------------------------------------------------
# real data


def _chat_to_text(prompt: Any) -> str:
    """A prompt column value (string, or chat list of {role, content}) -> the user's text."""
    if isinstance(prompt, str):
        return prompt
    if hasattr(prompt, "tolist"):
        prompt = prompt.tolist()
    if isinstance(prompt, (list, tuple)):
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role", "user") == "user"]
        if users:
            return str(users[-1])
        texts = [m.get("content", "") for m in prompt if isinstance(m, dict)]
        if texts:
            return str(texts[-1])
    raise ValueError(f"prompt is neither a string nor a chat list of {{role, content}}: {str(prompt)[:80]!r}")


def _strip_instruction(text: str) -> str:
    from .prompting import REFERENCE_INSTRUCTION

    text = text.strip()
    if text.endswith(REFERENCE_INSTRUCTION):
        text = text[: -len(REFERENCE_INSTRUCTION)].rstrip()
    return text


def _get(row: dict, dotted: str) -> Any:
    cur: Any = row
    for part in dotted.split("."):
        if isinstance(cur, str) and part:
            try:
                cur = json.loads(cur)
            except ValueError:
                return None
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _first(row: dict, candidates: list[str]) -> Any:
    for c in candidates:
        v = _get(row, c)
        if v is not None and not (isinstance(v, str) and v == ""):
            return v
    return None


_PROMPT_KEYS = ["prompt", "problem", "question"]
_SOLUTION_KEYS = ["extra_info.answer_list", "extra_info.answers", "answer_list", "solutions", "extra_info.solution",
                  "solution", "target"]
_TRUTH_KEYS = ["reward_model.ground_truth", "extra_info.ground_truth", "ground_truth", "extra_info.answer", "answer",
               "final_answer", "gt"]


def _read_rows(path: Path) -> list[dict]:
    if not path.exists():
        raise FileNotFoundError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if suffix in (".jsonl", ".json"):
        text = path.read_text(encoding="utf-8")
        if suffix == ".json" and text.lstrip().startswith("["):
            return list(json.loads(text))
        rows = []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as e:
                    raise ValueError(f"{path}:{i}: not a JSON object ({e})") from None
        return rows
    raise ValueError(f"{path}: unsupported data file type {suffix!r} (use .parquet or .jsonl)")


def _missing(path: Path, what: str, keys: list[str], row: dict) -> ValueError:
    return ValueError(f"{path}: no {what} column; looked for {', '.join(keys)}; the file has {sorted(row)}")


def load_parquet_problems(path: str | Path) -> list[Problem]:
    """Training problems in the LUFFY/TRAPO layout (parquet; JSONL with the same fields is accepted too).

    prompt: string or chat list; expert solutions: `extra_info.answer_list` (one or more; a single string is one
    solution); ground truth: `reward_model.ground_truth` (or extra_info.ground_truth / ground_truth / answer).
    """
    path = Path(path)
    rows = _read_rows(path)
    if not rows:
        raise ValueError(f"{path}: no rows")
    problems = []
    for i, row in enumerate(rows):
        prompt = _first(row, _PROMPT_KEYS)
        if prompt is None:
            raise _missing(path, "prompt", _PROMPT_KEYS, row)
        sols = _first(row, _SOLUTION_KEYS)
        if sols is None:
            raise _missing(path, "expert solution", _SOLUTION_KEYS, row)
        if hasattr(sols, "tolist"):
            sols = sols.tolist()
        sols = [sols] if isinstance(sols, str) else [str(s) for s in sols if s is not None and str(s).strip()]
        if not sols:
            raise ValueError(f"{path}: row {i} has an empty expert solution list")
        truth = _first(row, _TRUTH_KEYS)
        if truth is None:
            raise _missing(path, "ground truth", _TRUTH_KEYS, row)
        if isinstance(truth, (list, tuple)):
            truth = truth[0] if truth else ""
        pid = _get(row, "extra_info.index")
        pid = str(pid) if pid is not None else (str(row["id"]) if "id" in row else f"{path.stem}-{i}")
        problems.append(Problem(id=pid, question=_strip_instruction(_chat_to_text(prompt)), solutions=sols,
                                answer=str(truth), meta={"source": str(path)}))
    return problems


def load_benchmark_file(path: str | Path) -> list[Problem]:
    """Benchmark problems from parquet or JSONL: a problem/question/prompt field and an answer field."""
    path = Path(path)
    rows = _read_rows(path)
    if not rows:
        raise ValueError(f"{path}: no rows")
    problems = []
    for i, row in enumerate(rows):
        q = _first(row, ["problem", "question", "prompt"])
        if q is None:
            raise _missing(path, "problem", ["problem", "question", "prompt"], row)
        truth = _first(row, ["answer", "final_answer", "reward_model.ground_truth", "ground_truth", "gt"])
        if truth is None:
            raise _missing(path, "answer", ["answer", "final_answer", "reward_model.ground_truth", "ground_truth"], row)
        if isinstance(truth, (list, tuple)):
            truth = truth[0] if truth else ""
        sol = _first(row, ["solution"])
        pid = row.get("id", row.get("unique_id", f"{path.stem}-{i}"))
        problems.append(Problem(id=str(pid), question=_strip_instruction(_chat_to_text(q)),
                                solutions=[str(sol)] if sol else [], answer=str(truth), meta={"source": str(path)}))
    return problems
