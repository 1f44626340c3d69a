"""One step's sampling for all prompts, stage by stage, and the token tensors the losses need.

For every micro-group stage there is ONE batched generation call across all prompts (every prompt's n samples of
that stage, each continuing its prefix when the stage is guided for that prompt). A guided full-expert stage
(ratio >= 1) is not generated: it is the expert text plus EOS. Each decision uses only this step's rewards.
GRPO is the single stage (G, 0, never); LUFFY is (G-1, 0, never) + (1, 1.0, always).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .micro_group import (
    Stage,
    StageOutcome,
    break_token_ids,
    guidance_level,
    is_guided,
    prefix_cut,
    prefix_cut_ids,
    sft_owner_mask,
    solution_index,
)

if TYPE_CHECKING:
    from .task import Problem


@dataclass
class PromptItem:
    """A problem of this step, tokenized."""

    problem: Problem
    prompt_text: str
    prompt_ids: list[int]
    solution_ids: list[list[int]]  # expert hints, tokenized without EOS, cut to the response budget on the right
    solution_pieces: list[list[str]]  # their per-token decoded text (prefix rule `text` only; else empty lists)
    sft_ids: list[list[int]] | None = None  # what `sft` trains on when not the hints (real data: full solutions)


@dataclass
class Sample:
    prompt_index: int  # index of the prompt among this step's (this process's) prompts
    sample: int  # index in the prompt's group
    stage: int
    guided: bool
    ratio: float  # prefix ratio actually given (0 when unguided)
    prompt_ids: list[int]
    prefix_ids: list[int]  # expert tokens given (EOS included for a full-expert sample)
    completion_ids: list[int]  # generated tokens (EOS included when produced)
    sft_owner: bool  # carries the prefix loss (once per shared prefix)
    full_expert: bool
    truncated: bool  # prefix + continuation reached the response budget without a stop id
    prefix_text: str = ""
    completion_text: str = ""
    reward: float = 0.0
    extracted: str | None = None
    advantage: float = 0.0
    engine_logprobs: list[float] | None = None  # the rollout engine's log-probability of each completion token


@dataclass
class StepRollouts:
    samples: list[Sample]
    outcomes: list[list[StageOutcome]]  # per prompt, per stage
    levels: list[int]  # per prompt
    generated_tokens: int = 0
    generation_calls: int = 0


def make_prompt_item(tokenizer, problem, build_prompt: Callable, max_response: int | None = None,
                     with_pieces: bool = True) -> PromptItem:
    """Tokenize a problem: its prompt, its hints cut to `max_response` tokens on the right (the reference cuts
    hints to max_response_length), and, where the problem has them, its SFT targets cut the same way."""
    text = build_prompt(tokenizer, problem.question)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode(texts: Sequence[str]) -> list[list[int]]:
        out = [tokenizer(s, add_special_tokens=False)["input_ids"] for s in texts]
        return [x[:max_response] for x in out] if max_response is not None else out

    sol_ids = encode(problem.solutions)
    pieces = [[tokenizer.decode([t]) for t in ids_] for ids_ in sol_ids] if with_pieces else [[] for _ in sol_ids]
    sft = getattr(problem, "sft_targets", None)
    return PromptItem(problem, text, ids, sol_ids, pieces, encode(sft) if sft else None)


def sample_step(
    model,
    tokenizer,
    items: Sequence[PromptItem],
    stages: Sequence[Stage],
    *,
    engine,
    score: Callable[[str, str], tuple[float, str | None]],
    max_new_tokens: int,
    temperature: float,
    generator: torch.Generator | None,
    threshold_kind: str = "count",
    lookahead: float = 0.3,
    paragraph_break: str = "\n\n",
    stop_ids: Sequence[int] | None = None,
    prefix_rule: str = "text",
    break_ids: frozenset | None = None,
) -> StepRollouts:
    """`max_new_tokens` is the response budget: a guided sample's prefix and its continuation together are cut to
    it, and the reward sees the cut text. Every id of `stop_ids` (default: the tokenizer's eos) ends a
    continuation. `prefix_rule`: "reference" (token ids, `break_ids`; see micro_group.prefix_cut_ids) or "text"."""
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    pad = eos if pad is None else pad
    stops = list(stop_ids) if stop_ids else [eos]
    stop_set = set(stops)
    if prefix_rule == "reference" and break_ids is None:
        break_ids = break_token_ids(tokenizer.get_vocab(), paragraph_break)
    batch_score = getattr(score, "batch", None)
    correct = [0] * len(items)
    drawn = [0] * len(items)
    outcomes: list[list[StageOutcome]] = [[] for _ in items]
    samples: list[Sample] = []
    next_index = [0] * len(items)
    gen_tokens = calls = 0
    for si, stage in enumerate(stages):
        stage_samples: list[Sample] = []
        to_generate: list[Sample] = []
        for pi, item in enumerate(items):
            guided = is_guided(stage, correct[pi], drawn[pi], threshold_kind)
            sol = solution_index(stage, len(item.solution_ids))
            full = False
            if guided and item.solution_ids:
                full = stage.full_expert
                hint = item.solution_ids[sol]
                if prefix_rule == "reference":  # the reference cuts the hint with its EOS appended
                    with_eos = list(hint) + [eos]
                    prefix = with_eos[:prefix_cut_ids(with_eos, stage.ratio, break_ids, lookahead)]
                elif full:
                    prefix = list(hint) + [eos]
                else:
                    prefix = list(hint[:prefix_cut(item.solution_pieces[sol], stage.ratio, lookahead,
                                                   paragraph_break)])
                prefix = prefix[:max_new_tokens]  # the response budget holds the prefix too
            else:
                guided, prefix = False, []
            owners = sft_owner_mask(stage.n, guided)
            for j in range(stage.n):
                s = Sample(pi, next_index[pi] + j, si, guided, stage.ratio if guided else 0.0, item.prompt_ids,
                           list(prefix), [], owners[j], full, False)
                stage_samples.append(s)
                if not full and len(prefix) < max_new_tokens:
                    to_generate.append(s)
            next_index[pi] += stage.n
        if to_generate:  # one batched call for every prompt of this stage
            room = [max_new_tokens - len(s.prefix_ids) for s in to_generate]
            result = engine.generate_with_logprobs(model, [s.prompt_ids + s.prefix_ids for s in to_generate],
                                                   max_new_tokens=max(room), temperature=temperature,
                                                   eos_token_id=stops, pad_token_id=pad, generator=generator)
            outs, lps = result.token_ids, result.logprobs or [None] * len(to_generate)
            calls += 1
            for s, out, lp, left in zip(to_generate, outs, lps, room):
                out = cut_at_stop(list(out), stop_set)[:left]
                s.completion_ids = out
                s.engine_logprobs = None if lp is None else list(lp)[:len(out)]
                gen_tokens += len(out)
        per_prompt_correct = [0] * len(items)
        pairs = []
        for s in stage_samples:
            s.truncated = (not s.full_expert and len(s.prefix_ids) + len(s.completion_ids) >= max_new_tokens
                           and not (s.completion_ids and s.completion_ids[-1] in stop_set))
            s.prefix_text = tokenizer.decode(s.prefix_ids, skip_special_tokens=True)
            s.completion_text = tokenizer.decode(s.completion_ids, skip_special_tokens=True)
            pairs.append((s.prefix_text + s.completion_text, items[s.prompt_index].problem.answer))
        verdicts = batch_score(pairs) if batch_score is not None else [score(t, a) for t, a in pairs]
        for s, (reward, extracted) in zip(stage_samples, verdicts):
            s.reward, s.extracted = reward, extracted
            per_prompt_correct[s.prompt_index] += int(s.reward > 0.5)
        for pi in range(len(items)):
            guided = any(s.guided for s in stage_samples if s.prompt_index == pi)
            outcomes[pi].append(StageOutcome(stage.n, stage.ratio, guided, per_prompt_correct[pi], correct[pi]))
            correct[pi] += per_prompt_correct[pi]
            drawn[pi] += stage.n
        samples += stage_samples
    samples.sort(key=lambda s: (s.prompt_index, s.sample))
    return StepRollouts(samples, outcomes, [guidance_level(o) for o in outcomes], gen_tokens, calls)


def cut_at_stop(ids: list[int], stop_set) -> list[int]:
    """The ids up to and including the first stop id: nothing after a stop id gets loss or reward."""
    for i, t in enumerate(ids):
        if t in stop_set:
            return ids[: i + 1]
    return ids


def assign_advantages(samples: Sequence[Sample], use_std: bool, eps: float) -> None:
    """A_i = R_i - mean of the prompt's group (all samples, prefixed and full-expert ones included)."""
    from .losses import group_advantages

    groups: dict[int, list[Sample]] = {}
    for s in samples:
        groups.setdefault(s.prompt_index, []).append(s)
    for group in groups.values():
        adv = group_advantages(torch.tensor([s.reward for s in group]), use_std, eps)
        for s, a in zip(group, adv.tolist()):
            s.advantage = a


@dataclass
class TokenBatch:
    """Right-padded sequences prompt + prefix + continuation, with per-target masks (targets = input_ids[:, 1:])."""

    input_ids: torch.Tensor  # [B, T]
    attention_mask: torch.Tensor  # [B, T]
    response: torch.Tensor  # [B, T-1] prefix + continuation tokens (entropy)
    prefix_owned: torch.Tensor  # [B, T-1] expert tokens that carry the prefix loss
    prefix_any: torch.Tensor  # [B, T-1] every expert token (owned or not)
    continuation: torch.Tensor  # [B, T-1] the model's own tokens (RL loss)
    advantages: torch.Tensor  # [B] float
    old_logp: torch.Tensor | None = None  # [B, T-1], for PPO clipping over several epochs
    prompt_len: torch.Tensor | None = None  # [B] long: tokens of the prompt (the response starts there)
    prompt_index: torch.Tensor | None = None  # [B] long: rows with equal values share the same prompt
    engine_logprobs: list | None = None  # per row, the engine's log-probabilities of its completion (or None)

    def take(self, rows: Sequence[int]) -> TokenBatch:
        """These rows, in this order, cut to the longest of them (right padding: trailing columns only)."""
        idx = torch.as_tensor(list(rows), dtype=torch.long)
        t = max(int(self.attention_mask[idx].sum(dim=1).max()), 2) if len(idx) else 2
        t = min(t, self.input_ids.shape[1])
        return TokenBatch(self.input_ids[idx, :t], self.attention_mask[idx, :t], self.response[idx, : t - 1],
                          self.prefix_owned[idx, : t - 1], self.prefix_any[idx, : t - 1],
                          self.continuation[idx, : t - 1], self.advantages[idx],
                          None if self.old_logp is None else self.old_logp[idx, : t - 1],
                          None if self.prompt_len is None else self.prompt_len[idx],
                          None if self.prompt_index is None else self.prompt_index[idx],
                          None if self.engine_logprobs is None else [self.engine_logprobs[i] for i in idx.tolist()])

    def lengths(self) -> list[int]:
        return [int(x) for x in self.attention_mask.sum(dim=1)]

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def build_token_batch(samples: Sequence[Sample], pad_token_id: int, rl_on: Sequence[bool] | None = None) -> TokenBatch:
    """Tensors for the training forward pass. `rl_on[i]` False drops sample i's continuation from the RL mask."""
    seqs = [s.prompt_ids + s.prefix_ids + s.completion_ids for s in samples]
    longest = max(len(x) for x in seqs)
    b = len(samples)
    ids = torch.full((b, longest), pad_token_id, dtype=torch.long)
    attn = torch.zeros((b, longest), dtype=torch.long)
    masks = {k: torch.zeros((b, longest - 1), dtype=torch.bool) for k in ("resp", "own", "pre", "cont")}
    for i, (s, seq) in enumerate(zip(samples, seqs)):
        ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        attn[i, : len(seq)] = 1
        p0 = len(s.prompt_ids) - 1  # target index of the first response token
        p1 = p0 + len(s.prefix_ids)
        c1 = p1 + len(s.completion_ids)
        masks["resp"][i, p0:c1] = True
        masks["pre"][i, p0:p1] = True
        if s.sft_owner:
            masks["own"][i, p0:p1] = True
        if rl_on is None or rl_on[i]:
            masks["cont"][i, p1:c1] = True
    adv = torch.tensor([s.advantage for s in samples], dtype=torch.float32)
    plen = torch.tensor([len(s.prompt_ids) for s in samples], dtype=torch.long)
    pidx = torch.tensor([s.prompt_index for s in samples], dtype=torch.long)
    engine_lp = [s.engine_logprobs for s in samples] if any(s.engine_logprobs is not None for s in samples) else None
    return TokenBatch(ids, attn, masks["resp"], masks["own"], masks["pre"], masks["cont"], adv, None, plen, pidx,
                      engine_lp)


def expert_samples(items: Sequence[PromptItem], eos: int, all_solutions: bool = True,
                   max_response: int | None = None) -> list[Sample]:
    """Full expert solutions as samples (for `sft`): every token is an owned prefix token. The SFT targets where
    the item has them (real data: the full solutions), else the hints; EOS appended, cut to `max_response`."""
    out = []
    for pi, item in enumerate(items):
        targets = item.sft_ids if item.sft_ids else item.solution_ids
        sols = targets if all_solutions else targets[:1]
        for j, sol in enumerate(sols):
            ids = (list(sol) + [eos])[:max_response] if max_response is not None else list(sol) + [eos]
            out.append(Sample(pi, j, 0, True, 1.0, item.prompt_ids, ids, [], True, True, False, reward=1.0))
    return out


def mean(xs: Sequence[float]) -> float:
    return float(sum(xs) / len(xs)) if xs else math.nan
