"""Training: the only package that imports Lightning.

``TokenizerModule`` trains any registered tokenizer (losses, GAN step, EMA, export);
``ImageDataModule`` feeds it image crops and ``AudioDataModule`` audio clips; ``train.py`` at the
repository root is the ``LightningCLI`` entry point over them.
"""

from zoo.training.data import AudioDataModule, ImageDataModule, VideoDataModule
from zoo.training.module import TokenizerModule
from zoo.training.optim import WarmupCosine
from zoo.training.specs import (
    AdversarialSpec,
    CriterionSpec,
    EMASpec,
    OptimizerSpec,
    ValidationSpec,
)

__all__ = [
    "AdversarialSpec",
    "AudioDataModule",
    "CriterionSpec",
    "EMASpec",
    "ImageDataModule",
    "OptimizerSpec",
    "TokenizerModule",
    "ValidationSpec",
    "VideoDataModule",
    "WarmupCosine",
]
