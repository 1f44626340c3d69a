"""Warm-up of the tiny model: a short SFT on the easiest training-side problems, so that the base model solves some
but not most training problems (as Qwen2.5-Math-7B does for the paper's data), and its accuracy measurement.

The warm-up is plain token-mean cross-entropy on expert solutions (both solutions of each problem), AdamW, constant
learning rate. It stops as soon as the base model is where the paper's base model is: every `check_every` steps the
unguided accuracy (temperature 1.0, one sample each) on `check_problems` training problems is measured, and the
warm-up ends once it reaches `target_accuracy` (or after `steps` steps at most). This makes the result independent of
how fast a given machine/library version learns, while staying deterministic (fixed seeds, so the cache key holds).
Settings (all optional, defaults in WARMUP_DEFAULTS): see the comments there.
"""

from __future__ import annotations

import random

import torch

WARMUP_DEFAULTS: dict = {
    "steps": 1500,  # most optimizer steps of SFT (it usually stops earlier, at target_accuracy)
    "batch_size": 32,  # sequences per step
    "lr": 3e-3,  # AdamW learning rate (constant)
    "n_problems": 400,  # warm-up problems drawn (level 1 repeats: it has only ~150 training expressions)
    "max_level": 2,  # hardest level seen in the warm-up
    "level2_share": 0.3,  # share of level-2 problems (some multi-step text, so that RL has something to build on)
    "target_accuracy": 0.2,  # stop once unguided accuracy (T=1) on training problems reaches this; 0 = run all steps
    "check_every": 50,  # steps between accuracy checks
}
CHECK_PROBLEMS = 64  # training problems (seeded, all levels) used for the accuracy check


def resolve_warmup(warmup: dict | None) -> dict:
    warmup = dict(warmup or {})
    unknown = sorted(set(warmup) - set(WARMUP_DEFAULTS) - {"enabled"})
    if unknown:
        raise ValueError(f"unknown warm-up setting(s) {unknown}; known: {sorted(WARMUP_DEFAULTS)}")
    return {**WARMUP_DEFAULTS, **{k: v for k, v in warmup.items() if k != "enabled"}}


def sft_batch(tokenizer, pairs: list[tuple[str, str]], device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded (input_ids, attention_mask, labels) for (prompt text, response text) pairs; labels are -100 on
    the prompt and padding, so the loss covers the response and its EOS only."""
    seqs, labs = [], []
    for prompt, response in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        r = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        seqs.append(p + r)
        labs.append([-100] * len(p) + r)
    longest = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), longest), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, (s, lab) in enumerate(zip(seqs, labs)):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
        labels[i, : len(lab)] = torch.tensor(lab)
    return ids.to(device), mask.to(device), labels.to(device)


def run_warmup(model, tokenizer, settings: dict, seed: int, log=None, on_step=None) -> list[float]:
    """SFT the model in place; returns the loss of every step. `on_step(step, model)` is called after each step."""
    from .prompting import build_prompt
    from .task import builtin_train_problems, builtin_warmup_problems

    s = resolve_warmup(settings)
    check = builtin_train_problems(CHECK_PROBLEMS, seed=10_000 + seed)
    problems = builtin_warmup_problems(int(s["n_problems"]), seed=seed, max_level=int(s["max_level"]),
                                       level2_share=float(s["level2_share"]))
    pairs = []
    for p in problems:
        prompt = build_prompt(tokenizer, p.question)
        pairs += [(prompt, sol) for sol in p.solutions]
    rng = random.Random(seed)
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=float(s["lr"]), betas=(0.9, 0.999), weight_decay=0.01)
    losses = []
    model.train()
    order: list[int] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in range(int(s["steps"])):
            if len(order) < s["batch_size"]:
                more = list(range(len(pairs)))
                rng.shuffle(more)
                order += more
            batch = [pairs[order.pop()] for _ in range(int(s["batch_size"]))]
            ids, mask, labels = sft_batch(tokenizer, batch, device)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                                     ignore_index=-100)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            if on_step is not None:
                on_step(step + 1, model)
                model.train()
            target = float(s["target_accuracy"])
            if target > 0 and (step + 1) % int(s["check_every"]) == 0:
                acc = measure_accuracy(model, tokenizer, check, temperature=1.0, max_new_tokens=96, seed=seed)
                model.train()
                if log:
                    log(f"warm-up step {step + 1}: unguided accuracy {acc:.3f} on {len(check)} training problems "
                        f"(target {target})")
                if acc >= target:
                    break
            if log and (step % 50 == 0 or step == int(s["steps"]) - 1):
                log(f"warm-up step {step + 1}/{s['steps']}: loss {loss.item():.4f}")
    model.eval()
    return losses


def measure_accuracy(model, tokenizer, problems, *, temperature: float = 1.0, max_new_tokens: int = 96,
                     samples: int = 1, seed: int = 0, batch_size: int = 256) -> float:
    """Mean reward of `samples` completions per problem (one batched generation call per chunk of prompts)."""
    from .generation import TorchGenerator
    from .prompting import build_prompt
    from .rewards import score

    gen = torch.Generator().manual_seed(seed)
    engine = TorchGenerator()
    items = [(p, tokenizer(build_prompt(tokenizer, p.question), add_special_tokens=False)["input_ids"])
             for p in problems for _ in range(samples)]
    total = 0.0
    for i in range(0, len(items), batch_size):
        chunk = items[i : i + batch_size]
        outs = engine.generate(model, [ids for _, ids in chunk], max_new_tokens=max_new_tokens,
                               temperature=temperature, eos_token_id=tokenizer.eos_token_id,
                               pad_token_id=tokenizer.pad_token_id, generator=gen)
        for (p, _), out in zip(chunk, outs):
            total += score(tokenizer.decode(out, skip_special_tokens=True), p.answer, "exact")[0]
    return total / max(1, len(items))
