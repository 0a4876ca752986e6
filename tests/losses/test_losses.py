"""Reconstruction, GAN losses, adaptive weight and the PatchGAN discriminator."""

import pytest
import torch
from torch import nn

from zoo.losses import (
    PatchGANDiscriminator,
    adaptive_weight,
    discriminator_loss,
    generator_loss,
    reconstruction_loss,
)


def test_reconstruction_loss_values():
    x = torch.zeros(2, 3, 4, 4)
    y = torch.full((2, 3, 4, 4), 0.5)
    assert reconstruction_loss(y, x, kind="l1").item() == pytest.approx(0.5)
    assert reconstruction_loss(y, x, kind="l2").item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="kind must be one of"):
        reconstruction_loss(y, x, kind="l3")
    with pytest.raises(ValueError, match="same shape"):
        reconstruction_loss(y[:1], x)


def test_hinge_and_nonsaturating_losses():
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.0, 1.0])
    hinge_d = 0.5 * (torch.relu(1 - real).mean() + torch.relu(1 + fake).mean())
    assert discriminator_loss(real, fake).item() == pytest.approx(hinge_d.item())
    assert generator_loss(fake).item() == pytest.approx(-fake.mean().item())
    ns_d = 0.5 * (
        -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    )
    assert discriminator_loss(real, fake, kind="nonsaturating").item() == pytest.approx(
        ns_d.item(), rel=1e-5
    )
    ns_g = -torch.log(torch.sigmoid(fake)).mean()
    assert generator_loss(fake, kind="nonsaturating").item() == pytest.approx(ns_g.item(), rel=1e-5)
    # A perfect hinge discriminator (real >= 1, fake <= -1) has zero loss.
    assert discriminator_loss(torch.ones(4) * 3, -torch.ones(4) * 3).item() == 0.0
    with pytest.raises(ValueError, match="hinge"):
        generator_loss(fake, kind="wgan")


def test_adaptive_weight_is_the_gradient_norm_ratio():
    torch.manual_seed(0)
    last = nn.Parameter(torch.randn(3, 4))
    x = torch.randn(5, 4)
    y = x @ last.T
    nll = (y - 1).pow(2).mean()
    g = -(2 * y).mean()
    g_nll = torch.autograd.grad(nll, last, retain_graph=True)[0]
    g_g = torch.autograd.grad(g, last, retain_graph=True)[0]
    expected = g_nll.norm() / (g_g.norm() + 1e-4)
    w = adaptive_weight(nll, g, last)
    assert w.item() == pytest.approx(expected.item(), rel=1e-5)
    assert not w.requires_grad
    # Graphs are retained for the real backward.
    (nll + w * g).backward()
    assert last.grad is not None
    # Clamped when the adversarial gradient vanishes.
    y2 = x @ last.T
    assert adaptive_weight((y2 - 1).pow(2).mean(), 0 * y2.sum(), last, max_weight=7.0).item() == 7.0


def test_adaptive_weight_rejects_a_frozen_layer():
    last = nn.Parameter(torch.randn(2, 2), requires_grad=False)
    with pytest.raises(ValueError, match="does not require grad"):
        adaptive_weight(torch.zeros(()), torch.zeros(()), last)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_patchgan_shapes_and_gradients(norm):
    d = PatchGANDiscriminator(channels=8, num_layers=2, norm=norm)
    assert d.min_input_size == 12
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    logits = d(x)
    # Two stride-2 layers (32 -> 8), then two stride-1 4x4 convs remove 1 px each.
    assert logits.shape == (2, 1, 6, 6)
    logits.mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert d(torch.randn(1, 3, 12, 12)).shape == (1, 1, 1, 1)


def test_patchgan_errors():
    d = PatchGANDiscriminator(channels=8, num_layers=3)
    with pytest.raises(ValueError, match="too small"):
        d(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\)"):
        d(torch.randn(1, 4, 32, 32))
    with pytest.raises(ValueError, match="norm must be one of"):
        PatchGANDiscriminator(norm="layer")
