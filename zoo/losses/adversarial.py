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


def feature_matching_loss(
    features_real: list[list[Tensor]], features_fake: list[list[Tensor]]
) -> Tensor:
    """Discriminator feature-matching loss (Larsen et al., arXiv:1512.09300; MelGAN, HiFi-GAN):
    L1 between the discriminator's activations of originals and reconstructions, each layer's
    mean absolute difference averaged over all layers of all sub-discriminators.

    Args:
        features_real: per sub-discriminator, the list of activations of the originals; they are
            detached here (the generator must not move the discriminator's targets).
        features_fake: the same structure for the reconstructions, with a graph to the generator.

    Returns:
        a float32 scalar.
    """
    if len(features_real) != len(features_fake) or not features_real:
        raise ValueError(
            "feature_matching_loss: need the same non-zero number of sub-discriminators, got "
            f"{len(features_real)} real vs {len(features_fake)} fake"
        )
    terms = []
    for i, (real, fake) in enumerate(zip(features_real, features_fake, strict=True)):
        if len(real) != len(fake):
            raise ValueError(
                f"feature_matching_loss: sub-discriminator {i} has {len(real)} real vs "
                f"{len(fake)} fake feature maps"
            )
        for r, f in zip(real, fake, strict=True):
            if r.shape != f.shape:
                raise ValueError(
                    f"feature_matching_loss: feature shapes differ in sub-discriminator {i}: "
                    f"{tuple(r.shape)} vs {tuple(f.shape)}"
                )
            terms.append((f.float() - r.detach().float()).abs().mean())
    return torch.stack(terms).mean()
