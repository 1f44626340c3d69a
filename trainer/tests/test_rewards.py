"""Rewards: boxed extraction, exact and math-verify scoring, the auto choice (the equivalence table and the
deadline: test_reward_table.py)."""

import threading

import pytest

from trapo.rewards import extract_boxed, normalize_answer, resolve_method, score


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so \\boxed{17}.", "17"),
        ("\\boxed{1} then \\boxed{2}", "2"),  # the last one counts
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),  # nested braces
        ("\\boxed{a{b{c}}d}", "a{b{c}}d"),
        ("\\fbox{9}", "9"),
        ("no box here", None),
        ("\\boxed{unclosed", None),
        ("\\boxed{3} and \\boxed{unclosed", "3"),  # an unbalanced last box falls back to the previous one
        ("", None),
    ],
)
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


def test_normalize_answer():
    assert normalize_answer(" 17 ") == "17"
    assert normalize_answer("$17$.") == "17"
    assert normalize_answer("+17") == "17"
    assert normalize_answer("17.00") == "17"
    assert normalize_answer("\\text{17}") == "17"
    assert normalize_answer("-0") == "0"


def test_exact_score():
    assert score("3 * 4 = 12\n\nThe answer is \\boxed{12}.", "12", "exact") == (1.0, "12")
    assert score("The answer is \\boxed{13}.", "12", "exact") == (0.0, "13")
    assert score("The answer is 12.", "12", "exact") == (0.0, None)  # no box, no reward (no format leniency)


def test_auto_is_exact_on_the_embedded_task_only():
    # the earlier rule (exact whenever the ground truth is an integer) scored "\boxed{057}" wrong for 57
    assert resolve_method("auto", builtin_data=True) == "exact"
    assert resolve_method("auto", builtin_data=False) == "math_verify"
    assert resolve_method("exact", builtin_data=False) == "exact"  # by name
    assert score("\\boxed{012}", "12", "exact")[0] == 0.0
    assert score("\\boxed{012}", "12", "math_verify")[0] == 1.0
    with pytest.raises(ValueError, match="unknown reward method"):
        resolve_method("fuzzy", builtin_data=True)


def test_math_verify_equivalence():
    # 0.5 and \frac{1}{2} differ as strings but are the same number
    assert score("\\boxed{0.5}", "\\frac{1}{2}", "math_verify")[0] == 1.0
    assert score("\\boxed{\\frac{2}{4}}", "\\frac{1}{2}")[0] == 1.0  # auto -> math_verify for a non-integer truth
    assert score("\\boxed{\\frac{1}{3}}", "\\frac{1}{2}")[0] == 0.0
    assert score("no answer", "\\frac{1}{2}")[0] == 0.0


def test_math_verify_off_main_thread():
    # math-verify's signal timeouts only work in the main thread; score must still work in a worker thread
    result = {}

    def work():
        result["r"] = score("\\boxed{\\frac{2}{4}}", "\\frac{1}{2}", "math_verify")[0]

    th = threading.Thread(target=work)
    th.start()
    th.join()
    assert result["r"] == 1.0


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown reward method"):
        score("\\boxed{1}", "1", "fuzzy")
