"""train_batch's loss and gradients equal a direct computation of each algorithm's loss (docs/algorithm.md §4).

The reference runs the whole batch through the model in one pass and writes the loss out term by term, without
trapo.objective or trapo.losses; train_batch runs micro-batches of 2 rows and accumulates their gradients. The
gradient clip is off, so the step's gradient stays in .grad after the optimizer step and is compared as it is.
"""

import copy
import random

import pytest
import torch

from trapo import distributed as D
from trapo.forward import forward_whole
from trapo.mismatch import align_engine_logprobs
from trapo.rollout import Sample, build_token_batch
from trapo.tiny import build_tiny_model
from trapo.tokenizer_tiny import build_tiny_tokenizer
from trapo.train import Trainer

L_MAX = 10  # rollout.max_new_tokens of the tests' tiny config (loss.max_length null)
ROWS_PER_MB = 2


def _micro_group_batch(vocab: int, engine: bool = False):
    """3 prompts of 3-4 samples: prefixes of 0-3 expert tokens (the sample with 1 owns its prefix), continuations
    of 1-5 tokens, advantages 0.5, 0.25, 0, -0.25; with `engine`, engine log-probabilities on most rows."""
    rng = random.Random(1)
    samples = []
    for p in range(3):
        prompt = [rng.randrange(4, vocab) for _ in range(4 + 3 * p)]
        for j in range(3 + p % 2):
            prefix = [rng.randrange(4, vocab) for _ in range(j)]
            cont = [rng.randrange(4, vocab) for _ in range(1 + (2 * p + j) % 5)]
            s = Sample(p, j, min(j, 2), j > 0, 0.3 * j, prompt, prefix, cont, j == 1, False, False)
            s.advantage = 0.5 - 0.25 * j
            if engine and j != 2:
                s.engine_logprobs = [-1.0 - 0.7 * k - 0.1 * j for k in range(len(cont))]
            samples.append(s)
    rng.shuffle(samples)
    return build_token_batch(samples, 0)


def _expert_batch(vocab: int):
    """sft's batch: 3 full expert solutions of 2, 4, 6 tokens (all owned prefix, no continuation)."""
    rng = random.Random(2)
    samples = []
    for p in range(3):
        prompt = [rng.randrange(4, vocab) for _ in range(3 + p)]
        ids = [rng.randrange(4, vocab) for _ in range(2 + 2 * p)]
        samples.append(Sample(p, 0, 0, True, 1.0, prompt, ids, [], True, True, False, reward=1.0))
    return build_token_batch(samples, 0)


def _reference(model, batch, algorithm, cfg, ref_model=None):
    """The loss written out: prefix term + policy term over L_max (sft: over the token count), minus the entropy
    bonus on each micro-batch's token mean, plus k3 KL; TIS weights on the policy term."""
    lc = cfg.loss
    out = forward_whole(model, batch, "cpu")
    logp, ent = out.logp, out.entropy
    resp, own, cont = out.response.float(), out.prefix_owned.float(), out.continuation.float()
    adv = batch.advantages.unsqueeze(-1)
    p = logp.exp()
    if algorithm == "trapo":
        prefix = -p / torch.clamp(p.detach(), min=lc.alpha) * own
    elif algorithm in ("prefix_sft", "sft"):
        prefix = -logp * own
    elif algorithm == "luffy":
        prefix = -adv * p / (p + lc.luffy_gamma) * own
    else:  # grpo, prefix_context: the prefix is context only
        prefix, own = torch.zeros_like(logp), torch.zeros_like(own)
    policy = -adv * torch.exp(logp - logp.detach())
    if lc.tis_cap is not None:
        eng, at = align_engine_logprobs(out.response, batch.engine_logprobs)
        policy = policy * torch.where(at, torch.exp(logp.detach() - eng).clamp(max=lc.tis_cap), 1.0)
    summed = (prefix + policy * cont).sum()
    if lc.kl_coef:
        with torch.no_grad():
            ref = forward_whole(ref_model, batch, "cpu").logp
        d = ref - logp
        summed = summed + lc.kl_coef * ((torch.exp(d) - d - 1.0) * cont).sum()
    loss = summed / ((own + cont).sum() if algorithm == "sft" else L_MAX)
    if algorithm != "sft":
        for start in range(0, len(batch), ROWS_PER_MB):  # consecutive rows (bucket_by_length off)
            rows = slice(start, start + ROWS_PER_MB)
            loss = loss - lc.entropy_coef * (ent[rows] * resp[rows]).sum() / resp[rows].sum()
    model.zero_grad(set_to_none=True)
    loss.backward()
    return loss.item(), {n: q.grad for n, q in model.named_parameters() if q.grad is not None}


CASES = {
    "trapo": ("trapo", {}, "micro_group"),
    "grpo": ("grpo", {}, "micro_group"),
    "prefix_context": ("prefix_context", {}, "micro_group"),
    "prefix_sft": ("prefix_sft", {}, "micro_group"),
    "luffy": ("luffy", {"loss.entropy_coef": 0.01}, "micro_group"),
    "sft": ("sft", {}, "expert"),
    "trapo_kl": ("trapo", {"loss.kl_coef": 0.1}, "micro_group"),
    "grpo_tis": ("grpo", {"loss.tis_cap": 2.0}, "engine"),
}


@pytest.fixture(scope="module")
def models():
    """(tokenizer, the policy's initial model, a reference model), built once: each test works on copies."""
    tok = build_tiny_tokenizer()
    return tok, build_tiny_model(tok, seed=0), build_tiny_model(tok, seed=3).eval().requires_grad_(False)


@pytest.mark.parametrize("case", list(CASES))
def test_train_batch_equals_the_written_out_loss(tiny_cfg, models, case):
    algorithm, sets, kind = CASES[case]
    sets = dict(sets)
    tis_cap = sets.pop("loss.tis_cap", None)
    cfg = tiny_cfg(**{"train.micro_batch_size": ROWS_PER_MB, "train.bucket_by_length": "false",
                      "train.share_prompts": "false", "optim.grad_clip": 0, **sets})
    cfg.loss.tis_cap = tis_cap  # (the config wants the vllm engine for it; the batch carries engine log-probs)
    tok, initial, ref = models
    batch = (_expert_batch if kind == "expert" else _micro_group_batch)(len(tok), *([True] if kind == "engine" else []))
    model = copy.deepcopy(initial)
    trainer = Trainer.for_updates(cfg, model, D.DistInfo())
    ref_model = ref if cfg.loss.kl_coef else None
    trainer.ref_model = ref_model
    stats = trainer.train_batch(batch, algorithm, False)
    got = {n: q.grad for n, q in model.named_parameters() if q.grad is not None}

    fresh = copy.deepcopy(initial)
    fresh.train()
    want_loss, want = _reference(fresh, batch, algorithm, cfg, ref_model)
    assert stats["loss/total"] == pytest.approx(want_loss, rel=1e-5, abs=1e-7)
    assert got.keys() == want.keys() and len(got) > 10
    scale = max(float(g.abs().max()) for g in want.values())
    assert scale > 1e-4  # the gradient is not trivially zero
    for n in want:
        torch.testing.assert_close(got[n], want[n], atol=1e-6 * scale + 1e-8, rtol=1e-4, msg=n)
