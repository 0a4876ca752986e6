"""Machinery shared by the binary quantizers (``lfq``, ``bsq``): bit packing, factorised
entropies, and a chunked codebook-entropy autograd function.

A binary quantizer maps each channel ``x_i`` of a token to one of two levels ``{-a, +a}`` (bit 1
for ``+a``, i.e. ``x_i > 0``; ``x_i == 0`` gives bit 0). The implicit codebook is
``{-a, a}^dim``, far too large to enumerate for ``dim`` beyond ~20 (UniWeTok uses 2^128).

Code grouping and bit order
---------------------------
The ``dim`` bits are split into ``dim // group_size`` consecutive groups of ``group_size``
channels; group ``g`` covers channels ``[g * group_size, (g + 1) * group_size)`` and is reported
as code ``codes[..., g]`` in ``[0, 2**group_size)``. Within a group:

- ``bit_order="msb"`` (MAGVIT-v2 / vector-quantize-pytorch / BSQ-ViT): the FIRST channel is the
  most significant bit, ``code = sum_j bit_j * 2**(group_size - 1 - j)``;
- ``bit_order="lsb"`` (Open-MAGVIT2): the first channel is the least significant bit,
  ``code = sum_j bit_j * 2**j``.

Example: channels ``(+, -, -)`` give code 4 in "msb" and 1 in "lsb".

Entropies
---------
With ``p(c | x) ∝ exp(2 x·c / T)`` over ``c`` in ``{-a, a}^d`` the distribution factorises over
bits: bit ``i`` is 1 with probability ``sigmoid(l_i)``, ``l_i = 4 a x_i / T`` (the per-bit
*logit*). Hence:

- the per-sample entropy ``H(p(c|x))`` is the sum over bits of binary entropies, O(d) exactly;
- the codebook entropy ``H(E_x[p(c|x)])`` does not factorise. It is computed exactly within each
  group of bits (enumerating ``2**group_size`` sub-codes) and summed over groups; the sum of the
  group marginals' entropies is an upper bound of the joint entropy, equal to it when the groups
  are independent in the batch (and exact for one group covering all bits).

:class:`_MeanGroupProbs` evaluates the batch-mean group probabilities without ever holding
``tokens x 2**group_size`` of anything (vector-quantize-pytorch issues #99, #176), let alone
``2**dim``. Given ``x`` the bits are independent, so with a group's bits split into a high half
(its first ``k1 = k // 2`` channels) and a low half (the other ``k2 = k - k1``) the sub-code
probability is a product, ``p(c | x) = p_hi(h | x) p_lo(l | x)`` for ``c = h 2^k2 + l``, and the
batch mean is a matrix product over tokens::

    P[h, l] = (1/N) sum_x p_hi(h | x) p_lo(l | x) = (1/N) (E_hi^T E_lo)[h, l]

with ``E_hi`` ``(N, 2^k1)`` and ``E_lo`` ``(N, 2^k2)``: one GEMM of ``2 N 2^k`` flops and
``N (2^k1 + 2^k2)`` exponentials instead of ``N 2^k`` (for k = 14: 256 instead of 16 384 per
token); the backward is two more GEMMs of the same size. ``log p_hi`` is an exact sum of
log-sigmoids (accurate for |logits| in the thousands, where products of sigmoids underflow), and
each factor is floored at ``sqrt(tiny)`` of the dtype before ``exp`` — entries below it have
``p < 2e-19`` in float32 (no effect on a batch mean of probabilities summing to 1), and ``exp`` of
large negative arguments, denormal or not, takes a slow path ~50-100x slower than normal ones.
Tokens are processed in chunks, in forward and backward, so memory is
``O(chunk_size * (2^k1 + 2^k2))`` whatever the batch size. All entropies are in nats.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from zoo.outputs import QuantizerOutput
from zoo.quantizers._utils import (
    all_reduce_mean,
    check_bool,
    check_int,
    check_number,
    entropy,
    is_distributed,
)
from zoo.quantizers.base import Quantizer

BitOrder = Literal["msb", "lsb"]
EntropyMode = Literal["group", "exact"]

#: Largest group of bits whose 2**bits sub-codes are enumerated (for entropies and code groups).
MAX_GROUP_BITS = 16
#: Default number of factor probabilities (``2^k1 + 2^k2`` per row) held per chunk: 2^20 floats,
#: 4 MiB in fp32 (~4096 tokens of a 14-bit group): long enough GEMMs, small enough for the cache.
_CHUNK_ELEMENTS = 1 << 20


# ---------------------------------------------------------------------------- bit packing
def default_group_size(dim: int) -> int:
    """Largest divisor of ``dim`` that is ``<= MAX_GROUP_BITS`` (18 -> 9, 14 -> 14, 128 -> 16)."""
    return max(g for g in range(1, min(dim, MAX_GROUP_BITS) + 1) if dim % g == 0)


def check_bit_order(bit_order: str, who: str = "bit packing") -> None:
    if bit_order not in ("msb", "lsb"):
        raise ValueError(f"{who}: bit_order must be 'msb' or 'lsb', got {bit_order!r}")


def bit_weights(group_size: int, bit_order: str, device: torch.device | None = None) -> Tensor:
    """int64 ``(group_size,)``: the value of each channel's bit within its group's code."""
    check_bit_order(bit_order)
    exponents = torch.arange(group_size, device=device, dtype=torch.int64)
    if bit_order == "msb":
        exponents = exponents.flip(0)
    return torch.ones((), dtype=torch.int64, device=device).bitwise_left_shift(exponents)


def pack_bits(bits: Tensor, group_size: int, bit_order: str = "msb") -> Tensor:
    """Bits ``(..., d)`` (bool or {0, 1}) -> codes int64 ``(..., d // group_size)``.

    Each consecutive group of ``group_size`` channels becomes one code in ``[0, 2**group_size)``
    (see the module docstring for the bit order).
    """
    d = bits.shape[-1]
    if not 1 <= group_size <= 62 or d % group_size:
        raise ValueError(
            f"pack_bits: group_size must be in [1, 62] and divide the last dimension, got "
            f"group_size={group_size} for bits of shape {tuple(bits.shape)}"
        )
    weights = bit_weights(group_size, bit_order, bits.device)
    grouped = (bits != 0).long().reshape(*bits.shape[:-1], d // group_size, group_size)
    return (grouped * weights).sum(-1)


def unpack_bits(codes: Tensor, group_size: int, bit_order: str = "msb") -> Tensor:
    """Codes ``(..., G)`` in ``[0, 2**group_size)`` -> bool bits ``(..., G * group_size)``."""
    if not 1 <= group_size <= 62:
        raise ValueError(f"unpack_bits: group_size must be in [1, 62], got {group_size}")
    weights = bit_weights(group_size, bit_order, codes.device)
    bits = (codes.long().unsqueeze(-1) & weights) != 0
    return bits.reshape(*codes.shape[:-1], codes.shape[-1] * group_size)


def regroup_codes(
    codes: Tensor, *, from_group_size: int, to_group_size: int, bit_order: str = "msb"
) -> Tensor:
    """Re-split the same bits into groups of another size, e.g. two 9-bit codes <-> one 18-bit
    code (what converters of upstream token ids need). ``codes``: ``(..., G)`` int."""
    bits = unpack_bits(codes, from_group_size, bit_order)
    return pack_bits(bits, to_group_size, bit_order)


def _selector(group_size: int, bit_order: str, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(2 * k, 2**k)``: rows ``j < k`` select sub-codes whose bit ``j`` is 1, rows ``k + j``
    those whose bit ``j`` is 0, so ``[logsigmoid(l), logsigmoid(-l)] @ S = log p(sub-code)``.
    Columns are ordered by sub-code index in ``bit_order``; ``k = 0`` gives the ``(0, 1)``
    selector of the one empty sub-code (log-probability 0)."""
    if group_size == 0:
        return torch.zeros(0, 1, dtype=dtype, device=device)
    all_codes = torch.arange(1 << group_size, device=device).unsqueeze(-1)
    on = unpack_bits(all_codes, group_size, bit_order).T  # (k, 2**k)
    return torch.cat([on, ~on]).to(dtype)


# ---------------------------------------------------------------------------- entropies
def binary_entropy(logits: Tensor) -> Tensor:
    """Entropy in nats of Bernoulli(sigmoid(logits)), elementwise.

    Written as ``softplus(-|l|) + |l| sigmoid(-|l|)`` so that no two large terms cancel: at the
    small temperatures LFQ uses, ``|l|`` reaches thousands.
    """
    a = logits.abs()
    return F.softplus(-a) + a * torch.sigmoid(-a)


def per_sample_entropy(logits: Tensor) -> Tensor:
    """Mean over tokens of ``H(p(c|x))`` in nats; ``logits`` ``(..., d)`` are per-bit logits."""
    return binary_entropy(logits).sum(-1).mean()


def _halves(group_size: int) -> tuple[int, int]:
    """Bits of the high (first channels) and low halves of a group: ``(k // 2, k - k // 2)``."""
    return group_size // 2, group_size - group_size // 2


def default_chunk_size(group_size: int) -> int:
    """(token, group) rows per chunk so that one chunk holds about ``_CHUNK_ELEMENTS`` factor
    probabilities (``2^k1 + 2^k2`` per row, see :func:`_halves`)."""
    k1, k2 = _halves(group_size)
    return max(1, _CHUNK_ELEMENTS // ((1 << k1) + (1 << k2)))


def _log_floor(dtype: torch.dtype) -> float:
    """Floor of each factor's log-probability: the product of two floored factors stays a
    normal number (``exp`` of anything below takes a slow path and the true values are tiny)."""
    return 0.5 * math.log(torch.finfo(dtype).tiny) + 0.5


def _log1p(e: Tensor) -> Tensor:
    """``log(1 + e)`` for ``e`` in ``[0, 1]``, accurate to a few ulps (Kahan's trick): ATen's
    ``log1p`` is several times slower, and ~10x slower still for tiny arguments."""
    u = 1 + e
    return torch.where(u == 1, e, torch.log(u) * (e / (u - 1)))


def _selector_with_offset(k: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(2 k + 1, 2**k)``: the MSB-first :func:`_selector` plus a row of ones (for the
    per-token term every sub-code shares)."""
    sel = _selector(k, "msb", dtype, device)
    return torch.cat([sel, sel.new_ones(1, sel.shape[1])])


class _MeanGroupProbs(torch.autograd.Function):
    """``logits (G, N, k) -> (G, 2**k)``: mean over the N tokens of each group's sub-code
    distribution ``p_g(c) = prod_j sigmoid(±l_{g,j})``, with ``c`` MSB-first over the k channels.

    Per chunk of tokens: the two half-group factor tables ``E_hi (G, t, 2^k1)``, ``E_lo (G, t,
    2^k2)``, then ``P += E_hi^T E_lo`` (one batched GEMM over the groups; a plain reduction,
    deterministic). Backward recomputes each chunk's tables instead of saving them, so only
    ``logits`` is kept for backward, and runs two GEMMs of the same size per chunk.
    """

    @staticmethod
    def _factors(chunk: Tensor, sels: tuple[Tensor, Tensor], floor: float) -> list[Tensor]:
        """``exp(max(log p, floor))`` for the high and low halves of ``chunk`` ``(G, t, k)``.

        ``logsigmoid(±l) = min(±l, 0) - log1p(exp(-|l|))``: the first terms are exact and the
        second is shared by both signs, so ``log p = [min(l, 0), min(-l, 0), -sum log1p(..)] @
        [S; 1]`` (one GEMM per half, see :func:`_selector_with_offset`) is a sum of log-sigmoids
        computed with one transcendental per bit. Logits are clamped to ``±(1 - floor)``
        first: a bit beyond it puts every sub-code that disagrees with it below the floor either
        way and changes the others' log-probabilities by less than ``exp(floor - 1)``, while
        ``exp`` of larger arguments takes a slow path.
        """
        k1 = (sels[0].shape[0] - 1) // 2
        chunk = chunk.clamp(floor - 1, 1 - floor)
        out = []
        for half, sel in zip((chunk[..., :k1], chunk[..., k1:]), sels, strict=True):
            shared = _log1p(torch.exp(-half.abs())).sum(-1, keepdim=True)
            terms = torch.cat([half.clamp_max(0), (-half).clamp_max(0), -shared], -1)
            out.append((terms @ sel).clamp_min_(floor).exp_())
        return out

    @staticmethod
    def forward(ctx, logits: Tensor, chunk_size: int) -> Tensor:
        g, n, k = logits.shape
        k1, k2 = _halves(k)
        step = max(1, chunk_size // g)
        sels = (
            _selector_with_offset(k1, logits.dtype, logits.device),
            _selector_with_offset(k2, logits.dtype, logits.device),
        )
        floor = _log_floor(logits.dtype)
        total = logits.new_zeros(g, 1 << k1, 1 << k2)
        for start in range(0, n, step):
            e_hi, e_lo = _MeanGroupProbs._factors(logits[:, start : start + step], sels, floor)
            total.baddbmm_(e_hi.transpose(1, 2), e_lo)
        ctx.save_for_backward(logits)
        ctx.step = step
        return total.view(g, 1 << k) / n

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_probs: Tensor) -> tuple[Tensor | None, None]:
        (logits,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        g, n, k = logits.shape
        k1, k2 = _halves(k)
        sels = (
            _selector_with_offset(k1, logits.dtype, logits.device),
            _selector_with_offset(k2, logits.dtype, logits.device),
        )
        floor = _log_floor(logits.dtype)
        w = (grad_probs / n).view(g, 1 << k1, 1 << k2)
        grad_logits = torch.empty_like(logits)
        for start in range(0, n, ctx.step):
            chunk = logits[:, start : start + ctx.step]
            e_hi, e_lo = _MeanGroupProbs._factors(chunk, sels, floor)
            # dP/dE_hi = E_lo W^T and dP/dE_lo = E_hi W, times E for the exp (entries at the
            # floor keep a gradient of their value, < exp(floor), instead of 0); then back
            # through the selectors to the log-sigmoids, whose derivatives are sigmoid(-l)
            # and -sigmoid(l), with l clamped as in _factors.
            grads = (
                torch.bmm(e_lo, w.transpose(1, 2)).mul_(e_hi),
                torch.bmm(e_hi, w).mul_(e_lo),
            )
            chunk = chunk.clamp(floor - 1, 1 - floor)
            parts = []
            for half, grad, sel in zip(
                (chunk[..., :k1], chunk[..., k1:]), grads, sels, strict=True
            ):
                m = half.shape[-1]
                grad_log_sig = grad @ sel[: 2 * m].T
                parts.append(
                    grad_log_sig[..., :m] * torch.sigmoid(-half)
                    - grad_log_sig[..., m:] * torch.sigmoid(half)
                )
            grad_logits[:, start : start + ctx.step] = torch.cat(parts, -1)
        return grad_logits, None


def mean_group_probs(
    logits: Tensor, group_size: int, *, bit_order: str = "msb", chunk_size: int | None = None
) -> Tensor:
    """Batch-mean sub-code probabilities per group: ``logits (..., d) -> (d // group_size,
    2**group_size)``; column ``c`` is the sub-code with index ``c`` in ``bit_order``.

    Local to this process (no all-reduce). Memory ``O(max(chunk_size, G) * 2**(group_size / 2))``
    in forward and backward (see the module docstring): ``chunk_size`` counts (token, group) rows,
    rounded down to whole tokens (at least one token, i.e. ``G`` rows).
    """
    d = logits.shape[-1]
    if not 1 <= group_size <= MAX_GROUP_BITS or d % group_size:
        raise ValueError(
            f"mean_group_probs: group_size must be in [1, {MAX_GROUP_BITS}] and divide the number "
            f"of bits, got group_size={group_size} for logits of shape {tuple(logits.shape)}"
        )
    chunk_size = default_chunk_size(group_size) if chunk_size is None else int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"mean_group_probs: chunk_size must be >= 1, got {chunk_size}")
    check_bit_order(bit_order, "mean_group_probs")
    grouped = logits.reshape(-1, d // group_size, group_size).transpose(0, 1)
    if bit_order == "lsb":  # the LSB-first code of the channels is the MSB-first code reversed
        grouped = grouped.flip(-1)
    return _MeanGroupProbs.apply(grouped.contiguous(), chunk_size)


def codebook_entropy(
    logits: Tensor, group_size: int, *, bit_order: str = "msb", chunk_size: int | None = None
) -> Tensor:
    """``sum_g H(E_x[p_g(c|x)])`` in nats over the tokens of ALL ranks; ``logits (..., d)``.

    Each rank's batch-mean probabilities are averaged over ranks (equal weight per rank, as with
    DDP's equal per-rank batches) before the entropy is taken. The all-reduce is not
    differentiable: each rank back-propagates ``dH/dP_global`` through its own probabilities,
    which after DDP's gradient averaging is exactly the gradient of ``H(P_global)``.
    """
    probs = mean_group_probs(logits, group_size, bit_order=bit_order, chunk_size=chunk_size)
    if is_distributed():
        local = probs.detach()
        probs = probs + (all_reduce_mean(local.clone()) - local)
    return entropy(probs).sum()


# ---------------------------------------------------------------------------- base quantizer
class BinaryQuantizer(Quantizer):
    """Shared body of :mod:`~zoo.quantizers.lfq` and :mod:`~zoo.quantizers.bsq` (not registered).

    Subclasses define ``_latent(z) -> x`` (``(b, n, dim)``, what is binarised) and pass the
    level ``a`` of the codebook ``{-a, a}^dim``. Quantized values are ``where(x > 0, a, -a)``;
    the straight-through estimator is written ``q + (x - sg(x))`` so the forward value is ``q``
    bit for bit (``x + sg(q - x)`` can be off by an ulp), which keeps
    ``decode(encode(z)) == forward(z).quantized`` exact.

    Loss (scalar): ``entropy_loss_weight * (per_sample_entropy - diversity_gamma *
    codebook_entropy) + commitment_weight * mean((x - sg(q))**2)``; the entropy terms only in
    training mode or with ``entropy_in_eval=True``.
    """

    def __init__(
        self,
        *,
        dim: int,
        group_size: int | None,
        bit_order: str,
        level: float,
        temperature: float,
        entropy_loss_weight: float,
        diversity_gamma: float,
        commitment_weight: float,
        entropy_mode: str,
        entropy_chunk_size: int | None,
        entropy_in_eval: bool,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        dim = check_int(who, "dim", dim)
        if group_size is not None:
            group_size = check_int(who, "group_size", group_size, high=MAX_GROUP_BITS)
        group_size = default_group_size(dim) if group_size is None else group_size
        if dim % group_size:
            raise ValueError(
                f"{who}: group_size must divide dim={dim} and lie in [1, {MAX_GROUP_BITS}], got "
                f"group_size={group_size}; the default is the largest such divisor "
                f"({default_group_size(dim)})."
            )
        check_bit_order(bit_order, who)
        if entropy_mode not in ("group", "exact"):
            raise ValueError(
                f"{who}: entropy_mode must be 'group' or 'exact', got {entropy_mode!r}"
            )
        if entropy_mode == "exact" and dim > MAX_GROUP_BITS:
            raise ValueError(
                f"{who}: entropy_mode='exact' enumerates all 2**dim codes and is limited to "
                f"dim <= {MAX_GROUP_BITS}, got dim={dim}; use entropy_mode='group'."
            )
        check_number(who, "temperature", temperature, low=0.0, low_open=True)
        check_number(who, "the codebook level (codebook_scale)", level, low=0.0, low_open=True)
        for name, value in (
            ("entropy_loss_weight", entropy_loss_weight),
            ("diversity_gamma", diversity_gamma),
            ("commitment_weight", commitment_weight),
        ):
            check_number(who, name, value, low=0.0)
        if entropy_chunk_size is not None:
            check_int(who, "entropy_chunk_size", entropy_chunk_size)

        self.dim = dim
        self.group_size = group_size
        self.num_codebooks = dim // group_size
        self.codebook_size = 1 << group_size
        self.bit_order = bit_order
        self.level = float(level)
        self.temperature = float(temperature)
        self.entropy_loss_weight = float(entropy_loss_weight)
        self.diversity_gamma = float(diversity_gamma)
        self.commitment_weight = float(commitment_weight)
        self.entropy_mode = entropy_mode
        self.entropy_chunk_size = None if entropy_chunk_size is None else int(entropy_chunk_size)
        self.entropy_in_eval = check_bool(who, "entropy_in_eval", entropy_in_eval)
        # "exact" is the group computation with one group holding every bit.
        self.entropy_group_size = dim if entropy_mode == "exact" else group_size

    def _latent(self, z: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _latent")

    def _levels(self, bits: Tensor) -> Tensor:
        return torch.where(bits, self.level, -self.level)

    def _forward(self, z: Tensor) -> QuantizerOutput:
        x = self._latent(z)
        bits = x.detach() > 0
        q = self._levels(bits)
        codes = pack_bits(bits, self.group_size, self.bit_order)
        commitment = F.mse_loss(x, q)
        loss = self.commitment_weight * commitment
        metrics = {"commitment_loss": commitment}
        if self.training or self.entropy_in_eval:
            logits = x.reshape(-1, self.dim) * (4 * self.level / self.temperature)
            sample_h = per_sample_entropy(logits)
            codebook_h = codebook_entropy(
                logits,
                self.entropy_group_size,
                bit_order=self.bit_order,
                chunk_size=self.entropy_chunk_size,
            )
            loss = loss + self.entropy_loss_weight * (sample_h - self.diversity_gamma * codebook_h)
            metrics["per_sample_entropy"] = sample_h
            metrics["codebook_entropy"] = codebook_h
        return QuantizerOutput(
            quantized=q + (x - x.detach()), codes=codes, loss=loss, metrics=metrics
        )

    def _encode(self, z: Tensor) -> Tensor:
        return pack_bits(self._latent(z) > 0, self.group_size, self.bit_order)

    def _decode(self, codes: Tensor) -> Tensor:
        return self._levels(unpack_bits(codes, self.group_size, self.bit_order))

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, group_size={self.group_size}, bit_order={self.bit_order!r}, "
            f"temperature={self.temperature:g}, entropy_mode={self.entropy_mode!r}"
        )
