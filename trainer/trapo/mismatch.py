"""Trainer-engine mismatch: the rollout engine (vLLM) samples with its own kernels, so its log-probabilities of the
sampled tokens differ slightly from the trainer's. Pure functions on tensors:

- `align_engine_logprobs` puts each row's engine log-probabilities where the training forward has that row's
  completion tokens (the last tokens of its response: prefix, then completion, contiguous in either layout of
  trapo.forward).
- `mismatch_sums`: sum and count of |logp_trainer - logp_engine| (the metric rollout/logp_mismatch is their ratio).
- `tis_weights`: truncated importance sampling (as verl's and TRL's rollout correction): the RL loss of a sampled
  token is weighted by min(p_trainer / p_engine, cap), the trainer's probability taken as a constant.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def align_engine_logprobs(response: torch.Tensor, engine_logprobs: Sequence[Sequence[float] | None]
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """(values [B, R] float32, mask [B, R] bool) in the coordinates of `response` [B, R] (bool). A row whose entry is
    None (not generated: a full-expert sample) has an empty mask."""
    values = torch.zeros(response.shape, dtype=torch.float32)
    mask = torch.zeros(response.shape, dtype=torch.bool)
    resp = response.detach().cpu()
    for i, lps in enumerate(engine_logprobs):
        if not lps:
            continue
        cols = resp[i].nonzero().flatten()
        if len(lps) > len(cols):
            raise ValueError(f"row {i}: {len(lps)} engine log-probabilities for {len(cols)} response tokens")
        at = cols[len(cols) - len(lps):]
        values[i, at] = torch.tensor(list(lps), dtype=torch.float32)
        mask[i, at] = True
    return values.to(response.device), mask.to(response.device)


def mismatch_sums(trainer_logp: torch.Tensor, engine_logp: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """(sum of |trainer - engine| over mask, number of tokens in mask)."""
    diff = (trainer_logp.detach().float() - engine_logp).abs()
    return float((diff * mask).sum()), float(mask.sum())


def tis_weights(trainer_logp: torch.Tensor, engine_logp: torch.Tensor, mask: torch.Tensor, cap: float) -> torch.Tensor:
    """min(exp(trainer - engine), cap) on mask, 1 elsewhere; no gradient flows through it."""
    ratio = torch.exp(trainer_logp.detach().float() - engine_logp).clamp(max=cap)
    return torch.where(mask, ratio, torch.ones_like(ratio)).to(trainer_logp.dtype)
