"""Stage decisions, prefix cuts and SFT-owner masks (docs/algorithm.md §2)."""

from trapo.micro_group import (
    Stage,
    decide_stages,
    guidance_level,
    is_guided,
    prefix_cut,
    sft_owner_mask,
    solution_index,
    stage_plan,
)

REF = [Stage(4, 0.0, None), Stage(2, 0.25, 2), Stage(1, 0.5, 4), Stage(1, 1.0, 7)]
PAPER = [Stage(4, 0.0, None), Stage(2, 0.2, 0.5), Stage(1, 0.5, 0.7), Stage(1, 1.0, 0.9)]


def test_paper_figure_1_example():
    # stage 1: 1 of 4 correct -> S=1 < 2 -> stage 2 guided with 25%
    # stage 2: both prefixed samples fail -> S=1 of 6 < 4 -> stage 3 guided with 50%
    # stage 3: that one succeeds -> S=2 of 7 < 7 -> stage 4 = the full expert solution
    out = decide_stages(REF, [1, 0, 1, 1])
    assert [o.guided for o in out] == [False, True, True, True]
    assert [o.correct_before for o in out] == [0, 1, 1, 2]
    assert [o.ratio for o in out if o.guided] == [0.25, 0.5, 1.0]
    assert guidance_level(out) == 3


def test_all_correct_is_never_guided():
    # 4 of 4 -> S=4 >= 2 unguided; then 6 of 6 >= 4; 7 of 7 >= 7: no stage guided, level 0
    out = decide_stages(REF, [4, 2, 1, 0])
    assert [o.guided for o in out] == [False] * 4 and guidance_level(out) == 0


def test_partial_success_guides_later_stages_only():
    # 2 of 4: S=2 not < 2 -> stage 2 unguided; it gets 1 right: S=3 < 4 -> stage 3 guided (50%), level 2;
    # it succeeds: S=4 < 7 -> stage 4 guided as well, level 3
    out = decide_stages(REF, [2, 1, 1, 0])
    assert [o.guided for o in out] == [False, False, True, True]
    # 3 of 4, 2 of 2, 1 of 1: S = 6 < 7 -> only the full expert sample, level 3
    out = decide_stages(REF, [3, 2, 1, 0])
    assert [o.guided for o in out] == [False, False, False, True]
    # 4 of 4, then unguided 1 of 2 (S=5 >= 4 keeps stage 3 unguided), 1 of 1: S=6 < 7 -> full expert, level 3
    assert guidance_level(decide_stages(REF, [4, 1, 1, 0])) == 3


def test_paper_mean_thresholds():
    # mean of 4: 1/4 = 0.25 < 0.5 guided; stage 3: (1+1)/6 = 0.333 < 0.7 guided; stage 4: 3/7 = 0.43 < 0.9 guided
    out = decide_stages(PAPER, [1, 1, 1, 0], kind="mean")
    assert [o.guided for o in out] == [False, True, True, True]
    # 2/4 = 0.5 not < 0.5 -> unguided; (2+2)/6 = 0.667 < 0.7 -> guided; (4+1)/7 = 0.714 < 0.9 -> guided
    out = decide_stages(PAPER, [2, 2, 1, 0], kind="mean")
    assert [o.guided for o in out] == [False, False, True, True]
    assert not is_guided(PAPER[1], 4, 4, "mean")  # 4/4 = 1.0


def test_stage_plan_from_tuples_and_dicts():
    assert stage_plan([(4, 0.0, None), {"n": 2, "ratio": 0.25, "threshold": 2}]) == REF[:2]


def test_sft_owner_masks_and_solution_choice():
    assert sft_owner_mask(2, True) == [False, True]  # shared prefix trained once, by the last sample
    assert sft_owner_mask(2, False) == [False, False]
    assert sft_owner_mask(1, True) == [True]
    assert solution_index(REF[1], 2) == 0 and solution_index(REF[2], 2) == 0
    assert solution_index(REF[3], 2) == 1  # full expert uses the second solution when there is one
    assert solution_index(REF[3], 1) == 0


def test_prefix_cut_moves_to_paragraph_boundary():
    # 20 tokens of one char; "\n\n" occupies tokens 7 and 8 (0-based), so the break ends after token 9 -> 9 tokens.
    pieces = list("abcdefg") + ["\n", "\n"] + list("hijklmnopqr")
    assert len(pieces) == 20
    # ratio 0.25: k = int(0.25*20) = 5; break ends at token count 9 <= int((0.25+0.3)*20) = 11 -> cut 9
    assert prefix_cut(pieces, 0.25) == 9
    assert "".join(pieces[:9]).endswith("\n\n")


def test_prefix_cut_falls_back_to_exact_ratio_when_break_too_far():
    # break ends at token count 9, ratio 0.1: k = 2, limit int(0.4*20) = 8 < 9 -> exactly 2
    pieces = list("abcdefg") + ["\n", "\n"] + list("hijklmnopqr")
    assert prefix_cut(pieces, 0.1) == 2
    # ratio 0.5: k = 10, no break after token 10 -> exactly 10
    assert prefix_cut(pieces, 0.5) == 10


def test_prefix_cut_multi_char_tokens_and_edges():
    # tokens: "Step one.\n\n" ends a paragraph inside one token (token 2 of 8); ratio 0.125: k = 1, limit int(0.425*8)=3
    pieces = ["Step", " one.\n\n", "Step", " two", ".\n\n", "So", " \\boxed{3}", "</s>"]
    assert prefix_cut(pieces, 0.125) == 2
    # ratio 0.25: k = 2 already ends with "\n\n" -> 2
    assert prefix_cut(pieces, 0.25) == 2
    # ratio 0.375: k = 3, next break ends in token 5 (count 5) <= int(0.675*8) = 5 -> 5
    assert prefix_cut(pieces, 0.375) == 5
    assert prefix_cut(pieces, 1.0) == 8 and prefix_cut(pieces, 0.0) == 0 and prefix_cut([], 0.5) == 0
