"""Lightning data modules over :mod:`zoo.data`, one file per modality: ``ImageDataModule``
(photos), ``AudioDataModule`` (audio files), ``VideoDataModule`` (video files), on the shared
:class:`~zoo.training.data.base.TokenizerDataModule` (sources, splits, loaders).

They live in :mod:`zoo.training` because that is the only package that imports Lightning; the
datasets themselves are plain ``torch`` code in :mod:`zoo.data`. A new modality's data module is
its own file on the same base (or any ``LightningDataModule``, named by ``data.class_path``).
"""

from zoo.training.data.audio import AudioDataModule
from zoo.training.data.base import TokenizerDataModule
from zoo.training.data.image import ImageDataModule
from zoo.training.data.video import VideoDataModule

__all__ = ["AudioDataModule", "ImageDataModule", "TokenizerDataModule", "VideoDataModule"]
