"""Optimisers and learning-rate schedule of :class:`zoo.training.TokenizerModule`."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from zoo.training.specs import OptimizerSpec


class WarmupCosine:
    """LR multiplier: linear warmup over ``warmup_steps``, cosine decay to ``min_ratio`` at
    ``total_steps``, constant after. A callable object (not a lambda) so ``LambdaLR`` checkpoints
    its settings."""

    def __init__(self, warmup_steps: int, total_steps: int | None, min_ratio: float) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_ratio = min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if not self.total_steps or self.total_steps <= self.warmup_steps:
            return 1.0
        t = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))


def param_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: decay on >= 2-d weights only (decaying biases, norms and gains only hurts)."""
    params = [p for p in module.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]


def adamw_with_schedule(
    module: nn.Module, spec: OptimizerSpec, *, lr: float, total_steps: int | None
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over ``module`` (``lr``, betas and decay of ``spec``) and its warmup + cosine."""
    groups = param_groups(module, spec.weight_decay)
    fused = spec.fused and all(
        p.is_floating_point() and p.device.type in ("cpu", "cuda")
        for g in groups
        for p in g["params"]
    )
    opt = torch.optim.AdamW(groups, lr=lr, betas=spec.betas, fused=fused or None)
    schedule = WarmupCosine(spec.warmup_steps, total_steps, spec.min_lr_ratio)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, schedule)
