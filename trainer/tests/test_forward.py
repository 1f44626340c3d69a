"""The shared-prompt forward pass gives the same log-probabilities and gradients as the whole-sequence pass."""

import random

import pytest
import torch

from trapo.forward import forward_shared_prompt, forward_whole
from trapo.rollout import Sample, build_token_batch
from trapo.tiny import build_tiny_model
from trapo.tokenizer_tiny import build_tiny_tokenizer


def _batch(vocab: int):
    """3 prompts of different lengths, 3-4 samples each (prefixes, continuations, lengths all differ), shuffled so
    that a prompt's rows are not adjacent."""
    rng = random.Random(1)
    samples = []
    for p in range(3):
        prompt = [rng.randrange(4, vocab) for _ in range(4 + 3 * p)]
        for j in range(3 + p % 2):
            prefix = [rng.randrange(4, vocab) for _ in range(j)]
            cont = [rng.randrange(4, vocab) for _ in range(1 + (2 * p + j) % 5)]
            s = Sample(p, j, min(j, 2), j > 0, 0.3 * j, prompt, prefix, cont, j == 1, False, False)
            s.advantage = 0.5 - 0.25 * j
            samples.append(s)
    rng.shuffle(samples)
    return build_token_batch(samples, 0)


def _loss_and_grads(model, out):
    logp = out.logp
    model.zero_grad(set_to_none=True)
    loss = (logp * out.response).sum() + 0.5 * (logp * out.continuation).sum() - (logp.exp() * out.prefix_owned).sum()
    loss = loss + 0.3 * (out.entropy * out.response).sum()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return logp, loss.detach(), grads


def test_shared_prompt_equals_whole_sequences():
    torch.manual_seed(0)
    tok = build_tiny_tokenizer()
    model = build_tiny_model(tok, seed=0)
    model.train()
    batch = _batch(len(tok))
    whole = forward_whole(model, batch, "cpu")
    shared = forward_shared_prompt(model, batch, "cpu")
    # Same tokens under each mask, in the same order: the response tokens of each row.
    for i in range(len(batch)):
        for name in ("response", "prefix_owned", "continuation"):
            w, s = getattr(whole, name)[i], getattr(shared, name)[i]
            assert whole.targets[i][w].tolist() == shared.targets[i][s].tolist(), (i, name)
        assert int(shared.response[i].sum()) == int(batch.response[i].sum()) > 0
    lw, loss_w, gw = _loss_and_grads(model, whole)
    ls, loss_s, gs = _loss_and_grads(model, shared)
    for i in range(len(batch)):
        torch.testing.assert_close(ls[i][shared.response[i]], lw[i][whole.response[i]], atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(loss_s, loss_w, atol=1e-4, rtol=1e-5)
    assert gw.keys() == gs.keys() and len(gw) > 10
    for n in gw:
        torch.testing.assert_close(gs[n], gw[n], atol=1e-5, rtol=1e-4, msg=n)



def test_a_model_without_the_shared_pass_arguments_trains_the_plain_way(tiny_cfg, monkeypatch):
    """A forward that refuses the cache / logits_to_keep arguments (TypeError): the step falls back to whole sequences
    with a warning, once, and gives the same loss as a run configured without sharing."""
    from trapo import distributed as D
    from trapo import forward as F
    from trapo.train import Trainer

    tok = build_tiny_tokenizer()
    batch = _batch(len(tok))
    plain_cfg = tiny_cfg(**{"train.share_prompts": "false"})
    plain = Trainer.for_updates(plain_cfg, build_tiny_model(tok, seed=0), D.DistInfo())
    want = plain.train_batch(batch, "trapo", False)

    def refuse(*a, **k):
        raise TypeError("forward() got an unexpected keyword argument 'logits_to_keep'")

    monkeypatch.setattr(F, "forward_shared_prompt", refuse)
    cfg = tiny_cfg()
    trainer = Trainer.for_updates(cfg, build_tiny_model(tok, seed=0), D.DistInfo())
    logged = []
    trainer._log = lambda message, level="info": logged.append((level, message))
    got = trainer.train_batch(batch, "trapo", False)
    assert cfg.train.share_prompts is False
    assert [lv for lv, m in logged if "share_prompts switched off" in m] == ["warning"]
    # (micro-batches were planned for the shared pass, so the float sums run in another order)
    assert got["loss/total"] == pytest.approx(want["loss/total"], rel=1e-5)


@pytest.mark.parametrize("shared", [False, True])
def test_vocabulary_chunked_pass_equals_full_logits(shared):
    """The chunked head (no [rows, tokens, vocabulary] tensor) gives the full-logits pass's log-probabilities,
    entropies and parameter gradients, whole-sequence and shared-prompt alike."""
    from trapo.forward import forward

    tok = build_tiny_tokenizer()
    model = build_tiny_model(tok, seed=0)
    model.train()
    batch = _batch(len(tok))
    full = forward(model, batch, "cpu", shared, vocab_chunk=0)
    chunked = forward(model, batch, "cpu", shared, vocab_chunk=50)  # 342 entries: 7 slices, the last one short
    assert "forward" not in vars(model.get_output_embeddings())  # the head is put back
    m = full.response
    torch.testing.assert_close(chunked.logp[m], full.logp[m], atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(chunked.entropy[m], full.entropy[m], atol=2e-5, rtol=1e-5)
    _, loss_f, gf = _loss_and_grads(model, full)
    _, loss_c, gc = _loss_and_grads(model, chunked)
    torch.testing.assert_close(loss_c, loss_f, atol=1e-4, rtol=1e-5)
    assert gf.keys() == gc.keys() and len(gf) > 10
    for n in gf:
        torch.testing.assert_close(gc[n], gf[n], atol=1e-5, rtol=1e-4, msg=n)


def _trainer_grads(tiny_cfg, batch, checkpointing: bool, share: bool, chunk: int = 8192):
    from trapo import distributed as D
    from trapo.models import enable_gradient_checkpointing
    from trapo.train import Trainer

    model = build_tiny_model(build_tiny_tokenizer(), seed=0)
    if checkpointing:
        enable_gradient_checkpointing(model)
    cfg = tiny_cfg(**{"train.share_prompts": str(share).lower(), "train.logprob_vocab_chunk": chunk,
                      "train.micro_batch_size": 4})
    trainer = Trainer.for_updates(cfg, model, D.DistInfo())
    logged = []
    trainer._log = lambda message, level="info": logged.append((level, message))
    stats = trainer.train_batch(batch, "trapo", False)
    # the step's gradients stay in .grad after optimizer.step
    return {n: p.grad.clone() for n, p in model.named_parameters()}, stats, logged


@pytest.mark.parametrize("checkpointing,share", [(False, False), (False, True), (True, False), (True, True)])
def test_gradients_equal_the_whole_sequence_pass_with_checkpointing_and_sharing(tiny_cfg, checkpointing, share):
    """Every parameter's gradient of a TRAPO step equals the plain whole-sequence, full-logits pass without
    checkpointing. With checkpointing on, sharing is switched off (one log line): transformers replays a checkpointed
    layer without the KV cache, so a shared prompt would never reach the response pass."""
    tok = build_tiny_tokenizer()
    batch = _batch(len(tok))
    want, want_stats, _ = _trainer_grads(tiny_cfg, batch, False, False, chunk=0)
    got, stats, logged = _trainer_grads(tiny_cfg, batch, checkpointing, share)
    assert want.keys() == got.keys() and len(want) > 10
    for n in want:
        torch.testing.assert_close(got[n], want[n], atol=2e-6, rtol=1e-4, msg=n)
    assert stats["loss/total"] == pytest.approx(want_stats["loss/total"], rel=1e-5)
    said = [m for lv, m in logged if "share_prompts switched off" in m]
    assert len(said) == (1 if checkpointing and share else 0)
    assert stats["train/shared_prompts"] == (1.0 if share and not checkpointing else 0.0)
