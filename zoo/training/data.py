"""Lightning data modules over :mod:`zoo.data`: ``ImageDataModule`` (photos),
``AudioDataModule`` (audio files) and ``VideoDataModule`` (video files).

It lives in :mod:`zoo.training` because that is the only package that imports Lightning; the
datasets themselves are plain ``torch`` code in :mod:`zoo.data`.

Exactly one training source:
    train_cache: a crop cache built by ``python -m zoo.data.photos cache`` (fast on CPU);
    train_shards: webdataset shards (brace pattern or list), split by node and worker;
    train_dir: a folder of photos;
    image_dir: one folder split into train/validation by source photo (``val_fraction``,
        ``split_seed``), never by crop.
Validation (optional): val_cache, val_dir, or the held-out part of image_dir.

Batches: float32 ``(batch_size, 3, crop_size, crop_size)`` in [-1, 1].
"""

from __future__ import annotations

import math

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset, IterableDataset

from zoo.data.audio import (
    FixedClipDataset,
    RandomClipDataset,
    list_audio,
    split_by_group,
    webdataset_audio,
)
from zoo.data.image import (
    CropCacheDataset,
    FixedCropDataset,
    RandomCropDataset,
    list_images,
    shard_count,
    split_by_source,
    webdataset_images,
)
from zoo.data.transforms import MultiScaleCrop
from zoo.data.video import (
    FixedVideoClipDataset,
    RandomVideoClipDataset,
    VideoCrop,
    list_videos,
    webdataset_videos,
)


class _TokenizerDataModule(LightningDataModule):
    """What both data modules share: lazily built datasets and their loaders (training:
    shuffled unless iterable, last partial batch dropped so every step and every DDP rank sees
    equal shapes; validation: in order). Subclasses define ``_train_dataset`` / ``_val_dataset``
    and set ``batch_size``, ``val_batch_size``, ``num_workers`` hyperparameters."""

    train_dataset: Dataset | None = None
    val_dataset: Dataset | None = None

    def _train_dataset(self) -> Dataset:
        raise NotImplementedError  # abstract: each modality builds its own

    def _val_dataset(self) -> Dataset | None:
        raise NotImplementedError  # abstract: each modality builds its own

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


class ImageDataModule(_TokenizerDataModule):
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
        if hp.train_shards:
            streams = self._streams()
            return webdataset_images(
                hp.train_shards,
                crop=self._crop(train=True),
                samples_per_epoch=math.ceil(hp.samples_per_epoch / streams),
                shuffle_buffer=hp.shuffle_buffer,
                shard_shuffle=hp.shard_shuffle,
                seed=hp.seed,
                skip_bad=hp.skip_bad,
            )
        files = list_images(hp.train_dir or hp.image_dir)
        if hp.image_dir:
            files, _ = split_by_source(files, val_fraction=hp.val_fraction, seed=hp.split_seed)
        return RandomCropDataset(
            files,
            self._crop(train=True),
            crops_per_image=hp.crops_per_image,
            skip_bad=hp.skip_bad,
        )

    def _val_dataset(self) -> Dataset | None:
        hp = self.hparams
        if hp.val_cache:
            return CropCacheDataset(hp.val_cache, crop_size=hp.crop_size, train=False)
        if hp.val_dir:
            files = list_images(hp.val_dir)
        elif hp.image_dir and hp.val_fraction > 0:
            _, files = split_by_source(
                list_images(hp.image_dir), val_fraction=hp.val_fraction, seed=hp.split_seed
            )
        else:
            return None
        return FixedCropDataset(
            files,
            self._crop(train=False),
            crops_per_image=hp.val_crops_per_image,
            seed=hp.seed,
            skip_bad=hp.skip_bad,
        )


class AudioDataModule(_TokenizerDataModule):
    """Random training clips and fixed validation clips of audio files, at one sample rate.

    Exactly one training source:
        train_dir: a folder of audio files (recursive; WAV, FLAC, OGG, Opus, MP3);
        train_shards: webdataset shards of audio files (brace pattern or list);
        audio_dir: one folder split into train/validation by group (``group_by``: ``parent``
            folder = speaker, ``language``, ``file`` = track, or a regex), never by clip.
    Validation (optional): val_dir, or the held-out groups of audio_dir.

    Files are decoded with soundfile, converted to ``channels`` (downmix to mono or duplicate
    mono), resampled with soxr when their rate differs (pre-resampled files, e.g. from
    ``python -m zoo.data.audio_corpus build``, read only the frames of each clip), cropped, and
    RMS-normalised to ``loudness_db`` dBFS (None keeps levels).

    Batches: float32 ``(batch_size, channels, clip_seconds * sample_rate)`` in [-1, 1].

    Args:
        sample_rate, channels: of the clips; must equal the tokenizer's (checked at fit start).
        clip_seconds: training clip length; val_clip_seconds: validation (default: the same).
        clips_per_second: folder sources: training clips per second of audio per epoch.
        val_clips_per_file: validation clips per file (spread evenly over it).
        loudness_db, gain_jitter_db: RMS level of every clip, and a uniform random offset around
            it in training (level robustness); min_rms_db, max_tries: quiet-crop rejection.
        samples_per_epoch, shuffle_buffer, shard_shuffle: webdataset settings.
        batch_size, val_batch_size, num_workers, seed, skip_bad: as for ``ImageDataModule``
            (``skip_bad``: unreadable, empty or truncated audio files and webdataset members).
    """

    _more = "more audio, or a larger clips_per_second"

    def __init__(
        self,
        *,
        train_dir: str | None = None,
        train_shards: str | list[str] | None = None,
        audio_dir: str | None = None,
        val_dir: str | None = None,
        group_by: str = "parent",
        val_fraction: float = 0.1,
        split_seed: int = 0,
        sample_rate: int = 24000,
        channels: int = 1,
        clip_seconds: float = 1.0,
        val_clip_seconds: float | None = None,
        clips_per_second: float = 1.0,
        val_clips_per_file: int = 1,
        loudness_db: float | None = -20.0,
        gain_jitter_db: float = 0.0,
        min_rms_db: float = -50.0,
        max_tries: int = 5,
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
        sources = {"train_dir": train_dir, "train_shards": train_shards, "audio_dir": audio_dir}
        self._check_one_source(sources, "AudioDataModule")
        if audio_dir and val_dir:
            raise ValueError(
                "AudioDataModule: audio_dir already provides a validation split; drop val_dir "
                "or use train_dir + val_dir"
            )
        if clip_seconds <= 0 or (val_clip_seconds is not None and val_clip_seconds <= 0):
            raise ValueError(
                f"AudioDataModule: clip lengths must be > 0 s, got {clip_seconds} / "
                f"{val_clip_seconds}"
            )
        self.save_hyperparameters()
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)

    def _samples(self, seconds: float) -> int:
        return max(1, round(seconds * self.sample_rate))

    def _split(self) -> tuple[list, list]:
        hp = self.hparams
        return split_by_group(
            list_audio(hp.audio_dir),
            group_by=hp.group_by,
            val_fraction=hp.val_fraction,
            seed=hp.split_seed,
        )

    def _train_dataset(self) -> Dataset:
        hp = self.hparams
        clip = self._samples(hp.clip_seconds)
        if hp.train_shards:
            streams = self._streams()
            return webdataset_audio(
                hp.train_shards,
                sample_rate=self.sample_rate,
                channels=self.channels,
                clip_samples=clip,
                samples_per_epoch=math.ceil(hp.samples_per_epoch / streams),
                loudness_db=hp.loudness_db,
                min_rms_db=hp.min_rms_db,
                max_tries=hp.max_tries,
                shuffle_buffer=hp.shuffle_buffer,
                shard_shuffle=hp.shard_shuffle,
                seed=hp.seed,
                skip_bad=hp.skip_bad,
            )
        files = self._split()[0] if hp.audio_dir else list_audio(hp.train_dir)
        return RandomClipDataset(
            files,
            sample_rate=self.sample_rate,
            channels=self.channels,
            clip_samples=clip,
            clips_per_second=hp.clips_per_second,
            loudness_db=hp.loudness_db,
            gain_jitter_db=hp.gain_jitter_db,
            min_rms_db=hp.min_rms_db,
            max_tries=hp.max_tries,
            skip_bad=hp.skip_bad,
        )

    def _val_dataset(self) -> Dataset | None:
        hp = self.hparams
        if hp.val_dir:
            files = list_audio(hp.val_dir)
        elif hp.audio_dir and hp.val_fraction > 0:
            files = self._split()[1]
        else:
            return None
        return FixedClipDataset(
            files,
            sample_rate=self.sample_rate,
            channels=self.channels,
            clip_samples=self._samples(hp.val_clip_seconds or hp.clip_seconds),
            clips_per_file=hp.val_clips_per_file,
            loudness_db=hp.loudness_db,
            skip_bad=hp.skip_bad,
        )


class VideoDataModule(_TokenizerDataModule):
    """Random training windows and fixed validation windows of video files.

    Exactly one training source:
        train_dir: a folder of video files (recursive; MP4, MKV, WebM, ...), e.g. ``train/`` of
            ``python -m zoo.data.video build data/video``;
        train_shards: webdataset shards of video files (brace pattern or list);
        video_dir: one folder split into train/validation by source video (``group_by``:
            ``file`` = every file its own source, ``parent`` = one folder per source, or a regex),
            never by window.
    Validation (optional): val_dir, or the held-out sources of video_dir.

    Each item is ``num_frames`` frames ``frame_stride`` apart from a random start (training) or
    from starts spread evenly over the video (validation), one crop for the whole window: random
    position, scale (short side resized to ``[min_short_side, max_short_side]`` when set) and
    horizontal flip in training; centred at the mid scale (``val_short_side`` when set) in
    validation. Decoded with PyAV (see :mod:`zoo.data.video`).

    Batches: float32 ``(batch_size, 3, num_frames, crop_size, crop_size)`` in [-1, 1].

    Args:
        num_frames, frame_stride: the temporal window (videos shorter than one window are bad
            files: an error naming them, or skipped with ``skip_bad``).
        crop_size, min_short_side, max_short_side, val_short_side, flip: the spatial crop.
        clips_per_video: folder sources: training windows per video per epoch.
        val_clips_per_video: validation windows per video.
        group_by, val_fraction, split_seed: the source split of ``video_dir``.
        samples_per_epoch, shuffle_buffer, shard_shuffle: webdataset settings.
        batch_size, val_batch_size, num_workers, seed, skip_bad: as for ``ImageDataModule``.
    """

    _more = "more videos, or a larger clips_per_video"

    def __init__(
        self,
        *,
        train_dir: str | None = None,
        train_shards: str | list[str] | None = None,
        video_dir: str | None = None,
        val_dir: str | None = None,
        group_by: str = "file",
        val_fraction: float = 0.1,
        split_seed: int = 0,
        num_frames: int = 17,
        frame_stride: int = 1,
        crop_size: int = 128,
        min_short_side: int | None = None,
        max_short_side: int | None = None,
        val_short_side: int | None = None,
        flip: bool = True,
        clips_per_video: int = 10,
        val_clips_per_video: int = 1,
        samples_per_epoch: int = 10_000,
        shuffle_buffer: int = 100,
        shard_shuffle: int = 100,
        batch_size: int = 4,
        val_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        skip_bad: bool = False,
    ) -> None:
        super().__init__()
        sources = {"train_dir": train_dir, "train_shards": train_shards, "video_dir": video_dir}
        self._check_one_source(sources, "VideoDataModule")
        if video_dir and val_dir:
            raise ValueError(
                "VideoDataModule: video_dir already provides a validation split; drop val_dir "
                "or use train_dir + val_dir"
            )
        self.save_hyperparameters()
        self._crop(train=True)  # argument errors now, not at the first batch
        self._crop(train=False)

    def _crop(self, *, train: bool) -> VideoCrop:
        hp = self.hparams
        lo, hi = hp.min_short_side, hp.max_short_side
        if not train and hp.val_short_side:
            lo = hi = hp.val_short_side
        return VideoCrop(
            crop_size=hp.crop_size, min_short_side=lo, max_short_side=hi, flip=hp.flip and train
        )

    def _split(self) -> tuple[list, list]:
        hp = self.hparams
        return split_by_group(
            list_videos(hp.video_dir),
            group_by=hp.group_by,
            val_fraction=hp.val_fraction,
            seed=hp.split_seed,
        )

    def _train_dataset(self) -> Dataset:
        hp = self.hparams
        if hp.train_shards:
            streams = self._streams()
            return webdataset_videos(
                hp.train_shards,
                num_frames=hp.num_frames,
                frame_stride=hp.frame_stride,
                crop=self._crop(train=True),
                samples_per_epoch=math.ceil(hp.samples_per_epoch / streams),
                shuffle_buffer=hp.shuffle_buffer,
                shard_shuffle=hp.shard_shuffle,
                seed=hp.seed,
                skip_bad=hp.skip_bad,
            )
        files = self._split()[0] if hp.video_dir else list_videos(hp.train_dir)
        return RandomVideoClipDataset(
            files,
            num_frames=hp.num_frames,
            frame_stride=hp.frame_stride,
            crop=self._crop(train=True),
            clips_per_video=hp.clips_per_video,
            skip_bad=hp.skip_bad,
        )

    def _val_dataset(self) -> Dataset | None:
        hp = self.hparams
        if hp.val_dir:
            files = list_videos(hp.val_dir)
        elif hp.video_dir and hp.val_fraction > 0:
            files = self._split()[1]
        else:
            return None
        return FixedVideoClipDataset(
            files,
            num_frames=hp.num_frames,
            frame_stride=hp.frame_stride,
            crop=self._crop(train=False),
            clips_per_video=hp.val_clips_per_video,
            skip_bad=hp.skip_bad,
        )
