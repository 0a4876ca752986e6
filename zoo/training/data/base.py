"""The shared base of the per-modality data modules (``image.py``, ``audio.py``, ``video.py``)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset, IterableDataset

from zoo.data.image import shard_count


class TokenizerDataModule(LightningDataModule, ABC):
    """What every modality's data module shares: its sources, lazily built datasets and their
    loaders (training: shuffled unless iterable, last partial batch dropped so every step and
    every DDP rank sees equal shapes; validation: in order).

    Sources: ``train_dir`` (a folder), ``train_shards`` (webdataset), or one folder split into
    train / validation (the argument named by :attr:`folder_arg`: ``image_dir``, ``audio_dir``,
    ``video_dir``), never by crop or clip; validation: ``val_dir`` or that folder's held-out part.
    A modality's module sets :attr:`folder_arg` and implements :meth:`list_files`,
    :meth:`split_files`, :meth:`train_from_files`, :meth:`val_from_files` and
    :meth:`train_from_shards`; its hyperparameters include ``batch_size``, ``val_batch_size``,
    ``num_workers``, ``samples_per_epoch``, ``val_fraction``, ``split_seed``.
    """

    train_dataset: Dataset | None = None
    val_dataset: Dataset | None = None
    #: The one-folder source split into train / validation.
    folder_arg: ClassVar[str] = ""

    # ------------------------------------------------------------------ modality hooks
    # Every modality's data module (image.py, audio.py, video.py) defines all five; the base
    # only composes them into sources, splits and loaders.
    @abstractmethod
    def list_files(self, folder: str) -> list:
        """The modality's files under ``folder``."""

    @abstractmethod
    def split_files(self, files: list) -> tuple[list, list]:
        """``(train, validation)`` by source photo / group, never by crop or clip."""

    @abstractmethod
    def train_from_files(self, files: list) -> Dataset:
        """The training dataset over ``files``."""

    @abstractmethod
    def val_from_files(self, files: list) -> Dataset:
        """The validation dataset over ``files``."""

    @abstractmethod
    def train_from_shards(self, samples_per_stream: int) -> Dataset:
        """The training dataset streaming the webdataset shards."""

    # ------------------------------------------------------------------ sources
    def _check_sources(self, sources: dict[str, object], val_dir: object) -> None:
        """Exactly one training source; ``val_dir`` not together with the split folder."""
        self._check_one_source(sources, type(self).__name__)
        if sources.get(self.folder_arg) and val_dir:
            raise ValueError(
                f"{type(self).__name__}: {self.folder_arg} already provides a validation split; "
                "drop val_dir or use train_dir + val_dir"
            )

    def _train_dataset(self) -> Dataset:
        hp = self.hparams
        if hp.train_shards:
            return self.train_from_shards(math.ceil(hp.samples_per_epoch / self._streams()))
        folder = hp.get(self.folder_arg)
        files = self.split_files(self.list_files(folder))[0] if folder else None
        return self.train_from_files(files if folder else self.list_files(hp.train_dir))

    def _val_dataset(self) -> Dataset | None:
        hp = self.hparams
        folder = hp.get(self.folder_arg)
        if hp.get("val_dir"):
            return self.val_from_files(self.list_files(hp.val_dir))
        if folder and hp.val_fraction > 0:
            return self.val_from_files(self.split_files(self.list_files(folder))[1])
        return None

    def setup(self, stage: str | None = None) -> None:
        if self.train_dataset is None:
            self.train_dataset = self._train_dataset()
        if self.val_dataset is None:
            self.val_dataset = self._val_dataset()

    @staticmethod
    def _check_one_source(sources: dict[str, object], who: str) -> None:
        given = [k for k, v in sources.items() if v]
        if len(given) != 1:
            raise ValueError(
                f"{who}: set exactly one training source of {list(sources)}, got {given or 'none'}"
            )

    def _streams(self) -> int:
        """Webdataset streams (ranks x workers); each needs at least one shard, checked here."""
        hp = self.hparams
        workers = max(1, hp.num_workers)
        streams = self._world_size() * workers
        n = shard_count(hp.train_shards)
        if n < streams:
            raise ValueError(
                f"{type(self).__name__}: {n} webdataset shards cannot feed {self._world_size()} "
                f"ranks x {workers} workers; every worker needs at least one shard (use more "
                "shards or fewer num_workers)"
            )
        return streams

    def _world_size(self) -> int:
        return self.trainer.world_size if self.trainer is not None else 1

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        iterable = isinstance(self.train_dataset, IterableDataset)
        self._check_enough_for_one_batch(iterable)
        return DataLoader(
            self.train_dataset,
            batch_size=hp.batch_size,
            shuffle=not iterable,
            num_workers=hp.num_workers,
            persistent_workers=hp.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            # Equal batch shapes every step (and equal step counts across DDP ranks).
            drop_last=True,
        )

    def _check_enough_for_one_batch(self, iterable: bool) -> None:
        """The last partial batch is dropped, so a training set smaller than one batch per rank
        would give an epoch of no steps (Lightning then only warns and exits 0)."""
        hp, world = self.hparams, self._world_size()
        if iterable:
            per_worker = math.ceil(hp.samples_per_epoch / self._streams())
            if per_worker < hp.batch_size:
                raise ValueError(
                    f"{type(self).__name__}: samples_per_epoch={hp.samples_per_epoch} gives each "
                    f"of the {self._streams()} webdataset streams {per_worker} samples per "
                    f"epoch, fewer than batch_size={hp.batch_size}, so no training batch would "
                    f"be made; raise samples_per_epoch to at least "
                    f"{hp.batch_size * self._streams()} or lower batch_size"
                )
            return
        n = len(self.train_dataset)
        per_rank = math.ceil(n / world)
        if per_rank < hp.batch_size:
            ranks = f" over {world} ranks ({per_rank} per rank)" if world > 1 else ""
            raise ValueError(
                f"{type(self).__name__}: the training set has {n} items{ranks}, fewer than "
                f"batch_size={hp.batch_size}; the last partial batch is dropped, so no training "
                f"step would run. Lower batch_size to at most {per_rank}, or add data "
                f"({self._more})"
            )

    #: How to get more training items (named in the batch-size error).
    _more = "more files"

    def val_dataloader(self) -> DataLoader | list:
        hp = self.hparams
        if self.val_dataset is None:
            return []
        return DataLoader(
            self.val_dataset,
            batch_size=hp.val_batch_size or hp.batch_size,
            shuffle=False,
            num_workers=hp.num_workers,
            persistent_workers=hp.num_workers > 0,
        )
