"""The default rollout engine: batching with left padding, KV cache, EOS handling, determinism, greedy."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from transformers import Qwen2Config

from trapo.generation import TorchGenerator, left_pad, sample_next


class CountingLM(torch.nn.Module):
    """Next token = last input token + 1 (as a one-hot logit), vocabulary 10, so completions are predictable.
    Records the position ids of every call to check the engine's bookkeeping."""

    def __init__(self):
        super().__init__()
        self.config = Qwen2Config(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                                  num_key_value_heads=1, intermediate_size=8)
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.calls = []

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None, use_cache=True,
                logits_to_keep=0):
        self.calls.append((input_ids.clone(), position_ids.clone(), attention_mask.clone()))
        nxt = (input_ids + 1) % 10
        logits = torch.nn.functional.one_hot(nxt, 10).float() * 10.0
        return type("Out", (), {"logits": logits})()


EOS, PAD = 9, 0


def test_left_pad():
    ids, mask, pos = left_pad([[5, 6, 7], [3]], PAD, "cpu")
    assert ids.tolist() == [[5, 6, 7], [0, 0, 3]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert pos.tolist() == [[0, 1, 2], [0, 0, 0]]  # padding positions clamp to 0; the real token of row 2 is at 0


@pytest.mark.parametrize("prune", [True, False])
def test_eos_stops_each_row_and_max_new_tokens(prune):
    model = CountingLM()
    out = TorchGenerator(prune_finished=prune).generate(
        model, [[5], [1], [8], [2, 3, 4]], max_new_tokens=5, temperature=0.0, eos_token_id=EOS, pad_token_id=PAD)
    # [5] -> 6 7 8 9(EOS, included, stop); [1] -> 2 3 4 5 6 (cut at 5 tokens); [8] -> 9 (EOS at once);
    # [2, 3, 4] -> 5 6 7 8 9
    assert out == [[6, 7, 8, 9], [2, 3, 4, 5, 6], [9], [5, 6, 7, 8, 9]]


def test_position_ids_continue_each_prompt():
    model = CountingLM()
    TorchGenerator(prune_finished=False).generate(model, [[5], [1, 2, 3]], max_new_tokens=3, temperature=0.0,
                                                  eos_token_id=EOS, pad_token_id=PAD)
    # prefill: row 0 is [pad, pad, 5] at positions [0, 0, 0]; row 1 [1, 2, 3] at [0, 1, 2];
    # the first decode step puts row 0's new token at position 1 and row 1's at 3, then 2 and 4
    assert model.calls[0][1].tolist() == [[0, 0, 0], [0, 1, 2]]
    assert [c[1].squeeze(-1).tolist() for c in model.calls[1:]] == [[1, 3], [2, 4]]
    assert model.calls[-1][2].tolist() == [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]


def test_empty_inputs():
    g = TorchGenerator()
    assert g.generate(CountingLM(), [], max_new_tokens=4, temperature=1.0, eos_token_id=EOS, pad_token_id=PAD) == []
    assert g.generate(CountingLM(), [[1]], max_new_tokens=0, temperature=1.0, eos_token_id=EOS,
                      pad_token_id=PAD) == [[]]
    with pytest.raises(ValueError, match="at least one token"):
        g.generate(CountingLM(), [[]], max_new_tokens=2, temperature=1.0, eos_token_id=EOS, pad_token_id=PAD)


def test_sample_next_greedy_and_seeded():
    logits = torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 0.0]])
    assert sample_next(logits, 0.0, None).tolist() == [1, 0]
    a = sample_next(logits.repeat(50, 1), 1.0, torch.Generator().manual_seed(1))
    b = sample_next(logits.repeat(50, 1), 1.0, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


@pytest.fixture(scope="module")
def tiny():
    from trapo.tiny import build_tiny_model
    from trapo.tokenizer_tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    model = build_tiny_model(tok, seed=0)
    # a random model rarely says EOS; scale the weights up so that its distribution is peaked and varied
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model.eval(), tok


def _prompts(tok):
    from trapo.prompting import build_prompt

    qs = ["Compute 1 + 2.", "Compute 7 - 2 + 3 * 4.", "Compute 9 * 9 - 8 * 7 + 1 - 2."]
    return [tok(build_prompt(tok, q), add_special_tokens=False)["input_ids"] for q in qs]


def test_greedy_matches_transformers_generate(tiny):
    model, tok = tiny
    prompts = _prompts(tok)  # different lengths: the batch is left-padded
    ours = TorchGenerator().generate(model, prompts, max_new_tokens=12, temperature=0.0,
                                     eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    for p, o in zip(prompts, ours):
        ref = model.generate(torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                             max_new_tokens=12, do_sample=False, eos_token_id=tok.eos_token_id,
                             pad_token_id=tok.pad_token_id)[0, len(p):].tolist()
        if tok.eos_token_id in ref:
            ref = ref[: ref.index(tok.eos_token_id) + 1]
        assert o == ref


def test_sampling_is_deterministic_given_the_generator(tiny):
    model, tok = tiny
    prompts = _prompts(tok) * 4
    kw = dict(max_new_tokens=16, temperature=1.0, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    a = TorchGenerator().generate(model, prompts, generator=torch.Generator().manual_seed(7), **kw)
    b = TorchGenerator().generate(model, prompts, generator=torch.Generator().manual_seed(7), **kw)
    c = TorchGenerator().generate(model, prompts, generator=torch.Generator().manual_seed(8), **kw)
    assert a == b and a != c
    assert all(len(x) <= 16 for x in a)
    assert all(tok.eos_token_id not in x[:-1] for x in a)  # nothing after EOS
