"""Binary spherical quantization (BSQ).

Zhao, Xiong and Krähenbühl, "Image and Video Tokenization with Binary Spherical Quantization"
(arXiv:2406.07548). The latent is projected onto the unit sphere, ``u = z / ||z||``, then
binarised onto the sphere's inscribed hypercube, ``q = where(u > 0, 1, -1) / sqrt(dim)``, with a
straight-through gradient to ``u`` (and through the normalisation to ``z``). Both ``u`` and ``q``
have unit norm, so the quantization error is bounded whatever ``dim``.

Entropy loss, as in LFQ but on the sphere: ``p(c | u) = softmax_c(2 u·c / temperature)`` over
``c`` in ``{-1/sqrt(dim), 1/sqrt(dim)}^dim``; bit ``i`` is 1 with probability
``sigmoid(4 u_i / (sqrt(dim) temperature))``. ``loss = entropy_loss_weight * (per_sample_entropy
- diversity_gamma * codebook_entropy) + commitment_weight * mean((u - sg(q))**2)``. The
per-sample entropy is exact in O(dim); the codebook entropy is exact within groups of
``group_size`` bits and summed over groups (``entropy_mode="group"``) or exact over all codes
(``"exact"``, dim <= 16), over the tokens of all ranks, in nats, only in training mode (or with
``entropy_in_eval=True``). Shared machinery: :mod:`zoo.quantizers._binary`.

Codes and bit order are those of :mod:`zoo.quantizers.lfq`: ``dim // group_size`` codes of
``2**group_size`` entries; ``bit_order="msb"`` (default, BSQ-ViT's convention) makes the first
channel of each group the most significant bit, ``"lsb"`` the least significant.

Defaults follow BSQ-ViT (``inv_temperature=1``, entropy ("codebook") weight 0.1, gammas 1,
commitment weight ``beta=0``).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

from zoo.quantizers._binary import BinaryQuantizer
from zoo.quantizers._utils import check_int
from zoo.quantizers.base import register_quantizer


@register_quantizer("bsq")
class BSQ(BinaryQuantizer):
    """Binary spherical quantization.

    Input ``z``: ``(..., dim)`` float, any range (only its direction matters). Output
    ``quantized``: same shape, entries ``±1/sqrt(dim)`` (unit norm); codes
    ``(..., dim // group_size)`` int64 in ``[0, 2**group_size)``.

    Args:
        dim: number of channels = bits per token.
        group_size: bits per reported code (and per entropy group); must divide ``dim`` and be
            <= 16. Default: the largest divisor of ``dim`` that is <= 16 (18 -> 9, 128 -> 16).
        bit_order: "msb" (first channel of a group is the most significant bit) or "lsb".
        temperature: ``T`` in ``p(c|u) ∝ exp(2 u·c / T)``.
        entropy_loss_weight: weight of ``per_sample_entropy - diversity_gamma * codebook_entropy``.
        diversity_gamma: weight of the codebook entropy inside the entropy loss.
        commitment_weight: weight of ``mean((u - sg(q))**2)``.
        entropy_mode: "group" (exact per group of ``group_size`` bits, summed) or "exact" (all
            ``2**dim`` codes; dim <= 16).
        entropy_chunk_size: (token, group) rows processed at once by the codebook entropy
            (each holds ``2**(k // 2) + 2**(k - k // 2)`` factor probabilities for groups of
            ``k`` bits), rounded down to whole tokens (at least one); default: about 2^20
            factor probabilities (4096 tokens of one 14-bit group).
        entropy_in_eval: also compute the entropy terms (and their loss) in eval mode.
    """

    example_kwargs = {"dim": 6, "group_size": 3}

    def __init__(
        self,
        *,
        dim: int,
        group_size: int | None = None,
        bit_order: str = "msb",
        temperature: float = 1.0,
        entropy_loss_weight: float = 0.1,
        diversity_gamma: float = 1.0,
        commitment_weight: float = 0.0,
        entropy_mode: str = "group",
        entropy_chunk_size: int | None = None,
        entropy_in_eval: bool = False,
    ) -> None:
        super().__init__(
            dim=dim,
            group_size=group_size,
            bit_order=bit_order,
            level=1.0 / math.sqrt(check_int("BSQ", "dim", dim)),
            temperature=temperature,
            entropy_loss_weight=entropy_loss_weight,
            diversity_gamma=diversity_gamma,
            commitment_weight=commitment_weight,
            entropy_mode=entropy_mode,
            entropy_chunk_size=entropy_chunk_size,
            entropy_in_eval=entropy_in_eval,
        )

    def _latent(self, z: Tensor) -> Tensor:
        return F.normalize(z, dim=-1)
