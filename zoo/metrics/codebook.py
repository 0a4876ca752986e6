"""Codebook statistics over a whole evaluation set, and the bit rate of a tokenizer's codes.

Low codebook usage ("collapse") is one of the most reported failures of VQ tokenizers (e.g.
Zhu et al., "Scaling the Codebook Size of VQGAN to 100,000 with a Utilization Rate of 99%",
NeurIPS 2024), and per-batch statistics hide it: usage, perplexity and entropy are only meaningful
over the whole set, so :class:`CodebookUsage` counts every code it sees.

Definitions, per codebook, from the empirical distribution ``p`` of its codes:

- usage: fraction of the ``codebook_size`` entries used at least once;
- entropy: ``H = -sum p log2 p`` bits (at most ``log2(codebook_size)``);
- perplexity: ``2^H``, the effective number of equally used entries.

With several codebooks (residual / grouped quantizers) the numbers are averaged over codebooks.
Note that a set of ``N`` codes can use at most ``N`` entries: ``num_codes`` is reported too.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor
from torchmetrics import Metric


class CodebookUsage(Metric):
    """Streaming codebook usage, perplexity and code entropy.

    Args:
        codebook_size: entries per codebook.
        num_codebooks: codes per token (the trailing axis of the codes).

    ``update(codes)``: int64 codes ``(B, *token_shape, num_codebooks)`` in
    ``[0, codebook_size)``, as ``Tokenizer.tokenize`` returns them. Codebooks of up to 2^20
    entries are counted in a dense histogram; larger ones (e.g. 2^36 binary codes) keep the codes
    and count them at ``compute``.

    ``compute()`` returns a dict of floats: ``codebook_usage``, ``codes_used``, ``perplexity``,
    ``code_entropy_bits``, ``max_entropy_bits``, ``num_codes`` (codes seen per codebook).
    """

    is_differentiable: ClassVar[bool] = False
    full_state_update: ClassVar[bool] = False
    higher_is_better: ClassVar[bool] = True
    dense_limit: ClassVar[int] = 1 << 20

    def __init__(self, *, codebook_size: int, num_codebooks: int = 1) -> None:
        super().__init__()
        if int(codebook_size) < 1 or int(num_codebooks) < 1:
            raise ValueError(
                f"CodebookUsage: codebook_size and num_codebooks must be >= 1, got "
                f"{codebook_size} and {num_codebooks}"
            )
        self.codebook_size = int(codebook_size)
        self.num_codebooks = int(num_codebooks)
        self.dense = self.codebook_size <= self.dense_limit
        if self.dense:
            zeros = torch.zeros(self.num_codebooks, self.codebook_size, dtype=torch.int64)
            self.add_state("counts", zeros, dist_reduce_fx="sum")
        else:
            self.add_state("codes", [], dist_reduce_fx="cat")

    def update(self, codes: Tensor) -> None:
        """Count the codes ``(B, *token_shape, num_codebooks)``."""
        if not isinstance(codes, Tensor) or codes.is_floating_point() or codes.dtype == torch.bool:
            got = codes.dtype if isinstance(codes, Tensor) else type(codes).__name__
            raise TypeError(f"CodebookUsage: expected integer codes, got {got}")
        if codes.ndim < 2 or codes.shape[-1] != self.num_codebooks:
            raise ValueError(
                f"CodebookUsage: expected codes (B, ..., {self.num_codebooks}), got "
                f"{tuple(codes.shape)}"
            )
        flat = codes.reshape(-1, self.num_codebooks).long()
        if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= self.codebook_size):
            raise ValueError(
                f"CodebookUsage: codes must lie in [0, {self.codebook_size}), got "
                f"[{int(flat.min())}, {int(flat.max())}]"
            )
        if self.dense:
            offset = torch.arange(self.num_codebooks, device=flat.device) * self.codebook_size
            hist = torch.bincount(
                (flat + offset).flatten(), minlength=self.num_codebooks * self.codebook_size
            )
            self.counts += hist.view(self.num_codebooks, self.codebook_size)
        else:
            self.codes.append(flat)

    def _per_codebook_counts(self) -> list[Tensor]:
        """Counts of the used entries (no zeros) of each codebook."""
        if self.dense:
            return [row[row > 0] for row in self.counts]
        if not self.codes:
            return [torch.zeros(0, dtype=torch.int64) for _ in range(self.num_codebooks)]
        codes = torch.cat(self.codes) if isinstance(self.codes, list) else self.codes
        return [torch.unique(codes[:, i], return_counts=True)[1] for i in range(codes.shape[1])]

    def compute(self) -> dict[str, Any]:
        counts = self._per_codebook_counts()
        n = int(counts[0].sum())
        if n == 0:
            raise RuntimeError("CodebookUsage: compute() called before any update()")
        used, entropy = [], []
        for c in counts:
            p = c.double() / c.sum()
            used.append(int(c.numel()))
            entropy.append(float(-(p * torch.log2(p)).sum()))
        h = sum(entropy) / len(entropy)
        return {
            "codebook_usage": sum(u / self.codebook_size for u in used) / len(used),
            "codes_used": sum(used) / len(used),
            "perplexity": sum(2.0**e for e in entropy) / len(entropy),
            "code_entropy_bits": h,
            "max_entropy_bits": math.log2(self.codebook_size),
            "num_codes": n,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "implementation": "zoo.metrics.CodebookUsage",
            "codebook_size": self.codebook_size,
            "num_codebooks": self.num_codebooks,
            "definitions": "usage = used entries / codebook_size; entropy = -sum p log2 p over "
            "the whole set; perplexity = 2^entropy; averaged over codebooks",
        }


def bits_per_image(tokenizer: Any, codes: Tensor) -> float:
    """Bits of the codes of one item, by the tokenizer's own accounting.

    ``tokenizer.bits_per_item(k)`` when the codes have the tokenizer's token grid (``k`` tokens
    for flexible-length tokenizers); for other grids (a 2D tokenizer run at another resolution),
    ``tokens * quantizer.bits_per_token``.
    """
    token_shape = tuple(codes.shape[1:-1])
    k = token_shape[0] if tokenizer.flexible_length else None
    if tuple(tokenizer.token_shape(k)) == token_shape:
        return float(tokenizer.bits_per_item(k))
    return float(math.prod(token_shape) * tokenizer.quantizer.bits_per_token)


def bits_per_pixel(bits: float, height: int, width: int) -> float:
    """Bits per pixel of ``bits`` per image of ``height`` x ``width`` pixels."""
    return float(bits) / (int(height) * int(width))


def audio_code_bits(tokenizer: Any, codes: Tensor) -> float:
    """Bits of audio codes ``(B, frames, k)`` per clip, by the tokenizer's own accounting:
    ``frames * bitrate(k) / frame_rate`` (the bitrate of the first ``k`` codebooks)."""
    if codes.ndim != 3:
        raise ValueError(
            f"audio_code_bits: expected codes (B, frames, k), got {tuple(codes.shape)}"
        )
    frames, k = int(codes.shape[1]), int(codes.shape[2])
    return frames * float(tokenizer.bitrate(k)) / float(tokenizer.frame_rate)
