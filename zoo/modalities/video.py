"""Video: ``(B, 3, T, H, W)`` in [-1, 1]; rate axis = token count of flexible-length families
(bits per pixel of the clip, ``bits / (T * H * W)``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from zoo.evaluation.video import VideoEvaluator
from zoo.metrics import psnr
from zoo.modalities.registry import (
    Modality,
    log_image_grid,
    psnr_at_tokens,
    register_modality,
    token_count_rates,
)


@register_modality
class VideoModality(Modality):
    name = "video"
    layout = "(B, 3, T, H, W)"
    rate_option = "num_tokens"
    rate_unit = "bpp"
    # Pixel L1 over every frame. Perceptual losses and PatchGAN are image losses; a video recipe
    # that wants them per frame names them itself once they accept clips.
    default_losses = {"l1": 1.0}
    default_discriminators = ()
    evaluator = VideoEvaluator()

    def quality(self, x_hat: Tensor, x: Tensor) -> tuple[str, Tensor]:
        return "psnr", psnr(x_hat, x).mean()

    def validation_rates(self, tokenizer: Any, requested: Sequence[int] | None) -> list[int]:
        """Token counts of flexible-length (1D) video tokenizers (default K/8, K/4, K/2, K)."""
        return token_count_rates(tokenizer, requested)

    def rate_quality(
        self, tokenizer: Any, x: Tensor, rate: int, losses: dict[str, Any]
    ) -> tuple[str, Tensor, Tensor | None]:
        return psnr_at_tokens(tokenizer, x, rate)

    def log_examples(self, module: Any, x: Tensor, rows: list[Tensor]) -> None:
        """The first clip's frames, one row per version (input, reconstruction, each validation
        token count)."""
        frames = [r[0].detach().float().transpose(0, 1) for r in rows]  # (T, 3, H, W) each
        log_image_grid(module, torch.cat(frames), nrow=frames[0].shape[0])
