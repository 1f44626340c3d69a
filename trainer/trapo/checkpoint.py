"""Checkpoints: Hugging Face layout (save_pretrained + tokenizer) for `from_pretrained`, the model and optimizer state
sharded per rank (torch.distributed.checkpoint), and `trainer_state.pt` (RNG states, step, data position, best eval),
written atomically: a temp folder, every file fsynced, one rename.

`checkpoints/<step:06d>/` holds config.json, model.safetensors, generation_config.json, the tokenizer files,
trainer_state.pt, `sharded/` (each rank's `__<rank>_0.distcp` + `.metadata`) and optionally model.onnx. Each rank
writes and reads only its own shard of the model and of AdamW's state, so no rank ever holds the whole optimizer; a
resume may use another world size (the shards are re-cut on load). With several nodes the run directory must be on a
file system that every rank sees. The Hugging Face weights are the full model, gathered on rank 0 (not the optimizer).
Checkpoints written before the sharded layout (optimizer inside trainer_state.pt) still resume.
Pruning keeps the last K plus the best by benchmark average.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .runformat import fsync_dir

STATE_FILE = "trainer_state.pt"
SHARDED_DIR = "sharded"


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"{step:06d}"


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    try:
        import numpy as np

        state["numpy"] = np.random.get_state()
    except ImportError:  # pragma: no cover
        pass
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "numpy" in state:
        import numpy as np

        np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fsync_tree(root: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            total += path.stat().st_size
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(Path(dirpath))
    return total


def temp_dir(run_dir: Path, step: int, token: int) -> Path:
    """The temp folder of a checkpoint being written (`token`: rank 0's pid, the same on every rank)."""
    final = checkpoint_dir(run_dir, step)
    return final.with_name(f".{final.name}.tmp-{token}")


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def save_sharded(model, optimizer, path: Path) -> None:
    """Every rank writes its shard of the model and optimizer state (collective: all ranks call it)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_sd, optim_sd = get_state_dict(model, optimizer)
    with _one_process_is_fine():
        dcp.save({"model": model_sd, "optimizer": optim_sd}, checkpoint_id=str(path))  # pyright: ignore[reportPrivateImportUsage]


def load_sharded(model, optimizer, path: Path) -> None:
    """Every rank reads what its shard needs (any world size, DDP, FSDP2 or one process; collective)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    model_sd, optim_sd = get_state_dict(model, optimizer)  # the optimizer's state is created (zero) to be filled
    state = {"model": model_sd, "optimizer": optim_sd}
    with _one_process_is_fine():
        dcp.load(state, checkpoint_id=str(path))  # pyright: ignore[reportPrivateImportUsage] (exported, not in __all__)
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])


@contextlib.contextmanager
def _one_process_is_fine():
    """DCP warns that it assumes one process when no process group exists: that is what is meant."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*assuming the intent is to .* in a single process.*")
        yield


def save_checkpoint(
    run_dir: Path,
    step: int,
    model,
    tokenizer,
    trainer_state: dict,
    *,
    state_dict: dict | None = None,
    export: Callable[[Path], Path | None] | None = None,
    tmp: Path | None = None,
) -> tuple[Path, int, bool]:
    """Write checkpoints/<step>/ atomically. Returns (final path, bytes, whether model.onnx was written).

    `state_dict` (full, CPU) replaces the model's own (FSDP2 gathers one); `export(tmp_dir)` may add model.onnx;
    `tmp`: a temp folder (see temp_dir) that already holds the sharded state, written by every rank.
    """
    final = checkpoint_dir(run_dir, step)
    if tmp is None:
        tmp = fresh_dir(temp_dir(run_dir, step, os.getpid()))
    model.save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
    from .tokenizer_tiny import save_tokenizer  # save_pretrained + chat template + a class name that reloads alike

    save_tokenizer(tokenizer, tmp)
    torch.save(trainer_state, tmp / STATE_FILE)
    has_onnx = False
    if export is not None:
        has_onnx = export(tmp) is not None and (tmp / "model.onnx").exists()
    size = _fsync_tree(tmp)
    if final.exists():  # re-saving the same step (e.g. a resumed run ends where it started)
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync_dir(final.parent)
    return final, size, has_onnx


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    root = Path(run_dir) / "checkpoints"
    out = []
    if root.is_dir():
        for p in root.iterdir():
            if p.is_dir() and p.name.isdigit() and (p / STATE_FILE).exists():
                out.append((int(p.name), p))
    return sorted(out)


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def load_trainer_state(path: Path) -> dict:
    return torch.load(Path(path) / STATE_FILE, map_location="cpu", weights_only=False)


def prune_checkpoints(run_dir: Path, keep_last: int, best_step: int | None) -> list[int]:
    """Delete all but the last `keep_last` and the best one; returns the deleted steps."""
    found = list_checkpoints(run_dir)
    keep = {s for s, _ in found[-keep_last:]}
    if best_step is not None:
        keep.add(best_step)
    deleted = []
    for s, p in found:
        if s not in keep:
            shutil.rmtree(p, ignore_errors=True)
            deleted.append(s)
    # leftovers of a crash during a save
    root = Path(run_dir) / "checkpoints"
    for p in root.glob(".*.tmp-*") if root.is_dir() else []:
        if p.is_dir() and not p.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(p, ignore_errors=True)
    return deleted


def best_step(eval_averages: dict[int, float], saved_steps: list[int]) -> int | None:
    """The saved step with the highest benchmark average evaluated at that same step (ties: the earlier)."""
    scored = [(eval_averages[s], -s) for s in saved_steps if s in eval_averages]
    return -max(scored)[1] if scored else None


def trainer_state(step: int, data_position: int, optimizer_state: Any, extra: dict, rng: dict | None = None) -> dict:
    """`optimizer_state` None: the optimizer is in the sharded folder (SHARDED_DIR). `rng`: the RNG state to record
    (the one taken when the step ended), else the state now."""
    state = {"step": step, "data_position": data_position, "optimizer": optimizer_state,
             "rng": rng if rng is not None else rng_state(), **extra}
    if optimizer_state is None:
        state["sharded"] = SHARDED_DIR
    return state
