"""Checkpoints: Hugging Face layout loadable by transformers, trainer state, atomic writes, keep last K + best."""

import json

import torch
from conftest import validate_run_dir
from transformers import AutoModelForCausalLM, AutoTokenizer

from trapo import checkpoint as ckpt
from trapo.train import Trainer


def test_checkpoint_loads_in_transformers_with_same_logits(tiny_cfg, tmp_path):
    cfg = tiny_cfg(**{"train.steps": 3, "checkpoint.every": 1, "checkpoint.keep_last": 2})
    run_dir = tmp_path / "run"
    trainer = Trainer(cfg, run_dir, log=lambda m: None)
    trainer.run()
    saved = [s for s, _ in ckpt.list_checkpoints(run_dir)]
    assert saved == [2, 3]  # keep_last 2 (no eval, so no "best")
    path = ckpt.checkpoint_dir(run_dir, 3)
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "trainer_state.pt"):
        assert (path / name).exists(), name
    assert not list((run_dir / "checkpoints").glob(".*"))  # no temp folders left behind
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    ids = torch.tensor([tok("Compute 1 + 2.")["input_ids"]])
    trainer.model.eval()
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, trainer.model(ids).logits, atol=1e-6)
    state = ckpt.load_trainer_state(path)
    assert state["step"] == 3 and state["data_position"] == 3 * 2
    assert {"optimizer", "rng"} <= set(state) and state["optimizer"] is None  # no optimizer gathered in one file
    sharded = path / state["sharded"]
    assert (sharded / ".metadata").exists() and (sharded / "__0_0.distcp").exists()
    events = validate_run_dir(run_dir)
    cps = [e for e in events if e["type"] == "checkpoint"]
    assert [e["path"] for e in cps] == ["checkpoints/000001", "checkpoints/000002", "checkpoints/000003"]
    assert all(e["bytes"] > 0 and e["onnx"] is None for e in cps)


def _fake(run_dir, steps):
    for s in steps:
        d = ckpt.checkpoint_dir(run_dir, s)
        d.mkdir(parents=True)
        (d / ckpt.STATE_FILE).write_bytes(b"x")


def test_prune_keeps_last_k_and_best(tmp_path):
    _fake(tmp_path, [10, 20, 30, 40, 50])
    # evals at 10 (0.3), 20 (0.6), 40 (0.5): best saved step = 20
    best = ckpt.best_step({10: 0.3, 20: 0.6, 40: 0.5, 45: 0.9}, [10, 20, 30, 40, 50])
    assert best == 20  # 45 has the higher average but no checkpoint
    deleted = ckpt.prune_checkpoints(tmp_path, keep_last=2, best_step=best)
    assert deleted == [10, 30]
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [20, 40, 50]
    assert ckpt.best_step({}, [1, 2]) is None
    assert ckpt.best_step({1: 0.5, 2: 0.5}, [1, 2]) == 1  # ties: the earlier


def test_incomplete_checkpoint_is_ignored(tmp_path):
    _fake(tmp_path, [1])
    (tmp_path / "checkpoints" / "000002").mkdir()  # no trainer_state.pt: never completed
    (tmp_path / "checkpoints" / ".000003.tmp-999999").mkdir()
    assert ckpt.latest_checkpoint(tmp_path).name == "000001"
    ckpt.prune_checkpoints(tmp_path, keep_last=5, best_step=None)
    assert not (tmp_path / "checkpoints" / ".000003.tmp-999999").exists()


def test_cli_eval_of_a_checkpoint(tiny_cfg, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    cfg = tiny_cfg(**{"train.steps": 1})
    Trainer(cfg, tmp_path / "run", log=lambda m: None).run()
    path = ckpt.checkpoint_dir(tmp_path / "run", 1)
    out = tmp_path / "eval"
    r = subprocess.run([sys.executable, "-m", "trapo", "eval", str(path), "--out", str(out), "--set", "device=cpu",
                        "--set", "data.benchmark_size=1", "--set", "eval.samples_per_problem=2",
                        "--set", "rollout.max_new_tokens=6"], cwd=Path(__file__).resolve().parents[1],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(result["benchmarks"]) == {"ops1", "ops2", "ops3", "ops4"}
    assert 0.0 <= result["average"] <= 1.0
    from conftest import validator

    v = validator("eval.schema.json")
    for f in out.glob("*.jsonl"):
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            v.validate(rec)
            assert len(rec["samples"]) == 2
