"""Prompts: the reference's own chat text (default for real data) or the tokenizer's chat template (docs/algorithm.md
§7.2).

- `reference`: what the reference code writes itself, whatever the tokenizer: a system message "You are a helpful
  assistant.", the user message `{problem}` + a newline + the instruction, then the assistant header, in Qwen's
  ChatML. For a Qwen-family tokenizer that is exactly `apply_chat_template` with that explicit system message.
- `template`: the tokenizer's chat template on one user message, the problem and the instruction joined by a space
  (the template's own default system message, if any); without a template "Question: ...\\nAnswer: ". This is
  the trainer's earlier prompt and the one the embedded task's tiny model was trained with.
"""

from __future__ import annotations

from collections.abc import Callable

REFERENCE_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
REFERENCE_SYSTEM = "You are a helpful assistant."
PROMPT_STYLES = ("reference", "template")
CHATML_TOKENS = ("<|im_start|>", "<|im_end|>")


def prompt_text(question: str) -> str:
    """The `template` style's user message: the question, then the reference's instruction (not repeated)."""
    question = question.strip()
    if REFERENCE_INSTRUCTION in question:
        return question
    return f"{question} {REFERENCE_INSTRUCTION}"


def build_prompt(tokenizer, question: str) -> str:
    """The `template` style: the full prompt text, ending where the assistant's answer starts."""
    user = prompt_text(question)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                             add_generation_prompt=True)
    return f"Question: {user}\nAnswer: "


def reference_prompt(tokenizer, question: str) -> str:
    """The `reference` style: the reference's ChatML text, character for character (`tokenizer` is not used)."""
    return (f"<|im_start|>system\n{REFERENCE_SYSTEM}<|im_end|>\n<|im_start|>user\n{question}\n"
            f"{REFERENCE_INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n")


def resolve_prompt_style(style: str, builtin_data: bool) -> str:
    """`auto` -> `template` on the embedded task (its tiny model learned that prompt), `reference` on real data."""
    if style == "auto":
        return "template" if builtin_data else "reference"
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {style!r}; use auto, reference or template")
    return style


def prompt_builder(style: str) -> Callable:
    """(tokenizer, question) -> prompt text, for a resolved style."""
    return {"reference": reference_prompt, "template": build_prompt}[style]


def check_prompt_style(tokenizer, style: str) -> None:
    """The `reference` prompt is ChatML: refuse a tokenizer that does not have its two markers as single tokens
    (the prompt would be spelled out in pieces the model never saw as markers)."""
    if style != "reference":
        return
    for marker in CHATML_TOKENS:
        ids = tokenizer(marker, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"data.prompt: 'reference' writes Qwen's ChatML, but this tokenizer splits {marker} into "
                             f"{len(ids)} tokens (not a ChatML model); set data.prompt: template to use the model's "
                             "own chat template")
