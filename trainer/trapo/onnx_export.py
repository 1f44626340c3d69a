"""ONNX export of a checkpoint: `model.onnx` beside it, for greedy generation in onnxruntime (onnxruntime-node in the
VS Code extension re-runs the whole sequence for every token; no KV cache in the graph).

Graph: input `input_ids` int64 [batch, seq] -> output `logits` float32 [batch, seq, vocab], batch and seq dynamic,
no attention mask (unpadded sequences; every position attends causally to all earlier ones). Exported with
torch.export (the "dynamo" exporter; the TorchScript one cannot translate transformers' mask code) in float32,
one self-contained file. `verify_onnx` reports the largest absolute logits difference against PyTorch; the tests
hold it under ONNX_TOLERANCE.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import torch

ONNX_TOLERANCE = 1e-4  # max |logits_onnx - logits_torch| accepted (fp32; measured ~5e-7 on the tiny model)
DEFAULT_ONNX_PARAM_LIMIT = 30_000_000  # export by default below this many parameters (a ~120 MB fp32 file)


class _LogitsOnly(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, use_cache=False).logits.float()


def should_export(param_count: int, limit: int = DEFAULT_ONNX_PARAM_LIMIT) -> bool:
    return param_count < limit


def _load(checkpoint_dir: Path):
    from transformers import AutoModelForCausalLM

    if not (checkpoint_dir / "config.json").exists():
        raise FileNotFoundError(f"{checkpoint_dir}: not a Hugging Face checkpoint (no config.json)")
    model = AutoModelForCausalLM.from_pretrained(checkpoint_dir, dtype=torch.float32, local_files_only=True)
    return model.eval()


def export_model_onnx(model, out_path: Path) -> Path:
    """Export an in-memory causal LM (moved to a float32 CPU copy if needed) to out_path, atomically."""
    import copy

    out_path = Path(out_path)
    p = next(model.parameters())
    if p.device.type != "cpu" or p.dtype != torch.float32:
        model = copy.deepcopy(model).to(device="cpu", dtype=torch.float32)
    model.eval()
    wrapper = _LogitsOnly(model).eval()
    # an example of batch 2: a batch of 1 would make the exporter specialise the batch dimension to 1
    example = torch.tensor([[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]], dtype=torch.long) % model.config.vocab_size
    batch = torch.export.Dim("batch", min=1, max=4096)
    seq = torch.export.Dim("seq", min=1, max=max(8, int(getattr(model.config, "max_position_embeddings", 4096))))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".model-", suffix=".onnx", dir=out_path.parent)
    os.close(fd)
    try:
        with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
            torch.onnx.export(wrapper, (example,), tmp, input_names=["input_ids"], output_names=["logits"],
                              dynamic_shapes={"input_ids": {0: batch, 1: seq}}, dynamo=True, external_data=False,
                              verbose=False)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the file is meant to be read by the extension
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out_path


def export_onnx(checkpoint_dir: str | Path, out_path: str | Path | None = None) -> Path:
    """Write `model.onnx` beside the checkpoint (or to out_path); returns its path."""
    checkpoint_dir = Path(checkpoint_dir)
    out = Path(out_path) if out_path else checkpoint_dir / "model.onnx"
    return export_model_onnx(_load(checkpoint_dir), out)


def verify_onnx(checkpoint_dir: str | Path, onnx_path: str | Path | None = None, seed: int = 0) -> float:
    """Max |logits| difference between onnxruntime and PyTorch on a random [2, 24] input (and a [1, 1] one)."""
    import numpy as np
    import onnxruntime as ort

    checkpoint_dir = Path(checkpoint_dir)
    onnx_path = Path(onnx_path) if onnx_path else checkpoint_dir / "model.onnx"
    if not onnx_path.exists():
        raise FileNotFoundError(f"{onnx_path}: no ONNX export (run export_onnx first)")
    model = _load(checkpoint_dir)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(seed)
    worst = 0.0
    for shape in ((2, 24), (1, 1)):
        ids = torch.randint(0, model.config.vocab_size, shape, generator=g)
        with torch.no_grad():
            ref = model(input_ids=ids, use_cache=False).logits.float().numpy()
        got = sess.run(["logits"], {"input_ids": ids.numpy()})[0]
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def onnx_greedy(onnx_path: str | Path, prompt_ids: list[int], max_new_tokens: int, eos_token_id: int) -> list[int]:
    """Greedy completion with onnxruntime, re-running the whole sequence for every token (as the extension does)."""
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    seq = list(prompt_ids)
    out: list[int] = []
    for _ in range(max_new_tokens):
        logits = np.asarray(sess.run(["logits"], {"input_ids": np.array([seq], dtype=np.int64)})[0])
        nxt = int(logits[0, -1].argmax())
        out.append(nxt)
        seq.append(nxt)
        if nxt == eos_token_id:
            break
    return out
