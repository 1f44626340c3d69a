"""Per-rollout summaries for the rollout files (trapo-run/1.1): mean entropy over the response and the share of expert
prefix tokens outside TrSFT's trust region (p < alpha), from the training pass's per-token tensors. Computed on the
device for every row (a few reductions per micro-batch, one transfer), so the rollout table has them even when
`logging.token_stats` is off."""

from __future__ import annotations

import torch


def row_summaries(logp: torch.Tensor, ent: torch.Tensor, resp: torch.Tensor, n_prefix: torch.Tensor,
                  alpha: float) -> list[tuple[float, int, int, int]]:
    """Per row: (entropy sum over response tokens, response tokens, prefix tokens, prefix tokens with p < alpha).

    `logp`, `ent`, `resp`: [B, R] in any coordinates where a row's response tokens are in order (prefix first);
    `n_prefix`: [B] expert tokens at the start of each row's response."""
    resp = resp.bool()
    position = resp.long().cumsum(dim=-1) - 1  # index of each response token within its row's response
    prefix = resp & (position < n_prefix.to(position.device).unsqueeze(-1))
    outside = prefix & (logp.detach() < torch.log(torch.tensor(alpha, device=logp.device, dtype=logp.dtype)))
    ent_sum = (ent.detach().float() * resp).sum(dim=-1)
    stacked = torch.stack([ent_sum, resp.sum(dim=-1).float(), prefix.sum(dim=-1).float(), outside.sum(dim=-1).float()])
    rows = stacked.t().cpu().tolist()
    return [(e, int(n), int(p), int(o)) for e, n, p, o in rows]


def summary_fields(stats: tuple[float, int, int, int]) -> dict:
    """`mean_entropy` and `outside_trust_region` of one rollout line from its row summary."""
    ent_sum, n_resp, n_pre, n_out = stats
    return {"mean_entropy": ent_sum / n_resp if n_resp else None,
            "outside_trust_region": n_out / n_pre if n_pre else None}
