"""GAN losses for tokenizer training and the VQGAN adaptive generator weight.

- Hinge loss: Lim & Ye, "Geometric GAN" (arXiv:1705.02894); used for the discriminator by
  Esser et al., "Taming Transformers for High-Resolution Image Synthesis" (VQGAN, CVPR 2021).
- Non-saturating loss: Goodfellow et al., "Generative Adversarial Nets" (NeurIPS 2014).
- Adaptive weight: VQGAN eq. (7), ``lambda = |grad_L nll| / (|grad_L g| + delta)`` where ``L`` is
  the decoder's last layer, so the adversarial term never dominates the reconstruction gradient.

Logits are the discriminator's raw outputs of any shape (PatchGAN: ``(B, 1, h, w)``); every loss
is a scalar mean over all elements.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GAN_LOSSES = ("hinge", "nonsaturating")


def _check_kind(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise ValueError(f"GAN loss: kind must be one of {GAN_LOSSES}, got {kind!r}")


def discriminator_loss(logits_real: Tensor, logits_fake: Tensor, *, kind: str = "hinge") -> Tensor:
    """Discriminator loss: real logits pushed up, fake logits pushed down.

    hinge: ``mean(relu(1 - real)) / 2 + mean(relu(1 + fake)) / 2`` (VQGAN's halved form);
    nonsaturating: ``mean(softplus(-real)) / 2 + mean(softplus(fake)) / 2``.
    """
    _check_kind(kind)
    if kind == "hinge":
        return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())
    return 0.5 * (F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean())


def generator_loss(logits_fake: Tensor, *, kind: str = "hinge") -> Tensor:
    """Generator loss on the discriminator's logits of reconstructions.

    hinge: ``-mean(fake)``; nonsaturating: ``mean(softplus(-fake))`` (= -log sigmoid(fake)).
    """
    _check_kind(kind)
    if kind == "hinge":
        return -logits_fake.mean()
    return F.softplus(-logits_fake).mean()


def adaptive_weight(
    nll_loss: Tensor,
    g_loss: Tensor,
    last_layer: nn.Parameter,
    *,
    max_weight: float = 1e4,
    eps: float = 1e-4,
) -> Tensor:
    """VQGAN's adaptive adversarial weight ``|d nll / d W| / (|d g / d W| + eps)``, detached.

    Args:
        nll_loss: the reconstruction (+ perceptual) loss, a scalar with a graph through
            ``last_layer``.
        g_loss: the generator's adversarial loss, a scalar with a graph through ``last_layer``.
        last_layer: the weight of the decoder's output layer.
        max_weight: upper clamp; the ratio explodes while the discriminator's gradient is ~0.

    Returns:
        a detached float32 scalar in ``[0, max_weight]``. Both graphs are retained for the
        backward pass that follows.
    """
    if not last_layer.requires_grad:
        raise ValueError(
            "adaptive_weight: last_layer does not require grad; pass the decoder's trainable "
            "output weight (toggle_optimizer must not have frozen it)"
        )
    (nll_grad,) = torch.autograd.grad(nll_loss, last_layer, retain_graph=True)
    (g_grad,) = torch.autograd.grad(g_loss, last_layer, retain_graph=True)
    weight = nll_grad.float().norm() / (g_grad.float().norm() + eps)
    return weight.clamp(0.0, max_weight).detach()
