"""``VideoDataModule``: random windows of video files (or shards), split by source video."""

from __future__ import annotations

from torch.utils.data import Dataset

from zoo.data.audio import split_by_group
from zoo.data.video import (
    FixedVideoClipDataset,
    RandomVideoClipDataset,
    VideoCrop,
    list_videos,
    webdataset_videos,
)
from zoo.training.data.base import TokenizerDataModule


class VideoDataModule(TokenizerDataModule):
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

    folder_arg = "video_dir"

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
        self._check_sources(sources, val_dir)
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

    def list_files(self, folder: str) -> list:
        return list_videos(folder)

    def split_files(self, files: list) -> tuple[list, list]:
        hp = self.hparams
        return split_by_group(
            files, group_by=hp.group_by, val_fraction=hp.val_fraction, seed=hp.split_seed
        )

    def train_from_shards(self, samples_per_stream: int) -> Dataset:
        hp = self.hparams
        return webdataset_videos(
            hp.train_shards,
            num_frames=hp.num_frames,
            frame_stride=hp.frame_stride,
            crop=self._crop(train=True),
            samples_per_epoch=samples_per_stream,
            shuffle_buffer=hp.shuffle_buffer,
            shard_shuffle=hp.shard_shuffle,
            seed=hp.seed,
            skip_bad=hp.skip_bad,
        )

    def train_from_files(self, files: list) -> Dataset:
        hp = self.hparams
        return RandomVideoClipDataset(
            files,
            num_frames=hp.num_frames,
            frame_stride=hp.frame_stride,
            crop=self._crop(train=True),
            clips_per_video=hp.clips_per_video,
            skip_bad=hp.skip_bad,
        )

    def val_from_files(self, files: list) -> Dataset:
        hp = self.hparams
        return FixedVideoClipDataset(
            files,
            num_frames=hp.num_frames,
            frame_stride=hp.frame_stride,
            crop=self._crop(train=False),
            clips_per_video=hp.val_clips_per_video,
            skip_bad=hp.skip_bad,
        )
