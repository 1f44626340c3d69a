"""Loss scale as the reference (docs/algorithm.md §7.6): the constant normalisation's divisor, the entropy bonus per
micro-batch, and sft_then_rl's RL phase on a fresh optimizer."""

import json

import pytest

from trapo import distributed as D
from trapo.rollout import Sample, build_token_batch
from trapo.tiny import build_tiny_model
from trapo.tokenizer_tiny import build_tiny_tokenizer
from trapo.train import Trainer


def _equal_rows(n_rows: int = 4):
    samples = []
    for i in range(n_rows):  # every row: 5 prompt tokens, 2 prefix tokens, 6 continuation tokens
        s = Sample(i // 2, i % 2, 0, False, 0.0, [10 + i, 11, 12, 13, 14], [20, 21], [30 + i, 31, 32, 33, 34, 35],
                   i % 2 == 1, False, False)
        s.advantage = 0.5 if i % 2 else -0.5
        samples.append(s)
    return build_token_batch(samples, 0)


def _stats(tiny_cfg, **kw):
    cfg = tiny_cfg(**{"train.micro_batch_size": 2, "train.bucket_by_length": "false", "train.share_prompts": "false",
                      **kw})
    tok = build_tiny_tokenizer()
    return Trainer.for_updates(cfg, build_tiny_model(tok, seed=0), D.DistInfo()).train_batch(_equal_rows(), "trapo",
                                                                                            False)


def test_constant_divides_by_l_max_times_processes_not_sequences(tiny_cfg):
    ref = _stats(tiny_cfg, **{"loss.normalization": "constant", "loss.max_length": 8})
    old = _stats(tiny_cfg, **{"loss.normalization": "constant_mean", "loss.max_length": 8})
    # 4 sequences on one process: the reference's policy and TrSFT terms are 4 times the earlier scale's
    assert ref["loss/policy"] == pytest.approx(4 * old["loss/policy"], rel=1e-5)
    assert ref["loss/trsft"] == pytest.approx(4 * old["loss/trsft"], rel=1e-5)


def test_entropy_bonus_per_micro_batch(tiny_cfg):
    per_mb = _stats(tiny_cfg, **{"loss.entropy_normalization": "micro_batch"})
    whole = _stats(tiny_cfg, **{"loss.entropy_normalization": "batch"})
    # two micro-batches with equal token counts: the sum of their means is twice the mean of the whole
    assert per_mb["loss/entropy"] == pytest.approx(2 * whole["loss/entropy"], rel=1e-5)
    assert per_mb["policy/entropy"] == pytest.approx(whole["policy/entropy"], rel=1e-6)  # the metric is the mean


def test_sft_then_rl_starts_rl_with_a_fresh_optimizer(tiny_cfg, tmp_path):
    cfg = tiny_cfg(**{"algorithm": "sft_then_rl", "train.steps": 3, "train.sft_steps": 2, "optim.sft_lr": 5e-4,
                      "optim.lr": 1e-3})
    run = tmp_path / "run"
    logs = []
    trainer = Trainer(cfg, run, log=logs.append)
    assert trainer.run() == "finished"
    metrics = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()]
    lrs = [e["values"]["optim/lr"] for e in metrics if e["type"] == "metrics"]
    assert lrs == [5e-4, 5e-4, 1e-3]
    steps = {int(s["step"]) for s in trainer.optimizer.state.values()}
    assert steps == {1}  # one AdamW step since the switch, not three: the SFT moments are gone
    assert any("fresh AdamW" in m for m in logs)
