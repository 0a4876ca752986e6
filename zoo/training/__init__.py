"""Training: the only package that imports Lightning.

``TokenizerModule`` trains any registered tokenizer (losses, GAN step, EMA, export);
``ImageDataModule`` feeds it image crops; ``train.py`` at the repository root is the
``LightningCLI`` entry point over both.
"""

from zoo.training.data import ImageDataModule
from zoo.training.module import TokenizerModule, WarmupCosine

__all__ = ["ImageDataModule", "TokenizerModule", "WarmupCosine"]
