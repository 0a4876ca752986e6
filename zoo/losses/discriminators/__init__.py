"""Discriminators for adversarial tokenizer training (images: PatchGAN; audio: MPD, MSD,
MS-STFT, MRD)."""

from zoo.losses.discriminators.audio import (
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
    MultiScaleDiscriminator,
    MultiScaleSTFTDiscriminator,
)
from zoo.losses.discriminators.patchgan import PatchGANDiscriminator

__all__ = [
    "MultiPeriodDiscriminator",
    "MultiResolutionDiscriminator",
    "MultiScaleDiscriminator",
    "MultiScaleSTFTDiscriminator",
    "PatchGANDiscriminator",
]
