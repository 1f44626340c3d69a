"""ONNX export of a checkpoint: logits match PyTorch, greedy generation in onnxruntime equals PyTorch greedy."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import onnx
import pytest
import torch

from trapo.onnx_export import ONNX_TOLERANCE, export_onnx, onnx_greedy, should_export, verify_onnx


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from trapo.tiny import build_tiny_model
    from trapo.tokenizer_tiny import build_tiny_tokenizer, save_tokenizer

    d = tmp_path_factory.mktemp("ckpt")
    tok = build_tiny_tokenizer()
    model = build_tiny_model(tok, seed=1)
    with torch.no_grad():  # peaked, varied next-token distributions, so greedy decoding is a meaningful check
        for p in model.parameters():
            p.mul_(3.0)
    model.save_pretrained(d)
    save_tokenizer(tok, d)
    export_onnx(d)
    return d, model.eval(), tok


def test_export_writes_a_dynamic_graph(checkpoint):
    d, model, _ = checkpoint
    path = d / "model.onnx"
    assert path.exists() and not list(d.glob(".model-*"))  # written atomically, no temp left behind
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["input_ids"] and [o.name for o in graph.output] == ["logits"]
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "seq"]
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_logits_match_pytorch(checkpoint):
    d, _, _ = checkpoint
    assert verify_onnx(d) < ONNX_TOLERANCE


def test_onnx_greedy_equals_pytorch_greedy(checkpoint):
    from trapo.generation import TorchGenerator
    from trapo.prompting import build_prompt

    d, model, tok = checkpoint
    ids = tok(build_prompt(tok, "Compute 7 - 2 + 3 * 4."), add_special_tokens=False)["input_ids"]
    torch_out = TorchGenerator().generate(model, [ids], max_new_tokens=16, temperature=0.0,
                                          eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)[0]
    assert onnx_greedy(d / "model.onnx", ids, 16, tok.eos_token_id) == torch_out


def test_size_limit_and_missing_checkpoint(tmp_path):
    assert should_export(833_000) and not should_export(500_000_000)
    with pytest.raises(FileNotFoundError, match="not a Hugging Face checkpoint"):
        export_onnx(tmp_path)
