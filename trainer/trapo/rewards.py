"""Rewards: R in {0, 1} from the final boxed answer (architecture §3, algorithm §3). No format reward.

- "exact": the last \\boxed{...} of the text, normalised (spaces, surrounding $, trailing period, `\\text{}`,
  leading "+", a trailing ".0"), equals the normalised ground truth.
- "math_verify": the `math-verify` library's parse + verify (the reference's checker). It uses signal-based
  timeouts that only work in the main thread; off the main thread timeouts are disabled, and any exception falls
  back to "exact".
- "auto": "exact" when the ground truth is a plain integer (the embedded task), "math_verify" otherwise.
"""

from __future__ import annotations

import re
import threading

_INT = re.compile(r"[+-]?\d+")


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


def _math_verify(text: str, ground_truth: str) -> tuple[float, str | None]:
    extracted = extract_boxed(text)
    try:
        from math_verify import parse, verify

        main = threading.current_thread() is threading.main_thread()
        kw_parse = {} if main else {"parsing_timeout": None}
        kw_verify = {} if main else {"timeout_seconds": None}
        gold_text = ground_truth if "\\boxed" in ground_truth else f"\\boxed{{{ground_truth}}}"
        gold = parse(gold_text, **kw_parse)
        pred = parse(text, **kw_parse)
        if not gold or not pred:
            return _exact(text, ground_truth)
        ok = bool(verify(gold, pred, **kw_verify))
        if not ok and extracted is not None:
            # math-verify can miss a plain match that the exact check gets (e.g. odd LaTeX in the gold)
            ok = _exact(text, ground_truth)[0] == 1.0
        return (1.0 if ok else 0.0), extracted if extracted is not None else (str(pred[-1]) if pred else None)
    except Exception:  # noqa: BLE001 - any failure of the checker falls back to the exact check
        return _exact(text, ground_truth)


def score(text: str, ground_truth: str, method: str = "auto") -> tuple[float, str | None]:
    """(reward in {0.0, 1.0}, the extracted answer or None)."""
    if method == "auto":
        method = "exact" if _INT.fullmatch(str(ground_truth).strip()) else "math_verify"
    if method == "exact":
        return _exact(text, str(ground_truth))
    if method == "math_verify":
        return _math_verify(text, str(ground_truth))
    raise ValueError(f"unknown reward method {method!r}; use 'auto', 'exact' or 'math_verify'")
