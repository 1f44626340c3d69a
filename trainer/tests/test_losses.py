"""Loss terms with hand-computed expectations (docs/algorithm.md §3-4)."""

import math

import pytest
import torch

from trapo import losses


def _grad_of(fn, p):
    logp = torch.tensor([math.log(p)], requires_grad=True)
    fn(logp).sum().backward()
    return logp.grad.item()


def test_trsft_value_inside_and_outside_trust_region():
    # p = 0.5 >= alpha 0.1: -0.5 / max(0.5, 0.1) = -1;  p = 0.05 < alpha: -0.05 / 0.1 = -0.5
    logp = torch.log(torch.tensor([0.5, 0.05]))
    assert losses.trsft_loss(logp, alpha=0.1).tolist() == pytest.approx([-1.0, -0.5])


def test_trsft_gradient_equals_sft_inside_and_is_scaled_by_p_over_alpha_outside():
    # d/dlogp of -p/sg(max(p,a)) = -p/max(p,a).  SFT: d/dlogp (-logp) = -1.
    # inside (p=0.5): -0.5/0.5 = -1 = SFT's gradient.
    assert _grad_of(lambda lp: losses.trsft_loss(lp, 0.1), 0.5) == pytest.approx(-1.0)
    assert _grad_of(losses.sft_loss, 0.5) == pytest.approx(-1.0)
    # outside (p=0.02): -0.02/0.1 = -0.2 = SFT's -1 scaled by p/alpha = 0.2
    assert _grad_of(lambda lp: losses.trsft_loss(lp, 0.1), 0.02) == pytest.approx(-0.2)
    # on the boundary p = alpha = 0.1: -0.1/0.1 = -1 (still SFT)
    assert _grad_of(lambda lp: losses.trsft_loss(lp, 0.1), 0.1) == pytest.approx(-1.0)


def test_trsft_gradient_wrt_logits_matches_sft_inside():
    logits = torch.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
    lp = torch.log_softmax(logits, -1)[0, 0:1]  # p(token 0) = e^2/(e^2+1+e^-1) ~ 0.84 >= 0.1
    losses.trsft_loss(lp, 0.1).sum().backward()
    g_trsft = logits.grad.clone()
    logits.grad = None
    lp = torch.log_softmax(logits, -1)[0, 0:1]
    losses.sft_loss(lp).sum().backward()
    assert torch.allclose(g_trsft, logits.grad, atol=1e-6)


def test_policy_loss_is_minus_advantage_times_ratio_one_in_value():
    # ratio = exp(logp - sg(logp)) = 1, so value = -A; gradient wrt logp = -A * ratio = -A
    logp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    adv = torch.tensor([[0.75, 0.75]])
    loss, clipped = losses.policy_loss(logp, adv)
    assert loss[0].tolist() == pytest.approx([-0.75, -0.75])
    loss.sum().backward()
    assert logp.grad[0].tolist() == pytest.approx([-0.75, -0.75])
    assert not clipped.any()


def test_policy_loss_ppo_clip():
    # A = +1, ratio = e^0.5 ~ 1.6487 > 1.2: loss = max(-1.6487, -1.2) = -1.2 (clipped, no gradient)
    # A = -1, ratio = e^-0.5 ~ 0.6065 < 0.8: loss = max(0.6065, 0.8) = 0.8 (clipped)
    # A = +1, ratio = 1: loss = -1, not clipped
    logp = torch.tensor([0.5, -0.5, 0.0], requires_grad=True)
    old = torch.zeros(3)
    adv = torch.tensor([1.0, -1.0, 1.0])
    loss, clipped = losses.policy_loss(logp, adv, old, clip_eps=0.2)
    assert loss.tolist() == pytest.approx([-1.2, 0.8, -1.0])
    assert clipped.tolist() == [True, True, False]
    loss.sum().backward()
    assert logp.grad.tolist() == pytest.approx([0.0, 0.0, -1.0])


def test_group_advantages_with_and_without_std():
    # rewards 1,0,0,0: mean 0.25 -> A = 0.75, -0.25, -0.25, -0.25
    r = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    a = losses.group_advantages(r)
    assert a[0].tolist() == pytest.approx([0.75, -0.25, -0.25, -0.25])
    assert a[1].tolist() == pytest.approx([0.0] * 4)  # all equal -> zero advantage
    # population std of (1,0,0,0) = sqrt(0.25*0.75) = sqrt(0.1875) = 0.4330127
    s = losses.group_advantages(r, use_std=True, eps=1e-6)
    assert s[0].tolist() == pytest.approx([0.75 / 0.4330137, -0.25 / 0.4330137, -0.25 / 0.4330137, -0.25 / 0.4330137],
                                          rel=1e-5)
    assert s[1].tolist() == pytest.approx([0.0] * 4)  # 0 / (0 + eps)


def test_normalisations():
    # two sequences, masks [1,1,1,0] and [1,0,0,0], token losses all 2.0 except the masked ones
    tl = torch.tensor([[2.0, 2.0, 2.0, 9.0], [2.0, 9.0, 9.0, 9.0]])
    m = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    # masked sum = 3*2 + 1*2 = 8
    # constant (the reference): 8 / (L_max 4 * 1 process) = 2.0; over 2 processes: 8 / (4 * 2) = 1.0
    assert losses.aggregate(tl, m, "constant", max_length=4).item() == pytest.approx(2.0)
    assert losses.aggregate(tl, m, "constant", max_length=4, world_size=2).item() == pytest.approx(1.0)
    # constant_mean (the earlier scale): 8 / (L_max 4 * 2 sequences) = 1.0, whatever the processes
    assert losses.aggregate(tl, m, "constant_mean", max_length=4).item() == pytest.approx(1.0)
    assert losses.aggregate(tl, m, "constant_mean", max_length=4, num_sequences=8).item() == pytest.approx(0.25)
    # token: 8 / 4 tokens = 2.0
    assert losses.aggregate(tl, m, "token").item() == pytest.approx(2.0)
    # sequence: (6/3 + 2/1) / 2 = 2.0 ; with global N = 4 sequences: 4 / 4 = 1.0
    assert losses.aggregate(tl, m, "sequence").item() == pytest.approx(2.0)
    assert losses.aggregate(tl, m, "sequence", num_sequences=4).item() == pytest.approx(1.0)
    # micro-batches add up: each half with the global counts sums to the whole
    whole = losses.aggregate(tl, m, "token")
    parts = sum(losses.aggregate(tl[i:i + 1], m[i:i + 1], "token", num_tokens=4) for i in range(2))
    assert parts.item() == pytest.approx(whole.item())
    with pytest.raises(ValueError):
        losses.aggregate(tl, m, "bogus")


def test_luffy_shaping_and_entropy_and_k3():
    # p = 0.4: f = 0.4/(0.4+0.1) = 0.8; loss = -A f = -0.5*0.8 = -0.4
    lp = torch.log(torch.tensor([0.4]))
    assert losses.luffy_shaped_loss(lp, torch.tensor([0.5]), 0.1).item() == pytest.approx(-0.4)
    # uniform over 4 tokens: H = log 4 = 1.386294
    assert losses.entropy_from_logits(torch.zeros(1, 4)).item() == pytest.approx(math.log(4))
    # k3: d = ref - logp = log(0.5) - log(0.25) = log 2: e^d - d - 1 = 2 - 0.693147 - 1 = 0.306853
    assert losses.k3_kl(torch.log(torch.tensor([0.25])), torch.log(torch.tensor([0.5]))).item() == pytest.approx(
        0.306853, abs=1e-6)
    assert losses.k3_kl(torch.tensor([-1.0]), torch.tensor([-1.0])).item() == 0.0


def test_token_logprobs_match_log_softmax():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 7)
    tgt = torch.randint(0, 7, (2, 3))
    ref = torch.log_softmax(logits, -1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(losses.token_logprobs(logits, tgt), ref, atol=1e-6)
