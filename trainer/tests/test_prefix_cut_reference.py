"""The reference's prefix cut on token ids (docs/algorithm.md §7.5), one hand case per edge where it differs from the
trainer's earlier text rule (`micro_group.prefix_cut: text`, tests in test_micro_group.py).

Token ids here: 1 = an ordinary token, 9 = a break token (its text contains "\\n\\n"), 8 = "\\n" alone, 2 = EOS. A hint
is given WITHOUT its EOS; the reference appends it before cutting, so L counts it.
"""

import pytest

from trapo.micro_group import break_token_ids, prefix_cut, prefix_cut_ids

B, NL, EOS = 9, 8, 2
BREAKS = frozenset({B})
TEXT = {1: "x", B: ".\n\n", NL: "\n", EOS: ""}  # decoded pieces, for the text rule


def hint(n: int, breaks=(), newlines=()) -> list[int]:
    return [B if i in breaks else NL if i in newlines else 1 for i in range(n)]


def ref(h: list[int], r: float) -> int:
    return prefix_cut_ids(h + [EOS], r, BREAKS)


def text(h: list[int], r: float) -> int:
    return prefix_cut([TEXT[t] for t in h], r)


def test_basic_cut_moves_to_just_after_the_next_break():
    # L = 19 + EOS = 20, r = 0.25: t = 5; the break at index 7 is > 5 and < 0.55 * 20 = 11 -> cut after it: 8
    assert ref(hint(19, breaks={7}), 0.25) == 8
    assert text(hint(19, breaks={7}), 0.25) == 8  # the two rules agree away from the edges


def test_a_break_exactly_at_t_is_passed_over():
    # breaks at 5 (= t) and 9: the reference wants an index strictly greater than t -> the break at 9 -> cut 10
    assert ref(hint(19, breaks={5, 9}), 0.25) == 10
    # the text rule (k = floor(0.25 * 19) = 4) takes the break token at index 5: cut 6
    assert text(hint(19, breaks={5, 9}), 0.25) == 6


def test_a_cut_that_already_ends_on_a_break_still_moves():
    # L = 20, t = 5; the prefix of 5 tokens ends on the break at index 4; the next break (8) is taken -> 9
    assert ref(hint(19, breaks={3, 8}), 0.25) == 9
    # the text rule: k = 4 tokens end on the break at index 3 -> it stays at 4
    assert text(hint(19, breaks={3, 8}), 0.25) == 4


def test_L_counts_the_appended_eos():
    # 7 hint tokens + EOS: L = 8, t = floor(0.25 * 8) = 2 (floor(0.25 * 7) = 1 without the EOS)
    assert ref(hint(7), 0.25) == 2
    assert text(hint(7), 0.25) == 1
    # the look-ahead limit too: 0.55 * 8 = 4.4 admits the break at index 4 -> cut 5; with L = 7, 3.85 would not
    assert ref(hint(7, breaks={4}), 0.25) == 5
    assert text(hint(7, breaks={4}), 0.25) == 1


def test_a_double_newline_split_over_two_tokens_is_no_break():
    # "\n" + "\n" at indexes 6 and 7: no vocabulary entry holds "\n\n" -> the reference cuts at t = 5
    assert ref(hint(19, newlines={6, 7}), 0.25) == 5
    # the text rule sees "\n\n" in the decoded text and cuts after it: 8
    assert text(hint(19, newlines={6, 7}), 0.25) == 8


def test_the_limit_is_strict_and_not_floored():
    # L = 20, r = 0.25: (r + 0.3) * L = 11.0 exactly; a break AT index 11 is not below it -> t = 5
    assert ref(hint(19, breaks={11}), 0.25) == 5
    assert ref(hint(19, breaks={10}), 0.25) == 11  # index 10 < 11.0 -> cut after it
    # L = 21 (20 + EOS): 0.55 * 21 = 11.55 -> index 11 is below it (a floored limit of 11 with <= on the count
    # 12 would refuse it)
    assert ref(hint(20, breaks={11}), 0.25) == 12
    assert text(hint(20, breaks={11}), 0.25) == 5


def test_only_the_first_break_past_t_counts():
    # the first break past t = 5 is at 12 (>= 11): the cut stays at t even though nothing nearer exists
    assert ref(hint(19, breaks={12, 13}), 0.25) == 5


def test_ratios_at_the_ends_and_an_empty_hint():
    h = hint(9, breaks={3})
    assert prefix_cut_ids(h + [EOS], 1.0, BREAKS) == 10  # the whole hint and its EOS (the full-expert sample)
    assert prefix_cut_ids(h + [EOS], 0.0, BREAKS) == 0
    assert prefix_cut_ids([], 0.5, BREAKS) == 0
    # ratio 0.5: t = 5, limit 8.0; a break at index 7 -> 8 (the cut never reaches the EOS below ratio 0.7)
    assert ref(hint(9, breaks={7}), 0.5) == 8


def test_break_tokens_from_a_vocabulary():
    vocab = {"ĊĊ": 5, ".ĊĊ": 6, "Ċ": 7, "a": 8, "<|im_end|>": 9, "ĊĊĊ": 10, "ĠĊĊ": 11}
    assert break_token_ids(vocab) == frozenset({5, 6, 10, 11})
    assert break_token_ids({"\n\n": 3, "\n": 4, "b": 5}) == frozenset({3})  # a vocabulary that stores text as is


def test_break_tokens_of_the_tiny_byte_level_tokenizer():
    from trapo.tokenizer_tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    breaks = break_token_ids(tok.get_vocab())
    ids = tok("3 * 4 = 12\n\n7 - 2 = 5\n\nThe answer", add_special_tokens=False)["input_ids"]
    at = [i for i, t in enumerate(ids) if t in breaks]
    assert [tok.decode([ids[i]]) for i in at] == ["\n\n", "\n\n"] and len(at) == 2


@pytest.mark.parametrize("r", [0.25, 0.5])
def test_prefix_never_longer_than_the_look_ahead(r):
    for n in range(1, 40):
        for b in range(n):
            k = ref(hint(n, breaks={b}), r)
            assert int((n + 1) * r) <= k < (n + 1) * (r + 0.3) + 1
