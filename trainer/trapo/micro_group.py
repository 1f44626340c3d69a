"""Micro-group sampling decisions as pure functions (docs/algorithm.md §2).

Per prompt and step, the group is drawn in stages (n, ratio, threshold). Stage i is guided (its samples continue an
expert prefix of `ratio` of the solution) when the prompt is still doing badly: the correct count S of all earlier
samples of this step is below the threshold (`count`, the reference code) or their mean reward is (`mean`, the
paper's text). A guided stage with ratio >= 1 is the full expert solution: one sample, not generated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    n: int
    ratio: float
    threshold: float | None  # None: never guided

    @property
    def full_expert(self) -> bool:
        return self.ratio >= 1.0


def stage_plan(stages: Sequence) -> list[Stage]:
    """Stages from config objects / tuples / dicts -> list of Stage(n, ratio, threshold)."""
    out = []
    for s in stages:
        if isinstance(s, Stage):
            out.append(s)
        elif isinstance(s, dict):
            out.append(Stage(int(s["n"]), float(s["ratio"]), s.get("threshold")))
        elif isinstance(s, (tuple, list)):
            out.append(Stage(int(s[0]), float(s[1]), s[2]))
        else:  # StageConfig
            out.append(Stage(int(s.n), float(s.ratio), s.threshold))
    return out


def group_size(stages: Sequence[Stage]) -> int:
    return sum(s.n for s in stages)


def is_guided(stage: Stage, correct_before: int, drawn_before: int, kind: str = "count") -> bool:
    """Whether this stage gets an expert prefix, from this step's results of the prompt so far."""
    if stage.threshold is None or stage.ratio <= 0.0:
        return False
    if kind == "count":
        return correct_before < stage.threshold
    if kind == "mean":
        return drawn_before > 0 and correct_before / drawn_before < stage.threshold
    raise ValueError(f"unknown threshold kind {kind!r}")


@dataclass
class StageOutcome:
    n: int
    ratio: float
    guided: bool
    correct: int
    correct_before: int


def decide_stages(stages: Sequence[Stage], correct_per_stage: Sequence[int], kind: str = "count") -> list[StageOutcome]:
    """Replay a prompt's decisions given each stage's correct count (what sampling would have produced).

    The correct count of stage i only influences stages after i, exactly as in sampling.
    """
    out, correct, drawn = [], 0, 0
    for stage, c in zip(stages, correct_per_stage):
        guided = is_guided(stage, correct, drawn, kind)
        out.append(StageOutcome(stage.n, stage.ratio, guided, int(c), correct))
        correct += int(c)
        drawn += stage.n
    return out


def guidance_level(outcomes: Sequence[StageOutcome]) -> int:
    """Index of the last guided stage; 0 when no stage was guided (3 = full expert with the reference stages)."""
    level = 0
    for i, o in enumerate(outcomes):
        if o.guided:
            level = i
    return level


def solution_index(stage: Stage, n_solutions: int) -> int:
    """Stages with a partial prefix use expert solution 0; the full-expert sample uses a second one if there is one."""
    return 1 if stage.full_expert and n_solutions > 1 else 0


def sft_owner_mask(n: int, guided: bool) -> list[bool]:
    """Only the last sample of a guided stage carries TrSFT on the shared prefix (trained once)."""
    return [guided and i == n - 1 for i in range(n)]


PREFIX_RULES = ("reference", "text")


def prefix_cut_ids(hint_ids: Sequence[int], ratio: float, break_ids, lookahead: float = 0.3) -> int:
    """The reference's cut (rule `reference`): number of tokens of `hint_ids` in the prefix of `ratio`.

    `hint_ids` is the hint as the reference holds it, WITH the appended EOS, so L counts the EOS. t = floor(r * L);
    the first break token (`break_ids`: vocabulary entries whose text contains a paragraph break) whose index is
    strictly greater than t moves the cut to just after it when that index is below (r + lookahead) * L (strict,
    not floored); otherwise the cut is t. A break at index t itself, or a prefix that already ends on a break, does
    not stop the search; a break split over two tokens is not a break token. ratio >= 1: all of L; <= 0: nothing.
    """
    total = len(hint_ids)
    if ratio >= 1.0:
        return total
    if ratio <= 0.0 or total == 0:
        return 0
    t = int(total * ratio)
    for i in range(t + 1, total):
        if hint_ids[i] in break_ids:
            return i + 1 if i < total * (ratio + lookahead) else t
    return t


def _byte_level_alphabet() -> dict[int, str]:
    """GPT-2's byte -> printable character map of byte-level BPE vocabularies (b"\n" -> "Ċ")."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def break_token_ids(vocab: dict[str, int], paragraph_break: str = "\n\n") -> frozenset[int]:
    """Ids of the vocabulary entries whose text contains `paragraph_break`: spelled as byte-level BPE writes it
    ("ĊĊ" for "\n\n", what the reference looks for) or literally (vocabularies that store text as is)."""
    alphabet = _byte_level_alphabet()
    spelled = "".join(alphabet[b] for b in paragraph_break.encode("utf-8"))
    return frozenset(i for tok, i in vocab.items() if spelled in tok or paragraph_break in tok)


def prefix_cut(pieces: Sequence[str], ratio: float, lookahead: float = 0.3, paragraph_break: str = "\n\n") -> int:
    """The trainer's earlier cut, rule `text` (`pieces`: the hint's decoded tokens, no EOS). Number of expert tokens
    in the prefix of `ratio` of the solution, `pieces` being the solution's decoded tokens.

    Cut at k = floor(ratio * L) tokens; if a paragraph break ends at or after that cut and its token lies before
    floor((ratio + lookahead) * L), move the cut to the end of that break (prefixes end on paragraph boundaries);
    otherwise cut at exactly k. ratio >= 1 is the whole solution, ratio <= 0 nothing.
    """
    total = len(pieces)
    if ratio >= 1.0:
        return total
    if ratio <= 0.0 or total == 0:
        return 0
    k = int(ratio * total)
    limit = int((ratio + lookahead) * total)
    ends, pos = [], 0
    for piece in pieces:
        pos += len(piece)
        ends.append(pos)
    text = "".join(pieces)
    cut_char = ends[k - 1] if k > 0 else 0
    if text[:cut_char].endswith(paragraph_break):
        return k  # already on a boundary
    start = max(cut_char - len(paragraph_break) + 1, 0)
    idx = text.find(paragraph_break, start)
    if idx < 0:
        return k
    end_char = idx + len(paragraph_break)
    # first token whose end reaches the break's end: the cut includes that token
    j = next(i for i, e in enumerate(ends) if e >= end_char) + 1
    return j if j <= limit else k
