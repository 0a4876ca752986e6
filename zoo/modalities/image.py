"""Images: ``(B, 3, H, W)`` in [-1, 1]; rate axis = token count (bits per pixel)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from zoo.evaluation import ImageEvaluator
from zoo.metrics import psnr
from zoo.modalities.registry import (
    Modality,
    log_image_grid,
    psnr_at_tokens,
    register_modality,
    token_count_rates,
)


@register_modality
class ImageModality(Modality):
    name = "image"
    layout = "(B, 3, H, W)"
    rate_option = "num_tokens"
    rate_unit = "bpp"
    # VQGAN (Esser et al. 2021): pixel L1 + perceptual distance (EfficientNet-Lite0 features
    # offline; LPIPS with user-supplied weights) + a PatchGAN.
    default_losses = {"l1": 1.0, "efflite0": 1.0}
    default_discriminators = ("patchgan",)
    # Channels-last memory was measured (benchmarks/training.py, results/training.md, quiet
    # machine): 11% faster steps for titok_cpu_flex128 but 8-9% slower for both VQGAN recipes,
    # whose GroupNorm backward is slower in that layout; so images keep the default layout.
    memory_format = None
    evaluator = ImageEvaluator()

    def quality(self, x_hat: Tensor, x: Tensor) -> tuple[str, Tensor]:
        return "psnr", psnr(x_hat.detach(), x).mean()

    def validation_rates(self, tokenizer: Any, requested: Sequence[int] | None) -> list[int]:
        """Token counts of flexible-length tokenizers (default K/8, K/4, K/2, K); none else."""
        return token_count_rates(tokenizer, requested)

    def rate_quality(
        self, tokenizer: Any, x: Tensor, rate: int, losses: dict[str, Any]
    ) -> tuple[str, Tensor, Tensor | None]:
        return psnr_at_tokens(tokenizer, x, rate)

    def log_examples(self, module: Any, x: Tensor, rows: list[Tensor]) -> None:
        """One grid, a row per version (input, full reconstruction, each validation token
        count)."""
        n = min(module.log_examples_count, rows[0].shape[0])
        log_image_grid(module, torch.cat([r[:n].detach().float() for r in rows]), nrow=n)
