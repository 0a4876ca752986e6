"""Finite scalar quantization.

Mentzer et al., "Finite Scalar Quantization: VQ-VAE Made Simple", ICLR 2024
(arXiv:2309.15505). Each of ``len(levels)`` channels is bounded with a shifted tanh and rounded to
one of ``levels[i]`` values; the implicit codebook is the product grid of size ``prod(levels)``.

Bounding follows the reference formulation with ``atanh`` for the even-level shift (the paper's
listing uses ``tan``, identical for odd levels where the shift is 0):
``half_l = (L - 1)(1 + eps)/2``, ``offset = 0.5 if L even else 0``,
``bounded = tanh(z + atanh(offset / half_l)) * half_l - offset``, then ``round`` and divide by
``L // 2`` so values lie in ``[-1, 1]``.

The forward pass is one autograd node (:class:`_BoundRound`: bound, round, straight-through, with
the backward ``grad * (1 - tanh^2) * half_l / (L // 2)`` in two kernels) on the tokens viewed as
rows of up to 64 tokens, so the per-channel constants broadcast over wide rows (a broadcast over
a last dimension of ~6 channels runs ~5x slower per element); codes are a
matrix-vector product in float32, exact while the codebook has at most 2^24 entries (integer
partial sums below 2^24 are exact in any order); larger codebooks use int64 arithmetic.

Index convention: mixed radix with the FIRST channel least significant,
``code = sum_i digit_i * prod(levels[:i])`` with ``digit_i = round(bounded_i) + L_i // 2`` in
``[0, L_i)`` — the same as the reference and vector-quantize-pytorch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from zoo.outputs import QuantizerOutput
from zoo.quantizers._utils import (
    MAX_CODEBOOK_BITS,
    MAX_CODEBOOK_SIZE,
    check_dim,
    check_int_list,
    check_number,
)
from zoo.quantizers.base import Quantizer, register_quantizer

_EPS = 1e-3
#: Largest codebook whose codes are computed exactly by a float32 matrix-vector product.
_FLOAT_CODES_MAX = 1 << 24
#: Most tokens per row of the elementwise pass (the constants are tiled this many times).
_TILE = 64


class _BoundRound(torch.autograd.Function):
    """``z -> (rounded / hw, rounded)`` with ``rounded = round(tanh(z + shift) * half_l -
    offset)``; the gradient of the first output is that of ``bounded / hw`` (straight-through
    rounding), the second output (integers, for the codes) has none."""

    @staticmethod
    def forward(ctx, z, shift, half_l, offset, hw, grad_scale):  # type: ignore[override]
        t = torch.tanh(z + shift)
        rounded = torch.round(t * half_l - offset)
        ctx.save_for_backward(t, grad_scale)
        ctx.mark_non_differentiable(rounded)
        ctx.set_materialize_grads(False)  # no zeros for the integer output's (unused) gradient
        return rounded / hw, rounded

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_values, _grad_rounded):  # type: ignore[override]
        t, grad_scale = ctx.saved_tensors
        if grad_values is None:
            return None, None, None, None, None, None
        # d/dz [tanh(z + shift) * half_l / hw] = (1 - t^2) * half_l / hw
        grad = torch.ops.aten.tanh_backward(grad_values, t) * grad_scale
        return grad, None, None, None, None, None


@register_quantizer("fsq")
class FSQ(Quantizer):
    """Finite scalar quantization (one implicit codebook of ``prod(levels)`` entries).

    Args:
        levels: number of values per channel, each >= 2; their product (the codebook size) at
            most ``2**62`` so codes fit int64 (larger: a grouped FSQ).
        dim: input width; when it differs from ``len(levels)``, linear projections map
            ``dim -> len(levels)`` before and ``len(levels) -> dim`` after quantization.
        usage_loss_weight: weight of the level-usage loss (training mode only; 0 = off, the
            default, and then nothing is computed). Without it a channel can drift into the
            flat part of the tanh and sit on one extreme level: a CPU-trained f8 VQGAN put 85%
            of one 8-level channel's tokens on its top level, and the 64000-code grid carried
            8.7 bits per token instead of 16. The loss is ``sum_c (log L_c - H_c) / sum_c
            log L_c``, ``H_c`` the entropy of channel c's batch-mean soft level assignment
            (``softmax(-(bounded - level)^2 / usage_temperature)``): 0 when every channel
            spreads its tokens evenly over its levels, near 1 when all sit on one.
        usage_temperature: temperature of that soft assignment, in squared level steps.
    """

    example_kwargs = {"levels": [5, 4, 3], "dim": 8}

    def __init__(
        self,
        *,
        levels: list[int],
        dim: int | None = None,
        usage_loss_weight: float = 0.0,
        usage_temperature: float = 0.5,
    ) -> None:
        super().__init__()
        levels = check_int_list("FSQ", "levels", levels, low=2)
        self.usage_loss_weight = check_number(
            "FSQ", "usage_loss_weight", usage_loss_weight, low=0.0
        )
        self.usage_temperature = check_number(
            "FSQ", "usage_temperature", usage_temperature, low=0.0, low_open=True
        )
        self.levels = levels
        self.dim = len(levels) if dim is None else check_dim("FSQ", dim)
        self.codebook_size = math.prod(levels)
        if self.codebook_size > MAX_CODEBOOK_SIZE:
            shown = levels if len(levels) <= 16 else f"[{len(levels)} values]"
            raise ValueError(
                f"FSQ: levels={shown} give a codebook of {self.codebook_size} codes "
                f"({math.log2(self.codebook_size):.1f} bits), more than int64 codes hold "
                f"(2**{MAX_CODEBOOK_BITS}); use fewer or smaller levels, or split the channels "
                f"with create_quantizer('grouped', quantizer='fsq', groups=..., ...)"
            )
        self.num_codebooks = 1
        lv = torch.tensor(levels, dtype=torch.float32)
        basis = torch.cumprod(torch.tensor([1] + levels[:-1], dtype=torch.int64), 0)
        self.register_buffer("_levels", lv, persistent=False)
        self.register_buffer("_basis", basis, persistent=False)
        # Constants of the bound, precomputed once (the forward pass is a handful of ops).
        half_l = (lv - 1) * (1 + _EPS) / 2
        offset = torch.where(lv % 2 == 0, 0.5, 0.0)
        self.register_buffer("_half_l", half_l, persistent=False)
        self.register_buffer("_offset", offset, persistent=False)
        self.register_buffer("_shift", torch.atanh(offset / half_l), persistent=False)
        hw = torch.div(lv, 2, rounding_mode="floor")
        self.register_buffer("_hw", hw, persistent=False)
        # shift, half_l, offset, hw and the gradient scale half_l / hw, tiled for _TILE tokens.
        consts = torch.stack([self._shift, half_l, offset, hw, half_l / hw])
        self.register_buffer("_tiled", consts.repeat(1, _TILE), persistent=False)
        # Codes as ``rounded @ basis + sum(hw * basis)``: float32 when exact, else int64.
        self._float_codes = self.codebook_size <= _FLOAT_CODES_MAX
        self.register_buffer("_basis_f", basis.float().unsqueeze(-1), persistent=False)
        self._code_offset = float((hw.long() * basis).sum())
        needs_proj = self.dim != len(levels)
        self.project_in = nn.Linear(self.dim, len(levels)) if needs_proj else nn.Identity()
        self.project_out = nn.Linear(len(levels), self.dim) if needs_proj else nn.Identity()

    def _rounded_to_codes(self, rounded: Tensor) -> Tensor:
        """Codes from rounded bounded values (integers in ``[-L//2, L - 1 - L//2]``)."""
        if self._float_codes:
            return (rounded @ self._basis_f).add_(self._code_offset).long()
        return ((rounded + self._hw).long() * self._basis).sum(-1, keepdim=True)

    def _quantize(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``(values, rounded)``: values ``rounded / hw`` in ``[-1, 1]`` (exactly what decode
        returns) with the straight-through gradient of ``bound(z) / hw``; forward and encode
        share it, so their codes agree bit for bit."""
        d = len(self.levels)
        per_row = math.gcd(z.numel() // d, _TILE)  # tokens per row: a divisor of the count
        values, rounded = _BoundRound.apply(
            z.reshape(-1, per_row * d), *self._tiled[:, : per_row * d].unbind(0)
        )
        return values.view(z.shape), rounded.view(z.shape)

    def _forward(self, z: Tensor) -> QuantizerOutput:
        z = self.project_in(z)
        values, rounded = self._quantize(z)
        loss = z.new_zeros(())
        if self.training and self.usage_loss_weight > 0:
            loss = self.usage_loss_weight * self.usage_loss(z)
        return QuantizerOutput(
            quantized=self.project_out(values), codes=self._rounded_to_codes(rounded), loss=loss
        )

    def usage_loss(self, z: Tensor) -> Tensor:
        """Normalised level-usage deficit of the (projected) latents ``z`` (..., len(levels)):
        ``sum_c (log L_c - H_c) / sum_c log L_c`` with ``H_c`` the entropy of the batch-mean
        soft assignment of channel c's bounded values to its levels; in [0, 1]."""
        z = z.reshape(-1, len(self.levels)).float()
        bounded = torch.tanh(z + self._shift) * self._half_l - self._offset  # level units
        # Level grid per channel, padded to the widest channel; padding gets probability 0.
        top = max(self.levels)
        grid = torch.arange(top, device=z.device, dtype=z.dtype) - self._hw.unsqueeze(-1)
        valid = torch.arange(top, device=z.device) < self._levels.unsqueeze(-1)
        logits = -(bounded.unsqueeze(-1) - grid).square() / self.usage_temperature
        probs = logits.masked_fill(~valid, float("-inf")).softmax(-1).mean(0)  # (C, top)
        entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1)
        capacity = self._levels.log()
        return (capacity - entropy).sum() / capacity.sum()

    def _encode(self, z: Tensor) -> Tensor:
        return self._rounded_to_codes(self._quantize(self.project_in(z))[1])

    def _decode(self, codes: Tensor) -> Tensor:
        digits = torch.div(codes, self._basis, rounding_mode="floor") % self._levels.long()
        return self.project_out((digits.float() - self._hw) / self._hw)
