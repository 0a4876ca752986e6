"""Discriminators for adversarial tokenizer training (images: PatchGAN; audio: MPD, MSD,
MS-STFT)."""

from zoo.losses.discriminators.audio import (
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
    MultiScaleSTFTDiscriminator,
)
from zoo.losses.discriminators.patchgan import PatchGANDiscriminator

__all__ = [
    "MultiPeriodDiscriminator",
    "MultiScaleDiscriminator",
    "MultiScaleSTFTDiscriminator",
    "PatchGANDiscriminator",
]
