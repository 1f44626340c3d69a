"""Loading real data (docs/algorithm.md §7.1, §7.7): both training layouts, JSONL, a save_to_disk folder, hints = the
thought only, bad rows, and benchmarks whose repeated rows are one problem with k samples."""

import json

import pytest
from realdata import (
    NO_THOUGHT,
    PROBLEMS,
    eval_rows,
    luffy_rows,
    trapo_rows,
    write_jsonl,
    write_parquet,
    write_saved_dataset,
)

from trapo.data import DataError, benchmark_name, load_benchmark, load_training, thought_of

HINTS_BOTH = [p["hints"] for p in PROBLEMS]
HINTS_FIRST = [p["hints"][:1] for p in PROBLEMS]


def _check(problems, report, hints, layout):
    assert [p.solutions for p in problems] == hints  # the thought only, exactly
    assert [p.question for p in problems] == [p["question"] for p in PROBLEMS]
    assert [p.answer for p in problems] == [p["answer"] for p in PROBLEMS]
    assert [p.id for p in problems] == ["0", "1", "2"]
    assert report.rows == 4 and report.kept == 3 and report.no_thought == 1 and report.layouts == {layout: 4}
    assert "1 without a usable thought" in report.summary()


@pytest.mark.parametrize("kind", ["parquet", "jsonl", "save_to_disk"])
def test_trapo_layout_hints_are_the_thought(tmp_path, kind):
    rows = trapo_rows()
    path = {"parquet": lambda: write_parquet(tmp_path / "train.parquet", rows),
            "jsonl": lambda: write_jsonl(tmp_path / "train.jsonl", rows),
            "save_to_disk": lambda: write_saved_dataset(tmp_path / "train_ds", rows)}[kind]()
    problems, report = load_training(path)
    _check(problems, report, HINTS_BOTH, "trapo")
    # sft trains on the whole solution without its leading "<think>\n" (the reference's SFT data)
    assert problems[0].sft_targets[0] == PROBLEMS[0]["solutions"][0][len("<think>\n"):]


@pytest.mark.parametrize("kind", ["parquet", "jsonl", "save_to_disk"])
def test_luffy_layout_takes_the_message_content(tmp_path, kind):
    rows = luffy_rows()
    path = {"parquet": lambda: write_parquet(tmp_path / "openr1.parquet", rows),
            "jsonl": lambda: write_jsonl(tmp_path / "openr1.jsonl", rows),
            "save_to_disk": lambda: write_saved_dataset(tmp_path / "openr1_ds", rows)}[kind]()
    problems, report = load_training(path)
    _check(problems, report, HINTS_FIRST, "luffy")
    for p in problems:  # never the printed form of a message dict
        assert "'content'" not in p.solutions[0] and "'role'" not in p.solutions[0]
        assert "\n\n" in p.solutions[0]  # real paragraph breaks, not a literal backslash-n


def test_a_dataset_dict_folder_uses_its_train_split(tmp_path):
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_list(trapo_rows(False))}).save_to_disk(str(tmp_path / "dd"))
    problems, _ = load_training(tmp_path / "dd")
    assert [p.solutions for p in problems] == HINTS_BOTH


def test_thought_rule():
    assert thought_of("<think>\n a \n\n b \n</think>\n\nrest") == "a \n\n b"
    assert thought_of("  no think block \n") == "no think block"  # the whole solution, stripped
    assert thought_of("<think> first </think> x <think> second </think>") == "first"  # the first block
    assert thought_of("<think>unclosed") == "<think>unclosed"  # no block: the whole solution (the reference's rule)
    assert thought_of(NO_THOUGHT["solutions"][0]) == ""


def test_printed_dict_expert_is_an_error_naming_row_and_column(tmp_path):
    rows = luffy_rows(False)
    rows[1]["target"] = str(rows[1]["target"][0])  # "{'role': 'assistant', 'content': '<think>\\n...'}"
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError, match=r"row 1: column target: a printed dict/list"):
        load_training(path)
    problems, report = load_training(path, skip_bad_rows=True)
    assert len(problems) == 2 and report.bad_rows == 1 and "row 1" in report.first_bad


def test_missing_expert_and_corrupt_lines(tmp_path):
    rows = trapo_rows(False)
    del rows[2]["extra_info"]["answer_list"]
    del rows[2]["target"]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"t.jsonl:4: not a JSON object"):
        load_training(path)
    problems, report = load_training(path, skip_bad_rows=True)
    assert len(problems) == 2 and report.bad_rows == 1 and report.bad_lines == 1
    assert report.first_bad.startswith("line 4")  # the first one met (lines are read before rows are parsed)
    with pytest.raises(DataError, match=r"row 2: no expert solution column; looked for extra_info.answer_list"):
        load_training(write_jsonl(tmp_path / "t2.jsonl", rows))
    with pytest.raises(DataError, match="not one written by datasets"):
        (tmp_path / "empty_dir").mkdir()
        load_training(tmp_path / "empty_dir")


def test_benchmark_repeated_rows_are_one_problem_with_k_samples(tmp_path):
    rows = eval_rows("aime", [("Find x if 2x = 10.", "5"), ("What is 3 * 7?", "021")], repeats=4)
    path = write_parquet(tmp_path / "valid.aime.parquet", rows)
    problems, report = load_benchmark(path)
    assert report.rows == 8 and len(problems) == 2
    assert [p.meta["repeats"] for p in problems] == [4, 4]
    assert [p.question for p in problems] == ["Find x if 2x = 10.", "What is 3 * 7?"]  # the user message
    assert [p.answer for p in problems] == ["5", "021"] and [p.id for p in problems] == ["0", "1"]
    assert benchmark_name(path, problems) == "aime"  # its data_source, not "valid.aime"
    single = write_jsonl(tmp_path / "math500.jsonl", [{"problem": "1+2?", "answer": "3"}])
    ps, _ = load_benchmark(single)
    assert ps[0].meta["repeats"] == 1 and benchmark_name(single, ps) == "math500"


def test_a_trapo_file_with_a_row_without_answer_list_falls_back_to_target(tmp_path):
    rows = trapo_rows(False)
    rows[1]["extra_info"]["answer_list"] = None  # parquet keeps the column; this row's expert is in `target`
    problems, report = load_training(write_parquet(tmp_path / "mixed.parquet", rows))
    assert [len(p.solutions) for p in problems] == [2, 1, 2] and report.layouts == {"trapo": 2, "luffy": 1}
    assert problems[1].solutions == PROBLEMS[1]["hints"][:1]
