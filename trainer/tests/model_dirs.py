"""Checkpoint directories made in a test, in seconds: the embedded tiny model, and a random-weight Qwen2 with a
byte-level BPE tokenizer and a ChatML chat template built here with the `tokenizers` library (as a real Qwen2.5
checkpoint has them), whose generation_config names two stop ids."""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# ids by position in the special tokens list: <|endoftext|> 0, <|im_start|> 1, <|im_end|> 2
ENDOFTEXT, IM_START, IM_END = 0, 1, 2
CORPUS = [
    "What is 12 + 7? Please reason step by step, and put your final answer within \\boxed{}.",
    "The sum of 12 and 7 is 19, so the answer is \\boxed{19}.",
    "Compute 3 * (4 + 5). First 4 + 5 = 9, then 3 * 9 = 27. \\boxed{27}",
    "Héllo wörld: ünïcode, 数学, émojis 🙂 are bytes too.",
] * 20


def tiny_checkpoint(out: Path, scale: float = 3.0) -> Path:
    """The tiny model (random weights scaled so that greedy decoding is varied) with its tokenizer."""
    import torch

    from trapo.models import load_policy
    from trapo.tokenizer_tiny import save_tokenizer

    model, tok, _ = load_policy("tiny", device="cpu", seed=0, warmup={"enabled": False})
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    model.save_pretrained(out)
    save_tokenizer(tok, out)
    return out


def bpe_tokenizer():
    """A byte-level BPE (GPT-2 style byte alphabet, so any text encodes) with ChatML special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>"], clean_up_tokenization_spaces=False)
    fast.chat_template = CHATML
    assert fast.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]) == [ENDOFTEXT, IM_START, IM_END]
    return fast


def qwen2_checkpoint(out: Path, *, always_endoftext: bool = False, seed: int = 0) -> Path:
    """A random-weight Qwen2ForCausalLM (2 layers, width 64) whose generation_config stops on <|im_end|> and
    <|endoftext|>, as Qwen2.5-Instruct's does. always_endoftext: the final norm's weight is zeroed, so every logit
    is 0 and greedy decoding emits id 0 (<|endoftext|>, the second stop id, not the tokenizer's eos) at once."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from trapo.tokenizer_tiny import save_tokenizer

    tok = bpe_tokenizer()
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, intermediate_size=128, max_position_embeddings=4096,
                      tie_word_embeddings=True, eos_token_id=IM_END, pad_token_id=ENDOFTEXT)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(cfg)
    if always_endoftext:
        with torch.no_grad():
            model.model.norm.weight.zero_()
    model.generation_config.eos_token_id = [IM_END, ENDOFTEXT]
    model.generation_config.pad_token_id = ENDOFTEXT
    model.save_pretrained(out)
    save_tokenizer(tok, out)
    return out
