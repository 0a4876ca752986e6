"""Evaluation audio: sources (a folder, or the built-in real speech) and the clip rule.

A source yields ``(name, bytes)`` pairs in a fixed order; :func:`iter_audio_clips` decodes them
with soundfile, brings them to the tokenizer's format with an :class:`AudioRule` and records a
manifest (name, sha256 of the file bytes, original rate, channels and length) of every clip used
and every file skipped, so a result file states exactly which audio it measured.

Sources (:func:`open_audio_source`):

- a folder: every ``.wav .flac .ogg .oga .opus .mp3 .aif .aiff`` file below it, sorted by path
  (decoded by libsndfile through soundfile; no FFmpeg needed);
- ``"speech"``: real recorded speech found on this machine: the eight spoken channel prompts of
  alsa-utils (``/usr/share/sounds/alsa/*.wav`` without ``Noise.wav``; if absent, the repository's
  ``tests/fixtures/speech_front_center_24k.flac``, a crop of the first one) and, when
  tuxpaint-stamps-default is installed, the first :data:`TUXPAINT_PER_LANGUAGE` spoken stamp
  descriptions of each language (``/usr/share/tuxpaint/stamps/**/*_desc*.ogg``, sorted by path);
- ``"alsa"``: the alsa-utils prompts alone (8 clips, 11 s, one English speaker).

The clip rule (:class:`AudioRule`): decode to float32; mix down to mono (mean over channels) for a
mono model or duplicate mono into both channels of a stereo model (other combinations are an
error); keep the first ``max_seconds`` if set; resample to the model's rate with soxr (very high
quality); clip to [-1, 1] (resampling can overshoot). No loudness normalisation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from zoo.data.audio import convert_channels, language_of, resample
from zoo.data.audio import decode_audio as _decode_file
from zoo.data.bad_files import BadSampleError
from zoo.data.files import AUDIO_EXTENSIONS
from zoo.evaluation.sources import DataLog, FileListSource, FolderSource, read_items
from zoo.metrics.audio import SILENCE_PEAK

ALSA_DIR = Path("/usr/share/sounds/alsa")
#: The spoken prompts of alsa-utils (``Noise.wav``, pink noise, is left out).
ALSA_PROMPTS = (
    "Front_Center.wav",
    "Front_Left.wav",
    "Front_Right.wav",
    "Rear_Center.wav",
    "Rear_Left.wav",
    "Rear_Right.wav",
    "Side_Left.wav",
    "Side_Right.wav",
)
TUXPAINT_DIR = Path("/usr/share/tuxpaint/stamps")
#: Spoken descriptions taken per language by the ``"speech"`` source.
TUXPAINT_PER_LANGUAGE = 2
FIXTURE = (
    Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "speech_front_center_24k.flac"
)


class BadAudioError(ValueError):
    """An input file that cannot be read, decoded or used; the message names the file."""


# --------------------------------------------------------------------------- sources
class AudioSource(FileListSource):
    """An ordered list of audio files: iterate for ``(name, bytes | BadAudioError)``."""

    bad_error = BadAudioError


class AudioFolderSource(FolderSource, AudioSource):
    """Every audio file below a folder, sorted by relative path."""

    extensions = AUDIO_EXTENSIONS
    noun = "audio files"


def builtin_speech(which: str = "speech") -> list[tuple[str, Path, str]]:
    """``(name, path, license)`` of the built-in real speech (see the module docstring)."""
    out: list[tuple[str, Path, str]] = []
    alsa = [ALSA_DIR / n for n in ALSA_PROMPTS if (ALSA_DIR / n).is_file()]
    if alsa:
        out += [(f"alsa/{p.name}", p, "GPL-2 (alsa-utils)") for p in alsa]
    elif FIXTURE.is_file():
        out.append((f"fixtures/{FIXTURE.name}", FIXTURE, "GPL-2 (alsa-utils, resampled)"))
    if which == "speech" and TUXPAINT_DIR.is_dir():
        taken: dict[str, int] = {}
        for p in sorted(TUXPAINT_DIR.rglob("*_desc*.ogg")):
            lang = language_of(p) or p.name  # an unparsable name is a language of its own
            if taken.get(lang, 0) < TUXPAINT_PER_LANGUAGE:
                taken[lang] = taken.get(lang, 0) + 1
                name = f"tuxpaint/{p.relative_to(TUXPAINT_DIR).as_posix()}"
                out.append((name, p, "GPL-2 (tuxpaint-stamps)"))
    if not out:
        raise FileNotFoundError(
            f"--data {which}: no built-in speech found ({ALSA_DIR} and {FIXTURE} are missing); "
            "apt-get install alsa-utils tuxpaint-stamps-default, or pass a folder of audio files"
        )
    return out


class BuiltinSpeechSource(AudioSource):
    """The real speech recordings available offline (``"speech"`` or ``"alsa"``)."""

    def __init__(self, which: str) -> None:
        items = builtin_speech(which)
        super().__init__(which, [(name, path) for name, path, _ in items])
        self.kind = which
        self.licenses = {name: lic for name, _, lic in items}

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "description": "real recorded speech: alsa-utils spoken channel prompts"
            + (
                f" and the first {TUXPAINT_PER_LANGUAGE} Tux Paint spoken stamp descriptions per "
                "language (sorted by path)"
                if self.kind == "speech"
                else ""
            ),
            "licenses": self.licenses,
        }


def open_audio_source(spec: str | Path) -> AudioSource:
    """A folder of audio files, ``"speech"`` or ``"alsa"`` (see the module docstring)."""
    s = str(spec)
    if s in ("speech", "alsa"):
        return BuiltinSpeechSource(s)
    if Path(s).is_dir():
        return AudioFolderSource(s)
    if Path(s).exists():
        raise ValueError(f"--data {s!r}: expected a folder of audio files, 'speech' or 'alsa'")
    raise FileNotFoundError(
        f"--data {s!r}: no such folder; expected a folder of audio files "
        f"({', '.join(AUDIO_EXTENSIONS)}), 'speech' (the built-in real speech) or 'alsa'"
    )


# --------------------------------------------------------------------------- the clip rule
def decode_audio(data: bytes, name: str) -> tuple[np.ndarray, int]:
    """Decode ``data`` (:func:`zoo.data.audio.decode_audio`): float32 ``(frames, channels)`` and
    the sample rate; BadAudioError naming ``name`` otherwise."""
    try:
        return _decode_file(data, name)
    except BadSampleError as err:
        raise BadAudioError(str(err)) from err


@dataclass(frozen=True)
class AudioRule:
    """How every clip is brought to the tokenizer's ``sample_rate`` and ``channels``."""

    sample_rate: int
    channels: int
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.sample_rate < 1 or self.channels < 1:
            raise ValueError(
                f"AudioRule: sample_rate and channels must be positive, got {self.sample_rate} "
                f"and {self.channels}"
            )
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be positive, got {self.max_seconds}")

    def apply(self, audio: np.ndarray, rate: int, name: str) -> np.ndarray:
        """Float32 ``(frames, channels)`` at ``rate`` -> float32 ``(channels, samples)`` at the
        model's rate, clipped to [-1, 1]."""
        have = audio.shape[1]
        x = torch.from_numpy(np.ascontiguousarray(audio.T))
        try:
            x = convert_channels(x, self.channels, who=name)
        except ValueError:
            raise BadAudioError(
                f"{name}: has {have} channels; a {self.channels}-channel model takes mono "
                f"(duplicated) or {self.channels}-channel audio"
            ) from None
        if self.max_seconds is not None:
            x = x[:, : math.ceil(self.max_seconds * rate)]
        try:
            x = resample(x, rate, self.sample_rate)
        except ValueError as err:  # an absurd rate in a damaged header
            raise BadAudioError(f"{name}: {err}") from err
        if self.max_seconds is not None:
            x = x[:, : round(self.max_seconds * self.sample_rate)]
        return np.ascontiguousarray(x.clamp(-1.0, 1.0).numpy(), dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        return {
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "channel_rule": "mono model: mean over channels; stereo model: mono duplicated",
            "max_seconds": self.max_seconds,
            "crop": "whole clip"
            if self.max_seconds is None
            else f"first {self.max_seconds:g} s of every clip",
            "resampler": "soxr VHQ (python-soxr)",
            "value_range": [-1.0, 1.0],
            "clip": "samples clipped to [-1, 1] after resampling",
            "loudness": "unchanged (no normalisation)",
        }


# --------------------------------------------------------------------------- iteration
@dataclass
class AudioClip:
    """Name and audio ``(1, C, samples)`` float32 in [-1, 1] at the model's rate of one clip."""

    name: str
    audio: Tensor


def iter_audio_clips(
    source: AudioSource,
    rule: AudioRule,
    *,
    skip_bad: bool,
    log: DataLog,
    limit: int | None = None,
    min_samples: int = 1,
    reject_silent: bool = True,
) -> Iterator[AudioClip]:
    """Decode, convert and yield the clips of ``source`` one at a time, filling ``log``.

    Unreadable files, NaN samples, clips shorter than ``min_samples`` (after the rule) and, with
    ``reject_silent``, digital silence raise BadAudioError naming the file, unless ``skip_bad``:
    then they are listed in ``log.skipped`` and left out. ``limit`` stops after that many clips.
    """

    def read(name: str, data: bytes) -> tuple[np.ndarray, dict[str, Any]]:
        raw, rate = decode_audio(data, name)
        if not np.isfinite(raw).all():
            raise BadAudioError(f"{name}: holds {int((~np.isfinite(raw)).sum())} NaN/Inf samples")
        audio = rule.apply(raw, rate, name)
        n, sr = audio.shape[1], rule.sample_rate
        if n < min_samples:
            raise BadAudioError(
                f"{name}: {n} samples ({n / sr:.3g} s) at {sr} Hz, shorter than the "
                f"{min_samples} samples ({min_samples / sr:.3g} s) the tokenizer and metrics need"
            )
        if reject_silent and float(np.abs(audio).max()) < SILENCE_PEAK:
            raise BadAudioError(
                f"{name}: is digital silence (peak below {SILENCE_PEAK:.2g}); SI-SDR, PESQ "
                "and STOI are undefined against a silent reference"
            )
        fields = {"sample_rate": rate, "channels": int(raw.shape[1]), "frames": int(raw.shape[0]),
                  "seconds": round(n / sr, 6)}  # fmt: skip
        return audio, fields

    items = read_items(source, read, skip_bad=skip_bad, log=log, limit=limit, error=BadAudioError,
                       unusable="unusable", noun="clips")  # fmt: skip
    for name, audio in items:
        yield AudioClip(name, torch.from_numpy(audio)[None])
