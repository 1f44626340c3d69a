"""What the vLLM weight sync sends (trapo.vllm_engine.trainer_weights; vLLM itself is not needed): the trainer's names,
one decoder layer after another, produced lazily (under FSDP2 each parameter is gathered only when reached)."""

import re
import types

from trapo.tiny import build_tiny_model
from trapo.tokenizer_tiny import build_tiny_tokenizer
from trapo.vllm_engine import _strip_wrappers, trainer_weights


def test_weights_go_layer_by_layer_with_plain_names():
    model = build_tiny_model(build_tiny_tokenizer())
    it = trainer_weights(model)()
    assert isinstance(it, types.GeneratorType)  # nothing gathered before the engine asks for it
    names = [n for n, _ in it]
    assert names == [n for n, _ in model.named_parameters()]
    layers = [int(m.group(1)) for n in names if (m := re.match(r"model\.layers\.(\d+)\.", n))]
    assert layers == sorted(layers)  # each layer's tensors (fused q/k/v, gate/up groups) arrive together
    assert {"model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.bias",
            "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight"} <= set(names)


def test_wrapper_prefixes_are_dropped():
    assert _strip_wrappers("_orig_mod.model.layers.0._checkpoint_wrapped_module.mlp.up_proj.weight") == \
        "model.layers.0.mlp.up_proj.weight"
    assert _strip_wrappers("model.embed_tokens.weight") == "model.embed_tokens.weight"
