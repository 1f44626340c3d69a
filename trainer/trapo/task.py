"""Problems: the embedded arithmetic task, and loaders for real data (LUFFY/TRAPO parquet, benchmark files).

The embedded task stands in for the paper's math data on a CPU. A problem is an integer expression over the digits
1..9 with `+`, `-`, `*` (usual precedence, left to right otherwise), e.g. "Compute 7 - 2 + 3 * 4.". Difficulty is the
number of operations (1..4). Every problem carries TWO different, correct, step-by-step expert solutions whose
paragraphs are separated by "\\n\\n" and that end in `\\boxed{answer}`:

- solution 0 ("one operation a paragraph"):  "3 * 4 = 12\\n\\n7 - 2 = 5\\n\\n5 + 12 = 17\\n\\n"
                                              "The answer is \\boxed{17}."
- solution 1 ("rewrite the expression"):     "7 - 2 + 3 * 4 = 7 - 2 + 12\\n\\n7 - 2 + 12 = 5 + 12\\n\\n"
                                              "5 + 12 = 17\\n\\nSo the answer is \\boxed{17}."

Every intermediate value lies in 0..20 (problems that leave that range are redrawn), so answers are small
non-negative integers, the table of arithmetic facts a tiny model must learn stays small, and responses stay short
(15 tiny-tokenizer tokens for one operation, up to 70 for four).

Train and benchmark problems are disjoint whatever the seeds: a problem belongs to the held-out pool when a hash of
its question text falls in one eighth of the hash space (`_is_held_out`), and only there.
"""

from __future__ import annotations

import hashlib
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
    # what `sft` trains on when it differs from `solutions` (real data: the full solution, while `solutions` holds
    # the thought-only hints); empty = `solutions`
    sft_targets: list[str] = field(default_factory=list)


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
    for _after, (_, _, _, v) in solve_steps(tokens):
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
# real data (the loaders live in trapo.data)


def load_parquet_problems(path: str | Path, skip_bad_rows: bool = False) -> list[Problem]:
    """Training problems in the TRAPO or LUFFY layout (parquet, JSONL or a save_to_disk folder); see trapo.data."""
    from .data import load_training

    return load_training(path, skip_bad_rows=skip_bad_rows)[0]


def load_benchmark_file(path: str | Path) -> list[Problem]:
    """Benchmark problems (repeated rows = one problem with meta["repeats"] samples); see trapo.data."""
    from .data import load_benchmark

    return load_benchmark(path)[0]
