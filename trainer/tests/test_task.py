"""The embedded arithmetic task and the loaders for real data."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trapo.prompting import REFERENCE_INSTRUCTION
from trapo.rewards import score
from trapo.task import (
    BENCHMARK_LEVELS,
    MAX_VALUE,
    builtin_benchmarks,
    builtin_train_problems,
    load_benchmark_file,
    load_parquet_problems,
    make_problem,
    solve_steps,
)


def test_worked_example_two_solutions():
    # 7 - 2 + 3 * 4: the product first (3 * 4 = 12), then left to right: 7 - 2 = 5, 5 + 12 = 17
    p = make_problem([7, "-", 2, "+", 3, "*", 4])
    assert p.question == "Compute 7 - 2 + 3 * 4."
    assert p.answer == "17"
    assert p.solutions[0] == "3 * 4 = 12\n\n7 - 2 = 5\n\n5 + 12 = 17\n\nThe answer is \\boxed{17}."
    assert p.solutions[1] == (
        "7 - 2 + 3 * 4 = 7 - 2 + 12\n\n7 - 2 + 12 = 5 + 12\n\n5 + 12 = 17\n\nSo the answer is \\boxed{17}."
    )
    assert p.meta["difficulty"] == 3


def test_precedence_and_left_to_right():
    # 9 - 2 - 3 = (9 - 2) - 3 = 4, not 9 - (2 - 3) = 10
    assert make_problem([9, "-", 2, "-", 3]).answer == "4"
    # 2 * 3 * 4 = 24; 8 - 2 * 3 = 8 - 6 = 2
    assert make_problem([2, "*", 3, "*", 4]).answer == "24"
    assert make_problem([8, "-", 2, "*", 3]).answer == "2"
    assert [s[1] for s in solve_steps([8, "-", 2, "*", 3])] == [(2, "*", 3, 6), (8, "-", 6, 2)]


def test_single_operation_solutions_differ():
    p = make_problem([9, "-", 7])
    assert p.solutions == ["9 - 7 = 2\n\nThe answer is \\boxed{2}.", "9 - 7 = 2\n\nSo the answer is \\boxed{2}."]


def test_train_problems_are_valid_and_deterministic():
    a = builtin_train_problems(200, seed=3)
    assert [p.question for p in a] == [p.question for p in builtin_train_problems(200, seed=3)]
    assert [p.question for p in a] != [p.question for p in builtin_train_problems(200, seed=4)]
    assert len(a) == 200 and len({p.question for p in a}) == 200 and len({p.id for p in a}) == 200
    levels = [p.meta["difficulty"] for p in a]
    # TRAIN_LEVEL_WEIGHTS 0.2/0.4/0.4 of 200 -> 40, 80, 80
    assert (levels.count(1), levels.count(2), levels.count(3)) == (40, 80, 80)
    for p in a:
        assert len(p.solutions) == 2 and p.solutions[0] != p.solutions[1]
        for sol in p.solutions:
            assert score(sol, p.answer) == (1.0, p.answer)  # both expert solutions are correct
            paragraphs = sol.split("\n\n")
            assert len(paragraphs) == p.meta["difficulty"] + 1  # one paragraph per operation + the answer line
        assert 0 <= int(p.answer) <= MAX_VALUE
        for _, (_, _, _, value) in solve_steps([int(x) if x.isdigit() else x for x in p.question[8:-1].split()]):
            assert 0 <= value <= MAX_VALUE


def test_benchmarks_graded_and_disjoint_from_training():
    bench = builtin_benchmarks(40, seed=0)
    assert list(bench) == list(BENCHMARK_LEVELS)
    for name, level in BENCHMARK_LEVELS.items():
        assert all(p.meta["difficulty"] == level for p in bench[name])
    # ops1 has only ~20-26 held-out expressions (about 1/8 of the ~170 valid single operations); the others are full
    assert 20 <= len(bench["ops1"]) <= 40 and all(len(bench[n]) == 40 for n in ("ops2", "ops3", "ops4"))
    held_out = {p.question for ps in bench.values() for p in ps}
    for seed in (0, 1, 2):
        train = {p.question for p in builtin_train_problems(1000, seed=seed)}
        assert not (train & held_out)


def test_bad_counts():
    with pytest.raises(ValueError, match="n must be >= 1"):
        builtin_train_problems(0, seed=0)
    with pytest.raises(ValueError, match="n_per_benchmark"):
        builtin_benchmarks(0, seed=0)


def _write_parquet(path, rows):
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_load_parquet_luffy_layout(tmp_path):
    path = tmp_path / "train.parquet"
    _write_parquet(path, [
        {
            "data_source": "openr1",
            "prompt": [{"role": "user", "content": f"What is 1+1? {REFERENCE_INSTRUCTION}"}],
            "reward_model": {"ground_truth": "2", "style": "rule"},
            "extra_info": {"index": 7, "answer_list": ["1+1 is \\boxed{2}", "two: \\boxed{2}"]},
        },
        {
            "data_source": "openr1",
            "prompt": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "What is 2+2?"}],
            "reward_model": {"ground_truth": "4", "style": "rule"},
            "extra_info": {"index": 8, "answer_list": ["\\boxed{4}"]},
        },
    ])
    ps = load_parquet_problems(path)
    assert [p.id for p in ps] == ["7", "8"]
    assert ps[0].question == "What is 1+1?"  # the reference instruction is stripped (build_prompt adds it back)
    assert ps[0].solutions == ["1+1 is \\boxed{2}", "two: \\boxed{2}"] and ps[0].answer == "2"
    assert ps[1].question == "What is 2+2?" and ps[1].solutions == ["\\boxed{4}"]


def test_load_parquet_string_prompt_and_missing_columns(tmp_path):
    ok = tmp_path / "ok.parquet"
    _write_parquet(ok, [{"prompt": "Q?", "extra_info": {"answer_list": ["A \\boxed{1}"]}, "ground_truth": "1"}])
    assert load_parquet_problems(ok)[0].answer == "1"
    bad = tmp_path / "bad.parquet"
    _write_parquet(bad, [{"prompt": "Q?", "reward_model": {"ground_truth": "1"}}])
    with pytest.raises(ValueError, match="no expert solution column; looked for extra_info.answer_list"):
        load_parquet_problems(bad)
    bad2 = tmp_path / "bad2.parquet"
    _write_parquet(bad2, [{"prompt": "Q?", "extra_info": {"answer_list": ["x"]}}])
    with pytest.raises(ValueError, match="no ground truth column; looked for reward_model.ground_truth"):
        load_parquet_problems(bad2)
    with pytest.raises(FileNotFoundError, match="data file not found"):
        load_parquet_problems(tmp_path / "missing.parquet")


def test_load_benchmark_jsonl_and_parquet(tmp_path):
    jl = tmp_path / "math500.jsonl"
    jl.write_text(json.dumps({"problem": "1+2?", "answer": "3", "unique_id": "a"}) + "\n\n"
                  + json.dumps({"question": "2*3?", "answer": "6"}) + "\n")
    ps = load_benchmark_file(jl)
    assert [(p.id, p.question, p.answer) for p in ps] == [("a", "1+2?", "3"), ("math500-1", "2*3?", "6")]
    pqf = tmp_path / "aime.parquet"
    _write_parquet(pqf, [{"problem": "x?", "answer": "\\frac{1}{2}"}])
    assert load_benchmark_file(pqf)[0].answer == "\\frac{1}{2}"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"problem": "x?"}) + "\n")
    with pytest.raises(ValueError, match="no answer column"):
        load_benchmark_file(bad)
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="unsupported data file type"):
        load_benchmark_file(tmp_path / "x.csv")
