"""The tiny model's tokenizer, built offline: a byte-level BPE trained on text of the embedded task.

- Normaliser, pre-tokeniser and decoder are exactly those of transformers' Qwen2Tokenizer (NFC; the GPT-4 style
  split regex, in which every digit is its own piece, so numbers are spelled digit by digit; byte-level). They must
  be: transformers 5 loads a checkpoint whose config.json says model_type "qwen2" with Qwen2Tokenizer, which rebuilds
  that pipeline around the saved vocabulary and merges. The 256 byte symbols are all in the vocabulary, so any text (a
  user's live prompt in VS Code included) encodes without unknown tokens; decoding is the exact inverse (after NFC).
- Special tokens: <|endoftext|> (bos), <|pad|> (padding), <|im_start|>, <|im_end|> (eos: ends an assistant turn).
- Chat template: ChatML as in Qwen2.5; it is stored in tokenizer_config.json (`chat_template`) and in
  chat_template.jinja, so that @huggingface/jinja on the extension side reads the same template.
The BPE trainer is deterministic for a given corpus, and the corpus is generated from fixed seeds.
"""

from __future__ import annotations

import json
from pathlib import Path

TOKENIZER_VERSION = 2  # bump when the corpus, the vocabulary size or the pipeline changes (part of the cache key)
VOCAB_SIZE = 384
BOS, PAD, IM_START, IM_END = "<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [BOS, PAD, IM_START, IM_END]

# transformers' Qwen2Tokenizer pre-tokenisation (GPT-4 style; every digit its own piece)
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"""
    r"""\s+(?!\S)|\s+"""
)

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _corpus() -> list[str]:
    from .prompting import prompt_text
    from .task import builtin_train_problems, builtin_warmup_problems

    texts = []
    for p in builtin_train_problems(600, seed=12345) + builtin_warmup_problems(200, seed=12345, max_level=2,
                                                                                 level2_share=0.5):
        texts.append(f"{IM_START}user\n{prompt_text(p.question)}{IM_END}\n{IM_START}assistant\n")
        texts.extend(p.solutions)
    return texts


def build_tiny_tokenizer(vocab_size: int = VOCAB_SIZE):
    """A PreTrainedTokenizerFast for the tiny model (bos/eos/pad set, chat template attached)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # exactly the pipeline of transformers' Qwen2Tokenizer: loading a checkpoint whose config says model_type qwen2
    # rebuilds the tokenizer with it, so anything else would tokenize differently after a save/load round trip
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=IM_END,
        pad_token=PAD,
        additional_special_tokens=[IM_START],
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def save_tokenizer(tokenizer, out_dir: str | Path) -> None:
    """save_pretrained, then make sure tokenizer_config.json carries the chat template (newer transformers write
    it only to chat_template.jinja)."""
    out_dir = Path(out_dir)
    tokenizer.save_pretrained(out_dir)
    cfg_path = out_dir / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    template = getattr(tokenizer, "chat_template", None)
    if template:
        cfg["chat_template"] = template
    # transformers 5 writes its own class name ("TokenizersBackend"), which transformers 4 cannot load;
    # PreTrainedTokenizerFast is the portable name of the same thing
    if cfg.get("tokenizer_class") == "TokenizersBackend":
        cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
