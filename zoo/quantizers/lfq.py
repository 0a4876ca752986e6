"""Lookup-free quantization (LFQ).

Yu et al., "Language Model Beats Diffusion -- Tokenizer is Key to Visual Generation"
(MAGVIT-v2), ICLR 2024 (arXiv:2310.05737). Each channel is binarised, ``q = where(z > 0, s, -s)``
with ``s = codebook_scale``, with a straight-through gradient; the implicit codebook is
``{-s, s}^dim`` and no lookup is needed.

Entropy loss: with ``p(c | z) = softmax_c(2 z·c / temperature)`` over the ``2**dim`` codes,
``loss = entropy_loss_weight * (per_sample_entropy - diversity_gamma * codebook_entropy)
+ commitment_weight * mean((z - sg(q))**2)``, where ``per_sample_entropy`` is the token mean of
``H(p(c|z))`` (exact, O(dim): bit ``i`` is 1 with probability ``sigmoid(4 s z_i / temperature)``)
and ``codebook_entropy`` is ``H`` of the batch-mean ``p`` over all ranks, exact within groups of
``group_size`` bits and summed over groups (``entropy_mode="group"``), or exact over all
``2**dim`` codes (``entropy_mode="exact"``, dim <= 16). Memory never grows as ``2**dim``; see
:mod:`zoo.quantizers._binary`. Entropies are reported in nats and computed only in training mode
(or with ``entropy_in_eval=True``), never by ``encode``.

Codes: ``dim // group_size`` codes per token, each of ``2**group_size`` entries: channels
``[g * group_size, (g + 1) * group_size)`` form code ``g``. ``bit_order="msb"`` (default, as
MAGVIT-v2 and vector-quantize-pytorch): the first channel of each group is the most significant
bit; ``"lsb"`` (Open-MAGVIT2): the least significant. E.g. channels ``(+, -, -)`` are code 4 in
"msb", 1 in "lsb". A 2^128 codebook (UniWeTok) is ``dim=128, group_size=16``: 8 codes of 2^16.

Defaults follow vector-quantize-pytorch 1.32 (``inv_temperature=100`` -> ``temperature=0.01``,
entropy weight 0.1, diversity gamma 1) with the MAGVIT-v2 / Open-MAGVIT2 commitment weight 0.25.
Its definitions of the entropies differ from ours in two documented ways: it clamps
probabilities at 1e-5 inside the log, and with several codebooks it averages (we sum) the
per-codebook entropies.
"""

from __future__ import annotations

from torch import Tensor

from zoo.quantizers._binary import BinaryQuantizer
from zoo.quantizers.base import register_quantizer


@register_quantizer("lfq")
class LFQ(BinaryQuantizer):
    """Lookup-free binary quantization with the MAGVIT-v2 entropy loss.

    Input ``z``: ``(..., dim)`` float, any range. Output ``quantized``: same shape, values in
    ``{-codebook_scale, +codebook_scale}``; codes ``(..., dim // group_size)`` int64 in
    ``[0, 2**group_size)``.

    Args:
        dim: number of channels = bits per token.
        group_size: bits per reported code (and per entropy group); must divide ``dim`` and be
            <= 16. Default: the largest divisor of ``dim`` that is <= 16 (18 -> 9, 128 -> 16).
        bit_order: "msb" (first channel of a group is the most significant bit) or "lsb".
        codebook_scale: the level ``s`` of the codebook ``{-s, s}^dim``.
        temperature: ``T`` in ``p(c|z) ∝ exp(2 z·c / T)``.
        entropy_loss_weight: weight of ``per_sample_entropy - diversity_gamma * codebook_entropy``.
        diversity_gamma: weight of the codebook entropy inside the entropy loss.
        commitment_weight: weight of ``mean((z - sg(q))**2)``.
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
        codebook_scale: float = 1.0,
        temperature: float = 0.01,
        entropy_loss_weight: float = 0.1,
        diversity_gamma: float = 1.0,
        commitment_weight: float = 0.25,
        entropy_mode: str = "group",
        entropy_chunk_size: int | None = None,
        entropy_in_eval: bool = False,
    ) -> None:
        super().__init__(
            dim=dim,
            group_size=group_size,
            bit_order=bit_order,
            level=codebook_scale,
            temperature=temperature,
            entropy_loss_weight=entropy_loss_weight,
            diversity_gamma=diversity_gamma,
            commitment_weight=commitment_weight,
            entropy_mode=entropy_mode,
            entropy_chunk_size=entropy_chunk_size,
            entropy_in_eval=entropy_in_eval,
        )
        self.codebook_scale = float(codebook_scale)

    def _latent(self, z: Tensor) -> Tensor:
        return z
