"""Micro-batches for the training pass: rows grouped by length so that little compute goes to padding (pure).

A step's sequences differ a lot in length (short prompts, early EOS, long expert prefixes). Padding every micro-batch
to the step's longest sequence wastes compute in proportion to the padding: on the tiny model's grpo step (8 prompts
x 8 samples, 64 new tokens) 22% of the padded tokens were padding. The rows are sorted by length and cut into
micro-batches of at most `max_rows` rows, where the cuts minimise

    sum over micro-batches of (rows x longest row) + overhead_tokens per micro-batch

(`overhead_tokens`: the fixed cost of one more forward/backward pass, in tokens' worth of compute), by dynamic
programming over the sorted rows. With a token budget (`max_tokens`, train.max_tokens_per_micro_batch) a micro-batch
also holds at most that many padded tokens, which bounds activation and logits memory when responses run to 8k
tokens. The gradient is the same whatever the grouping: the loss weights are global
(see losses.token_weights), so only the summation order of floating-point terms changes.
"""

from __future__ import annotations

from collections.abc import Sequence


def plan_micro_batches(lengths: Sequence[int], max_rows: int, overhead_tokens: int = 0,
                       by_length: bool = True, max_tokens: int | None = None) -> list[list[int]]:
    """Row indices of each micro-batch. Without `by_length`: consecutive rows, `max_rows` at a time (the old way).

    `max_tokens`: no micro-batch holds more than this many padded tokens (rows x its longest row), except a row longer
    than the budget by itself, which gets a micro-batch of its own (`over_budget` counts those)."""
    n = len(lengths)
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")

    def fits(rows: int, longest: int) -> bool:
        return rows <= max_rows and (rows == 1 or max_tokens is None or rows * longest <= max_tokens)

    if not by_length:
        plans: list[list[int]] = []
        for i in range(n):
            if plans and fits(len(plans[-1]) + 1, max(max(lengths[j] for j in plans[-1]), lengths[i])):
                plans[-1].append(i)
            else:
                plans.append([i])
        return plans
    order = sorted(range(n), key=lambda i: (lengths[i], i))
    ls = [lengths[i] for i in order]
    inf = float("inf")
    best = [0.0] + [inf] * n  # best[j]: cheapest plan of the first j sorted rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j - 1, max(0, j - max_rows) - 1, -1):
            # rows i..j-1 padded to ls[j-1] (the longest, as the rows are sorted); fewer fit as i moves left
            if not fits(j - i, ls[j - 1]):
                break
            c = best[i] + (j - i) * ls[j - 1] + overhead_tokens
            if c < best[j]:
                best[j], cut[j] = c, i
    plans = []
    j = n
    while j > 0:
        plans.append(order[cut[j]:j])
        j = cut[j]
    plans.reverse()
    return plans


def over_budget(lengths: Sequence[int], max_tokens: int | None) -> int:
    """Rows longer than the token budget on their own (each is a micro-batch above the budget)."""
    return 0 if max_tokens is None else sum(1 for x in lengths if x > max_tokens)


def padded_tokens(lengths: Sequence[int], plan: Sequence[Sequence[int]]) -> int:
    """Tokens computed (padding included) when each micro-batch is padded to its own longest row."""
    return sum(len(rows) * max(lengths[i] for i in rows) for rows in plan if rows)
