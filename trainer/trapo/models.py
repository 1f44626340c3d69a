"""Policy loading: the embedded `tiny` model (built offline, warmed up, cached) or any Hugging Face causal-LM dir."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch

TASK_VERSION = 2  # bump when the embedded task's text changes (part of the warm-up cache key)


def _dtype(dtype, device: str, tiny: bool) -> torch.dtype:
    """The storage dtype: a torch.dtype as is; "auto" = float32 (master weights: see trapo.precision)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    from .precision import storage_dtype

    return storage_dtype(dtype)


def enable_gradient_checkpointing(model) -> None:
    """Non-reentrant checkpointing of every decoder layer (transformers renamed the method in 5.x; both work)."""
    kw = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kw)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kw)


def default_cache_dir() -> Path:
    return Path(os.environ.get("TRAPO_CACHE", Path.home() / ".cache" / "trapo"))


# Warmed-up tiny bases that ship with the package (trainer/scripts/make_tiny_base.py makes them), one folder per
# cache key: the demo's and the comparison's warm-up settings, so that their first run needs no warm-up. Any other
# setting is warmed up once and cached under the cache dir.
SHIPPED_BASES = Path(__file__).parent / "bases"


def shipped_base(key: str) -> Path | None:
    d = SHIPPED_BASES / f"tiny-warmup-{key}"
    return d if (d / "config.json").exists() and (d / "tokenizer.json").exists() else None


def warmup_cache_key(settings: dict, seed: int) -> str:
    from .tiny import TINY_VERSION
    from .tokenizer_tiny import TOKENIZER_VERSION

    blob = json.dumps({"warmup": settings, "seed": seed, "tiny": TINY_VERSION, "tokenizer": TOKENIZER_VERSION,
                       "task": TASK_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _save_dir_atomically(model, tokenizer, target: Path) -> None:
    from .tokenizer_tiny import save_tokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; the cache is shared like any other model directory
    try:
        model.save_pretrained(tmp)
        save_tokenizer(tokenizer, tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_warm_tiny(warmup: dict | None, seed: int, cache_dir: str | Path | None = None, log=None,
                    progress=None) -> Path:
    """The directory of the warmed-up tiny model: the shipped one for its settings, else the cached one (built and
    cached on first use). `progress(fraction, message)` is called after each warm-up step; the fraction counts steps
    against the most the warm-up may take (it usually stops earlier, at its target accuracy), and with 1.0 at its
    end, early or not."""
    from .tiny import build_tiny_model
    from .tokenizer_tiny import build_tiny_tokenizer
    from .warmup import resolve_warmup, run_warmup

    settings = resolve_warmup(warmup)
    key = warmup_cache_key(settings, seed)
    shipped = shipped_base(key)
    if shipped is not None:
        return shipped
    target = Path(cache_dir) if cache_dir else default_cache_dir()
    target = target / f"tiny-warmup-{key}"
    if (target / "config.json").exists() and (target / "tokenizer.json").exists():
        return target
    if log:
        log(f"building the tiny base model (warm-up {settings}); cached at {target}")
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(tokenizer, seed=seed)
    total = int(settings["steps"])

    def on_step(step: int, _model) -> None:
        assert progress is not None  # on_step is passed only with a progress callback
        progress(step / max(1, total), f"warming up the tiny base model: step {step} of at most {total}")

    with torch.random.fork_rng(devices=[]):
        losses = run_warmup(model, tokenizer, settings, seed=seed, log=log, on_step=on_step if progress else None)
    if progress:  # a warm-up that reached its target accuracy early ends short of `total`: say it is done
        early = " (target accuracy reached)" if len(losses) < total else ""
        progress(1.0, f"warmed up the tiny base model in {len(losses)} steps{early}")
    _save_dir_atomically(model, tokenizer, target)
    return target


def _generic_fast_tokenizer(path: Path) -> bool:
    try:
        cfg = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return cfg.get("tokenizer_class") in ("PreTrainedTokenizerFast", "TokenizersBackend")


def _load_hf(path: str, device: str, dtype: torch.dtype, cache_dir: str | None):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = Path(path).is_dir()
    hub_id = re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", path) is not None and not Path(path).exists()
    if not local and not hub_id:
        raise FileNotFoundError(f"model {path!r}: no such directory (use 'tiny' or a Hugging Face model directory)")
    if local and not (Path(path) / "config.json").exists():
        raise FileNotFoundError(f"model {path!r}: the directory has no config.json (not a Hugging Face model)")
    kw = {"local_files_only": True} if local else {"cache_dir": cache_dir}
    tokenizer = AutoTokenizer.from_pretrained(path, **kw)
    if local and _generic_fast_tokenizer(Path(path)):
        # (edit by T1) transformers 5 maps model_type qwen2 to Qwen2Tokenizer, which swaps in its own pre-tokenizer
        # and so encodes the tiny tokenizer's text differently from how it was trained; load tokenizer.json as is
        from transformers import PreTrainedTokenizerFast

        tokenizer = PreTrainedTokenizerFast.from_pretrained(path, **kw)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kw)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.eos_token_id is None:
        raise ValueError(f"model {path!r}: its tokenizer has no eos token; set eos_token in tokenizer_config.json")
    return model.to(device), tokenizer


def load_policy(name_or_path: str, *, device: str, dtype: str | torch.dtype = "auto", seed: int = 0,
                warmup: dict | None = None, cache_dir: str | None = None, log=None, progress=None):
    """(model, tokenizer, display name).

    "tiny": the embedded Qwen2 model; with `warmup` (a dict of warm-up settings, {} for the defaults, or
    {"enabled": False} to skip it) it is the warmed-up base: shipped with the package for the demo's settings, else
    cached under cache_dir (default ~/.cache/trapo, or $TRAPO_CACHE) by a hash of the settings. `warmup=None` means
    the default warm-up too. `progress(fraction, message)` follows a warm-up (see build_warm_tiny).
    Anything else is a Hugging Face causal-LM directory (or hub id). `dtype` (a name or a torch.dtype) is how the
    weights are stored; "auto" = float32 (bf16 compute is autocast or FSDP2's policy: see trapo.precision).
    """
    from .tiny import param_count

    if name_or_path == "tiny":
        torch_dtype = _dtype(dtype, device, tiny=True)
        if warmup is not None and warmup.get("enabled", True) is False:
            from .tiny import build_tiny_model
            from .tokenizer_tiny import build_tiny_tokenizer

            tokenizer = build_tiny_tokenizer()
            model = build_tiny_model(tokenizer, seed=seed)
            name = "tiny-qwen2"
        else:
            d = build_warm_tiny(warmup, seed=seed, cache_dir=cache_dir, log=log, progress=progress)
            model, tokenizer = _load_hf(str(d), "cpu", torch.float32, None)
            name = f"tiny-qwen2-warm-{d.name.rsplit('-', 1)[-1][:8]}"
        model = model.to(device=device, dtype=torch_dtype)
    else:
        model, tokenizer = _load_hf(name_or_path, device, _dtype(dtype, device, tiny=False), cache_dir)
        name = name_or_path
    model.eval()
    if log:
        log(f"model {name}: {param_count(model):,} parameters on {device}")
    return model, tokenizer, name


def stop_token_ids(tokenizer, model_or_path=None) -> list[int]:
    """Every id that ends a generation: the tokenizer's eos plus every id of the model's
    `generation_config.eos_token_id` (a list for Qwen-Instruct models: <|im_end|> and <|endoftext|>).

    `model_or_path`: a loaded model (its .generation_config, or else its .config), a model directory (its
    generation_config.json), or None (the tokenizer's eos only). The tokenizer's eos comes first.
    """
    ids: list[int] = []

    def add(value) -> None:
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, int) and not isinstance(v, bool) and v >= 0 and v not in ids:
                ids.append(v)

    if tokenizer is not None and tokenizer.eos_token_id is not None:
        add(tokenizer.eos_token_id)
    if model_or_path is None:
        return ids
    if isinstance(model_or_path, (str, os.PathLike)):
        path = Path(model_or_path) / "generation_config.json"
        if path.is_file():
            add(json.loads(path.read_text(encoding="utf-8")).get("eos_token_id"))
        return ids
    gen = getattr(model_or_path, "generation_config", None)
    if gen is not None and getattr(gen, "eos_token_id", None) is not None:
        add(gen.eos_token_id)
    elif getattr(model_or_path, "config", None) is not None:
        add(getattr(model_or_path.config, "eos_token_id", None))
    return ids


def context_window(model) -> int | None:
    """The model's longest sequence (config.max_position_embeddings), None when the config does not say."""
    cfg = getattr(model, "config", None)
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        v = getattr(cfg, key, None)
        if isinstance(v, int) and v > 0:
            return v
    return None
