"""Finite scalar quantization.

Mentzer et al., "Finite Scalar Quantization: VQ-VAE Made Simple", ICLR 2024
(arXiv:2309.15505). Each of ``len(levels)`` channels is bounded with a shifted tanh and rounded to
one of ``levels[i]`` values; the implicit codebook is the product grid of size ``prod(levels)``.

Bounding follows the reference formulation with ``atanh`` for the even-level shift (the paper's
listing uses ``tan``, identical for odd levels where the shift is 0):
``half_l = (L - 1)(1 + eps)/2``, ``offset = 0.5 if L even else 0``,
``bounded = tanh(z + atanh(offset / half_l)) * half_l - offset``, then ``round`` and divide by
``L // 2`` so values lie in ``[-1, 1]``.

Index convention: mixed radix with the FIRST channel least significant,
``code = sum_i digit_i * prod(levels[:i])`` with ``digit_i = round(bounded_i) + L_i // 2`` in
``[0, L_i)`` — the same as the reference and vector-quantize-pytorch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from zoo.outputs import QuantizerOutput
from zoo.quantizers._utils import (
    MAX_CODEBOOK_BITS,
    MAX_CODEBOOK_SIZE,
    check_dim,
    check_int_list,
    straight_through,
)
from zoo.quantizers.base import Quantizer, register_quantizer

_EPS = 1e-3


@register_quantizer("fsq")
class FSQ(Quantizer):
    """Finite scalar quantization (one implicit codebook of ``prod(levels)`` entries).

    Args:
        levels: number of values per channel, each >= 2; their product (the codebook size) at
            most ``2**62`` so codes fit int64 (larger: a grouped FSQ).
        dim: input width; when it differs from ``len(levels)``, linear projections map
            ``dim -> len(levels)`` before and ``len(levels) -> dim`` after quantization.
    """

    example_kwargs = {"levels": [5, 4, 3], "dim": 8}

    def __init__(self, *, levels: list[int], dim: int | None = None) -> None:
        super().__init__()
        levels = check_int_list("FSQ", "levels", levels, low=2)
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
        self.register_buffer("_hw", torch.div(lv, 2, rounding_mode="floor"), persistent=False)
        needs_proj = self.dim != len(levels)
        self.project_in = nn.Linear(self.dim, len(levels)) if needs_proj else nn.Identity()
        self.project_out = nn.Linear(len(levels), self.dim) if needs_proj else nn.Identity()

    def _bound(self, z: Tensor) -> Tensor:
        return torch.tanh(z + self._shift) * self._half_l - self._offset

    def _rounded_to_codes(self, rounded: Tensor) -> Tensor:
        """Codes from rounded bounded values (integers in ``[-L//2, L - 1 - L//2]``)."""
        return ((rounded + self._hw).long() * self._basis).sum(-1, keepdim=True)

    def _forward(self, z: Tensor) -> QuantizerOutput:
        bounded = self._bound(self.project_in(z))
        rounded = torch.round(bounded)
        # Straight-through: the value is exactly rounded / hw (what decode() returns).
        values = straight_through(bounded, rounded) / self._hw
        codes = self._rounded_to_codes(rounded)
        return QuantizerOutput(
            quantized=self.project_out(values),
            codes=codes,
            loss=z.new_zeros(()),
        )

    def _encode(self, z: Tensor) -> Tensor:
        return self._rounded_to_codes(torch.round(self._bound(self.project_in(z))))

    def _decode(self, codes: Tensor) -> Tensor:
        digits = torch.div(codes, self._basis, rounding_mode="floor") % self._levels.long()
        return self.project_out((digits.float() - self._hw) / self._hw)
