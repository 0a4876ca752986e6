"""Helpers shared by every quantizer file (one place, never copied into each method)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

# Histograms larger than this many bins are not built for usage metrics (2^128 codebooks).
MAX_HISTOGRAM_BINS = 1 << 22


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(t: Tensor) -> Tensor:
    """Sum ``t`` over ranks in place when torch.distributed is initialised; returns ``t``."""
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_reduce_mean(t: Tensor) -> Tensor:
    """Average ``t`` over ranks in place when torch.distributed is initialised; returns ``t``."""
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t.div_(dist.get_world_size())
    return t


def straight_through(z: Tensor, q: Tensor) -> Tensor:
    """Value of ``q`` (bit for bit), gradient of the identity to ``z`` (exactly ones).

    Written ``q + (z - sg(z))`` rather than ``z + sg(q - z)``: the latter can differ from ``q`` in
    the last float bit, which would break ``decode(encode(z)) == forward(z).quantized``.
    """
    return q.detach() + (z - z.detach())


def rotation_trick(z: Tensor, q: Tensor, eps: float = 1e-6) -> Tensor:
    """Value of ``q``; the gradient to ``z`` is rotated and rescaled as ``z -> q`` would be.

    Fifty et al., "Restructuring Vector Quantization with the Rotation Trick" (2024): with
    ``u = z/|z|``, ``v = q/|q|``, ``r = (u+v)/|u+v|``, the output is
    ``(|q|/|z|) (I - 2 r r^T + 2 v u^T) z`` where the rotation and scale are constants. Works on the
    last dimension.
    """
    z_norm = z.norm(dim=-1, keepdim=True).clamp_min(eps)
    q_norm = q.norm(dim=-1, keepdim=True).clamp_min(eps)
    u = (z / z_norm).detach()
    v = (q / q_norm).detach()
    r = u + v
    r = r / r.norm(dim=-1, keepdim=True).clamp_min(eps)
    rz = (r * z).sum(-1, keepdim=True)
    uz = (u * z).sum(-1, keepdim=True)
    rotated = z - 2 * r * rz + 2 * v * uz
    out = rotated * (q_norm / z_norm).detach()
    # Exact forward value: the rotation maps z onto q up to float error; use q's value.
    return out + (q - out).detach()


def entropy(p: Tensor, dim: int = -1, eps: float = 1e-12) -> Tensor:
    """Shannon entropy in nats of probability vectors along ``dim``."""
    return -(p * torch.log(p.clamp_min(eps))).sum(dim)


def binary_entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy in nats of Bernoulli(sigmoid(logits)), elementwise, stable for large |logits|."""
    p = torch.sigmoid(logits)
    return torch.nn.functional.softplus(logits) - p * logits


def code_usage_metrics(codes: Tensor, codebook_size: int, prefix: str = "") -> dict[str, Tensor]:
    """Usage and perplexity of ``codes`` (int, ``(..., K)``), averaged over the K codebooks.

    ``usage``: fraction of codebook entries hit at least once in the batch (all ranks together);
    ``perplexity``: exp of the entropy of the empirical code distribution. Skipped (empty dict)
    when the histogram would exceed ``MAX_HISTOGRAM_BINS`` (e.g. 2^128 codebooks).
    """
    num_codebooks = codes.shape[-1]
    if codebook_size * num_codebooks > MAX_HISTOGRAM_BINS or codes.numel() == 0:
        return {}
    flat = codes.reshape(-1, num_codebooks).detach()
    offsets = torch.arange(num_codebooks, device=flat.device) * codebook_size
    counts = torch.bincount((flat + offsets).reshape(-1), minlength=codebook_size * num_codebooks)
    counts = all_reduce_sum(counts.float()).view(num_codebooks, codebook_size)
    probs = counts / counts.sum(-1, keepdim=True).clamp_min(1)
    usage = (counts > 0).float().mean()
    perplexity = torch.special.entr(probs).sum(-1).exp().mean()  # entr(0) = 0, one fused op
    return {f"{prefix}usage": usage, f"{prefix}perplexity": perplexity}
