"""Helpers shared by every quantizer file (one place, never copied into each method)."""

from __future__ import annotations

import math
import numbers

import torch
import torch.distributed as dist
from torch import Tensor
from torch.autograd.function import once_differentiable

#: Largest codebook of one int64 code: sums and offsets of codes must not overflow int64.
MAX_CODEBOOK_BITS = 62
MAX_CODEBOOK_SIZE = 1 << MAX_CODEBOOK_BITS

#: Most channels per token (``dim``) of a quantizer that allocates per-channel tensors: an
#: absurd dim (say 2**31, a typo or a stray value in a config) is refused with its name instead
#: of trying to allocate tens of GiB.
MAX_DIM = 1 << 16

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


class _RotationTrick(torch.autograd.Function):
    """Value ``q``; gradient to ``z`` rotated and rescaled as ``z -> q`` would be (see
    :func:`rotation_trick`), none to ``q``. One node with a hand-written backward: about half
    the element-wise passes of the same formula through autograd."""

    @staticmethod
    def forward(ctx, z: Tensor, q: Tensor, eps: float) -> Tensor:  # type: ignore[override]
        z_norm = torch.linalg.vector_norm(z, dim=-1, keepdim=True).clamp_min_(eps)
        q_norm = torch.linalg.vector_norm(q, dim=-1, keepdim=True).clamp_min_(eps)
        u = z / z_norm
        v = q / q_norm
        r = u + v
        r = r.div_(torch.linalg.vector_norm(r, dim=-1, keepdim=True).clamp_min_(eps))
        ctx.save_for_backward(u, v, r, q_norm.div_(z_norm))
        return q.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        u, v, r, scale = ctx.saved_tensors
        # (I - 2 r r^T + 2 v u^T)^T g = g - 2 r (r.g) + 2 u (v.g), times |q| / |z|
        out = torch.addcmul(grad, r, torch.linalg.vecdot(r, grad).unsqueeze(-1), value=-2.0)
        out.addcmul_(u, torch.linalg.vecdot(v, grad).unsqueeze(-1), value=2.0)
        return out.mul_(scale), None, None


def rotation_trick(z: Tensor, q: Tensor, eps: float = 1e-6) -> Tensor:
    """Value ``q`` (bit for bit); the gradient to ``z`` is rotated and rescaled as ``z -> q``
    would be; no gradient flows to ``q`` (pass the codeword detached).

    Fifty et al., "Restructuring Vector Quantization with the Rotation Trick" (2024): with
    ``u = z/|z|``, ``v = q/|q|``, ``r = (u+v)/|u+v|``, the output is treated as
    ``(|q|/|z|) (I - 2 r r^T + 2 v u^T) z`` with the rotation and scale held constant, so the
    gradient to ``z`` is ``(|q|/|z|) (g - 2 r (r.g) + 2 u (v.g))``. Works on the last dimension.
    """
    return _RotationTrick.apply(z, q.detach(), eps)


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


# ---------------------------------------------------------------------------- argument checks
def check_int(who: str, name: str, value: object, *, low: int = 1, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``; a ValueError naming ``name`` and the range.

    Accepts Python and numpy integers (and integral floats such as ``4.0`` from YAML); rejects
    bools, strings, None and non-integral numbers instead of truncating them.
    """
    want = f"in [{low}, {high}] (an int)" if high is not None else f">= {low} (an int)"
    integral = isinstance(value, float) and value.is_integer()
    if isinstance(value, bool) or not (hasattr(value, "__index__") or integral):
        raise ValueError(f"{who}: {name} must be {want}, got {name}={value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        raise ValueError(f"{who}: {name} must be {want}, got {name}={value}")
    return value


def check_dim(who: str, value: object) -> int:
    """``value`` as a channel count in ``[1, MAX_DIM]`` (see :func:`check_int`)."""
    dim = check_int(who, "dim", value)
    if dim > MAX_DIM:
        raise ValueError(
            f"{who}: dim={dim} channels per token is more than any latent has (at most "
            f"{MAX_DIM}, and this quantizer allocates per-channel tensors); check the value"
        )
    return dim


def check_bool(who: str, name: str, value: object) -> bool:
    """``value`` if it is a bool (numpy's too); a ValueError naming ``name`` otherwise, since
    ``bool("false")`` is True."""
    if not isinstance(value, bool) and type(value).__name__ != "bool_":
        raise ValueError(f"{who}: {name} must be true or false, got {name}={value!r}")
    return bool(value)


def check_int_list(
    who: str, name: str, values: object, *, low: int = 1, high: int | None = None
) -> list[int]:
    """A non-empty list of ints each in ``[low, high]`` (see :func:`check_int`)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{who}: {name} must be a non-empty list of ints, got {name}={values!r}")
    values = list(values)
    if not values:
        raise ValueError(f"{who}: {name} must be a non-empty list of ints, got {name}=[]")
    return [check_int(who, f"{name}[{i}]", v, low=low, high=high) for i, v in enumerate(values)]


def check_number(
    who: str,
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """``value`` as a finite float in the given range; a ValueError names ``name`` and the range
    (bools, strings and None are rejected, not converted)."""
    if low is not None and high is not None:
        want = f"in {'(' if low_open else '['}{low:g}, {high:g}]"
    elif low is not None:
        want = f"{'>' if low_open else '>='} {low:g}"
    else:
        want = "finite" if high is None else f"<= {high:g}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{who}: {name} must be a number {want}, got {name}={value!r}")
    x = float(value)
    bad = not math.isfinite(x)
    bad |= low is not None and (x <= low if low_open else x < low)
    bad |= high is not None and x > high
    if bad:
        raise ValueError(f"{who}: {name} must be {want}, got {name}={value!r}")
    return x


# ---------------------------------------------------------------------------- code checks
def check_integer_codes(codes: object, who: str, want: str) -> None:
    """TypeError unless ``codes`` is a tensor of an integer dtype (any width, signed or not)."""
    if not isinstance(codes, Tensor):
        got = type(codes).__name__
        raise TypeError(f"{who}: expected a torch.Tensor of codes {want}, got {got}")
    if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
        raise TypeError(
            f"{who}: expected integer codes {want}, got dtype {codes.dtype}; codes come from "
            "tokenize()/encode() as int64 (convert with codes.long())."
        )


def check_code_range(codes: Tensor, codebook_size: int, who: str, hint: str = "") -> None:
    """ValueError unless every code lies in ``[0, codebook_size)``.

    Compared as Python ints, never in the codes' dtype: in uint8 a codebook size of 256 wraps to
    0 and every valid code would look out of range (and uint16/32/64 have no min/max kernels).
    """
    if not codes.numel():
        return
    wide = codes if codes.dtype in _MINMAX_DTYPES else codes.long()
    lo, hi = (int(v) for v in torch.aminmax(wide))
    if lo < 0 or hi >= codebook_size:
        raise ValueError(
            f"{who}: codes must lie in [0, {codebook_size}), got values in [{lo}, {hi}]{hint}"
        )


_MINMAX_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)
