"""Loss terms as pure tensor functions (docs/algorithm.md §3-4).

Per-token functions take log-probabilities `logp` of the chosen tokens ([B, T]) and return per-token losses of the
same shape; `aggregate` masks, sums and normalises them. Nothing here knows about models or batches.
"""

from __future__ import annotations

import torch


def trsft_loss(logp: torch.Tensor, alpha: float = 0.1) -> torch.Tensor:
    """Trust-region SFT: loss_t = -p_t / max(sg(p_t), alpha).

    Value: -1 where p >= alpha, -p/alpha below. Gradient: -(1/max(p, alpha)) dp = -dlog p for p >= alpha (plain
    SFT), damped by p/alpha outside the trust region (TRAPO paper, Eq. for TrSFT).
    """
    p = logp.exp()
    return -p / p.detach().clamp(min=alpha)


def sft_loss(logp: torch.Tensor) -> torch.Tensor:
    """Plain SFT (negative log-likelihood) per token."""
    return -logp


def luffy_shaped_loss(logp: torch.Tensor, advantages: torch.Tensor, gamma: float = 0.1) -> torch.Tensor:
    """LUFFY's policy shaping on off-policy expert tokens: -A * f(p) with f(p) = p / (p + gamma) (LUFFY paper, §3)."""
    p = logp.exp()
    return -advantages * p / (p + gamma)


def policy_loss(
    logp: torch.Tensor,
    advantages: torch.Tensor,
    old_logp: torch.Tensor | None = None,
    clip_eps: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """RL loss -A * r_t with r_t = pi / pi_old; pi_old = sg(pi) when not given (r = 1 in value: REINFORCE with the
    group-mean baseline). With `clip_eps`: PPO's max(-A r, -A clip(r, 1-eps, 1+eps)).

    Returns (per-token loss, per-token bool "was clipped").
    """
    if old_logp is None:
        old_logp = logp.detach()
    ratio = torch.exp(logp - old_logp)
    unclipped = -advantages * ratio
    if clip_eps is None:
        return unclipped, torch.zeros_like(ratio, dtype=torch.bool)
    clipped = -advantages * ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps)
    return torch.maximum(unclipped, clipped), clipped > unclipped


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the softmax over the last dimension: H = logsumexp(z) - sum softmax(z) z."""
    logits = logits.float()
    logz = torch.logsumexp(logits, dim=-1)
    probs = torch.softmax(logits, dim=-1)
    return logz - (probs * logits).sum(dim=-1)


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[target] per position, in float32, without materialising the full log-softmax twice."""
    logits = logits.float()
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(pi || ref): exp(ref - logp) - (ref - logp) - 1 (>= 0, unbiased)."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1.0


def group_advantages(rewards: torch.Tensor, use_std: bool = False, eps: float = 1e-6) -> torch.Tensor:
    """A_i = R_i - mean_group(R), optionally / (population std + eps). `rewards` is [..., G]: one group per row."""
    rewards = rewards.float()
    adv = rewards - rewards.mean(dim=-1, keepdim=True)
    if use_std:
        adv = adv / (rewards.std(dim=-1, unbiased=False, keepdim=True) + eps)
    return adv


def token_weights(
    mask: torch.Tensor,
    mode: str,
    *,
    max_length: int | None = None,
    num_sequences: float | None = None,
    num_tokens: float | None = None,
    world_size: int = 1,
) -> torch.Tensor:
    """Per-token weights w [B, T] (0 off the mask) such that the batch loss is sum(w * token_loss).

    - constant: 1 / (L_max * world_size): the reference's Dr.GRPO scale. Each of its processes sums its tokens'
      losses over the constant L_max and the gradients are averaged over the processes, so the step's gradient is
      the sum over all tokens / (L_max * processes), whatever the number of sequences.
    - constant_mean: 1 / (L_max * N): as constant, then the mean over the N sequences of the whole batch (the
      trainer's earlier scale, N / world_size times smaller than the reference's).
    - token: 1 / (token count of the whole batch).
    - sequence: 1 / (N * tokens of the sequence): the mean over sequences of each sequence's token mean.
    `num_sequences` / `num_tokens` are those of the whole (global) batch, so that micro-batches (and processes) add
    up to the whole batch's loss; they default to this tensor's own.
    """
    m = mask.float()
    n_seq = float(num_sequences if num_sequences is not None else m.shape[0])
    if mode in ("constant", "constant_mean"):
        if max_length is None:
            raise ValueError("constant normalisation needs max_length (L_max)")
        return m / (float(max_length) * (float(world_size) if mode == "constant" else n_seq))
    if mode == "token":
        n_tok = float(num_tokens if num_tokens is not None else m.sum().item())
        return m / max(n_tok, 1.0)
    if mode == "sequence":
        return m / (m.sum(-1, keepdim=True).clamp(min=1.0) * n_seq)
    raise ValueError(f"unknown normalisation {mode!r}: use constant, constant_mean, token or sequence")


def aggregate(token_loss: torch.Tensor, mask: torch.Tensor, mode: str, **counts) -> torch.Tensor:
    """The normalised masked sum of per-token losses [B, T] (see `token_weights`)."""
    return (token_weights(mask, mode, **counts).to(token_loss.dtype) * token_loss).sum()
