"""What every image tokenizer declares on top of :class:`~zoo.tokenizers.base.Tokenizer`.

Images are ``(B, C, H, W)`` float in ``[-1, 1]`` (``C = in_channels``, 3 for RGB).
"""

from __future__ import annotations

from typing import ClassVar

from zoo.tokenizers.base import Tokenizer

__all__ = ["ImageTokenizer"]


class ImageTokenizer(Tokenizer):
    """Base class of image tokenizers: the modality and the input layout, declared once."""

    modality: ClassVar[str] = "image"
    input_axes: ClassVar[tuple[str, ...]] = ("H", "W")
    input_layout: ClassVar[str] = "(B, C, H, W)"
    model_card_layout: ClassVar[str | None] = "(B, 3, H, W)"
    channels_last_hint: ClassVar[str] = " (channels last? use x.permute(0, 3, 1, 2))"
