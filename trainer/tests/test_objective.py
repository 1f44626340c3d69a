"""The objective of one micro-batch, one hand-computed case per algorithm (trapo/objective.py).

Every expected number is worked out in the comments from the probabilities written in the test. Tensors are
[rows, tokens]; a padding position has p = 1 (log p = 0) and is off every mask. "d/dlogp" is the gradient of the
loss with respect to each token's log-probability (what backpropagates into the model), w the token weight.
"""

import math

import pytest
import torch

from trapo.config import LossConfig
from trapo.objective import ObjectiveSpec, objective, prefix_loss_kind, spec_for

T, F = True, False


def _logp(ps):
    return torch.log(torch.tensor(ps, dtype=torch.float32)).requires_grad_(True)


def _mask(rows):
    return torch.tensor(rows, dtype=torch.bool)


def _run(spec, ps, ent, resp, own, cont, adv, **kw):
    """(loss, stats as floats, d loss/d logp, d loss/d entropy)."""
    logp = _logp(ps)
    entropy = torch.tensor(ent, dtype=torch.float32, requires_grad=True)
    loss, stats = objective(spec, logp, entropy, _mask(resp), _mask(own), _mask(cont), torch.tensor(adv), **kw)
    loss.backward()
    return loss.item(), {k: float(v) for k, v in stats.items()}, logp.grad.tolist(), entropy.grad.tolist()


def _approx(rows):
    return [pytest.approx(r, abs=1e-6) for r in rows]


# A micro-group batch of two rows of 4 tokens, the whole (global) batch:
#   row 0 (guided, owns its prefix): [prefix p=0.5, prefix p=0.05, own p=0.25, own p=0.8], advantage +0.5
#   row 1 (unguided):                [own p=0.4,    own p=0.05,    own p=0.5,  padding  ], advantage -0.25
# entropies [1, 2, 0.5, 0.5] and [1.5, 0.5, 1, (7 on the padding)]: 7 response tokens summing to 7.0, mean 1.0.
# Counts: 2 sequences, 7 response tokens, 2 owned prefix tokens, 5 continuation tokens.
MG = dict(ps=[[0.5, 0.05, 0.25, 0.8], [0.4, 0.05, 0.5, 1.0]],
          ent=[[1.0, 2.0, 0.5, 0.5], [1.5, 0.5, 1.0, 7.0]],
          resp=[[T, T, T, T], [T, T, T, F]],
          own=[[T, T, F, F], [F, F, F, F]],
          cont=[[F, F, T, T], [T, T, T, F]],
          adv=[0.5, -0.25])


def _mg_spec(algorithm, **loss):
    own_counted = prefix_loss_kind(algorithm) is not None
    return spec_for(algorithm, LossConfig(entropy_coef=0.1, **loss), max_length=4, num_sequences=2,
                    num_tokens=7 if own_counted else 5, num_response=7)


def test_trapo_trsft_on_the_prefix_and_reinforce_on_the_continuation():
    loss, stats, g_logp, g_ent = _run(_mg_spec("trapo"), **MG)
    # constant normalisation, L_max 4, one process: w = 1/4 on every token of the loss mask.
    # TrSFT -p/max(sg p, 0.1): p=0.5 -> -0.5/0.5 = -1; p=0.05 (outside) -> -0.05/0.1 = -0.5. (-1.5)/4 = -0.375
    assert stats["loss/trsft"] == pytest.approx(-0.375, abs=1e-6)
    # policy -A*r, r = 1: row 0: 2 tokens x -0.5 = -1.0; row 1: 3 tokens x +0.25 = +0.75. (-0.25)/4 = -0.0625
    assert stats["loss/policy"] == pytest.approx(-0.0625, abs=1e-6)
    # entropy bonus: -0.1 x (7.0 / 7 tokens) / 1 process = -0.1 (the prefix tokens count, the padding does not)
    assert stats["loss/entropy"] == pytest.approx(-0.1, abs=1e-6)
    # total -0.375 - 0.0625 - 0.1 = -0.5375; no KL term
    assert loss == pytest.approx(-0.5375, abs=1e-6) and stats["loss/total"] == pytest.approx(loss, abs=1e-7)
    assert stats["loss/kl"] == 0.0
    # d/dlogp: TrSFT -p/max(p, a) x w: p=0.5 -> -1/4 = -0.25 (SFT's); p=0.05 -> -0.5/4 = -0.125 (damped by p/a = 0.5)
    # policy -A x r x w: row 0 -0.5/4 = -0.125; row 1 +0.25/4 = +0.0625; padding 0
    assert g_logp == _approx([[-0.25, -0.125, -0.125, -0.125], [0.0625, 0.0625, 0.0625, 0.0]])
    # d/dentropy: -0.1 / 7 on each response token
    assert g_ent == _approx([[-0.1 / 7] * 4, [-0.1 / 7] * 3 + [0.0]])
    # stats: entropy sum 7.0; one owned prefix token with p < 0.1 (row 1's p=0.05 is not a prefix token); no clipping
    assert (stats["_ent_sum"], stats["_outside"], stats["_clipped"]) == (pytest.approx(7.0), 1.0, 0.0)


def test_prefix_sft_ablation_plain_sft_on_the_prefix():
    loss, stats, g_logp, _ = _run(_mg_spec("prefix_sft"), **MG)
    # -log p on the prefix: -(log 0.5 + log 0.05) = log 2 + log 20 = log 40 = 3.6888794; /4 = 0.9222199
    assert stats["loss/trsft"] == pytest.approx(math.log(40) / 4, abs=1e-6)
    # policy and entropy as for trapo: -0.0625 and -0.1. total 0.9222199 - 0.1625 = 0.7597199
    assert loss == pytest.approx(math.log(40) / 4 - 0.1625, abs=1e-6)
    # d/dlogp of -log p is -1 on every prefix token: -1/4 = -0.25, undamped even at p = 0.05
    assert g_logp[0][:2] == _approx([-0.25, -0.25])
    assert stats["_outside"] == 1.0  # the metric counts p < alpha whatever the prefix loss


@pytest.mark.parametrize("algorithm", ["prefix_context", "grpo"])
def test_prefix_as_context_only(algorithm):
    loss, stats, g_logp, g_ent = _run(_mg_spec(algorithm), **MG)
    # no prefix term; policy -0.0625 and entropy -0.1 as above (entropy still over the prefix tokens): -0.1625
    assert stats["loss/trsft"] == 0.0
    assert loss == pytest.approx(-0.1625, abs=1e-6)
    # the prefix tokens get no gradient through log p, only the entropy bonus
    assert g_logp == _approx([[0.0, 0.0, -0.125, -0.125], [0.0625, 0.0625, 0.0625, 0.0]])
    assert g_ent[0][:2] == _approx([-0.1 / 7, -0.1 / 7])


def test_grpo_normalisations():
    # Two unguided rows, advantages of a group with rewards (1, 0, 0, 0): +0.75 and -0.25. No entropy bonus.
    #   row 0: 3 tokens, -A = -0.75 each, sum -2.25;  row 1: 2 tokens + padding, +0.25 each, sum +0.5. Total -1.75.
    case = dict(ps=[[0.5, 0.5, 0.5], [0.5, 0.5, 1.0]], ent=[[1.0] * 3] * 2, resp=[[T, T, T], [T, T, F]],
                own=[[F] * 3] * 2, cont=[[T, T, T], [T, T, F]], adv=[0.75, -0.25])

    def loss_of(mode, world=1, num_sequences=2):
        spec = ObjectiveSpec(prefix_loss=prefix_loss_kind("grpo"), normalization=mode, max_length=4,
                             num_sequences=num_sequences, num_tokens=5, num_response=5, world_size=world,
                             entropy_coef=0.0)
        return _run(spec, **case)[0]

    assert loss_of("constant") == pytest.approx(-1.75 / 4, abs=1e-6)  # / (L_max 4 x 1 process) = -0.4375
    assert loss_of("constant", world=2) == pytest.approx(-1.75 / 8, abs=1e-6)  # / (4 x 2 processes) = -0.21875
    # constant_mean: / (L_max 4 x 4 sequences of the global batch) = -0.109375, whatever the processes
    assert loss_of("constant_mean", world=2, num_sequences=4) == pytest.approx(-1.75 / 16, abs=1e-6)
    assert loss_of("token") == pytest.approx(-1.75 / 5, abs=1e-6)  # / 5 tokens = -0.35
    # sequence: each row's token mean, averaged over 2 rows: (-2.25/3 + 0.5/2) / 2 = (-0.75 + 0.25) / 2 = -0.25
    assert loss_of("sequence") == pytest.approx(-0.25, abs=1e-6)


def test_grpo_entropy_normalisations():
    # the same two rows, A = 0, entropies [1, 2, 3] and [4, 2, (9 on the padding)]: sum 12 over 5 response tokens
    case = dict(ps=[[0.5] * 3, [0.5, 0.5, 1.0]], ent=[[1.0, 2.0, 3.0], [4.0, 2.0, 9.0]], resp=[[T, T, T], [T, T, F]],
                own=[[F] * 3] * 2, cont=[[T, T, T], [T, T, F]], adv=[0.0, 0.0])

    def ent_term(how, world=1, num_response=5):
        lc = LossConfig(entropy_normalization=how)  # entropy_coef 0.001, the default
        spec = spec_for("grpo", lc, max_length=4, num_sequences=2, num_tokens=5, num_response=num_response,
                        world_size=world)
        return _run(spec, **case)[1]["loss/entropy"]

    assert ent_term("micro_batch") == pytest.approx(-0.001 * 12 / 5, abs=1e-7)  # -0.0024, this micro-batch's mean
    assert ent_term("micro_batch", world=2) == pytest.approx(-0.001 * 12 / 5 / 2, abs=1e-7)  # / 2 processes
    # batch: over the whole step's response tokens (say 8 on all micro-batches): 12 / 8 = 1.5 -> -0.0015
    assert ent_term("batch", num_response=8) == pytest.approx(-0.0015, abs=1e-7)


def test_luffy_shaped_loss_on_the_full_expert_sample():
    # group of 2: the expert sample (reward 1) and one rollout (reward 0): A = +0.5, -0.5. gamma 0.1.
    #   row 0, all owned expert tokens: p = 0.9, 0.4, 0.15;  row 1, continuation: p = 0.5, 0.5, padding
    # entropies all 1.0 (5 response tokens, mean 1); entropy_coef 0.01. Constant normalisation: w = 1/4.
    spec = spec_for("luffy", LossConfig(entropy_coef=0.01), max_length=4, num_sequences=2, num_tokens=5,
                    num_response=5)
    loss, stats, g_logp, _ = _run(spec, ps=[[0.9, 0.4, 0.15], [0.5, 0.5, 1.0]], ent=[[1.0] * 3] * 2,
                                  resp=[[T, T, T], [T, T, F]], own=[[T, T, T], [F, F, F]],
                                  cont=[[F, F, F], [T, T, F]], adv=[0.5, -0.5])
    # f(p) = p/(p+0.1): 0.9/1.0 = 0.9; 0.4/0.5 = 0.8; 0.15/0.25 = 0.6. -A f = -0.45, -0.4, -0.3: sum -1.15; /4
    assert stats["loss/trsft"] == pytest.approx(-0.2875, abs=1e-6)
    # policy on row 1: +0.5 x 2 = 1.0; /4 = 0.25.  entropy -0.01 x 1 = -0.01
    assert stats["loss/policy"] == pytest.approx(0.25, abs=1e-6)
    assert loss == pytest.approx(-0.2875 + 0.25 - 0.01, abs=1e-6)  # -0.0475
    # d/dlogp of -A p/(p+g) = -A g p/(p+g)^2: p=0.9: 0.09/1 = 0.09; p=0.4: 0.04/0.25 = 0.16; p=0.15: 0.015/0.0625
    # = 0.24. x -0.5 / 4: -0.01125, -0.02, -0.03 (the shaping pushes the unlikely expert tokens hardest)
    # row 1: -A/4 = +0.125
    assert g_logp == _approx([[-0.01125, -0.02, -0.03], [0.125, 0.125, 0.0]])
    assert stats["_outside"] == 0.0  # no expert token below p = 0.1


def test_sft_is_token_mean_cross_entropy_without_entropy_bonus():
    # two full expert solutions (all owned, advantage 0): p = 0.5, 0.25, 1.0 and 0.5, 0.125, padding.
    # The config says constant normalisation and entropy 0.001: sft uses the token mean and no bonus anyway.
    spec = spec_for("sft", LossConfig(), max_length=4, num_sequences=2, num_tokens=5, num_response=5)
    loss, stats, g_logp, g_ent = _run(spec, ps=[[0.5, 0.25, 1.0], [0.5, 0.125, 1.0]], ent=[[3.0] * 3] * 2,
                                      resp=[[T, T, T], [T, T, F]], own=[[T, T, T], [T, T, F]],
                                      cont=[[F] * 3] * 2, adv=[0.0, 0.0])
    # -log p: log 2, 2 log 2, 0, log 2, 3 log 2: sum 7 log 2 = 4.8520303; / 5 tokens = 0.9704061
    assert loss == pytest.approx(7 * math.log(2) / 5, abs=1e-6)
    assert stats["loss/entropy"] == 0.0 and stats["loss/policy"] == 0.0
    # d/dlogp = -1/5 on every expert token; no gradient into the entropies
    assert g_logp == _approx([[-0.2] * 3, [-0.2, -0.2, 0.0]])
    assert g_ent == _approx([[0.0] * 3] * 2)


def test_sft_then_rl_has_no_objective_of_its_own():
    # each step trains its phase's algorithm (train.phase_algorithm: sft, then grpo); the name itself is refused
    with pytest.raises(ValueError, match="sft_then_rl"):
        spec_for("sft_then_rl", LossConfig(), max_length=4, num_sequences=1, num_tokens=1, num_response=1)
    assert prefix_loss_kind("sft") == "sft" and prefix_loss_kind("grpo") is None


def test_ppo_clip_in_a_later_epoch():
    # grpo, loss.ppo_clip with eps 0.2; the old log-probabilities are p_old = 0.5 everywhere. No entropy bonus.
    #   row 0, A = +0.5: p = 0.8 (r 1.6): max(-0.8, -0.5 x 1.2 = -0.6) = -0.6, clipped
    #                    p = 0.45 (r 0.9): max(-0.45, -0.45) = -0.45, inside the range
    #   row 1, A = -0.5: p = 0.2 (r 0.4): max(0.2, 0.5 x 0.8 = 0.4) = 0.4, clipped
    #                    p = 0.75 (r 1.5): max(0.75, 0.5 x 1.2 = 0.6) = 0.75, not clipped (the pessimistic side)
    # sum -0.6 - 0.45 + 0.4 + 0.75 = 0.1; / L_max 4 = 0.025
    spec = spec_for("grpo", LossConfig(ppo_clip=True, entropy_coef=0.0), max_length=4, num_sequences=2,
                    num_tokens=4, num_response=4)
    loss, stats, g_logp, _ = _run(spec, ps=[[0.8, 0.45], [0.2, 0.75]], ent=[[1.0] * 2] * 2, resp=[[T, T]] * 2,
                                  own=[[F, F]] * 2, cont=[[T, T]] * 2, adv=[0.5, -0.5],
                                  old_logp=torch.log(torch.full((2, 2), 0.5)))
    assert loss == pytest.approx(0.025, abs=1e-6)
    assert stats["_clipped"] == 2.0
    # d/dlogp: clipped tokens 0; the others -A r / 4: -0.5 x 0.9 / 4 = -0.1125; +0.5 x 1.5 / 4 = 0.1875
    assert g_logp == _approx([[0.0, -0.1125], [0.0, 0.1875]])


def test_truncated_importance_sampling_weights_the_policy_loss():
    # grpo, A = +0.5 / -0.5, trainer p = 0.5, 0.5 / 0.4, 0.4. The engine's p: 0.25, 0.5 / 0.8, (not generated).
    # weight min(p_trainer / p_engine, cap 1.5): 2 -> 1.5, 1 -> 1, 0.5 -> 0.5, off the engine mask -> 1
    # policy: -0.5 x 1.5 = -0.75, -0.5 x 1 = -0.5, +0.5 x 0.5 = 0.25, +0.5 x 1 = 0.5: sum -0.5; / 4 = -0.125
    case = dict(ps=[[0.5, 0.5], [0.4, 0.4]], ent=[[1.0] * 2] * 2, resp=[[T, T]] * 2, own=[[F, F]] * 2,
                cont=[[T, T]] * 2, adv=[0.5, -0.5], engine_logp=torch.log(torch.tensor([[0.25, 0.5], [0.8, 1.0]])),
                engine_mask=_mask([[T, T], [T, F]]))

    def run(cap):
        return _run(spec_for("grpo", LossConfig(entropy_coef=0.0, tis_cap=cap), max_length=4, num_sequences=2,
                             num_tokens=4, num_response=4), **case)

    loss, _, g_logp, _ = run(1.5)
    assert loss == pytest.approx(-0.125, abs=1e-6)
    # the weight is a constant: d/dlogp = -A x weight / 4: -0.1875, -0.125 / 0.0625, 0.125
    assert g_logp == _approx([[-0.1875, -0.125], [0.0625, 0.125]])
    # tis_cap null: the engine's log-probabilities do not enter the loss: (-0.5 - 0.5 + 0.5 + 0.5) / 4 = 0
    assert run(None)[0] == pytest.approx(0.0, abs=1e-7)


def test_k3_kl_to_the_reference_on_continuation_tokens():
    # grpo with loss.kl_coef 0.1, A = 0, no entropy bonus. p / p_ref: 0.5 / 0.25, 0.5 / 0.5 and 0.25 / 0.5, padding.
    # k3 = e^d - d - 1, d = log p_ref - log p: d = -log 2: 0.5 + log 2 - 1 = 0.1931472; d = 0: 0;
    # d = log 2: 2 - log 2 - 1 = 0.3068528. Sum exactly 0.5; x w 1/4 x 0.1 = 0.0125
    spec = spec_for("grpo", LossConfig(entropy_coef=0.0, kl_coef=0.1), max_length=4, num_sequences=2,
                    num_tokens=3, num_response=3)
    loss, stats, g_logp, _ = _run(spec, ps=[[0.5, 0.5], [0.25, 1.0]], ent=[[1.0] * 2] * 2,
                                  resp=[[T, T], [T, F]], own=[[F, F]] * 2, cont=[[T, T], [T, F]], adv=[0.0, 0.0],
                                  ref_logp=torch.log(torch.tensor([[0.25, 0.5], [0.5, 1.0]])))
    assert stats["loss/kl"] == pytest.approx(0.0125, abs=1e-6) and loss == pytest.approx(0.0125, abs=1e-6)
    # d k3 / dlogp = 1 - e^d = 1 - p_ref/p: 0.5, 0, -1; x 0.1/4 = 0.0125, 0, -0.025
    assert g_logp == _approx([[0.0125, 0.0], [-0.025, 0.0]])


def test_every_trained_algorithm_has_an_objective():
    from trapo.config import ALGORITHMS
    from trapo.objective import OBJECTIVE_ALGORITHMS

    # an algorithm added to the config without a case here would be refused by train_batch, not trained as grpo
    assert set(OBJECTIVE_ALGORITHMS) == set(ALGORITHMS) - {"sft_then_rl"}
    with pytest.raises(ValueError, match="no objective"):
        prefix_loss_kind("bogus")
