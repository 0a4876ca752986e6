"""The shipped image tokenizers load offline by name, fit the package budget, and behave as their
cards say on real photos none of them was trained on (the bundled scikit-image photos)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import zoo
from zoo.data.samples import SAMPLE_PHOTOS, resize_center_crop, sample_photo_tensor
from zoo.pretrained import PACKAGE_WEIGHTS_ROOT

SHIPPED = ["titok_cpu_latent128.photos", "vqgan_cpu_f8.photos", "titok_cpu_flex.photos64"]


def _photos(size: int) -> torch.Tensor:
    return torch.stack([resize_center_crop(sample_photo_tensor(n), size, size)
                        for n in SAMPLE_PHOTOS])  # fmt: skip


def _psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    mse = (x_hat.clamp(-1, 1) - x).pow(2).mean(dim=(1, 2, 3))
    return float((10 * torch.log10(4 / mse)).mean())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_load_offline_and_fit_the_budget(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok = zoo.load(name)
    folder = Path(PACKAGE_WEIGHTS_ROOT) / tok.pretrained_cfg.package_weights
    weights = folder / "model.safetensors"
    assert weights.stat().st_size <= 10 * 2**20, f"{weights} exceeds 10 MiB"
    assert (folder / "README.md").is_file() and (folder / "config.json").is_file()


def test_flagship_prefixes_all_decode_and_improve_with_length():
    tok = zoo.load("titok_cpu_latent128.photos")
    assert tok.flexible_length and tok.num_tokens == 64 and tok.input_size == (128, 128)
    x = _photos(128)
    with torch.no_grad():
        codes = tok.tokenize(x)
        counts = [1, 2, 4, 8, 16, 32, 64]
        psnr = [_psnr(tok.detokenize(codes[:, :k]), x) for k in counts]
    assert all(b > a for a, b in zip(psnr, psnr[1:], strict=False)), psnr
    # Full length vs 1/8 of it: 2.8 dB as shipped (issue 10's bar is 3 dB, not met yet; the
    # README says so). Guards against a regression, not the bar.
    assert psnr[-1] >= psnr[3] + 2.5, psnr
    # The diagnostic: a black / white split, top-bottom and left-right, comes back with
    # each half's mean within 0.2 of the target (the first 1D default returned row colours:
    # left -0.55 / right -0.37).
    for dim in (2, 3):
        split = -torch.ones(1, 3, 128, 128)
        split.narrow(dim, 64, 64).fill_(1.0)
        with torch.no_grad():
            y = tok.detokenize(tok.tokenize(split)).clamp(-1, 1)
        first, second = float(y.narrow(dim, 0, 64).mean()), float(y.narrow(dim, 64, 64).mean())
        assert abs(first + 1) < 0.2 and abs(second - 1) < 0.2, (dim, first, second)
