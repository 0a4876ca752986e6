"""Discriminators for adversarial tokenizer training (images: PatchGAN)."""

from zoo.losses.discriminators.patchgan import PatchGANDiscriminator

__all__ = ["PatchGANDiscriminator"]
