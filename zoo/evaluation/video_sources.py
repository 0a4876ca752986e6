"""Evaluation video: a folder of video files and the clip rule (frame count, frame size).

A source yields ``(name, bytes)`` pairs in a fixed order (:func:`open_video_source`: every video
file below a folder, :func:`zoo.data.video.list_videos`, sorted by path); :func:`iter_video_clips`
decodes them with :func:`zoo.data.video.decode_video`, brings them to the tokenizer's clip size
with a :class:`ClipRule` and records a manifest (name, sha256 of the file bytes, the file's frame
count, size and frame rate) of every clip used and every file skipped, so a result file states
exactly which video it measured. The tokenizer evaluation and the classical codecs
(:mod:`.baselines.video`) read clips through the same code, so they see identical originals.

The clip rule (:class:`ClipRule`): the first ``num_frames`` frames of each file (a file with
fewer is unusable: an error naming it, or skipped with ``skip_bad``); every frame's central
square of side ``min(H, W)`` resized to ``frame_size`` x ``frame_size`` (antialiased bilinear,
:class:`zoo.data.video.VideoCrop` without randomness), rounded to uint8: the originals every
metric compares against.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from zoo.data.bad_files import BadSampleError
from zoo.data.video import VIDEO_EXTENSIONS, VideoCrop, decode_video, list_videos, probe_video
from zoo.evaluation.sources import DataLog, FileListSource, portable_path, read_items


class BadVideoError(ValueError):
    """An input file that cannot be read, decoded or used; the message names the file."""


class VideoFolderSource(FileListSource):
    """Every video file below a folder (:func:`zoo.data.video.list_videos`), sorted by path."""

    kind = "folder"
    bad_error = BadVideoError

    def __init__(self, folder: str | Path) -> None:
        root = Path(folder)
        files = list_videos(root)
        super().__init__(str(folder), [(p.relative_to(root).as_posix(), p) for p in files])
        self.root = root

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": portable_path(self.root)}


def open_video_source(spec: str | Path) -> VideoFolderSource:
    """A folder of video files (``--data``); FileNotFoundError for anything else."""
    s = str(spec)
    if Path(s).is_dir():
        return VideoFolderSource(s)
    raise FileNotFoundError(
        f"--data {s!r}: expected a folder of video files ({' '.join(VIDEO_EXTENSIONS)})"
    )


@dataclass(frozen=True)
class ClipRule:
    """How every file becomes a clip: its first ``num_frames`` frames, centre square resized to
    ``frame_size`` (see the module docstring)."""

    num_frames: int
    frame_size: int

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.frame_size < 1:
            raise ValueError(
                f"ClipRule: num_frames and frame_size must be >= 1, got {self.num_frames} and "
                f"{self.frame_size}"
            )

    def apply(self, frames: np.ndarray) -> Tensor:
        """uint8 ``(T', H, W, 3)`` (T' >= num_frames) -> uint8 ``(3, num_frames, S, S)``."""
        s = self.frame_size
        crop = VideoCrop(crop_size=s, min_short_side=s, max_short_side=s, flip=False)
        x = crop(frames[: self.num_frames], None)  # float (3, T, S, S) in [-1, 1]
        return ((x + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)

    def describe(self) -> dict[str, Any]:
        t, s = self.num_frames, self.frame_size
        return {
            "num_frames": t,
            "frame_size": [s, s],
            "frames": f"the first {t} frames of every file (files with fewer are unusable)",
            "rule": f"central square of side min(H, W), resized to {s}x{s} (antialiased "
            "bilinear, torch), rounded to uint8",
            "decoder": "PyAV (FFmpeg), every frame converted to RGB24",
        }


@dataclass
class Clip:
    """One preprocessed clip: its name and uint8 pixels ``(3, T, S, S)``."""

    name: str
    frames: Tensor


def iter_video_clips(
    source: VideoFolderSource,
    rule: ClipRule,
    *,
    skip_bad: bool,
    log: DataLog,
    limit: int | None = None,
) -> Iterator[Clip]:
    """Decode and preprocess the clips of ``source``, filling ``log``.

    Unreadable, truncated or too short files raise :class:`BadVideoError` naming the file,
    unless ``skip_bad``: then they are listed in ``log.skipped`` and left out. ``limit`` stops
    after that many clips.
    """

    def read(name: str, data: bytes) -> tuple[Tensor, dict[str, Any]]:
        try:
            info = probe_video(data, name=name)
            frames = decode_video(data, num_frames=rule.num_frames, name=name)
        except BadSampleError as err:
            raise BadVideoError(str(err)) from err
        fields = {"num_frames": info.num_frames, "height": info.height, "width": info.width,
                  "fps": info.fps}  # fmt: skip
        return rule.apply(frames), fields

    items = read_items(source, read, skip_bad=skip_bad, log=log, limit=limit,
                       error=BadVideoError, unusable="unusable", noun="video clips")  # fmt: skip
    for name, frames in items:
        yield Clip(name, frames)


def num_clips(source: VideoFolderSource, limit: int | None) -> int:
    """Clips the loop will see at most."""
    return len(source) if limit is None else min(limit, len(source))


__all__ = [
    "BadVideoError",
    "Clip",
    "ClipRule",
    "VideoFolderSource",
    "iter_video_clips",
    "num_clips",
    "open_video_source",
]
