"""The model side of the live prompt's service (`trapo serve`): the one place each choice is made, so that the
trainer's own versions can replace them: the engine (`make_live_engine`: the torch engine, or the vLLM engine through
the trainer's factory), the prompt (`training_prompt`: the trainer's prompt builder) and the stop ids (`stop_ids`:
from the checkpoint's generation_config); and the streamed text (`IncrementalText`), out-of-memory detection."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path


class ServeError(Exception):
    """An error that becomes one error line: a code from the protocol and a message for the user."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


ENGINES = ("auto", "torch", "vllm")


def available_engines() -> list[str]:
    """torch always; vllm where the trainer has its engine factory and vLLM is installed (not imported here)."""
    import importlib.util

    from . import generation

    engines = ["torch"]
    if hasattr(generation, "make_engine") and importlib.util.find_spec("vllm") is not None:
        engines.append("vllm")
    return engines


def check_engine(name: str) -> None:
    if name not in ENGINES:
        raise ServeError("bad_request", f"--engine {name!r}: use auto, torch or vllm")
    if name == "vllm" and "vllm" not in available_engines():
        raise ServeError("engine_unavailable", "engine vllm is not available here: this trainer has no vLLM engine "
                         "or this Python has no vllm (bash scripts/setup-python.sh --vllm makes an environment "
                         "with it)")


def make_live_engine(name: str, model, run_config: dict | None, device: str):
    """The engine one slot generates with (the one place it is chosen). torch (and auto): the trainer's
    TorchGenerator, stateless and shared, which streams token by token. vllm: the trainer's factory
    (`trapo.generation.make_engine(cfg, model, device=...)`, with the run's config and rollout.engine vllm), one engine
    per slot holding that checkpoint's weights; without a streaming path of its own it answers through
    Generator.stream's default (the whole answer at once)."""
    from . import generation

    if name in ("auto", "torch"):
        return _torch_engine()
    check_engine(name)
    from .config import config_from_dict

    data = dict(run_config or {})
    data["rollout"] = {**(data.get("rollout") or {}), "engine": name}
    data["device"] = device
    try:
        return generation.make_engine(config_from_dict(data), model, device=device,
                                      log=lambda m: print(f"[trapo serve] {m}", file=sys.stderr, flush=True))
    except (ImportError, RuntimeError, ValueError) as err:
        raise ServeError("engine_unavailable", f"engine {name!r} cannot be used here: {err}") from None


def _torch_engine():
    from .generation import default_generator

    return default_generator()


def training_prompt(tokenizer, question: str, run_config: dict | None) -> str:
    """The prompt exactly as the trainer builds it for a problem (its chat template and instruction). The run's
    config is passed for a prompt builder that depends on it; today's builder does not."""
    from .prompting import build_prompt

    del run_config
    return build_prompt(tokenizer, question)


def live_prompt_ids(tokenizer, text: str, mode: str, run_config: dict | None) -> tuple[str, list[int]]:
    """(prompt text, token ids). training: as the trainer builds a problem's prompt; chat: the checkpoint's chat
    template around the text as the user's message; raw: the text itself."""
    if mode == "training":
        prompt = training_prompt(tokenizer, text, run_config)
    elif mode == "chat":
        if not getattr(tokenizer, "chat_template", None):
            raise ServeError("bad_request", "this checkpoint's tokenizer has no chat template; use prompt_mode raw")
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                               add_generation_prompt=True)
    else:
        prompt = text
    ids = tokenizer(prompt, add_special_tokens=(mode == "raw"))["input_ids"]
    if not ids:
        raise ServeError("bad_request", "the prompt is empty after tokenization")
    return prompt, list(ids)


def stop_ids(model, tokenizer) -> list[int]:
    """Every id that ends an answer: generation_config.eos_token_id (an id or a list, e.g. Qwen-Instruct's
    <|im_end|> and <|endoftext|>) and the tokenizer's eos token."""
    ids: set[int] = set()
    gen = getattr(model, "generation_config", None)
    eos = getattr(gen, "eos_token_id", None) if gen is not None else None
    if isinstance(eos, int):
        ids.add(eos)
    elif isinstance(eos, (list, tuple)):
        ids.update(int(x) for x in eos if isinstance(x, int))
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return sorted(ids)


def run_config_of(checkpoint: Path) -> dict | None:
    """The config in run.json of the run a checkpoint belongs to (<run>/checkpoints/<step>), or None."""
    run_json = checkpoint.resolve().parent.parent / "run.json"
    try:
        return json.loads(run_json.read_text(encoding="utf-8")).get("config")
    except (OSError, ValueError, AttributeError):
        return None


class IncrementalText:
    """Text of a growing list of token ids, handed out as deltas: only text that later tokens cannot change (a
    multi-byte character split over tokens decodes as U+FFFD until its last byte comes). Decodes a short window,
    not the whole answer, at each token."""

    def __init__(self, tokenizer):
        self.tok = tokenizer
        self.ids: list[int] = []
        self.prefix = 0  # ids[prefix:read] is text already handed out, decoded again as context
        self.read = 0

    def _text(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def push(self, token: int) -> str:
        self.ids.append(token)
        before = self._text(self.ids[self.prefix:self.read])
        now = self._text(self.ids[self.prefix:])
        if len(now) > len(before) and not now.endswith("\ufffd") and now.startswith(before):
            self.prefix, self.read = self.read, len(self.ids)
            return now[len(before):]
        return ""

    def flush(self) -> str:
        """What is still held back at the end (an incomplete character stays U+FFFD)."""
        before = self._text(self.ids[self.prefix:self.read])
        now = self._text(self.ids[self.prefix:])
        self.prefix = self.read = len(self.ids)
        return now[len(before):] if now.startswith(before) else ""


def is_out_of_memory(err: BaseException) -> bool:
    if isinstance(err, MemoryError):
        return True
    try:
        import torch

        if isinstance(err, torch.cuda.OutOfMemoryError):
            return True
    except (ImportError, AttributeError):
        pass
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
