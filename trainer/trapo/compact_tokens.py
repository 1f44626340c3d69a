"""Per-token statistics of a rollout as parallel arrays (trapo-run/1.1), instead of one JSON object per token.

trapo-run/1 wrote `tokens: [{text, logprob, entropy, prefix}, ...]`: about 85 bytes a token, most of it keys and
17-digit floats. trapo-run/1.1 writes one object `token_stats`:

    n          number of response tokens (expert prefix, then the model's continuation)
    prefix     the first `prefix` tokens are the expert prefix's (the flags of trapo-run/1 are always a run of trues
               followed by falses: the response is prefix_ids + completion_ids)
    text_len   per token, how many characters (Unicode code points) of `prefix + completion` it covers, in order,
               one byte each, base64; 0 for a token not in that text (a special token such as EOS: decoded texts
               skip them)
    special    {"<index>": text} of the tokens with text_len 0 that have a text of their own (e.g. "<|im_end|>")
    text       instead of text_len/special, when the token texts do not follow each other in prefix + completion
               (a character split over two byte-level tokens) or one is longer than 255 characters: every token's own
               text, a list of strings
    logprob    little-endian IEEE half floats (float16), base64: log-probability of each token under the policy
    entropy    the same encoding: entropy (nats) of the policy's distribution at each token

Half floats keep 3 significant digits (a log-probability of -2.3026 reads back within 0.001, p within 0.1%) and
carry NaN and infinities, which JSON numbers cannot. Pure Python, no numpy: `struct` packs half floats.

The rollout's summaries (generated tokens, mean entropy, share of prefix tokens outside the trust region) follow from
these arrays (`summary`), so a line with `token_stats` does not repeat them.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Sequence

HALF_MAX = 65504.0


def _pack_half(values: Sequence[float]) -> str:
    clamped = [v if not math.isfinite(v) else max(-HALF_MAX, min(HALF_MAX, float(v))) for v in values]
    return base64.b64encode(struct.pack(f"<{len(clamped)}e", *clamped)).decode("ascii")


def unpack_half(text: str) -> list[float]:
    raw = base64.b64decode(text)
    if len(raw) % 2:
        raise ValueError("half-float array has an odd byte count")
    return list(struct.unpack(f"<{len(raw) // 2}e", raw))


def text_lengths(texts: Sequence[str], response: str) -> tuple[list[int], dict] | None:
    """Lengths of the token texts in `response` (prefix + completion) when they follow each other in it; a token whose
    text is not at the cursor covers 0 characters and is listed in `special` (with its text, when it has one).
    None when, at the end, some of `response` was not covered (the texts do not line up: store them whole)."""
    cursor, lengths, special = 0, [], {}
    for k, t in enumerate(texts):
        if t and response.startswith(t, cursor):
            lengths.append(len(t))
            cursor += len(t)
        else:
            lengths.append(0)
            if t:
                special[str(k)] = t
    if cursor != len(response):
        return None
    return lengths, special


def encode(texts: Sequence[str], logprobs: Sequence[float], entropies: Sequence[float], n_prefix: int,
           prefix_text: str, completion_text: str) -> dict:
    """The `token_stats` object of one rollout."""
    n = len(texts)
    if not (len(logprobs) == len(entropies) == n) or not 0 <= n_prefix <= n:
        raise ValueError(f"token stats do not line up: {n} texts, {len(logprobs)} log-probabilities, "
                         f"{len(entropies)} entropies, {n_prefix} prefix tokens")
    out: dict = {"n": n, "prefix": n_prefix}
    lined_up = text_lengths(texts, prefix_text + completion_text)
    if lined_up is None or max(lined_up[0], default=0) > 255:
        out["text"] = list(texts)
    else:
        out["text_len"] = base64.b64encode(bytes(lined_up[0])).decode("ascii")
        if lined_up[1]:
            out["special"] = lined_up[1]
    out["logprob"] = _pack_half(logprobs)
    out["entropy"] = _pack_half(entropies)
    return out


def decode(stats: dict, prefix_text: str, completion_text: str) -> list[dict]:
    """The trapo-run/1 form: [{text, logprob, entropy, prefix}] (tests, and readers of either version)."""
    n, n_prefix = stats["n"], stats["prefix"]
    lp, en = unpack_half(stats["logprob"]), unpack_half(stats["entropy"])
    if "text" in stats:
        texts = list(stats["text"])
    else:
        response, cursor, texts = prefix_text + completion_text, 0, []
        special = stats.get("special", {})
        for k, length in enumerate(base64.b64decode(stats["text_len"])):
            texts.append(response[cursor:cursor + length] if length else special.get(str(k), ""))
            cursor += length
    if not (len(texts) == len(lp) == len(en) == n):
        raise ValueError("token_stats arrays differ in length")
    return [{"text": t, "logprob": a, "entropy": b, "prefix": k < n_prefix} for k, (t, a, b) in
            enumerate(zip(texts, lp, en))]


def summary(stats: dict, alpha: float) -> dict:
    """completion_tokens, prefix_tokens, mean_entropy, outside_trust_region of a rollout, from its token_stats."""
    n, n_prefix = stats["n"], stats["prefix"]
    lp, en = unpack_half(stats["logprob"]), unpack_half(stats["entropy"])
    log_alpha = math.log(alpha)
    out = {"completion_tokens": n - n_prefix, "prefix_tokens": n_prefix,
           "mean_entropy": sum(en) / n if n else None}
    if n_prefix:
        out["outside_trust_region"] = sum(1 for x in lp[:n_prefix] if x < log_alpha) / n_prefix
    return out
