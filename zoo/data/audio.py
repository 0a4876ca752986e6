"""Audio datasets for codec training: folders of audio files and webdataset shards.

Every dataset yields float32 clips ``(channels, samples)`` in [-1, 1] at one sample rate
(batched by the default collate to ``(B, channels, samples)``). Plain ``torch.utils.data`` code;
the Lightning data module lives in :mod:`zoo.training.data`.

- :func:`read_audio`: decode with soundfile (WAV, FLAC, OGG/Vorbis, Opus, MP3 through
  libsndfile), convert channels, resample with soxr (VHQ). torchaudio 2.9's ``load`` needs
  torchcodec + FFmpeg; soundfile does not.
- :class:`RandomClipDataset`: random crops, each file contributing items in proportion to its
  duration (training). Crops of files already at the target rate read only the frames they need.
- :class:`FixedClipDataset`: the same clips every time (validation).
- :func:`webdataset_audio`: shards split by node and worker, shuffled through a buffer.
- :func:`split_by_group`: train/validation split by speaker, language or track (a *group*),
  never by crop, so no validation clip shares a voice or a recording with training.

Loudness: :func:`normalize_loudness` scales a clip to a target RMS level in dBFS (full-scale
sine = -3 dBFS) and then limits its peak to 0.99. It is an RMS level, not ITU-R BS.1770 LUFS:
for the 0.5-2 s crops a codec trains on, BS.1770's 400 ms gating blocks leave one or two blocks,
and RMS is what the codec's losses see anyway.
"""

from __future__ import annotations

import io
import math
import random
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor
from torch.utils.data import Dataset, get_worker_info

from zoo.data.bad_files import DECODE_ERRORS, BadFiles, BadSampleError
from zoo.data.files import AUDIO_EXTENSIONS, list_files
from zoo.tokenizers.audio.resampling import check_resample_rates

#: ``group_by`` presets of :func:`split_by_group`.
GROUP_PRESETS = ("file", "parent", "language")

# Tux Paint style ``<name>_desc_<lang>.ogg``, and generic ``..._<lang>.<ext>`` / ``<lang>/..``.
_LANGUAGE = re.compile(r"_desc_?([A-Za-z]{2,3}(?:_[A-Za-z]{2})?)?\.[^.]+$")


def list_audio(root: str | Path) -> list[Path]:
    """Audio files under ``root`` (recursive), sorted by path so the order is reproducible."""
    return list_files(root, AUDIO_EXTENSIONS, who="list_audio", noun="audio files")


def convert_channels(x: Tensor, channels: int, *, who: str = "convert_channels") -> Tensor:
    """``(C, T)`` to ``channels``: mean to mono, mono duplicated to stereo; other changes raise."""
    c = x.shape[0]
    if c == channels:
        return x
    if channels == 1:
        return x.mean(0, keepdim=True)
    if c == 1:
        return x.expand(channels, -1).contiguous()
    raise ValueError(
        f"{who}: cannot convert {c}-channel audio to {channels} channels (only downmix to mono "
        "or mono to multi-channel); convert the files first"
    )


def resample(x: Tensor, orig_rate: int, new_rate: int) -> Tensor:
    """Resample ``(C, T)`` float audio with soxr (very high quality); identity when equal.

    Rates must be positive whole numbers of Hz within a factor of 64 of each other (see
    :func:`~zoo.tokenizers.audio.resampling.check_resample_rates`), checked before allocating.
    """
    orig_rate, new_rate = check_resample_rates(
        orig_rate, new_rate, who="resample", num_samples=x.shape[-1]
    )
    if orig_rate == new_rate:
        return x
    import soxr

    y = soxr.resample(x.T.numpy(), orig_rate, new_rate, quality="VHQ")
    return torch.from_numpy(np.ascontiguousarray(y.T, dtype=np.float32)).reshape(x.shape[0], -1)


def read_audio(
    path: str | Path | io.BytesIO,
    *,
    sample_rate: int,
    channels: int,
    start: int | None = None,
    frames: int | None = None,
) -> Tensor:
    """Decode ``path`` to float32 ``(channels, samples)`` at ``sample_rate``.

    ``start`` / ``frames`` select a window in samples *of the target rate*; when the file is at
    that rate only the window is decoded, otherwise the whole file is decoded and resampled first.
    """
    name = getattr(path, "name", path)
    try:
        with sf.SoundFile(path) as f:
            sr = f.samplerate
            if sr == sample_rate and (start or frames):
                if start:
                    f.seek(start)
                data = _read_blocks(f, frames)
                return convert_channels(torch.from_numpy(data.T.copy()), channels, who=str(name))
            data = _read_blocks(f, None)
    except sf.LibsndfileError as err:
        raise ValueError(f"read_audio: cannot decode {str(name)!r}: {err}") from err
    x = convert_channels(torch.from_numpy(data.T.copy()), channels, who=str(name))
    x = resample(x, sr, sample_rate)
    if start or frames:
        s = start or 0
        x = x[:, s : None if frames is None else s + frames]
    return x


def decode_audio(source: str | Path | bytes, name: str | None = None) -> tuple[np.ndarray, int]:
    """Decode a whole file (a path or its bytes): float32 ``(frames, channels)`` at the file's
    own rate, and that rate. Decoded in blocks (see :func:`_read_blocks`); any failure is a
    :class:`~zoo.data.bad_files.BadSampleError` naming ``name`` (default: the path)."""
    name = name or str(source)
    try:
        with sf.SoundFile(io.BytesIO(source) if isinstance(source, bytes) else source) as f:
            return _read_blocks(f, None), int(f.samplerate)
    except (*DECODE_ERRORS, TypeError) as err:  # libsndfile: LibsndfileError, RuntimeError, ...
        raise BadSampleError(
            f"{name}: cannot decode audio: {type(err).__name__}: {err}"
        ) from err


#: Frames decoded per block by read_audio.
_READ_BLOCK = 1 << 18


def _read_blocks(f: sf.SoundFile, frames: int | None) -> np.ndarray:
    """Up to ``frames`` (None: all) float32 frames ``(n, channels)`` from the current position,
    in blocks: memory follows the audio actually decoded, never the frame count in the header,
    which a damaged file can give as 2**30 (``sf.read`` allocates that much up front)."""
    blocks, left = [], frames
    while left is None or left > 0:
        block = f.read(_READ_BLOCK if left is None else min(left, _READ_BLOCK),
                       dtype="float32", always_2d=True)  # fmt: skip
        if not len(block):
            break
        blocks.append(block)
        if left is not None:
            left -= len(block)
    if not blocks:
        return np.zeros((0, f.channels), dtype=np.float32)
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def rms_db(x: Tensor) -> float:
    """RMS level of ``x`` in dBFS (-inf for digital silence)."""
    rms = float(x.double().pow(2).mean().sqrt())
    return 20.0 * math.log10(rms) if rms > 0 else -math.inf


def normalize_loudness(
    x: Tensor, target_db: float = -20.0, *, max_gain_db: float = 30.0, peak: float = 0.99
) -> Tensor:
    """Scale ``x`` to ``target_db`` dBFS RMS (gain capped at ``max_gain_db``, so near-silence
    is not blown up to noise), then limit the peak to ``peak``. Silence is returned unchanged."""
    level = rms_db(x)
    if not math.isfinite(level):
        return x
    gain = 10.0 ** (min(target_db - level, max_gain_db) / 20.0)
    y = x * gain
    m = float(y.abs().max())
    return y * (peak / m) if m > peak else y


def _fit(x: Tensor, length: int) -> Tensor:
    """Trim or right-pad with zeros (silence after the end of a short recording) to ``length``."""
    if x.shape[-1] >= length:
        return x[..., :length]
    return torch.nn.functional.pad(x, (0, length - x.shape[-1]))


def language_of(path: str | Path) -> str | None:
    """The language of a Tux Paint style ``<name>_desc[_<lang>].<ext>`` file (``"default"``
    without a suffix), None for other names."""
    m = _LANGUAGE.search(Path(path).name)
    return (m.group(1) or "default") if m else None


def _language(path: Path) -> str:
    lang = language_of(path)
    if lang is not None:
        return lang
    raise ValueError(
        f"split_by_group: group_by='language' expects Tux Paint style '<name>_desc_<lang>.ogg' "
        f"names, got {path.name!r}; use group_by='parent' (one folder per speaker / language) or "
        "a regex with one capture group"
    )


def group_key(path: Path, group_by: str) -> str:
    """The split group of ``path``: ``file`` (one recording = one track), ``parent`` (its folder,
    e.g. a speaker), ``language`` (Tux Paint ``_desc_<lang>`` suffix), or a regex over the path
    whose first matching capture group is the key."""
    if group_by == "file":
        return str(path)
    if group_by == "parent":
        return str(path.parent)
    if group_by == "language":
        return _language(path)
    m = re.search(group_by, str(path))
    key = next((g for g in m.groups() if g is not None), None) if m else None
    if key is None:
        raise ValueError(
            f"split_by_group: regex {group_by!r} (needs a capture group) does not capture "
            f"anything in {str(path)!r}; presets are {GROUP_PRESETS}"
        )
    return key


def split_by_group(
    files: Sequence[Path], *, group_by: str = "parent", val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[Path], list[Path]]:
    """Split ``files`` into (train, val) by group (speaker / language / track), never by clip.

    Whole groups go to validation until at least ``val_fraction`` of the files are there; the
    group order is shuffled with ``seed``. At least one group stays in training.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"split_by_group: val_fraction must lie in [0, 1), got {val_fraction}")
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(group_key(Path(f), group_by), []).append(Path(f))
    keys = sorted(groups)
    if val_fraction > 0 and len(keys) < 2:
        raise ValueError(
            f"split_by_group: all {len(files)} files fall in one group with group_by={group_by!r}; "
            "a validation split needs at least two groups (pick another group_by, or give a "
            "separate val_dir)"
        )
    random.Random(seed).shuffle(keys)
    val: list[Path] = []
    val_keys = set()
    for k in keys[:-1]:
        if len(val) >= val_fraction * len(files):
            break
        val.extend(groups[k])
        val_keys.add(k)
    train = sorted(f for k in keys if k not in val_keys for f in groups[k])
    return train, sorted(val)


def _worker_rng(base: int) -> random.Random:
    """A random generator distinct per DataLoader worker."""
    info = get_worker_info()
    wid = info.id if info is not None else 0
    return random.Random(base * 1009 + wid)


class _ClipSource:
    """Frame counts and rates of a file list, read once with ``soundfile.info``.

    Unreadable or empty files raise :class:`~zoo.data.bad_files.BadSampleError` naming them,
    or with ``skip_bad`` are logged and left out (here, or at the first failed read).
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        sample_rate: int,
        channels: int,
        *,
        skip_bad: bool = False,
        who: str = "audio dataset",
    ) -> None:
        if not files:
            raise ValueError(f"{who}: no files given")
        self.bad_files = BadFiles(skip_bad, who)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.files: list[Path] = []
        self.lengths = []  # in samples at the target rate
        for f in map(Path, files):
            try:
                info = sf.info(str(f))
                if info.frames <= 0:
                    raise ValueError("the file is empty (0 samples); remove it from the folder")
            except (sf.LibsndfileError, ValueError) as err:
                self.bad_files.handle(f, err)
                continue
            self.files.append(f)
            self.lengths.append(math.ceil(info.frames * self.sample_rate / info.samplerate))
        if not self.files:
            raise self.bad_files.all_bad(len(files))

    def read(self, i: int, start: int, frames: int) -> Tensor | None:
        """``frames`` samples of file ``i`` from ``start``; None when it is unreadable and
        skipped (otherwise the error names it)."""
        if str(self.files[i]) in self.bad_files.known:
            return None
        try:
            x = read_audio(
                self.files[i],
                sample_rate=self.sample_rate,
                channels=self.channels,
                start=start,
                frames=frames,
            )
        except DECODE_ERRORS as err:
            self.bad_files.handle(self.files[i], err)
            self.bad_files.known.add(str(self.files[i]))
            return None
        return _fit(x, frames)

    def read_any(self, i: int, start, frames: int) -> Tensor:
        """:meth:`read` of file ``i``, or of the next readable file when it is skipped;
        ``start(file)`` gives the offset in that file."""
        n = len(self.files)
        for step in range(n):
            f = (i + step) % n
            clip = self.read(f, start(f), frames)
            if clip is not None:
                return clip
        raise self.bad_files.all_bad(n)


class RandomClipDataset(Dataset):
    """Random ``clip_samples``-long crops, ``ceil(duration * clips_per_second)`` items per file
    (so a 4-minute track is seen more often than a 1-second word).

    Crops quieter than ``min_rms_db`` are redrawn up to ``max_tries`` times (speech files begin
    and end in silence); files shorter than a clip are right-padded with silence. With
    ``loudness_db`` set, every clip is scaled to that RMS level (random ``gain_jitter_db`` around
    it, for level robustness).
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        *,
        sample_rate: int,
        channels: int = 1,
        clip_samples: int,
        clips_per_second: float = 1.0,
        loudness_db: float | None = -20.0,
        gain_jitter_db: float = 0.0,
        min_rms_db: float = -50.0,
        max_tries: int = 5,
        skip_bad: bool = False,
    ) -> None:
        if clip_samples < 1:
            raise ValueError(f"RandomClipDataset: clip_samples must be >= 1, got {clip_samples}")
        if clips_per_second <= 0:
            raise ValueError(
                f"RandomClipDataset: clips_per_second must be > 0, got {clips_per_second}"
            )
        self.source = _ClipSource(
            files, sample_rate, channels, skip_bad=skip_bad, who="RandomClipDataset"
        )
        self.bad_files = self.source.bad_files
        self.clip_samples = int(clip_samples)
        self.loudness_db = loudness_db
        self.gain_jitter_db = float(gain_jitter_db)
        self.min_rms_db = float(min_rms_db)
        self.max_tries = max(1, int(max_tries))
        counts = [
            max(1, math.ceil(n / self.source.sample_rate * clips_per_second))
            for n in self.source.lengths
        ]
        self._offsets = np.cumsum([0, *counts])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, i: int) -> Tensor:
        if not 0 <= i < len(self):
            raise IndexError(i)
        f = int(np.searchsorted(self._offsets, i, side="right")) - 1

        def start(file: int) -> int:
            # torch's global RNG: seeded per DataLoader worker (and by seed_everything).
            span = max(0, self.source.lengths[file] - self.clip_samples)
            return int(torch.randint(0, span + 1, ()))

        for _ in range(self.max_tries):
            clip = self.source.read_any(f, start, self.clip_samples)
            if rms_db(clip) >= self.min_rms_db:
                break
        if self.loudness_db is not None:
            jitter = (2.0 * float(torch.rand(())) - 1.0) * self.gain_jitter_db
            clip = normalize_loudness(clip, self.loudness_db + jitter)
        return clip


class FixedClipDataset(Dataset):
    """Deterministic clips for validation: ``clips_per_file`` crops per file at offsets spread
    evenly over the file (the first at 0), each ``clip_samples`` long (right-padded with silence
    when the file is shorter), loudness-normalised like training."""

    def __init__(
        self,
        files: Sequence[str | Path],
        *,
        sample_rate: int,
        channels: int = 1,
        clip_samples: int,
        clips_per_file: int = 1,
        loudness_db: float | None = -20.0,
        skip_bad: bool = False,
    ) -> None:
        if clip_samples < 1 or clips_per_file < 1:
            raise ValueError(
                "FixedClipDataset: clip_samples and clips_per_file must be >= 1, got "
                f"{clip_samples} and {clips_per_file}"
            )
        self.source = _ClipSource(
            files, sample_rate, channels, skip_bad=skip_bad, who="FixedClipDataset"
        )
        self.bad_files = self.source.bad_files
        self.clip_samples = int(clip_samples)
        self.loudness_db = loudness_db
        self.items: list[tuple[int, int]] = []
        for f, n in enumerate(self.source.lengths):
            span = max(0, n - self.clip_samples)
            k = min(clips_per_file, 1 + span // self.clip_samples)
            starts = sorted({round(j * span / max(1, k - 1)) for j in range(k)}) if k > 1 else [0]
            self.items.extend((f, s) for s in starts)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Tensor:
        f, start = self.items[i]
        clip = self.source.read_any(f, lambda g: start if g == f else 0, self.clip_samples)
        if self.loudness_db is not None:
            clip = normalize_loudness(clip, self.loudness_db)
        return clip


def webdataset_audio(
    shards: str | Sequence[str],
    *,
    sample_rate: int,
    channels: int = 1,
    clip_samples: int,
    samples_per_epoch: int,
    loudness_db: float | None = -20.0,
    min_rms_db: float = -50.0,
    max_tries: int = 5,
    shuffle_buffer: int = 1000,
    shard_shuffle: int = 100,
    seed: int = 0,
    skip_bad: bool = False,
):
    """A webdataset pipeline of random clips from shards of audio files (any key whose extension
    is in :data:`AUDIO_EXTENSIONS`), split by node and worker, ``samples_per_epoch`` per worker.

    A member that cannot be decoded raises :class:`~zoo.data.bad_files.BadSampleError` naming
    the sample key and shard, or with ``skip_bad`` is logged and skipped."""
    import webdataset as wds

    exts = {e.lstrip(".") for e in AUDIO_EXTENSIONS}
    bad = BadFiles(skip_bad, "webdataset_audio")

    def clips(samples: Iterator[dict]) -> Iterator[Tensor]:
        rng = _worker_rng(seed)
        for sample in samples:
            key = next((k for k in sample if k.lower() in exts), None)
            if key is None:
                raise ValueError(
                    f"webdataset_audio: sample {sample.get('__key__')!r} has no audio entry "
                    f"(keys {sorted(k for k in sample if not k.startswith('__'))}, expected one "
                    f"of {sorted(exts)})"
                )
            member = f"{sample.get('__key__')}.{key}"
            try:
                data = io.BytesIO(sample[key])
                data.name = member
                x = read_audio(data, sample_rate=sample_rate, channels=channels)
            except DECODE_ERRORS as err:
                bad.handle(member, err, sample)
                continue
            span = max(0, x.shape[-1] - clip_samples)
            clip = _fit(x, clip_samples)
            for _ in range(max(1, max_tries)):
                s = rng.randint(0, span)
                clip = _fit(x[:, s:], clip_samples)
                if rms_db(clip) >= min_rms_db:
                    break
            if loudness_db is not None:
                clip = normalize_loudness(clip, loudness_db)
            yield clip

    pipeline = wds.WebDataset(
        shards,
        shardshuffle=shard_shuffle,
        nodesplitter=wds.split_by_node,
        workersplitter=wds.split_by_worker,
        seed=seed,
        empty_check=False,
    )
    return (
        pipeline.shuffle(shuffle_buffer, rng=random.Random(seed))
        .compose(clips)
        .repeat()
        .with_epoch(samples_per_epoch)
    )
