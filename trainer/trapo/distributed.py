"""Several processes under torchrun: process group from the environment, DDP or FSDP2, helpers for the train loop.

- `torchrun --nproc-per-node N -m trapo train ...` sets RANK / WORLD_SIZE / LOCAL_RANK; a plain `python -m trapo`
  is world size 1 and touches no process group.
- The global batch (train.prompts_per_step) is kept: each rank takes every world-th prompt of the step.
- Rank 0 alone writes the run directory.
- Gradients: the loss each rank backpropagates is its share of the GLOBAL normalised loss times world size, so DDP's
  (and FSDP2's) gradient averaging yields exactly the global gradient.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"
    strategy: str = "none"  # none | ddp | fsdp2

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def resolve_device(requested: str, local_rank: int = 0) -> str:
    if requested == "auto":
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        return f"cuda:{local_rank}"
    return requested


def setup(device: str, strategy: str, backend: str = "auto") -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local)
    if world <= 1:
        return DistInfo(0, 1, 0, dev, "none")
    if backend == "auto":
        backend = "nccl" if dev.startswith("cuda") else "gloo"
    if dev.startswith("cuda"):
        torch.cuda.set_device(torch.device(dev))
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local, dev, strategy)


def wrap_model(model: torch.nn.Module, info: DistInfo, compute_dtype: torch.dtype | None = None) -> torch.nn.Module:
    """DDP or FSDP2 (one process: the model as is). `compute_dtype` (mixed precision, fp32 weights): FSDP2 casts the
    gathered parameters to it and reduces gradients in fp32 (MixedPrecisionPolicy); DDP and one process autocast
    instead (trapo.precision)."""
    if not info.enabled:
        return model
    if info.strategy == "fsdp2":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        kw = {}
        if compute_dtype is not None:
            kw["mp_policy"] = MixedPrecisionPolicy(param_dtype=compute_dtype, reduce_dtype=torch.float32)
        layers = getattr(getattr(model, "model", None), "layers", None)
        for layer in layers or []:
            fully_shard(layer, **kw)
        fully_shard(model, **kw)
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [torch.device(info.device).index] if info.device.startswith("cuda") else None
    return DDP(model, device_ids=ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    inner = model.module if hasattr(model, "module") and not hasattr(model, "save_pretrained") else model
    return inner  # pyright: ignore[reportReturnType] (DDP's .module, typed by nn.Module.__getattr__)


def no_sync(model: torch.nn.Module, last: bool):
    """Skip gradient all-reduce on all but the last micro-batch (DDP); FSDP2 reduces every backward."""
    if hasattr(model, "no_sync") and not last:
        return model.no_sync()  # pyright: ignore[reportCallIssue] (DDP's, typed by nn.Module.__getattr__)
    return contextlib.nullcontext()


@contextlib.contextmanager
def generation_mode(model: torch.nn.Module, info: DistInfo):
    """Yield the module to generate with. FSDP2: gather the parameters once, keep them for all decode steps (ranks
    decode different numbers of steps, so no per-forward collective may happen), reshard after."""
    if info.strategy == "fsdp2" and info.enabled:
        from torch.distributed.fsdp import FSDPModule

        # unshard() acts on one module's own parameter group, so every sharded module (each layer and the root) is
        # gathered here, on every rank in the same order; after that a forward needs no collective, and a rank with
        # nothing to generate (fewer eval problems than ranks) does not leave its peers waiting.
        sharded = [m for m in model.modules() if isinstance(m, FSDPModule)]
        model.set_reshard_after_forward(False, recurse=True)  # pyright: ignore[reportCallIssue] (FSDPModule's)
        for m in sharded:
            m.unshard()
        try:
            yield model
        finally:
            for m in sharded:
                m.reshard()
            model.set_reshard_after_forward(True, recurse=True)  # pyright: ignore[reportCallIssue] (FSDPModule's)
    else:
        yield unwrap(model)


def all_reduce_sum(values: Sequence[float], info: DistInfo) -> list[float]:
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=info.device if info.device.startswith("cuda") else "cpu")
    dist.all_reduce(t)
    return t.cpu().tolist()


def all_reduce_max(value: int, info: DistInfo) -> int:
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=info.device if info.device.startswith("cuda") else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def gather_objects(obj: Any, info: DistInfo) -> list:
    """Every rank's object, in rank order (on every rank)."""
    if not info.enabled:
        return [obj]
    out: list = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def any_flag(flag: bool, info: DistInfo) -> bool:
    return bool(all_reduce_sum([1.0 if flag else 0.0], info)[0] > 0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def teardown(info: DistInfo, clean: bool = True) -> None:
    """Leave the process group. After a clean end every rank first meets at a barrier, so no rank tears its gloo pairs
    down while a peer still uses them; after a failure the peers may never arrive, so no barrier then. (The abort
    "terminate called without an active exception" seen in CI came later, in the interpreter's shutdown: see
    __main__._exit.)"""
    if not (info.enabled and dist.is_initialized()):
        return
    if clean:
        try:
            dist.barrier()
        except Exception:  # a peer died after the end: leaving is all that is left to do
            pass
    dist.destroy_process_group()
