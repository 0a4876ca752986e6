"""Pixel reconstruction losses (L1 / L2) on tensors of any layout.

Both inputs share one layout and value range (images ``(B, 3, H, W)`` in [-1, 1] in this project);
the loss is the mean over every element, so its scale does not depend on resolution or batch size.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from zoo.losses.registry import register_loss

RECONSTRUCTION_LOSSES = ("l1", "l2")


def reconstruction_loss(x_hat: Tensor, x: Tensor, *, kind: str = "l1") -> Tensor:
    """Mean L1 (``kind="l1"``) or mean squared error (``kind="l2"``) between ``x_hat`` and ``x``.

    Args:
        x_hat: reconstruction, same shape as ``x``.
        x: target, any layout; compared element by element.
        kind: ``"l1"`` or ``"l2"``.

    Returns:
        a scalar tensor in ``x_hat``'s dtype.
    """
    if kind not in RECONSTRUCTION_LOSSES:
        raise ValueError(
            f"reconstruction_loss: kind must be one of {RECONSTRUCTION_LOSSES}, got {kind!r}"
        )
    if x_hat.shape != x.shape:
        raise ValueError(
            f"reconstruction_loss: x_hat and x must have the same shape, got {tuple(x_hat.shape)} "
            f"and {tuple(x.shape)}"
        )
    if kind == "l1":
        return F.l1_loss(x_hat, x)
    return F.mse_loss(x_hat, x)


@register_loss("l1", log_name="rec")
class L1Loss(nn.Module):
    """Mean absolute error, ``reconstruction_loss(kind="l1")`` as a module."""

    def forward(self, x_hat: Tensor, x: Tensor) -> Tensor:
        return reconstruction_loss(x_hat, x, kind="l1")


@register_loss("l2", log_name="rec")
class L2Loss(nn.Module):
    """Mean squared error, ``reconstruction_loss(kind="l2")`` as a module."""

    def forward(self, x_hat: Tensor, x: Tensor) -> Tensor:
        return reconstruction_loss(x_hat, x, kind="l2")
