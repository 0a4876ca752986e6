"""``ImageDataModule``: random multi-scale crops of photos (or a crop cache, or shards)."""

from __future__ import annotations

from torch.utils.data import Dataset

from zoo.data.image import (
    CropCacheDataset,
    FixedCropDataset,
    RandomCropDataset,
    list_images,
    split_by_source,
    webdataset_images,
)
from zoo.data.transforms import MultiScaleCrop
from zoo.training.data.base import TokenizerDataModule


class ImageDataModule(TokenizerDataModule):
    """Random multi-scale training crops and fixed validation crops of photos.

    Args:
        train_cache, train_shards, train_dir, image_dir: training source (set exactly one).
        val_cache, val_dir: validation source (at most one; ``image_dir`` provides its own).
        val_fraction, split_seed: source-photo split of ``image_dir``.
        crop_size: side of the square crops fed to the model.
        min_short_side, max_short_side: a photo's short side is resized to a random length in
            this range before cropping (multi-scale); ignored for crop caches.
        val_short_side: fixed short side for validation crops (default: the range's midpoint).
        flip: random horizontal flips in training.
        min_gradient_energy, max_tries: flat-crop rejection (see ``zoo.data.MultiScaleCrop``).
        crops_per_image: folder sources: training crops per photo per epoch.
        val_crops_per_image: validation crops per photo (fixed, seeded by ``seed``).
        samples_per_epoch: webdataset: samples per epoch over all ranks and workers.
        shuffle_buffer, shard_shuffle: webdataset sample and shard shuffle buffers.
        batch_size, val_batch_size: per-device batch sizes (validation default: batch_size).
        num_workers: DataLoader workers per device.
        seed: seed of the validation crops and the webdataset shuffles.
        skip_bad: skip unreadable photos / webdataset samples (each logged with a warning
            naming it, counted in the dataset's ``bad_files``) instead of stopping with an error
            that names the file.
    """

    _more = "more photos, or a larger crops_per_image"
    folder_arg = "image_dir"

    def __init__(
        self,
        *,
        train_cache: str | None = None,
        train_shards: str | list[str] | None = None,
        train_dir: str | None = None,
        image_dir: str | None = None,
        val_cache: str | None = None,
        val_dir: str | None = None,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        crop_size: int = 64,
        min_short_side: int = 256,
        max_short_side: int = 768,
        val_short_side: int | None = None,
        flip: bool = True,
        min_gradient_energy: float = 0.01,
        max_tries: int = 10,
        crops_per_image: int = 100,
        val_crops_per_image: int = 4,
        samples_per_epoch: int = 100_000,
        shuffle_buffer: int = 1000,
        shard_shuffle: int = 100,
        batch_size: int = 16,
        val_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        skip_bad: bool = False,
    ) -> None:
        super().__init__()
        sources = {
            "train_cache": train_cache,
            "train_shards": train_shards,
            "train_dir": train_dir,
            "image_dir": image_dir,
        }
        self._check_one_source(sources, "ImageDataModule")
        val_given = [k for k, v in {"val_cache": val_cache, "val_dir": val_dir}.items() if v]
        if len(val_given) > 1 or (image_dir and val_given):
            raise ValueError(
                "ImageDataModule: set at most one validation source (val_cache or val_dir); "
                f"image_dir already provides one. Got {val_given + ['image_dir'] * bool(image_dir)}"
            )
        self.save_hyperparameters()

    def _crop(self, *, train: bool) -> MultiScaleCrop:
        hp = self.hparams
        if train:
            lo, hi = hp.min_short_side, hp.max_short_side
        else:
            mid = hp.val_short_side or (hp.min_short_side + hp.max_short_side) // 2
            lo = hi = mid
        return MultiScaleCrop(
            crop_size=hp.crop_size,
            min_short_side=lo,
            max_short_side=hi,
            flip=hp.flip and train,
            min_gradient_energy=hp.min_gradient_energy,
            max_tries=hp.max_tries,
        )

    def _train_dataset(self) -> Dataset:
        hp = self.hparams
        if hp.train_cache:
            return CropCacheDataset(hp.train_cache, crop_size=hp.crop_size, train=True)
        return super()._train_dataset()

    def _val_dataset(self) -> Dataset | None:
        hp = self.hparams
        if hp.val_cache:
            return CropCacheDataset(hp.val_cache, crop_size=hp.crop_size, train=False)
        return super()._val_dataset()

    def list_files(self, folder: str) -> list:
        return list_images(folder)

    def split_files(self, files: list) -> tuple[list, list]:
        hp = self.hparams
        return split_by_source(files, val_fraction=hp.val_fraction, seed=hp.split_seed)

    def train_from_shards(self, samples_per_stream: int) -> Dataset:
        hp = self.hparams
        return webdataset_images(
            hp.train_shards,
            crop=self._crop(train=True),
            samples_per_epoch=samples_per_stream,
            shuffle_buffer=hp.shuffle_buffer,
            shard_shuffle=hp.shard_shuffle,
            seed=hp.seed,
            skip_bad=hp.skip_bad,
        )

    def train_from_files(self, files: list) -> Dataset:
        hp = self.hparams
        crop = self._crop(train=True)
        return RandomCropDataset(
            files, crop, crops_per_image=hp.crops_per_image, skip_bad=hp.skip_bad
        )

    def val_from_files(self, files: list) -> Dataset:
        hp = self.hparams
        return FixedCropDataset(
            files,
            self._crop(train=False),
            crops_per_image=hp.val_crops_per_image,
            seed=hp.seed,
            skip_bad=hp.skip_bad,
        )
