"""Before/after figures of docs/algorithm.md §7 (real data as the reference does it), on the same inputs, as JSON.

    git archive <old commit> trainer/trapo | tar -x -C /tmp/old      # the trainer before (e.g. main)
    WHICH=old OLD_TRAINER=/tmp/old/trainer AIME=/path/to/valid.aime.parquet python bench/fidelity_before_after.py
    WHICH=new AIME=/path/to/valid.aime.parquet python bench/fidelity_before_after.py

Inputs: the fixtures of tests/realdata.py (rows in both layouts, a random Qwen2 with a byte-level BPE tokenizer),
the reward table of tests/test_reward_table.py, and the reference's AIME24 evaluation file (its data/ folder).
"""
import json
import logging
import os
import sys
from pathlib import Path

WHICH = os.environ["WHICH"]
if WHICH == "old":
    sys.meta_path[:] = [f for f in sys.meta_path if "Editable" not in getattr(f, "__name__", type(f).__name__)]
    sys.path.insert(0, os.environ["OLD_TRAINER"])
HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests"))
os.environ["HF_HUB_OFFLINE"] = "1"
logging.getLogger("math_verify").setLevel(logging.ERROR)
import torch  # noqa: E402

import trapo  # noqa: E402

assert trapo.__file__.startswith(os.environ["OLD_TRAINER"] if WHICH == "old" else str(HERE)), trapo.__file__
import realdata as R  # noqa: E402

from trapo import task  # noqa: E402
from trapo.models import load_policy  # noqa: E402

out = {"which": WHICH}
tmp = Path(f"/tmp/trapo-fidelity-{WHICH}")
tmp.mkdir(exist_ok=True)
qwen = Path("/tmp/trapo-fidelity-qwen")
if not (qwen / "config.json").exists():
    R.build_qwen_like(qwen)
model, tok, _ = load_policy(str(qwen), device="cpu")

# §7.1 training data: the hint texts of the LUFFY and TRAPO layouts, the no-thought row
for layout, rows in (("luffy", R.luffy_rows()), ("trapo", R.trapo_rows())):
    f = R.write_parquet(tmp / f"{layout}.parquet", rows)
    ps = task.load_parquet_problems(f)
    out[f"s1_{layout}_rows_kept"] = len(ps)
    out[f"s1_{layout}_hint0_start"] = ps[0].solutions[0][:70]
    out[f"s1_{layout}_hints_equal_thought"] = sum(p.solutions[:len(q["hints"])] == q["hints"][:len(p.solutions)]
                                                  for p, q in zip(ps, R.PROBLEMS))
    out[f"s1_{layout}_hints_with_think_tag"] = sum("<think>" in s or "</think>" in s for p in ps for s in p.solutions)
    out[f"s1_{layout}_hints_with_literal_backslash_n"] = sum("\\n" in s for p in ps for s in p.solutions)

# §7.2 the prompt of the first row
q = R.PROBLEMS[0]["question"]
if WHICH == "old":
    from trapo.prompting import build_prompt

    out["s2_prompt"] = build_prompt(tok, q)
else:
    from trapo.prompting import prompt_builder, resolve_prompt_style

    out["s2_prompt"] = prompt_builder(resolve_prompt_style("auto", builtin_data=False))(tok, q)

# §7.3 the reward table (hand verdicts) with the trainer's reward on real data
_src = (HERE / "tests" / "test_reward_table.py").read_text()
_ns = {}
exec(_src[_src.index("TABLE = ["):_src.index("# math-verify reads every box")], _ns)
TABLE = _ns["TABLE"]

if WHICH == "old":
    from trapo.rewards import score

    got = [score(t, g)[0] for t, g, _ in TABLE]  # old: method auto
else:
    from trapo.rewards import Scorer

    sc = Scorer("math_verify", workers=1, timeout_s=60)
    got = [r for r, _ in sc.batch([(t, g) for t, g, _ in TABLE])]
    sc.close()

out["s3_table_cases"] = len(TABLE)
out["s3_agree_with_hand"] = sum((r == 1.0) == h for r, (_, _, h) in zip(got, TABLE))
from math_verify import parse, verify  # noqa: E402

mv = [bool(verify(parse("$" + g + "$"), parse(t))) for t, g, _ in TABLE]
out["s3_agree_with_math_verify"] = sum((r == 1.0) == m for r, m in zip(got, mv))

# §7.4 lengths and stopping: 64 unguided rows of the random Qwen2 at T=1 with a budget of 160; guided rows' totals
from trapo.generation import TorchGenerator  # noqa: E402
from trapo.micro_group import Stage  # noqa: E402
from trapo.rollout import make_prompt_item, sample_step  # noqa: E402

end_of_text = tok.convert_tokens_to_ids("<|endoftext|>")
probs = [task.Problem(str(i), p["question"], p["hints"], p["answer"]) for i, p in enumerate(R.PROBLEMS)]
if WHICH == "old":
    from trapo.prompting import build_prompt as bp
    from trapo.rewards import score as sc1

    items = [make_prompt_item(tok, p, bp) for p in probs]
    kw = {}
else:
    from trapo.models import stop_token_ids
    from trapo.prompting import reference_prompt as bp
    from trapo.rewards import Scorer

    sc1 = Scorer("math_verify", workers=1, timeout_s=60)
    items = [make_prompt_item(tok, p, bp, max_response=160, with_pieces=False) for p in probs]
    kw = dict(stop_ids=stop_token_ids(tok, model), prefix_rule="reference")
stages = [Stage(8, 0.0, None), Stage(8, 0.5, 9)]  # 8 unguided + 8 guided at ratio 0.5 per prompt
ro = sample_step(model, tok, items, stages, engine=TorchGenerator(), score=sc1, max_new_tokens=160, temperature=1.0,
                 generator=torch.Generator().manual_seed(1), **kw)
gen = [s for s in ro.samples if not s.full_expert]
out["s4_rows"] = len(gen)
out["s4_rows_running_past_endoftext"] = sum(end_of_text in s.completion_ids[:-1] for s in gen)
out["s4_tokens_after_endoftext"] = sum(len(s.completion_ids) - s.completion_ids.index(end_of_text) - 1
                                       for s in gen if end_of_text in s.completion_ids)
guided = [s for s in gen if s.guided]
out["s4_guided_max_total_len"] = max(len(s.prefix_ids) + len(s.completion_ids) for s in guided)
out["s4_guided_over_budget"] = sum(len(s.prefix_ids) + len(s.completion_ids) > 160 for s in guided)
if WHICH == "new":
    sc1.close()

# §7.5 prefix cuts on the fixtures' hints with this byte-level tokenizer
cuts = []
for p in R.PROBLEMS:
    for h in p["hints"]:
        ids = tok(h, add_special_tokens=False)["input_ids"]
        for r in (0.25, 0.5):
            if WHICH == "old":
                from trapo.micro_group import prefix_cut

                cuts.append(prefix_cut([tok.decode([t]) for t in ids], r))
            else:
                from trapo.micro_group import break_token_ids, prefix_cut_ids

                cuts.append(prefix_cut_ids(ids + [tok.eos_token_id], r, break_token_ids(tok.get_vocab())))
out["s5_cuts"] = cuts

# §7.7 the reference's AIME24 file
from trapo.evaluate import load_benchmarks  # noqa: E402

b = load_benchmarks([os.environ["AIME"]], 4, seed=0)
name, ps = next(iter(b.items()))
out["s7_name"], out["s7_problems"] = name, len(ps)
out["s7_samples_per_problem"] = ps[0].meta.get("repeats", "eval.samples_per_problem (4)")
print(json.dumps(out, indent=1))
