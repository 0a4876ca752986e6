"""Functional metrics on plain tensors (no state), for training logs and quick checks.

The streaming metrics of result files are the classes of :mod:`zoo.metrics.image` and
:mod:`zoo.metrics.audio`.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["psnr"]


def psnr(
    x_hat: Tensor, x: Tensor, *, value_range: tuple[float, float] = (-1.0, 1.0), eps: float = 1e-10
) -> Tensor:
    """Per-item PSNR in dB, shape ``(B,)``, for inputs ``(B, ...)`` with values in ``value_range``.

    With the project's [-1, 1] images this equals the usual PSNR of the same images on [0, 1].
    ``x_hat`` is clamped to ``value_range`` first, as saving it as an image would do.
    """
    lo, hi = value_range
    x_hat = x_hat.detach().float().clamp(lo, hi)
    mse = (x_hat - x.detach().float()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10((hi - lo) ** 2 / (mse + eps))
