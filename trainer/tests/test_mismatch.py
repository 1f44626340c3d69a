"""Trainer-engine mismatch (trapo.mismatch) and the refusal of rollout.engine vllm where vLLM is missing."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trapo.forward import forward_shared_prompt, forward_whole
from trapo.mismatch import align_engine_logprobs, mismatch_sums, tis_weights
from trapo.rollout import Sample, build_token_batch

TRAINER = Path(__file__).resolve().parents[1]


def _samples():
    # prompt [1, 2, 3]; row 0: prefix [4, 5] + completion [6, 7]; row 1: completion [8]; row 2: full expert [4, 5, 0]
    def mk(i, pre, comp, lp, full=False):
        return Sample(0, i, 0, bool(pre), 0.5 if pre else 0.0, [1, 2, 3], pre, comp, True, full, False,
                      engine_logprobs=lp)

    return [mk(0, [4, 5], [6, 7], [-0.5, -0.25]), mk(1, [], [8], [-1.0]), mk(2, [4, 5, 0], [], None, True)]


class _Echo(torch.nn.Module):
    """Logits that are a function of the token: enough for the two forward layouts to run."""

    def __init__(self):
        super().__init__()
        from transformers import Qwen2Config, Qwen2ForCausalLM

        torch.manual_seed(0)
        self.inner = Qwen2ForCausalLM(Qwen2Config(vocab_size=16, hidden_size=32, num_hidden_layers=1,
                                                  num_attention_heads=2, num_key_value_heads=1, intermediate_size=32))


@pytest.mark.parametrize("layout", ["whole", "shared_prompt"])
def test_engine_logprobs_land_on_the_completion_tokens(layout):
    batch = build_token_batch(_samples(), pad_token_id=0)
    assert batch.take([1, 0]).engine_logprobs == [[-1.0], [-0.5, -0.25]]
    model = _Echo().inner.eval()
    fw = forward_whole(model, batch, "cpu") if layout == "whole" else forward_shared_prompt(model, batch, "cpu")
    values, mask = align_engine_logprobs(fw.response, batch.engine_logprobs)
    assert torch.equal(mask, fw.continuation)  # the completion tokens, nothing of the prefix or the full expert
    assert fw.targets[mask].tolist() == [6, 7, 8]
    assert values[mask].tolist() == [-0.5, -0.25, -1.0]


def test_mismatch_and_tis_weights():
    trainer = torch.tensor([[-0.5, -1.0, -2.0]])
    engine = torch.tensor([[-0.5, -2.0, -1.0]])
    mask = torch.tensor([[True, True, False]])
    assert mismatch_sums(trainer, engine, mask) == (1.0, 2.0)
    w = tis_weights(trainer.requires_grad_(), engine, mask, cap=2.0)
    assert not w.requires_grad
    assert torch.allclose(w, torch.tensor([[1.0, 2.0, 1.0]]))  # exp(1) capped at 2; outside the mask 1


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="this environment has vLLM")
@pytest.mark.parametrize("command", ["validate-config", "train"])
def test_engine_vllm_is_refused_without_vllm(tmp_path, command):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("rollout:\n  engine: vllm\n")
    args = [cfg] if command == "validate-config" else ["--config", cfg, "--run-dir", tmp_path / "run"]
    proc = subprocess.run([sys.executable, "-m", "trapo", command, *map(str, args)], cwd=TRAINER, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("config error: rollout.engine: vllm is not installed")
    assert "bash scripts/setup-python.sh --vllm" in lines[0]
    assert not (tmp_path / "run").exists()


def test_tis_cap_needs_the_vllm_engine(tmp_path):
    from trapo.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="loss.tis_cap"):
        load_config(None, ["loss.tis_cap=2.0"], check_files=False)
