"""Shared helpers of the image port parity tests (test_ports_*.py): real photos and random
reference weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.data.samples import resize_center_crop, sample_photo_tensor

TOL = 1e-4  # max abs difference allowed between decoded images (values in [-1, 1])


def photos(size: int, names: tuple[str, ...] = ("astronaut", "coffee")) -> torch.Tensor:
    """Bundled real photos ``(B, 3, size, size)`` in [-1, 1] (resized, centre-cropped)."""
    return torch.stack([resize_center_crop(sample_photo_tensor(n), size) for n in names])


def randomize_(model: nn.Module, seed: int, *, unit_codewords: bool = False) -> nn.Module:
    """Every tensor random and distinct (PyTorch's default conv / linear init with non-zero
    biases, norm affines away from 1 / 0, batch-norm running statistics away from 0 / 1,
    N(0, 1) codewords, unit-norm ones with
    ``unit_codewords``), so a swapped or misplaced key changes the output. Returns the model in
    eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
                bound = m.weight[0].numel() ** -0.5
                m.weight.uniform_(-bound, bound, generator=g)
                if m.bias is not None:
                    m.bias.uniform_(-bound, bound, generator=g)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):  # eval mode: running stats
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.uniform_(0.5, 1.5, generator=g)
            elif isinstance(m, (nn.GroupNorm, nn.LayerNorm)):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
            elif isinstance(m, nn.Embedding):
                w = torch.randn(m.weight.shape, generator=g)
                m.weight.copy_(F.normalize(w, dim=-1) if unit_codewords else w)
            elif isinstance(m, nn.MultiheadAttention) and m.in_proj_bias is not None:
                m.in_proj_bias.uniform_(-0.1, 0.1, generator=g)  # zeros after PyTorch's init
    return model.eval()


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()
