"""The embedded default model: a tiny Qwen2 (transformers' Qwen2ForCausalLM, the reference's architecture family)
built from a config, with the offline tokenizer of `tokenizer_tiny`. About 0.9M parameters: 4 layers, width 128,
4 query heads sharing 2 key/value heads, SwiGLU MLP of width 384, tied input/output embeddings.
"""

from __future__ import annotations

TINY_ARCH = dict(
    hidden_size=128,  # model width
    num_hidden_layers=4,
    num_attention_heads=4,  # head dim 32
    num_key_value_heads=2,  # grouped-query attention, as in Qwen2.5
    intermediate_size=384,  # SwiGLU MLP width (3x)
    max_position_embeddings=512,  # prompt (~30 tokens) + response (<= ~100) fit with room to spare
    rope_theta=10000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)
TINY_VERSION = 1  # bump when TINY_ARCH changes (part of the warm-up cache key)


def tiny_config(tokenizer, **overrides):
    from transformers import Qwen2Config

    arch = {**TINY_ARCH, **overrides}
    cfg = Qwen2Config(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        use_cache=True,
        **arch,
    )
    return cfg


def build_tiny_model(tokenizer, seed: int = 0, **overrides):
    """A randomly initialised tiny Qwen2ForCausalLM (fp32), deterministic for a seed."""
    import torch
    from transformers import Qwen2ForCausalLM

    cfg = tiny_config(tokenizer, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(cfg)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model


def param_count(model) -> int:
    return sum(p.numel() for p in model.parameters())
