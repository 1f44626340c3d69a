"""The vLLM engine against the torch engine: float32 greedy output token for token, before and after a weight
update, on the tiny model and on a random-weight Qwen2 with a byte-level BPE tokenizer; the prefix-cache trap; stop
ids; per-sample seeds; the engine's log-probabilities against the trainer's."""

import pytest
import torch

from trapo.generation import TorchGenerator
from trapo.vllm_engine import VllmGenerator


def greedy(engine, model, prompts, eos, n=12):
    return engine.generate(model, prompts, max_new_tokens=n, temperature=0.0, eos_token_id=eos, pad_token_id=0)


def trainer_logprobs(model, prompt, completion):
    with torch.no_grad():
        logits = model(torch.tensor([prompt + completion])).logits[0, len(prompt) - 1:-1].float()
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(completion)[:, None])[:, 0]


def perturb(model, seed, scale=0.5):
    """A weight update that changes every tensor (every fused group: q/k/v, gate/up, the norms, the embedding)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale * p.std().clamp(min=0.05))


def check_equal_and_logprobs(engine, model, prompts, eos):
    want = greedy(TorchGenerator(), model, prompts, eos)
    got = engine.generate_with_logprobs(model, prompts, max_new_tokens=12, temperature=0.0, eos_token_id=eos,
                                        pad_token_id=0)
    assert got.token_ids == want
    for p, c, lp in zip(prompts, got.token_ids, got.logprobs):
        assert len(lp) == len(c)
        assert (trainer_logprobs(model, p, c) - torch.tensor(lp)).abs().max() < 1e-3
    return want


# ---------------------------------------------------------------------------------------------------- the tiny model


@pytest.fixture(scope="module")
def tiny():
    from trapo.tiny import build_tiny_model
    from trapo.tokenizer_tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    # the tiny architecture and tokenizer; a wider init than the default so that greedy choices have clear margins
    model = build_tiny_model(tok, seed=0, initializer_range=0.2).eval()
    engine = VllmGenerator(model, seed=0, dtype=torch.float32, device="cpu", sleep=True)
    yield tok, model, engine
    engine.close()


def test_tiny_greedy_matches_torch_before_and_after_update(tiny):
    tok, model, engine = tiny
    eos = tok.eos_token_id
    text = tok("What is 12 + 30? Think step by step.", add_special_tokens=False)["input_ids"]
    long_prompt = (text * 20)[:150]  # > 128 tokens: whole KV blocks that the prefix cache would keep
    prompts = [text, text[:5], [text[0]], long_prompt]
    before = check_equal_and_logprobs(engine, model, prompts, eos)
    perturb(model, seed=1)
    seconds = engine.sync_weights(model)
    assert seconds > 0
    after = check_equal_and_logprobs(engine, model, prompts, eos)
    assert after != before and after[3] != before[3]  # the update changed the output, the long prompt's too


def test_two_stop_ids(tiny):
    tok, model, engine = tiny
    prompts = [[5, 6, 7], [10, 11, 12, 13], [40, 41]]
    free = greedy(engine, model, prompts, eos=[], n=16)
    stops = [free[0][3], free[1][5]]

    def cut(row):
        for i, t in enumerate(row):
            if t in stops:
                return row[: i + 1]  # the stop id is part of the completion, as in the torch engine
        return row

    got = greedy(engine, model, prompts, eos=stops, n=16)
    assert got == [cut(r) for r in free]
    assert got[0][-1] in stops and got[1][-1] in stops


def test_per_sample_seeds_reproduce(tiny):
    tok, model, engine = tiny
    prompts = [[5, 6, 7]] * 4 + [[10, 11, 12]] * 4

    def sample(seed):
        g = torch.Generator().manual_seed(seed)
        return engine.generate(model, prompts, max_new_tokens=10, temperature=1.0, eos_token_id=tok.eos_token_id,
                               pad_token_id=0, generator=g)

    first = sample(7)
    assert sample(7) == first  # a rerun with the run's seed draws the same rollouts
    assert sample(8) != first
    assert len({tuple(r) for r in first[:4]}) > 1  # the samples of one prompt differ (a seed each)


def test_refuses_a_prompt_past_max_model_len(tiny):
    tok, model, engine = tiny
    with pytest.raises(ValueError, match="rollout.vllm.max_model_len"):
        greedy(engine, model, [[5] * (engine.max_model_len - 4)], tok.eos_token_id, n=8)


# ------------------------------------------------------------------------ a Qwen2 with a byte-level BPE tokenizer


def bpe_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [f"Problem {i}: what is {i} + {2 * i}? The answer is {3 * i}.\n\nWe add {i} and {2 * i}."
              for i in range(300)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


@pytest.fixture(scope="module")
def bpe_qwen2():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = bpe_tokenizer()  # head_dim 32: vLLM's CPU attention has no kernel for 16
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, intermediate_size=160, max_position_embeddings=256,
                      tie_word_embeddings=False, initializer_range=0.2, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg).eval()
    engine = VllmGenerator(model, seed=0, dtype=torch.float32, device="cpu", sleep=False)
    yield tok, model, engine
    engine.close()


def test_bpe_qwen2_greedy_matches_torch_before_and_after_update(bpe_qwen2):
    tok, model, engine = bpe_qwen2
    texts = ["Problem 7: what is 7 + 14?", "We add 3 and", "The answer is", "Problem 12: " * 12]
    prompts = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert len(prompts[3]) > 40 and all(len(set(p)) > 1 for p in prompts[:3])
    before = check_equal_and_logprobs(engine, model, prompts, tok.eos_token_id)
    perturb(model, seed=2)
    engine.sync_weights(model)
    after = check_equal_and_logprobs(engine, model, prompts, tok.eos_token_id)
    assert after != before
