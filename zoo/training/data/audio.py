"""``AudioDataModule``: random clips of audio files at one sample rate (or shards)."""

from __future__ import annotations

from torch.utils.data import Dataset

from zoo.data.audio import (
    FixedClipDataset,
    RandomClipDataset,
    list_audio,
    split_by_group,
    webdataset_audio,
)
from zoo.training.data.base import TokenizerDataModule


class AudioDataModule(TokenizerDataModule):
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
    folder_arg = "audio_dir"

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
        self._check_sources(sources, val_dir)
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

    def list_files(self, folder: str) -> list:
        return list_audio(folder)

    def split_files(self, files: list) -> tuple[list, list]:
        hp = self.hparams
        return split_by_group(
            files, group_by=hp.group_by, val_fraction=hp.val_fraction, seed=hp.split_seed
        )

    def train_from_shards(self, samples_per_stream: int) -> Dataset:
        hp = self.hparams
        return webdataset_audio(
            hp.train_shards,
            sample_rate=self.sample_rate,
            channels=self.channels,
            clip_samples=self._samples(hp.clip_seconds),
            samples_per_epoch=samples_per_stream,
            loudness_db=hp.loudness_db,
            min_rms_db=hp.min_rms_db,
            max_tries=hp.max_tries,
            shuffle_buffer=hp.shuffle_buffer,
            shard_shuffle=hp.shard_shuffle,
            seed=hp.seed,
            skip_bad=hp.skip_bad,
        )

    def train_from_files(self, files: list) -> Dataset:
        hp = self.hparams
        return RandomClipDataset(
            files,
            sample_rate=self.sample_rate,
            channels=self.channels,
            clip_samples=self._samples(hp.clip_seconds),
            clips_per_second=hp.clips_per_second,
            loudness_db=hp.loudness_db,
            gain_jitter_db=hp.gain_jitter_db,
            min_rms_db=hp.min_rms_db,
            max_tries=hp.max_tries,
            skip_bad=hp.skip_bad,
        )

    def val_from_files(self, files: list) -> Dataset:
        hp = self.hparams
        return FixedClipDataset(
            files,
            sample_rate=self.sample_rate,
            channels=self.channels,
            clip_samples=self._samples(hp.val_clip_seconds or hp.clip_seconds),
            clips_per_file=hp.val_clips_per_file,
            loudness_db=hp.loudness_db,
            skip_bad=hp.skip_bad,
        )
