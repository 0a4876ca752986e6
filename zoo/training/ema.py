"""Exponential moving average of model weights (Polyak averaging).

The EMA copy is what a training run exports: its weights are smoother than the last iterate and
usually reconstruct better (used by VQGAN-style tokenizer trainers such as Open-MAGVIT2/VidTok).
Early in training the decay is warmed up as ``min(decay, (1 + n) / (10 + n))`` after ``n``
updates, so the average does not stay anchored to the random initialisation.
"""

from __future__ import annotations

import torch
from torch import nn


def ema_decay_at(decay: float, num_updates: int) -> float:
    """Effective decay for update number ``num_updates`` (0-based), warmed up from 0.1."""
    return min(decay, (1.0 + num_updates) / (10.0 + num_updates))


@torch.no_grad()
def ema_update_(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * model`` for floating parameters and buffers, in place.

    Integer buffers (counters, code usage) are copied. Both modules must have identical
    structure; a mismatch raises ValueError naming the first differing entry.
    """
    ema_p = dict(ema.named_parameters())
    ema_b = dict(ema.named_buffers())
    src_p = dict(model.named_parameters())
    src_b = dict(model.named_buffers())
    if ema_p.keys() != src_p.keys() or ema_b.keys() != src_b.keys():
        diff = sorted((ema_p.keys() ^ src_p.keys()) | (ema_b.keys() ^ src_b.keys()))
        raise ValueError(f"ema_update_: EMA and model differ in structure, e.g. {diff[:3]}")
    dst = [ema_p[k] for k in src_p]
    src = [src_p[k].detach().to(ema_p[k].dtype) for k in src_p]
    if dst:
        torch._foreach_lerp_(dst, src, 1.0 - decay)
    for k, b in src_b.items():
        e = ema_b[k]
        if e.is_floating_point():
            e.lerp_(b.to(e.dtype), 1.0 - decay)
        else:
            e.copy_(b)
