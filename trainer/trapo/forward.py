"""The training forward pass of one micro-batch: log-probabilities of the targets, entropies and the loss masks,
aligned position by position.

Two ways, same numbers (tests/test_forward.py checks the log-probabilities and the gradients against each other):

- `whole`: every row is its whole sequence prompt + prefix + continuation, right-padded; logits at every position.
- `shared_prompt` (default): a group's samples share their prompt, so each distinct prompt of the micro-batch is run
  once (left-padded, KV cache kept with its autograd graph), its keys and values are indexed out to the rows that
  share it, and only the responses (prefix + continuation, right-padded) are run on top. Everything is returned in
  response coordinates: position j predicts response token j (j = 0 from the prompt's last position). With a group
  size of 8 this removes most of the prompt tokens from the pass (on the tiny model's grpo step more than half of
  the tokens were prompt tokens).

With `vocab_chunk` > 0 (train.logprob_vocab_chunk) no [rows, tokens, vocabulary] logits exist: the output head is
swapped, for the one call, for `token_stats.chunked_logprob_entropy` on the last hidden states. With 0 the model's full
logits are used (the way before; also the reference the tests compare against).

Gradient checkpointing and the shared-prompt pass do not go together: transformers replays a checkpointed layer
without the KV cache, so the response pass would never see the prompt (measured: log-probabilities off by up to 0.97).
`checkpointing_on` lets the trainer switch sharing off in that case.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from .generation import cache_argument
from .rollout import TokenBatch
from .token_stats import chunked_logprob_entropy, full_logprob_entropy


@dataclass
class ForwardOut:
    logp: torch.Tensor  # [B, R] fp32: log p(targets[:, j]) at position j
    entropy: torch.Tensor  # [B, R] fp32 entropy of position j's distribution (0 off `response` when chunked)
    targets: torch.Tensor  # [B, R]
    response: torch.Tensor  # [B, R] bool, the masks of TokenBatch in these coordinates
    prefix_owned: torch.Tensor
    continuation: torch.Tensor


class HeadUnsupported(RuntimeError):
    """The model's output head is not a plain linear layer whose output the forward returns as is (e.g. soft-capped
    logits): the vocabulary-chunked log-probabilities cannot be used."""


def checkpointing_on(model) -> bool:
    """Whether transformers' gradient (activation) checkpointing is enabled on some layer of `model`."""
    return any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules())


def _autocast_dtype(device_type: str, fallback: torch.dtype) -> torch.dtype:
    return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else fallback


@contextlib.contextmanager
def _stats_head(plain, targets: torch.Tensor, mask: torch.Tensor, chunk: int):
    """While active, the model's output head returns [B, T, 2] = (log p(targets), entropy) per position instead of
    [B, T, V] logits: computed from the hidden states by `chunked_logprob_entropy`, only where `mask` is set (zeros
    elsewhere). The head is patched inside the model's own forward so that wrappers (DDP, FSDP2) see one ordinary
    forward: FSDP2's gathered parameters are in place while the head runs."""
    head = plain.get_output_embeddings()
    if not isinstance(head, torch.nn.Linear):
        raise HeadUnsupported(f"output head is {type(head).__name__}, not a Linear layer")
    made: dict = {}

    def stats_forward(hidden: torch.Tensor) -> torch.Tensor:
        if hidden.shape[:2] != mask.shape:
            raise HeadUnsupported(f"head input {tuple(hidden.shape)} does not match the positions {tuple(mask.shape)}")
        cd = _autocast_dtype(hidden.device.type, head.weight.dtype)
        lp, ent = chunked_logprob_entropy(hidden[mask], head.weight, targets[mask], bias=head.bias, chunk=chunk,
                                          compute_dtype=cd)
        out = torch.zeros(hidden.shape[:2] + (2,), dtype=torch.float32, device=hidden.device)
        out[mask] = torch.stack([lp, ent], dim=-1)
        made["out"] = out
        return out

    head.forward = stats_forward  # pyright: ignore[reportAttributeAccessIssue] (replaced for this pass, restored after)
    try:
        yield made
    finally:
        del head.forward


def _call_with_stats(model, plain, kwargs: dict, targets, mask, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(logp, entropy) [B, T] of `model(**kwargs)` at every position, against `targets` [B, T]."""
    if chunk > 0:
        with _stats_head(plain, targets, mask, chunk) as made:
            out = model(**kwargs).logits
        if out is not made.get("out"):
            raise HeadUnsupported("the model's forward changes the head's output (e.g. soft-capped logits)")
        return out[..., 0], out[..., 1]
    return full_logprob_entropy(model(**kwargs).logits, targets)


def _shift_left(x: torch.Tensor, fill) -> torch.Tensor:
    """x[:, 1:] with one column of `fill` appended: what position j predicts is token j + 1."""
    return torch.cat([x[:, 1:], torch.full_like(x[:, :1], fill)], dim=1)


def forward_whole(model, mb: TokenBatch, device, cache_model=None, vocab_chunk: int = 0) -> ForwardOut:
    """`vocab_chunk` > 0: log-probabilities and entropies from the hidden states in vocabulary slices of that size
    (no full logits); 0: from the model's full logits."""
    plain = cache_model if cache_model is not None else model
    ids, attn = mb.input_ids.to(device), mb.attention_mask.to(device)
    resp = mb.response.to(device)
    targets = ids[:, 1:]
    head_mask = torch.cat([resp, torch.zeros_like(resp[:, :1])], dim=1)
    logp, ent = _call_with_stats(model, plain, dict(input_ids=ids, attention_mask=attn), _shift_left(ids, 0),
                                 head_mask, vocab_chunk)
    return ForwardOut(logp[:, :-1], ent[:, :-1], targets, resp, mb.prefix_owned.to(device),
                      mb.continuation.to(device))


def can_share_prompts(mb: TokenBatch) -> bool:
    return mb.prompt_len is not None and mb.prompt_index is not None and bool((mb.prompt_len >= 1).all())


def forward_shared_prompt(model, mb: TokenBatch, device, cache_model=None, vocab_chunk: int = 0) -> ForwardOut:
    """`model` is what is called (it may be a DDP/FSDP wrapper); `cache_model` the plain transformers model (its
    config builds the cache)."""
    from transformers import DynamicCache

    plain = cache_model if cache_model is not None else model
    b = len(mb)
    assert mb.prompt_len is not None and mb.prompt_index is not None, "build_token_batch sets both"
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
    r_ids, resp = r_ids.to(dev), resp.to(dev)
    # response position 0 is predicted by the prompt's last position (its logits: one position per prompt)
    lp0, ent0 = full_logprob_entropy(first.logits[:, -1:][rows], r_ids[:, :1])
    # position j of the response pass predicts response token j + 1
    lp, ent = _call_with_stats(model, plain, dict(input_ids=r_ids, attention_mask=full_mask,
                                                  position_ids=r_pos.to(dev), use_cache=True, **{kw: cache}),
                               _shift_left(r_ids, 0), _shift_left(resp, False), vocab_chunk)
    logp = torch.cat([lp0, lp[:, :-1]], dim=1)
    entropy = torch.cat([ent0, ent[:, :-1]], dim=1)
    return ForwardOut(logp, entropy, r_ids, resp, own.to(dev), cont.to(dev))


class SharedPromptUnsupported(RuntimeError):
    """The model's forward does not take the arguments the shared-prompt pass needs (an older or custom model)."""


def forward(model, mb: TokenBatch, device, share_prompts: bool, cache_model=None, vocab_chunk: int = 0) -> ForwardOut:
    if share_prompts and can_share_prompts(mb):
        try:
            return forward_shared_prompt(model, mb, device, cache_model, vocab_chunk)
        except TypeError as exc:  # e.g. no logits_to_keep / cache argument in this model's forward
            raise SharedPromptUnsupported(str(exc)) from exc
    return forward_whole(model, mb, device, cache_model, vocab_chunk)
