"""Mixed precision as verl and TRL train: weights and AdamW state stored in fp32 (master weights), forward and backward
computed in bf16.

- `model.dtype` is what is stored (auto = float32). bf16 storage is allowed but loses small updates: one AdamW step at
  lr 1e-6 changed 2% of a bf16 model's parameters (fp32: 100%); the trainer says so in one log line.
- `model.compute_dtype` is what is computed (auto = bfloat16 on a GPU that supports it, else float32).
- One device or DDP: `torch.autocast(device, bf16)` around the forward passes (the loss's softmax arithmetic is fp32
  anyway; gradients land in the fp32 parameters' .grad). FSDP2: `MixedPrecisionPolicy(param_dtype=bf16,
  reduce_dtype=fp32)` on every sharded module, no autocast (distributed.wrap_model).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

_NAMES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}


def dtype_of(name: str) -> torch.dtype:
    if name not in _NAMES:
        raise ValueError(f"unknown dtype {name!r}; use auto, float32, bfloat16 or float16")
    return _NAMES[name]


def storage_dtype(name: str) -> torch.dtype:
    """model.dtype: auto = float32 (master weights)."""
    return torch.float32 if name == "auto" else dtype_of(name)


def bf16_supported(device: str) -> bool:
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return False  # CPU runs in fp32 unless asked: bf16 compute on CPU works but is slower than fp32 on most CPUs


def compute_dtype(name: str, stored: torch.dtype, device: str) -> torch.dtype:
    """model.compute_dtype: auto = bfloat16 where the GPU has it (and never above the stored precision)."""
    if name == "auto":
        if stored != torch.float32:
            return stored
        return torch.bfloat16 if bf16_supported(device) else torch.float32
    return dtype_of(name)


@dataclass
class Precision:
    stored: torch.dtype
    compute: torch.dtype
    device_type: str  # "cpu", "cuda"
    fsdp2: bool = False  # FSDP2's MixedPrecisionPolicy casts instead of autocast

    @property
    def mixed(self) -> bool:
        return self.compute != self.stored

    def autocast(self):
        """Around forward passes (training, reference model, generation)."""
        if not self.mixed or self.fsdp2:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.compute)

    def describe(self) -> str:
        name = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}
        how = ("" if not self.mixed else
               " (FSDP2 MixedPrecisionPolicy, fp32 gradient reduction)" if self.fsdp2 else " (autocast)")
        return f"weights stored in {name[self.stored]}, computed in {name[self.compute]}{how}"


def resolve(dtype: str, compute: str, device: str, fsdp2: bool = False) -> Precision:
    stored = storage_dtype(dtype)
    comp = compute_dtype(compute, stored, device)
    if comp == torch.float32 and stored != torch.float32:
        raise ValueError("model.compute_dtype float32 needs model.dtype float32 (compute cannot be finer than the "
                         "stored weights)")
    return Precision(stored, comp, torch.device(device).type, fsdp2)


def low_precision_storage_warning(p: Precision) -> str | None:
    if p.stored in (torch.bfloat16, torch.float16):
        return ("model.dtype stores the weights and AdamW's state in 16 bits: updates below their resolution are lost "
                "(at lr 1e-6 one step changed 2% of a bf16 model's parameters); model.dtype float32 with "
                "model.compute_dtype bfloat16 is mixed precision")
    return None
