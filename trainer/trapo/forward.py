"""The training forward pass of one micro-batch: logits, targets and the loss masks, aligned position by position.

Two ways, same numbers (tests/test_forward.py checks the log-probabilities and the gradients against each other):

- `whole`: every row is its whole sequence prompt + prefix + continuation, right-padded; logits at every position.
- `shared_prompt` (default): a group's samples share their prompt, so each distinct prompt of the micro-batch is run
  once (left-padded, KV cache kept with its autograd graph), its keys and values are indexed out to the rows that
  share it, and only the responses (prefix + continuation, right-padded) are run on top. Everything is returned in
  response coordinates: position j predicts response token j (j = 0 from the prompt's last position). With a group
  size of 8 this removes most of the prompt tokens from the pass (on the tiny model's grpo step more than half of
  the tokens were prompt tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .generation import cache_argument
from .rollout import TokenBatch


@dataclass
class ForwardOut:
    logits: torch.Tensor  # [B, R, V]: position j predicts targets[:, j]
    targets: torch.Tensor  # [B, R]
    response: torch.Tensor  # [B, R] bool, the masks of TokenBatch in these coordinates
    prefix_owned: torch.Tensor
    continuation: torch.Tensor


def forward_whole(model, mb: TokenBatch, device) -> ForwardOut:
    ids, attn = mb.input_ids.to(device), mb.attention_mask.to(device)
    logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1]
    return ForwardOut(logits, ids[:, 1:], mb.response.to(device), mb.prefix_owned.to(device),
                      mb.continuation.to(device))


def can_share_prompts(mb: TokenBatch) -> bool:
    return mb.prompt_len is not None and mb.prompt_index is not None and bool((mb.prompt_len >= 1).all())


def forward_shared_prompt(model, mb: TokenBatch, device, cache_model=None) -> ForwardOut:
    """`model` is what is called (it may be a DDP/FSDP wrapper); `cache_model` the plain transformers model (its
    config builds the cache)."""
    from transformers import DynamicCache

    plain = cache_model if cache_model is not None else model
    b = len(mb)
    plen = mb.prompt_len.tolist()
    total = mb.attention_mask.sum(dim=1).tolist()
    rlen = [t - p for t, p in zip(total, plen)]
    keys = mb.prompt_index.tolist()
    firsts: dict[int, int] = {}
    for i, k in enumerate(keys):
        firsts.setdefault(k, i)
    uniq = list(firsts.values())  # a representative row of each distinct prompt, in order of appearance
    slot = {k: n for n, k in enumerate(firsts)}
    row_map = torch.tensor([slot[k] for k in keys], dtype=torch.long)
    # prompts, left-padded so that every prompt ends at column p_max - 1
    p_max = max(plen[i] for i in uniq)
    pad = 0  # any valid id: padded positions are masked out
    p_ids = torch.full((len(uniq), p_max), pad, dtype=torch.long)
    p_mask = torch.zeros((len(uniq), p_max), dtype=torch.long)
    for n, i in enumerate(uniq):
        p_ids[n, p_max - plen[i]:] = mb.input_ids[i, : plen[i]]
        p_mask[n, p_max - plen[i]:] = 1
    p_pos = (p_mask.cumsum(-1) - 1).clamp(min=0)
    # responses, right-padded
    r_max = max(max(rlen), 1)
    r_ids = torch.full((b, r_max), pad, dtype=torch.long)
    r_mask = torch.zeros((b, r_max), dtype=torch.long)
    # masks in response coordinates: target index (plen - 1 + j) of the whole layout is response position j
    resp = torch.zeros((b, r_max), dtype=torch.bool)
    own = torch.zeros_like(resp)
    cont = torch.zeros_like(resp)
    for i in range(b):
        p, r = plen[i], rlen[i]
        r_ids[i, :r] = mb.input_ids[i, p: p + r]
        r_mask[i, :r] = 1
        resp[i, :r] = mb.response[i, p - 1: p - 1 + r]
        own[i, :r] = mb.prefix_owned[i, p - 1: p - 1 + r]
        cont[i, :r] = mb.continuation[i, p - 1: p - 1 + r]
    r_pos = torch.tensor(plen, dtype=torch.long).unsqueeze(-1) + torch.arange(r_max).unsqueeze(0)

    kw = cache_argument(plain)
    cache = DynamicCache(config=plain.config)
    dev = device
    first = model(input_ids=p_ids.to(dev), attention_mask=p_mask.to(dev), position_ids=p_pos.to(dev),
                  use_cache=True, logits_to_keep=1, **{kw: cache})
    rows = row_map.to(dev)
    cache.batch_select_indices(rows)  # each row gets its prompt's keys and values (indexing keeps the graph)
    full_mask = torch.cat([p_mask.to(dev)[rows], r_mask.to(dev)], dim=1)
    second = model(input_ids=r_ids.to(dev), attention_mask=full_mask, position_ids=r_pos.to(dev), use_cache=True,
                   **{kw: cache})
    logits = torch.cat([first.logits[:, -1:][rows], second.logits[:, :-1]], dim=1)
    return ForwardOut(logits, r_ids.to(dev), resp.to(dev), own.to(dev), cont.to(dev))


class SharedPromptUnsupported(RuntimeError):
    """The model's forward does not take the arguments the shared-prompt pass needs (an older or custom model)."""


def forward(model, mb: TokenBatch, device, share_prompts: bool, cache_model=None) -> ForwardOut:
    if share_prompts and can_share_prompts(mb):
        try:
            return forward_shared_prompt(model, mb, device, cache_model)
        except TypeError as exc:  # e.g. no logits_to_keep / cache argument in this model's forward
            raise SharedPromptUnsupported(str(exc)) from exc
    return forward_whole(model, mb, device)
