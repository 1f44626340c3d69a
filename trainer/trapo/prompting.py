"""The prompt the reference uses: problem + instruction, inside the model's chat template."""

from __future__ import annotations

REFERENCE_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def prompt_text(question: str) -> str:
    """The user message: the question, then the reference's instruction (not repeated if already there)."""
    question = question.strip()
    if REFERENCE_INSTRUCTION in question:
        return question
    return f"{question} {REFERENCE_INSTRUCTION}"


def build_prompt(tokenizer, question: str) -> str:
    """The full prompt text, ending where the assistant's answer starts.

    Uses the tokenizer's chat template with add_generation_prompt; without a template, a plain
    "Question: ...\\nAnswer:" fallback.
    """
    user = prompt_text(question)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                             add_generation_prompt=True)
    return f"Question: {user}\nAnswer: "
