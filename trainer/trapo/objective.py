"""The objective of one micro-batch, for every algorithm the trainer runs, as a pure function of tensors.

`objective` takes the per-token log-probabilities and entropies of the training forward pass, the masks of the
micro-batch (response, owned expert prefix, the model's own continuation) and the per-sequence advantages, and returns
the micro-batch's loss with its parts (docs/algorithm.md §4). `spec_for` turns an algorithm and the `loss.*` config
into the numbers the objective needs. Nothing here knows about models, batches or processes: the forward pass,
micro-batching, backward and the optimizer stay in train.py (`Trainer.train_batch` calls this once per micro-batch).

Per algorithm (the prefix term applies to owned expert-prefix tokens, the policy term to continuation tokens):

| algorithm | prefix term | policy term | normalisation | entropy bonus |
|---|---|---|---|---|
| trapo | TrSFT -p/max(sg p, alpha) | -A r | loss.normalization | loss.entropy_coef |
| prefix_sft | SFT -log p | -A r | loss.normalization | loss.entropy_coef |
| luffy | -A p/(p+gamma) | -A r | loss.normalization | loss.entropy_coef |
| grpo, prefix_context | none (prefix tokens are context) | -A r | loss.normalization | loss.entropy_coef |
| sft | SFT -log p | -A r (no continuation tokens) | token mean | none |

sft_then_rl has no objective of its own: each step trains `sft` or `grpo` (train.phase_algorithm).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .losses import k3_kl, luffy_shaped_loss, policy_loss, sft_loss, token_weights, trsft_loss
from .mismatch import tis_weights

# The loss on owned expert-prefix tokens; an algorithm absent here trains no prefix token (grpo, prefix_context).
PREFIX_LOSS = {"trapo": "trsft", "prefix_sft": "sft", "sft": "sft", "luffy": "luffy"}
OBJECTIVE_ALGORITHMS = ("trapo", "grpo", "sft", "luffy", "prefix_context", "prefix_sft")

# The loss parts among `objective`'s stats (the metrics of the same names are their sums over a step's micro-batches).
LOSS_KEYS = ("loss/trsft", "loss/policy", "loss/entropy", "loss/kl", "loss/total")


@dataclass(frozen=True)
class ObjectiveSpec:
    """What `objective` needs besides the tensors. Counts are those of the whole (global) batch, so that the
    micro-batches' losses add up to the batch's."""

    prefix_loss: str | None  # "trsft", "sft", "luffy" or None (no loss on prefix tokens)
    normalization: str  # constant, constant_mean, token or sequence (losses.token_weights)
    max_length: int  # L_max of the constant normalisations
    num_sequences: float
    num_tokens: float  # tokens under the loss mask (continuation, plus owned prefix when prefix_loss is set)
    num_response: float  # response tokens (prefix + continuation): the entropy mean's divisor with "batch"
    world_size: int = 1
    alpha: float = 0.1
    luffy_gamma: float = 0.1
    clip_eps: float | None = None  # PPO clip; None = off
    entropy_coef: float = 0.001
    entropy_normalization: str = "micro_batch"  # or "batch"
    kl_coef: float = 0.0
    tis_cap: float | None = None


def prefix_loss_kind(algorithm: str) -> str | None:
    """The loss on owned prefix tokens of `algorithm` (None: prefix tokens are context only)."""
    if algorithm not in OBJECTIVE_ALGORITHMS:
        hint = " (train each phase: sft or grpo)" if algorithm == "sft_then_rl" else ""
        raise ValueError(f"no objective for algorithm {algorithm!r}{hint}: one of {', '.join(OBJECTIVE_ALGORITHMS)}")
    return PREFIX_LOSS.get(algorithm)


def loss_mask(continuation: torch.Tensor, prefix_owned: torch.Tensor, prefix_loss: str | None) -> torch.Tensor:
    """The tokens that carry a loss: the continuation, plus the owned prefix when the algorithm trains it."""
    return continuation | prefix_owned if prefix_loss else continuation


def spec_for(algorithm: str, loss_cfg, *, max_length: int, num_sequences: float, num_tokens: float,
             num_response: float, world_size: int = 1) -> ObjectiveSpec:
    """The spec of `algorithm` under `loss_cfg` (config.LossConfig). sft is plain token-mean cross-entropy: token
    normalisation and no entropy bonus, whatever loss.normalization and loss.entropy_coef say."""
    sft = algorithm == "sft"
    return ObjectiveSpec(
        prefix_loss=prefix_loss_kind(algorithm), normalization="token" if sft else loss_cfg.normalization,
        max_length=max_length, num_sequences=num_sequences, num_tokens=num_tokens, num_response=num_response,
        world_size=world_size, alpha=loss_cfg.alpha, luffy_gamma=loss_cfg.luffy_gamma,
        clip_eps=loss_cfg.clip_eps if loss_cfg.ppo_clip else None, entropy_coef=0.0 if sft else loss_cfg.entropy_coef,
        entropy_normalization=loss_cfg.entropy_normalization, kl_coef=loss_cfg.kl_coef, tis_cap=loss_cfg.tis_cap)


def _prefix_token_loss(spec: ObjectiveSpec, logp: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    if spec.prefix_loss == "trsft":
        return trsft_loss(logp, spec.alpha)
    if spec.prefix_loss == "sft":
        return sft_loss(logp)
    if spec.prefix_loss == "luffy":
        return luffy_shaped_loss(logp, adv, spec.luffy_gamma)
    if spec.prefix_loss is None:
        return torch.zeros_like(logp)
    raise ValueError(f"unknown prefix loss {spec.prefix_loss!r}: use trsft, sft, luffy or None")


def objective(
    spec: ObjectiveSpec,
    logp: torch.Tensor,
    entropy: torch.Tensor,
    response: torch.Tensor,
    prefix_owned: torch.Tensor,
    continuation: torch.Tensor,
    advantages: torch.Tensor,
    *,
    old_logp: torch.Tensor | None = None,
    ref_logp: torch.Tensor | None = None,
    engine_logp: torch.Tensor | None = None,
    engine_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(loss, stats) of one micro-batch.

    `logp`, `entropy`: [B, T] per target token (with their graph); `response`, `prefix_owned`, `continuation`: [B, T]
    bool; `advantages`: [B] (one per sequence). `old_logp` [B, T]: the log-probabilities the rollouts are scored
    against in later update epochs (None in the first: ratio 1 in value). `ref_logp`: the reference model's, for the
    k3 KL term (None = no KL term). `engine_logp`, `engine_mask`: the rollout engine's log-probabilities and where
    they are, for truncated importance sampling when spec.tis_cap is set.

    loss = sum(w * prefix_loss * owned) + sum(w * policy_loss * tis * continuation) - entropy_coef * entropy mean
           + kl_coef * sum(w * k3 * continuation), with w = losses.token_weights of the loss mask.
    The entropy mean is this micro-batch's token mean / world_size ("micro_batch", the reference) or the sum over
    num_response ("batch"). Stats (detached 0-d tensors): the five loss parts (LOSS_KEYS), the entropy sum over
    response tokens, the owned prefix tokens with p < alpha, and the continuation tokens PPO clipped.
    """
    adv = advantages.unsqueeze(-1) if advantages.dim() == 1 else advantages
    w = token_weights(loss_mask(continuation, prefix_owned, spec.prefix_loss), spec.normalization,
                      max_length=spec.max_length, num_sequences=spec.num_sequences, num_tokens=spec.num_tokens,
                      world_size=spec.world_size)
    pre_tl = _prefix_token_loss(spec, logp, adv)
    pol_tl, clipped = policy_loss(logp, adv, old_logp, spec.clip_eps)
    if engine_logp is not None and spec.tis_cap is not None:  # truncated importance sampling
        behaviour = old_logp if old_logp is not None else logp.detach()  # the trainer's first-epoch log-probs
        assert engine_mask is not None, "engine_logp comes with engine_mask (the tokens the engine generated)"
        pol_tl = pol_tl * tis_weights(behaviour, engine_logp, engine_mask, spec.tis_cap)
    pre_term = (w * pre_tl * prefix_owned).sum() if spec.prefix_loss else logp.new_zeros(())
    pol_term = (w * pol_tl * continuation).sum()
    if spec.entropy_normalization == "micro_batch":
        # the reference: each micro-batch's token mean (summed over micro-batches, averaged over processes; the
        # caller scales the loss by world_size and the gradients are averaged)
        ent_mean = (entropy * response).sum() / max(float(response.sum()), 1.0) / spec.world_size
    else:
        ent_mean = (entropy * response).sum() / max(spec.num_response, 1.0)
    ent_term = -spec.entropy_coef * ent_mean
    loss = pre_term + pol_term + ent_term
    kl_term = logp.new_zeros(())
    if ref_logp is not None:
        kl_term = spec.kl_coef * (w * k3_kl(logp, ref_logp) * continuation).sum()
        loss = loss + kl_term
    stats = {
        "loss/trsft": pre_term.detach(), "loss/policy": pol_term.detach(), "loss/entropy": ent_term.detach(),
        "loss/kl": kl_term.detach(), "loss/total": loss.detach(),
        "_ent_sum": (entropy.detach() * response).sum(),
        "_outside": ((logp.detach().exp() < spec.alpha) & prefix_owned).sum(),
        "_clipped": (clipped & continuation).sum(),
    }
    return loss, stats
