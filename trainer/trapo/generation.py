"""Rollout generation behind a small interface, so that a faster engine (vLLM, SGLang) can come later.

`TorchGenerator` is the default: one batched call for all prompts, left padding with an attention mask and explicit
position ids, a KV cache (transformers' DynamicCache), and a lean decode loop over `model(...)` instead of
`model.generate` (less per-token overhead, which dominates for a tiny model on CPU). Rows that have produced EOS
are dropped from the batch (and from the KV cache) as soon as they finish, so long stragglers do not keep paying for
finished rows. Sampling draws from the given torch.Generator only, so results are deterministic given its seed
(and the batch). Temperature 0 is greedy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass

import torch


@dataclass
class Completions:
    token_ids: list[list[int]]  # per prompt, the generated tokens (stop id included when produced)
    logprobs: list[list[float]] | None = None  # the engine's log-probability of each of them; None: not computed


class Generator(ABC):
    """The rollout engine interface."""

    # True: generates with the `model` it is given (the trainer's, gathered under FSDP2). False: holds its own copy
    # of the weights, brought up to date by `sync_weights` after every optimizer step.
    uses_trainer_model = True

    @abstractmethod
    def generate(
        self,
        model,
        prompts: list[list[int]],
        *,
        max_new_tokens: int,
        temperature: float,
        eos_token_id: int | Sequence[int],
        pad_token_id: int,
        generator: torch.Generator | None = None,
    ) -> list[list[int]]:
        """Completion token ids for each prompt (at most max_new_tokens). `eos_token_id`: one stop id or several
        (every id stops its row); the stop id that ended a row is the last id of its completion."""

    def generate_with_logprobs(self, model, prompts: list[list[int]], **kw) -> Completions:
        """`generate`, plus the engine's log-probabilities of the sampled tokens where the engine has them."""
        return Completions(self.generate(model, prompts, **kw))

    def sync_weights(self, model) -> float | None:
        """Bring the engine's own weights up to date (seconds taken); None: it uses the trainer's model directly."""
        return None

    def release_memory(self) -> None:  # noqa: B027 - a no-op unless an engine holds memory of its own (vLLM)
        """Rollouts of this step are done: an engine may free memory while the trainer trains."""

    def stream(self, model, prompt: list[int], *, max_new_tokens: int, temperature: float, stop_ids: Collection[int],
               generator: torch.Generator | None = None) -> Iterator[int]:
        """One prompt's completion, one token id at a time as it is decoded (a stop id is yielded, then the stream
        ends). For the live prompt (`trapo serve`); the rollouts use `generate`.

        This default is for engines without a streaming path: it decodes the whole completion with `generate`, then
        yields it (the first token arrives with the last), cut after the first stop id."""
        stops = sorted(set(stop_ids))
        # every stop id for an engine that takes several (vLLM's), else the one there is
        eos = stops if len(stops) > 1 else (stops[0] if stops else -1)
        out = self.generate(model, [prompt], max_new_tokens=max_new_tokens, temperature=temperature,
                            eos_token_id=eos, pad_token_id=0, generator=generator)[0]
        for t in out:
            yield t
            if t in stops:
                return


def left_pad(prompts: list[list[int]], pad_token_id: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, position_ids), each [batch, longest prompt], prompts aligned to the right."""
    longest = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), longest), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), longest), dtype=torch.long)
    for i, p in enumerate(prompts):
        if p:
            ids[i, longest - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[i, longest - len(p) :] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), pos.to(device)


def cache_argument(model) -> str:
    """Newer transformers name the forward's KV-cache argument `cache`, older ones `past_key_values`."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def sample_next(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """Next token per row from last-position logits [rows, vocab]: argmax at temperature 0, else a sample."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if generator is not None and generator.device != probs.device:
        # a CPU generator with a GPU model: sample on the CPU so that the generator alone decides
        return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(logits.device)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


class TorchGenerator(Generator):
    """Batched KV-cache decoding with plain PyTorch + transformers."""

    def __init__(self, prune_finished: bool = True, inference_mode: bool = True):
        self.prune_finished = prune_finished
        # FSDP2 keeps the gathered parameters it makes during a forward for later use in training; made under
        # inference_mode they could never take part in autograd again, so with FSDP2 generation runs under no_grad.
        self.inference_mode = inference_mode

    def generate(self, model, prompts: list[list[int]], *, max_new_tokens: int, temperature: float,
                 eos_token_id: int | Sequence[int], pad_token_id: int,
                 generator: torch.Generator | None = None) -> list[list[int]]:
        with torch.inference_mode() if self.inference_mode else torch.no_grad():
            return self._generate(model, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                                  eos_token_id=eos_token_id, pad_token_id=pad_token_id, generator=generator)

    def _generate(
        self,
        model,
        prompts: list[list[int]],
        *,
        max_new_tokens: int,
        temperature: float,
        eos_token_id: int | Sequence[int],
        pad_token_id: int,
        generator: torch.Generator | None = None,
    ) -> list[list[int]]:
        from transformers import DynamicCache

        if not prompts:
            return []
        if any(len(p) == 0 for p in prompts):
            raise ValueError("generate: every prompt needs at least one token")
        if max_new_tokens <= 0:
            return [[] for _ in prompts]
        stop = stop_set(eos_token_id)
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        try:
            ids, mask, pos = left_pad(prompts, pad_token_id, device)
            cache = DynamicCache(config=model.config)
            cache_kw = cache_argument(model)
            out = model(input_ids=ids, attention_mask=mask, position_ids=pos, **{cache_kw: cache}, use_cache=True,
                        logits_to_keep=1)
            logits = out.logits[:, -1, :]
            completions: list[list[int]] = [[] for _ in prompts]
            active = torch.arange(len(prompts), device=device)  # original prompt index of each batch row
            finished = [False] * len(prompts)  # only used when rows are not pruned
            next_pos = pos[:, -1] + 1
            prune = self.prune_finished and hasattr(cache, "batch_select_indices")
            for step in range(max_new_tokens):
                tok = sample_next(logits, temperature, generator)
                done = []
                for j, (r, t) in enumerate(zip(active.tolist(), tok.tolist())):
                    if finished[r]:
                        continue
                    completions[r].append(t)
                    if t in stop:
                        finished[r] = True
                        done.append(j)
                if all(finished) or step == max_new_tokens - 1:
                    break
                if done and prune:
                    keep = torch.tensor(sorted(set(range(len(active))) - set(done)), device=device)
                    cache.batch_select_indices(keep)
                    active, tok, mask, next_pos = active[keep], tok[keep], mask[keep], next_pos[keep]
                elif not prune:
                    tok = torch.where(torch.tensor(finished, device=device)[active], pad_token_id, tok)
                mask = torch.cat([mask, torch.ones((mask.shape[0], 1), dtype=mask.dtype, device=device)], dim=1)
                out = model(input_ids=tok.unsqueeze(-1), attention_mask=mask, position_ids=next_pos.unsqueeze(-1),
                            **{cache_kw: cache}, use_cache=True)
                logits = out.logits[:, -1, :]
                next_pos = next_pos + 1
            return completions
        finally:
            if was_training:
                model.train()


    def stream(self, model, prompt: list[int], *, max_new_tokens: int, temperature: float, stop_ids: Collection[int],
               generator: torch.Generator | None = None) -> Iterator[int]:
        """Single-sequence KV-cache decoding that yields each token as it comes (no padding, no batch bookkeeping).
        A separate loop, so the batched rollout path above pays nothing for it. The grad mode is entered around each
        forward, never held across a `yield`: two streams interleaved by the caller must not leak it to each other."""
        from transformers import DynamicCache

        if not prompt:
            raise ValueError("stream: the prompt needs at least one token")
        stops = set(stop_ids)
        device = next(model.parameters()).device
        cache_kw = cache_argument(model)
        mode: Callable = torch.inference_mode if self.inference_mode else torch.no_grad
        was_training = model.training
        model.eval()
        try:
            with mode():
                cache = DynamicCache(config=model.config)
                ids = torch.tensor([prompt], dtype=torch.long, device=device)
                logits = model(input_ids=ids, **{cache_kw: cache}, use_cache=True, logits_to_keep=1).logits[:, -1, :]
            position = len(prompt)
            for i in range(max_new_tokens):
                with mode():
                    tok = sample_next(logits, temperature, generator)
                t = int(tok.item())
                yield t
                if t in stops or i == max_new_tokens - 1:
                    return
                with mode():
                    pos = torch.tensor([[position]], dtype=torch.long, device=device)
                    logits = model(input_ids=tok.view(1, 1), position_ids=pos, **{cache_kw: cache},
                                   use_cache=True).logits[:, -1, :]
                position += 1
        finally:
            if was_training:
                model.train()


def stop_set(eos_token_id: int | Sequence[int]) -> frozenset[int]:
    """The stop ids of a generate call: one id or several."""
    return frozenset([int(eos_token_id)] if isinstance(eos_token_id, int) else (int(t) for t in eos_token_id))


def default_generator(inference_mode: bool = True) -> Generator:
    return TorchGenerator(inference_mode=inference_mode)


def make_engine(cfg, model, *, device: str, distributed: bool = False, fsdp: bool = False, log=print) -> Generator:
    """The rollout engine a config asks for (`rollout.engine`), ready to generate with `model`'s current weights.
    The one place engines are built: the trainer, `trapo eval` and other callers go through it."""
    if cfg.rollout.engine == "torch":
        return default_generator(inference_mode=not fsdp)
    if cfg.rollout.engine != "vllm":
        raise ValueError(f"rollout.engine {cfg.rollout.engine!r}: use torch or vllm")
    from .vllm_engine import INSTALL_HINT, VllmGenerator, vllm_available

    if not vllm_available():
        raise RuntimeError(f"rollout.engine vllm: vLLM is not installed in this environment; make one with "
                           f"{INSTALL_HINT}")
    v = cfg.rollout.vllm
    if v.dtype == "auto":  # what the trainer computes in (bf16 on a GPU with fp32 master weights), not what it stores
        from .precision import compute_dtype

        dtype = compute_dtype(cfg.model.compute_dtype, next(model.parameters()).dtype, device)
    else:
        dtype = getattr(torch, v.dtype)
    return VllmGenerator(model, seed=cfg.seed, dtype=dtype, device=device, distributed=distributed,
                         gpu_memory_utilization=v.gpu_memory_utilization, kv_cache_gib=v.kv_cache_gib,
                         max_model_len=v.max_model_len, enforce_eager=v.enforce_eager, sleep=v.sleep, log=log)


def generate(model, prompts: list[list[int]], *, max_new_tokens: int, temperature: float,
             eos_token_id: int | Sequence[int], pad_token_id: int,
             generator: torch.Generator | None = None) -> list[list[int]]:
    """Module-level shortcut for the default engine."""
    return TorchGenerator().generate(model, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                                     eos_token_id=eos_token_id, pad_token_id=pad_token_id, generator=generator)
