"""Log-probabilities of chosen tokens and entropies from the last hidden states, without a [tokens, vocabulary] tensor.

The plain way (logits = h W^T, then log-softmax and softmax over the vocabulary) keeps the full logits, their fp32
upcast, the softmax and the gradient of the logits alive at once: about 20 bytes per token x vocabulary (25 GB for one
8k-token row at Qwen's 152k vocabulary). Here the vocabulary is walked in slices of `chunk` entries:

- forward: each slice's logits z = h W_c^T are made (in the compute dtype, then fp32), folded into a running
  log-sum-exp and a running sum of p z (an online softmax), and dropped; the chosen token's logit is picked up in the
  slice that holds it. log p(target) = z_target - lse; H = lse - E_p[z].
- backward: each slice's logits are made again and the gradient of the logits written in place,
  dL/dz = g_lp (onehot - p) - g_H p (log p + H), and multiplied straight into dL/dh and into this slice of dL/dW.

Transient memory is about 12 bytes x chunk per token (two fp32 slices and two in the compute dtype), whatever the
vocabulary; everything else is [tokens] or [tokens, hidden]. Pure tensor code: nothing here knows about models.
Written by hand because the fused kernels that do this (Liger's fused linear cross-entropy) return a mean loss, not the
per-token log-probabilities and entropies that the TRAPO losses weight one by one.
"""

from __future__ import annotations

import torch


class _ChunkedLogprobEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk: int, compute_dtype):
        with torch.autocast(hidden.device.type, enabled=False):
            h = hidden.to(compute_dtype)
            acc = _acc_dtype(compute_dtype)
            n, v = h.shape[0], weight.shape[0]
            run_max = torch.full((n,), -float("inf"), dtype=acc, device=h.device)
            run_sum = torch.zeros((n,), dtype=acc, device=h.device)
            run_pz = torch.zeros((n,), dtype=acc, device=h.device)
            picked = torch.zeros((n,), dtype=acc, device=h.device)
            for v0 in range(0, v, chunk):
                v1 = min(v0 + chunk, v)
                z = _slice_logits(h, weight, bias, v0, v1, compute_dtype)
                inside = (targets >= v0) & (targets < v1)
                col = (targets - v0).clamp(0, v1 - v0 - 1).unsqueeze(1)
                picked += torch.where(inside, z.gather(1, col).squeeze(1), torch.zeros_like(picked))
                new_max = torch.maximum(run_max, z.max(dim=1).values)
                scale = torch.exp(run_max - new_max)
                z.sub_(new_max.unsqueeze(1))
                e = torch.exp(z)
                # sum e^(z - m) z = sum e^(z - m) (z - m) + m sum e^(z - m)
                e_sum = e.sum(dim=1)
                run_pz = run_pz * scale + torch.einsum("nc,nc->n", e, z) + new_max * e_sum
                run_sum = run_sum * scale + e_sum
                run_max = new_max
                del z, e
            lse = run_max + torch.log(run_sum)
            logp = picked - lse
            entropy = lse - run_pz / run_sum
        ctx.save_for_backward(hidden, weight, bias if bias is not None else torch.empty(0), targets, lse, entropy)
        ctx.chunk, ctx.compute_dtype, ctx.has_bias = chunk, compute_dtype, bias is not None
        ctx.mark_non_differentiable(targets)
        return logp, entropy

    @staticmethod
    def backward(ctx, g_logp, g_entropy):
        hidden, weight, bias, targets, lse, entropy = ctx.saved_tensors
        cd, chunk = ctx.compute_dtype, ctx.chunk
        bias = bias if ctx.has_bias else None
        n, v = hidden.shape[0], weight.shape[0]
        want_h, want_w, want_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        with torch.autocast(hidden.device.type, enabled=False):
            h = hidden.to(cd)
            acc = _acc_dtype(cd)
            g_lp = (g_logp if g_logp is not None else torch.zeros_like(lse)).to(acc).unsqueeze(1)
            g_h_ = (g_entropy if g_entropy is not None else torch.zeros_like(lse)).to(acc).unsqueeze(1)
            grad_h = torch.zeros((n, h.shape[1]), dtype=acc, device=h.device) if want_h else None
            grad_w = torch.empty_like(weight) if want_w else None
            grad_b = torch.empty_like(bias) if (want_b and bias is not None) else None
            rows = torch.arange(n, device=h.device)
            for v0 in range(0, v, chunk):
                v1 = min(v0 + chunk, v)
                z = _slice_logits(h, weight, bias, v0, v1, cd)
                z.sub_(lse.unsqueeze(1))  # log p
                p = torch.exp(z)
                # dL/dz = -p * (g_lp + g_H (log p + H)), then + g_lp at the chosen token
                z.add_(entropy.unsqueeze(1)).mul_(g_h_).add_(g_lp).mul_(p).neg_()
                del p
                inside = (targets >= v0) & (targets < v1)
                if bool(inside.any()):
                    r = rows[inside]
                    z[r, targets[inside] - v0] += g_lp[inside, 0]
                gz = z.to(cd)
                w = weight[v0:v1].to(cd)
                if grad_h is not None:
                    grad_h += (gz @ w).to(acc)
                if grad_w is not None:
                    grad_w[v0:v1] = (gz.t() @ h).to(grad_w.dtype)
                if grad_b is not None:
                    grad_b[v0:v1] = z.sum(dim=0).to(grad_b.dtype)
                del z, gz, w
        return (grad_h.to(hidden.dtype) if grad_h is not None else None), grad_w, grad_b, None, None, None


def _slice_logits(h, weight, bias, v0: int, v1: int, compute_dtype) -> torch.Tensor:
    z = h @ weight[v0:v1].to(compute_dtype).t()
    if bias is not None:
        z = z + bias[v0:v1].to(compute_dtype)
    return z.to(_acc_dtype(compute_dtype))


def _acc_dtype(compute_dtype) -> torch.dtype:
    return torch.float64 if compute_dtype == torch.float64 else torch.float32


def chunked_logprob_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    chunk: int = 8192,
    compute_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log p(target), entropy), each fp32 [N], of the softmax of `hidden @ weight.T + bias` over the vocabulary.

    hidden [N, H], weight [V, H] (an output embedding), bias [V] or None, targets [N] long. The matmuls run in
    `compute_dtype` (default: the weight's dtype); the softmax arithmetic in fp32. Differentiable in hidden, weight
    and bias; the logits are recomputed slice by slice in the backward pass.
    """
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    if hidden.dim() != 2 or weight.dim() != 2 or targets.shape != hidden.shape[:1]:
        raise ValueError("expected hidden [N, H], weight [V, H] and targets [N]")
    cd = compute_dtype or weight.dtype
    if hidden.shape[0] == 0:
        z = hidden.new_zeros((0,), dtype=torch.float32) + 0 * hidden.sum() + 0 * weight.sum()
        return z, z.clone()
    return _ChunkedLogprobEntropy.apply(hidden, weight, bias, targets.long(), int(chunk), cd)


def full_logprob_entropy(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same two quantities from full logits [..., V] (the reference the chunked path is tested against)."""
    from .losses import entropy_from_logits, token_logprobs

    return token_logprobs(logits, targets), entropy_from_logits(logits)
