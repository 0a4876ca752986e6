"""Data for tokenizer training: image datasets, crops, and the CPU-scale photo set.

Plain ``torch.utils.data`` code (no Lightning); :class:`zoo.training.data.ImageDataModule`
assembles these datasets into a ``LightningDataModule``.
"""

from zoo.data.image import (
    CropCacheDataset,
    FixedCropDataset,
    RandomCropDataset,
    build_crop_cache,
    list_images,
    read_crop_cache_metadata,
    split_by_source,
    webdataset_images,
)
from zoo.data.transforms import MultiScaleCrop, gradient_energy, to_model_range

__all__ = [
    "CropCacheDataset",
    "FixedCropDataset",
    "MultiScaleCrop",
    "RandomCropDataset",
    "build_crop_cache",
    "gradient_energy",
    "list_images",
    "read_crop_cache_metadata",
    "split_by_source",
    "to_model_range",
    "webdataset_images",
]
