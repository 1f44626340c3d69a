"""Mixed precision: fp32 master weights and AdamW state, bf16 compute (autocast on CPU here)."""

import pytest
import torch

from trapo import distributed as D
from trapo.config import ConfigError
from trapo.rollout import Sample, build_token_batch
from trapo.tiny import build_tiny_model
from trapo.tokenizer_tiny import build_tiny_tokenizer
from trapo.train import Trainer


def _batch(vocab: int):
    import random

    rng = random.Random(2)
    samples = []
    for p in range(2):
        prompt = [rng.randrange(4, vocab) for _ in range(6 + p)]
        for j in range(4):
            prefix = [rng.randrange(4, vocab) for _ in range(3)] if j == 3 else []
            s = Sample(p, j, min(j, 1), j == 3, 0.5 if j == 3 else 0.0, prompt, prefix,
                       [rng.randrange(4, vocab) for _ in range(4 + j)], j == 3, False, False)
            s.advantage = [0.75, -0.25, -0.25, -0.25][j]
            samples.append(s)
    return build_token_batch(samples, 1)


def _step(tiny_cfg, dtype: str, compute: str):
    """One TRAPO step at lr 1e-6; returns (fraction of parameter elements changed, trainer, model)."""
    tok = build_tiny_tokenizer()
    model = build_tiny_model(tok, seed=0).to(torch.bfloat16 if dtype == "bfloat16" else torch.float32)
    cfg = tiny_cfg(**{"model.dtype": dtype, "model.compute_dtype": compute, "optim.lr": 1e-6})
    before = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer.for_updates(cfg, model, D.DistInfo())
    seen = []
    q_proj = model.model.layers[0].self_attn.q_proj
    hook = q_proj.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    trainer.train_batch(_batch(len(tok)), "trapo", False)
    hook.remove()
    changed = sum(int((p.detach() != b).sum()) for p, b in zip(model.parameters(), before))
    total = sum(p.numel() for p in model.parameters())
    return changed / total, trainer, model, seen


def test_bf16_compute_with_fp32_weights_changes_parameters_as_fp32_does(tiny_cfg):
    fp32, _, _, seen32 = _step(tiny_cfg, "float32", "float32")
    mixed, trainer, model, seen = _step(tiny_cfg, "float32", "bfloat16")
    assert fp32 >= 0.99
    assert mixed >= 0.99 * fp32  # at least 99% of what fp32 changes
    assert set(seen32) == {torch.float32} and set(seen) == {torch.bfloat16}  # the matmuls ran in bf16
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights
    states = [s for s in trainer.optimizer.state.values()]
    assert states and all(s["exp_avg"].dtype == torch.float32 and s["exp_avg_sq"].dtype == torch.float32
                          for s in states)
    assert trainer.precision.mixed and "autocast" in trainer.precision.describe()


def test_bf16_storage_loses_the_update_which_is_why_it_is_not_the_default(tiny_cfg):
    """The silent error this fixes: AdamW on bf16 weights at lr 1e-6 leaves almost every parameter as it was."""
    pure_bf16, trainer, _, _ = _step(tiny_cfg, "bfloat16", "auto")
    assert pure_bf16 < 0.1
    assert trainer.precision.compute == torch.bfloat16 and not trainer.precision.mixed


def test_defaults_on_cpu_stay_fp32_and_a_finer_compute_than_storage_is_refused(tiny_cfg):
    from trapo import precision as P

    p = P.resolve("auto", "auto", "cpu")
    assert p.stored == p.compute == torch.float32 and not p.mixed
    assert P.resolve("auto", "bfloat16", "cpu").mixed
    with pytest.raises(ConfigError, match="model.compute_dtype"):
        tiny_cfg(**{"model.dtype": "bfloat16", "model.compute_dtype": "float32"})


def test_a_bf16_compute_run_on_cpu_writes_a_valid_run(tiny_cfg, tmp_path):
    from conftest import validate_run_dir

    cfg = tiny_cfg(**{"model.compute_dtype": "bfloat16", "train.steps": 1, "eval.every": 1,
                      "checkpoint.at_end": "true"})
    run_dir = tmp_path / "run"
    printed = []
    assert Trainer(cfg, run_dir, log=printed.append).run() == "finished"
    events = validate_run_dir(run_dir)
    assert any("stored in float32, computed in bfloat16 (autocast)" in m for m in printed)
    metrics = [e for e in events if e["type"] == "metrics"]
    assert len(metrics) == 1 and all(v == v for v in metrics[0]["values"].values())  # no NaN
    assert [e for e in events if e["type"] == "eval"]
