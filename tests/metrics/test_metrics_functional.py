"""Functional metrics on plain tensors (zoo.metrics.functional)."""

import math

import pytest
import torch

from zoo.metrics.functional import psnr


def test_psnr_matches_definition_on_unit_range():
    x = torch.rand(3, 3, 8, 8) * 2 - 1
    noise = torch.full_like(x, 0.1)
    # MSE 0.01 on [-1, 1] (peak-to-peak 2) is MSE 0.0025 on [0, 1]: 10 log10(1 / 0.0025).
    x_hat = (x + noise).clamp(-1, 1)
    expected = 10 * torch.log10(4 / (x_hat - x).pow(2).flatten(1).mean(1))
    torch.testing.assert_close(psnr(x_hat, x), expected)
    ideal = 10 * math.log10(1 / 0.0025)
    assert psnr(torch.full((1, 3, 2, 2), 0.1), torch.zeros(1, 3, 2, 2)).item() == pytest.approx(
        ideal, rel=1e-5
    )
    # Out-of-range reconstructions are clamped first, as when saved as an image.
    assert psnr(torch.full((1, 3, 2, 2), 5.0), torch.ones(1, 3, 2, 2)).item() > 90
