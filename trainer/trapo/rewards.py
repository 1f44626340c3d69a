"""Rewards: R in {0, 1} from the final answer (docs/algorithm.md §3, §7.3). No format reward.

- "math_verify": the reference's checker for every answer, integers included:
  `verify(parse("$" + ground_truth + "$"), parse(response))`, run under a per-answer deadline (trapo.verify) so that
  a pathological answer cannot hang a rank; answers past it score 0 and are counted (`reward/verify_timeouts`).
- "exact": the last \\boxed{...} of the text, normalised (spaces, surrounding $, trailing period, `\\text{}`,
  leading "+", a trailing ".0"), equals the normalised ground truth. The embedded task's checker.
- "auto" (config `reward.method`): "exact" on the embedded task, "math_verify" on real data.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

METHODS = ("exact", "math_verify")


def extract_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}) in text, braces balanced; None when there is none."""
    if not text:
        return None
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    while start >= 0:
        i = text.find("{", start)
        if i >= 0 and text[start:i].strip() in ("\\boxed", "\\fbox"):
            depth = 0
            for j in range(i, len(text)):
                c = text[j]
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        return text[i + 1 : j]
        # unbalanced or "\boxed 5" style: try an earlier occurrence
        start = max(text.rfind("\\boxed", 0, start), text.rfind("\\fbox", 0, start))
    return None


def normalize_answer(s: str) -> str:
    s = s.strip()
    m = re.fullmatch(r"\\text\{(.*)\}", s)
    if m:
        s = m.group(1)
    s = s.strip().rstrip(".").strip().strip("$").strip()
    s = s.rstrip(".").replace(" ", "").replace("\\!", "").replace("\\,", "")
    if s.startswith("+"):
        s = s[1:]
    if re.fullmatch(r"-?\d+\.0+", s):
        s = s.split(".")[0]
    if s == "-0":
        s = "0"
    return s


def _exact(text: str, ground_truth: str) -> tuple[float, str | None]:
    got = extract_boxed(text)
    if got is None:
        return 0.0, None
    return (1.0 if normalize_answer(got) == normalize_answer(ground_truth) else 0.0), got


def _math_verify_here(text: str, ground_truth: str) -> tuple[float, str | None]:
    """math-verify in this thread: its own signal timeouts on the main thread, none elsewhere (tests, the CLI)."""
    from math_verify import parse, verify

    main = threading.current_thread() is threading.main_thread()
    kw_parse: dict[str, Any] = {} if main else {"parsing_timeout": None}
    kw_verify: dict[str, Any] = {} if main else {"timeout_seconds": None}
    gold = parse("$" + ground_truth + "$", **kw_parse)
    pred = parse(text, **kw_parse)
    ok = bool(verify(gold, pred, **kw_verify)) if gold and pred else False
    extracted = None
    if pred:
        extracted = pred[-1] if isinstance(pred[-1], str) else str(pred[0])
    return (1.0 if ok else 0.0), extracted


def score(text: str, ground_truth: str, method: str = "math_verify") -> tuple[float, str | None]:
    """(reward in {0.0, 1.0}, the extracted answer or None), without a deadline: for one-off checks."""
    if method == "exact":
        return _exact(text, str(ground_truth))
    if method == "math_verify":
        return _math_verify_here(text, str(ground_truth))
    raise ValueError(f"unknown reward method {method!r}; use 'exact' or 'math_verify'")


def resolve_method(method: str, builtin_data: bool) -> str:
    """Config `reward.method`: auto -> exact on the embedded task, math_verify on real data."""
    if method == "auto":
        return "exact" if builtin_data else "math_verify"
    if method not in METHODS:
        raise ValueError(f"unknown reward method {method!r}; use auto, exact or math_verify")
    return method


class Scorer:
    """The trainer's reward: `scorer(text, truth)` for one answer, `scorer.batch(pairs)` for many (math-verify checks
    them in parallel worker processes under a per-answer deadline). `take_timeouts()` returns and resets the count of
    answers that ran past the deadline (scored 0)."""

    def __init__(self, method: str, workers: int = 2, timeout_s: float = 10.0):
        if method not in METHODS:
            raise ValueError(f"unknown reward method {method!r}; use 'exact' or 'math_verify'")
        self.method = method
        self.pool = None
        if method == "math_verify":
            from .verify import VerifyPool

            self.pool = VerifyPool(workers, timeout_s)
        self._taken = 0

    def batch(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[float, str | None]]:
        if self.pool is None:
            return [_exact(t, str(g)) for t, g in pairs]
        return [(1.0 if v.correct else 0.0, v.extracted)
                for v in self.pool.verify_many([(t, str(g)) for t, g in pairs])]

    def __call__(self, text: str, ground_truth: str) -> tuple[float, str | None]:
        return self.batch([(text, ground_truth)])[0]

    def take_timeouts(self) -> int:
        if self.pool is None:
            return 0
        n = self.pool.timeouts - self._taken
        self._taken = self.pool.timeouts
        return n

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
