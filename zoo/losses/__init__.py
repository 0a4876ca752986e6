"""Training losses: reconstruction, perceptual, adversarial, and discriminators.

Plain ``torch`` code (no Lightning): the training module in :mod:`zoo.training` combines them.
"""

from zoo.losses.adversarial import (
    GAN_LOSSES,
    adaptive_weight,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
)
from zoo.losses.criterion import (
    Criterion,
    DiscriminatorSet,
    build_discriminator,
    judge,
    parse_loss_spec,
)
from zoo.losses.discriminators import (
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
    MultiScaleDiscriminator,
    MultiScaleSTFTDiscriminator,
    PatchGANDiscriminator,
)
from zoo.losses.perceptual import (
    LPIPS,
    PERCEPTUAL_LOSSES,
    EffLite0PerceptualLoss,
    create_perceptual_loss,
)
from zoo.losses.reconstruction import (
    RECONSTRUCTION_LOSSES,
    L1Loss,
    L2Loss,
    reconstruction_loss,
)
from zoo.losses.registry import (
    DISCRIMINATORS,
    LOSSES,
    build_discriminator_module,
    build_loss,
    register_discriminator,
    register_loss,
)
from zoo.losses.spectral import MultiResolutionMelLoss, MultiResolutionSTFTLoss

__all__ = [
    "DISCRIMINATORS",
    "LOSSES",
    "Criterion",
    "DiscriminatorSet",
    "L1Loss",
    "L2Loss",
    "build_discriminator",
    "build_discriminator_module",
    "build_loss",
    "judge",
    "parse_loss_spec",
    "register_discriminator",
    "register_loss",
    "GAN_LOSSES",
    "LPIPS",
    "PERCEPTUAL_LOSSES",
    "RECONSTRUCTION_LOSSES",
    "EffLite0PerceptualLoss",
    "MultiPeriodDiscriminator",
    "MultiResolutionDiscriminator",
    "MultiResolutionMelLoss",
    "MultiResolutionSTFTLoss",
    "MultiScaleDiscriminator",
    "MultiScaleSTFTDiscriminator",
    "PatchGANDiscriminator",
    "adaptive_weight",
    "create_perceptual_loss",
    "discriminator_loss",
    "feature_matching_loss",
    "generator_loss",
    "reconstruction_loss",
]
