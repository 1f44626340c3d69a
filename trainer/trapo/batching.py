"""Micro-batches for the training pass: rows grouped by length so that little compute goes to padding (pure).

A step's sequences differ a lot in length (short prompts, early EOS, long expert prefixes). Padding every micro-batch
to the step's longest sequence wastes compute in proportion to the padding: on the tiny model's grpo step (8 prompts
x 8 samples, 64 new tokens) 22% of the padded tokens were padding. The rows are sorted by length and cut into
micro-batches of at most `max_rows` rows, where the cuts minimise

    sum over micro-batches of (rows x longest row) + overhead_tokens per micro-batch

(`overhead_tokens`: the fixed cost of one more forward/backward pass, in tokens' worth of compute), by dynamic
programming over the sorted rows. The gradient is the same whatever the grouping: the loss weights are global
(see losses.token_weights), so only the summation order of floating-point terms changes.
"""

from __future__ import annotations

from typing import Sequence


def plan_micro_batches(lengths: Sequence[int], max_rows: int, overhead_tokens: int = 0,
                       by_length: bool = True) -> list[list[int]]:
    """Row indices of each micro-batch. Without `by_length`: consecutive rows, `max_rows` at a time (the old way)."""
    n = len(lengths)
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1")
    if not by_length:
        return [list(range(i, min(i + max_rows, n))) for i in range(0, n, max_rows)]
    order = sorted(range(n), key=lambda i: (lengths[i], i))
    ls = [lengths[i] for i in order]
    inf = float("inf")
    best = [0.0] + [inf] * n  # best[j]: cheapest plan of the first j sorted rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(max(0, j - max_rows), j):
            # rows i..j-1 padded to ls[j-1] (the longest, as the rows are sorted)
            c = best[i] + (j - i) * ls[j - 1] + overhead_tokens
            if c < best[j]:
                best[j], cut[j] = c, i
    plans: list[list[int]] = []
    j = n
    while j > 0:
        plans.append(order[cut[j]:j])
        j = cut[j]
    plans.reverse()
    return plans


def padded_tokens(lengths: Sequence[int], plan: Sequence[Sequence[int]]) -> int:
    """Tokens computed (padding included) when each micro-batch is padded to its own longest row."""
    return sum(len(rows) * max(lengths[i] for i in rows) for rows in plan if rows)
