"""Length-bucketed micro-batches (trapo/batching.py), with the arithmetic by hand."""

import pytest

from trapo.batching import padded_tokens, plan_micro_batches


def test_without_bucketing_rows_stay_in_order_max_rows_at_a_time():
    assert plan_micro_batches([5, 1, 9, 2, 7], 2, by_length=False) == [[0, 1], [2, 3], [4]]


def test_two_length_clusters_are_split_when_the_padding_saved_exceeds_the_overhead():
    lengths = [10, 100, 11, 101, 12, 102]
    # One micro-batch: 6 rows x 102 = 612 tokens + 50 overhead = 662.
    # Two (sorted 10,11,12 | 100,101,102): 3 x 12 + 3 x 102 = 342 + 2 x 50 = 442 -> the cheapest.
    plan = plan_micro_batches(lengths, max_rows=6, overhead_tokens=50)
    assert plan == [[0, 2, 4], [1, 3, 5]]
    assert padded_tokens(lengths, plan) == 342


def test_a_large_overhead_keeps_one_micro_batch():
    lengths = [10, 100, 11, 101, 12, 102]
    # Two micro-batches cost 342 + 2 x 400 = 1142 > 612 + 400 = 1012 for one.
    assert plan_micro_batches(lengths, max_rows=6, overhead_tokens=400) == [[0, 2, 4, 1, 3, 5]]


def test_max_rows_is_respected_and_every_row_appears_once():
    lengths = [7, 3, 3, 9, 1, 4, 4, 8, 2, 6, 5]
    plan = plan_micro_batches(lengths, max_rows=3, overhead_tokens=0)
    assert all(1 <= len(p) <= 3 for p in plan)
    assert sorted(i for p in plan for i in p) == list(range(len(lengths)))
    # Equal lengths: ties broken by index, so the plan is deterministic.
    assert plan == plan_micro_batches(list(lengths), max_rows=3, overhead_tokens=0)
    # Never more padding than the unsorted plan with the same max_rows.
    assert padded_tokens(lengths, plan) <= padded_tokens(lengths, plan_micro_batches(lengths, 3, by_length=False))


def test_no_overhead_and_equal_lengths_need_no_padding():
    assert padded_tokens([4, 4, 4, 4], plan_micro_batches([4, 4, 4, 4], 2)) == 16


def test_empty_and_bad_input():
    assert plan_micro_batches([], 4) == []
    with pytest.raises(ValueError):
        plan_micro_batches([1], 0)


@pytest.mark.parametrize("by_length", [True, False])
def test_token_budget_is_never_exceeded(by_length):
    """Random steps (lengths 1..8000, budgets 500..20000): no micro-batch holds more than the budget in padded tokens
    (rows x longest), except a row longer than the budget, which is alone; every row appears exactly once."""
    import random

    from trapo.batching import over_budget

    rng = random.Random(3)
    for _ in range(200):
        lengths = [rng.randint(1, 8000) for _ in range(rng.randint(1, 40))]
        budget = rng.randint(500, 20000)
        plan = plan_micro_batches(lengths, max_rows=rng.randint(1, 16), overhead_tokens=rng.choice([0, 128]),
                                  by_length=by_length, max_tokens=budget)
        assert sorted(i for p in plan for i in p) == list(range(len(lengths)))
        for rows in plan:
            longest = max(lengths[i] for i in rows)
            assert len(rows) * longest <= budget or len(rows) == 1
        assert sum(1 for rows in plan if padded_tokens(lengths, [rows]) > budget) == over_budget(lengths, budget)


def test_token_budget_by_hand():
    # budget 300: [100, 100, 100] fits (300); a 4th 100 would not; 350 is over the budget alone
    lengths = [100, 100, 100, 100, 350, 20]
    plan = plan_micro_batches(lengths, max_rows=8, overhead_tokens=0, max_tokens=300)
    assert [4] in plan
    assert all(padded_tokens(lengths, [p]) <= 300 for p in plan if p != [4])
    assert padded_tokens(lengths, plan) == 20 + 100 * 4 + 350
    assert plan_micro_batches([5, 5, 5], 8, by_length=False, max_tokens=10) == [[0, 1], [2]]
    with pytest.raises(ValueError):
        plan_micro_batches([1], 4, max_tokens=0)
