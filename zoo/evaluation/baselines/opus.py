"""Opus (RFC 6716) through PyAV, and the bitrate search that matches a budget.

Opus runs in-process through PyAV (``av``, a dependency of the package): its wheels bundle
FFmpeg built with libopus, so no system binary is needed. The clip is handed to FFmpeg's
``libopus`` encoder at the model's rate (or, for rates libopus does not take -- it takes 8, 12,
16, 24 and 48 kHz -- resampled to 48 kHz first), coded in hard CBR at the given bitrate
(``vbr=off``, 20 ms frames, ``compression_level`` 10, ``application=audio``) into an Ogg Opus
stream in memory, decoded back at 48 kHz (Opus always decodes at 48 kHz) by FFmpeg's built-in
Opus decoder, and resampled to the model's rate (:func:`zoo.data.audio.resample`: soxr, very
high quality), trimmed to the clip's length and clipped to [-1, 1]. The built-in decoder, not
FFmpeg's libopus decoder wrapper:
the wrapper's output measured one 48 kHz sample ahead of the input here, the built-in decoder's is
sample-aligned (both decoders honour the stream's pre-skip).

The rate is measured from the Ogg stream itself: the payload of the audio packets (the two
header packets and the Ogg container left out, as a tokenizer's rate counts only its codes) over
the clip's duration; the whole-file rate is reported next to it. In hard-CBR mode every 20 ms
packet has the same size, so the payload rate is the setting plus the few packets that cover the
encoder's look-ahead (6.5 ms) and the last partial frame; :func:`match_opus_rate` corrects the
setting so that the payload rate lands within the tolerance of the target.

Reachable range: 6 to 256 kbps per channel. FFmpeg's libopus encoder refuses anything above 256
kbps per channel and below 0.5 kbps; between 0.5 and 6 kbps it codes, but 6 kbps is the lowest
rate Opus is specified for (RFC 6716, section 1) and the range opus-tools' ``opusenc`` allowed
when this protocol was first measured, so targets below 6 kbps per channel are reported as
unreachable, with the rate actually used.

Opus chooses its mode (SILK, CELT or hybrid) and bandwidth itself (no speech / music hint), as a
default encoder would; quality is therefore not monotone at every step of bitrate (on 8 kHz
speech, 10 kbps can score below 8 kbps), and a sweep shows the codec's real curve.
"""

from __future__ import annotations

import ctypes
import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from zoo.data.audio import resample
from zoo.evaluation.audio_sources import AudioRule, iter_audio_clips, open_audio_source
from zoo.evaluation.sources import DataLog
from zoo.metrics import create_metrics

#: The reachable bitrate range, kbps per channel (see the module docstring).
OPUS_MIN_KBPS = 6.0
OPUS_MAX_KBPS = 256.0
#: Opus' decoding rate.
OPUS_RATE = 48000
#: Input rates libopus codes directly; anything else is resampled to 48 kHz first.
OPUS_INPUT_RATES = (8000, 12000, 16000, 24000, 48000)
#: Fixed libopus encoder options (besides the bitrate), recorded in results.
OPUS_OPTIONS = {
    "vbr": "off",  # hard CBR: every packet of a clip has the same size
    "frame_duration": "20",  # ms
    "compression_level": "10",  # libopus complexity
    "application": "audio",
}
#: What installs the Opus codec.
OPUS_INSTALL_HINT = "pip install av (its wheels bundle FFmpeg with libopus)"


def require_opus() -> ModuleType:
    """The ``av`` module, with FFmpeg's libopus encoder; ImportError saying how to get it."""
    try:
        import av
    except ImportError as err:
        raise ImportError(
            f"Opus comparison needs PyAV: {OPUS_INSTALL_HINT}, or leave Opus out of the comparison"
        ) from err
    try:
        av.codec.Codec("libopus", "w")
    except Exception as err:  # an FFmpeg built without libopus
        raise ImportError(
            f"Opus comparison needs FFmpeg's libopus encoder, which this PyAV ({av.__version__}, "
            f"FFmpeg {av.ffmpeg_version_info}) lacks: {OPUS_INSTALL_HINT} from PyPI"
        ) from err
    return av


@functools.cache
def opus_version() -> str:
    """libopus, PyAV and FFmpeg versions, e.g. ``"libopus 1.6.1, PyAV 18.1.0, FFmpeg 8.1.2"``."""
    av = require_opus()
    return (
        f"{_libopus_version(av)}, PyAV {av.__version__}, FFmpeg {av.ffmpeg_version_info} "
        "(libopus encoder, built-in Opus decoder)"
    )


def _libopus_version(av: ModuleType) -> str:
    """``opus_get_version_string()`` of the libopus bundled with the PyAV wheel."""
    pkg = Path(av.__file__).resolve().parent
    for folder in (pkg.parent / "av.libs", pkg / ".dylibs", pkg.parent / "av.libs" / "bin"):
        for lib in sorted(folder.glob("*opus*")) if folder.is_dir() else []:
            try:
                fn = ctypes.CDLL(str(lib)).opus_get_version_string
            except (OSError, AttributeError):
                continue
            fn.restype = ctypes.c_char_p
            return fn().decode()
    return "libopus (version not readable)"


def opus_settings() -> dict[str, Any]:
    """What a result records about the Opus runs."""
    options = ", ".join(f"{k}={v}" for k, v in OPUS_OPTIONS.items())
    return {
        "codec": "opus",
        "tools": opus_version(),
        "encoder": f"libopus bitrate=K kbps, {options} (Ogg Opus, in memory)",
        "encoder_options": dict(OPUS_OPTIONS),
        "decoder": f"FFmpeg's Opus decoder at {OPUS_RATE} Hz (float), then soxr VHQ to the "
        "model's rate",
        "input": "float32 at the model's rate and channels (soxr VHQ to 48 kHz first for rates "
        f"libopus does not take; it takes {', '.join(str(r) for r in OPUS_INPUT_RATES)} Hz)",
        "rate": "payload of the audio packets over the clip duration (Ogg container and the "
        "two header packets excluded; whole-file rate reported as file_kbps)",
        "bitrate_range_kbps_per_channel": [OPUS_MIN_KBPS, OPUS_MAX_KBPS],
    }


# --------------------------------------------------------------------------- Ogg parsing
@dataclass
class OggOpusStream:
    """Packet sizes and timing of an Ogg Opus file."""

    packet_bytes: list[int]  # every packet, the OpusHead and OpusTags headers first
    pre_skip: int  # samples at 48 kHz
    last_granule: int  # samples at 48 kHz, including the pre-skip

    @property
    def audio_packet_bytes(self) -> list[int]:
        return self.packet_bytes[2:]


def parse_ogg_opus(data: bytes) -> OggOpusStream:
    """Split an Ogg Opus file (RFC 7845) into its packets; ValueError if it is not one."""
    packets: list[int] = []
    current = 0
    pos = 0
    granule = 0
    head: bytes | None = None
    while pos < len(data):
        if data[pos : pos + 4] != b"OggS" or pos + 27 > len(data):
            raise ValueError(f"not an Ogg stream: no page header at byte {pos}")
        n_segments = data[pos + 26]
        lacing = data[pos + 27 : pos + 27 + n_segments]
        granule_here = int.from_bytes(data[pos + 6 : pos + 14], "little", signed=True)
        body = pos + 27 + n_segments
        offset = body
        for value in lacing:
            if head is None and not packets and value < 255:
                head = data[offset - current : offset + value]
            current += value
            offset += value
            if value < 255:
                packets.append(current)
                current = 0
        if granule_here >= 0:
            granule = max(granule, granule_here)
        pos = body + sum(lacing)
    if head is None or not head.startswith(b"OpusHead") or len(packets) < 2:
        raise ValueError("not an Ogg Opus stream (no OpusHead packet)")
    pre_skip = int.from_bytes(head[10:12], "little")
    return OggOpusStream(packet_bytes=packets, pre_skip=pre_skip, last_granule=granule)


# --------------------------------------------------------------------------- coding
@dataclass
class OpusCoded:
    """One clip coded and decoded with Opus."""

    audio: np.ndarray  # float32 (channels, samples) at the model's rate, in [-1, 1]
    setting_kbps: float  # the bitrate given to the encoder
    payload_bytes: int
    file_bytes: int
    num_packets: int
    seconds: float

    @property
    def payload_kbps(self) -> float:
        return self.payload_bytes * 8 / self.seconds / 1000

    @property
    def file_kbps(self) -> float:
        return self.file_bytes * 8 / self.seconds / 1000


def opus_round_trip(audio: np.ndarray, sample_rate: int, bitrate_kbps: float) -> OpusCoded:
    """Code ``audio`` float32 ``(channels, samples)`` in [-1, 1] at ``sample_rate`` with Opus at
    ``bitrate_kbps`` (hard CBR) and decode it back to the same rate and length."""
    av = require_opus()
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise ValueError(f"opus: expected audio (channels, samples), got shape {audio.shape}")
    channels, length = audio.shape
    if channels not in (1, 2):
        raise ValueError(f"opus: mono or stereo audio only, got {channels} channels")
    lo, hi = OPUS_MIN_KBPS * channels, OPUS_MAX_KBPS * channels
    if not lo <= bitrate_kbps <= hi:
        raise ValueError(
            f"opus: the protocol codes {lo:g} to {hi:g} kbps for {channels} channel(s), got "
            f"{bitrate_kbps:g}"
        )
    setting = float(f"{bitrate_kbps:.3f}")
    pcm = np.ascontiguousarray(audio.T, dtype=np.float32)  # (samples, channels)
    rate = int(sample_rate)
    if rate not in OPUS_INPUT_RATES:
        pcm, rate = resample(torch.from_numpy(pcm).T, rate, OPUS_RATE).T.numpy(), OPUS_RATE
    layout = "mono" if channels == 1 else "stereo"
    buf = io.BytesIO()
    with av.open(buf, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=rate, layout=layout)
        stream.bit_rate = round(setting * 1000)
        stream.options = dict(OPUS_OPTIONS)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="flt", layout=layout)
        frame.sample_rate, frame.pts = rate, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    data = buf.getvalue()
    with av.open(io.BytesIO(data), "r", format="ogg") as container:
        frames = [f.to_ndarray() for f in container.decode(audio=0)]  # fltp (channels, n)
        decoded_rate = container.streams.audio[0].codec_context.sample_rate
    decoded = np.concatenate(frames, axis=1).T.astype(np.float32)
    stream_info = parse_ogg_opus(data)
    if decoded_rate != sample_rate:
        decoded = resample(torch.from_numpy(decoded).T, decoded_rate, int(sample_rate)).T.numpy()
    decoded = decoded[:length]
    if decoded.shape[0] < length:
        decoded = np.pad(decoded, ((0, length - decoded.shape[0]), (0, 0)))
    return OpusCoded(
        audio=np.ascontiguousarray(np.clip(decoded, -1.0, 1.0).T, dtype=np.float32),
        setting_kbps=setting,
        payload_bytes=sum(stream_info.audio_packet_bytes),
        file_bytes=len(data),
        num_packets=len(stream_info.audio_packet_bytes),
        seconds=length / sample_rate,
    )


@dataclass
class OpusMatch:
    """The result of :func:`match_opus_rate` for one clip."""

    coded: OpusCoded
    target_kbps: float
    within_tolerance: bool
    reachable: bool  # False when the target lies outside the reachable range

    @property
    def relative_error(self) -> float:
        return (self.coded.payload_kbps - self.target_kbps) / self.target_kbps


def match_opus_rate(
    audio: np.ndarray,
    sample_rate: int,
    target_kbps: float,
    *,
    tolerance: float = 0.05,
    max_steps: int = 4,
) -> OpusMatch:
    """Code ``audio`` with the Opus setting whose payload rate is closest to ``target_kbps``.

    Starts at the target and rescales the setting by ``target / measured`` until the payload
    rate is within ``tolerance / 4`` (at most ``max_steps`` encodes); targets outside the
    reachable range are coded at the nearest end of it and reported as unreachable.
    """
    if not target_kbps > 0:
        raise ValueError(f"opus: target_kbps must be positive, got {target_kbps}")
    channels = audio.shape[0]
    lo, hi = OPUS_MIN_KBPS * channels, OPUS_MAX_KBPS * channels
    setting = min(max(target_kbps, lo), hi)
    tried: list[OpusCoded] = []
    for _ in range(max_steps):
        coded = opus_round_trip(audio, sample_rate, setting)
        tried.append(coded)
        if abs(coded.payload_kbps - target_kbps) <= tolerance / 4 * target_kbps:
            break
        nxt = min(max(round(setting * target_kbps / coded.payload_kbps, 3), lo), hi)
        if nxt == setting:
            break
        setting = nxt
    best = min(tried, key=lambda c: abs(c.payload_kbps - target_kbps))
    within = abs(best.payload_kbps - target_kbps) <= tolerance * target_kbps
    return OpusMatch(
        coded=best,
        target_kbps=float(target_kbps),
        within_tolerance=within,
        reachable=within or lo <= target_kbps <= hi,
    )


# --------------------------------------------------------------------------- on a data set
#: Default Opus bitrates of the curve, kbps (per clip; the reachable range is 6-256 per channel).
DEFAULT_OPUS_SWEEP = (6, 8, 12, 16, 24, 32)
#: The audio codecs a rate-distortion comparison can run.
AUDIO_CODECS = ("opus",)


def evaluate_opus(
    *,
    data: str,
    rule: AudioRule,
    targets_kbps: Sequence[float],
    metrics: Sequence[str],
    sweep: Sequence[float] = DEFAULT_OPUS_SWEEP,
    tolerance: float = 0.05,
    skip_bad: bool = False,
    limit: int | None = None,
    min_samples: int = 1,
    progress: bool = True,
) -> tuple[dict[str, Any], DataLog]:
    """Measure Opus on every clip of ``data`` at every target rate and over the ``sweep``.

    Returns ``({"settings", "matched": [...], "sweep": [...]}, data log)``.
    """
    require_opus()  # fail before reading any data
    lo, hi = OPUS_MIN_KBPS * rule.channels, OPUS_MAX_KBPS * rule.channels
    bad = [b for b in sweep if not lo <= b <= hi]
    if bad:
        raise ValueError(
            f"--opus-sweep {bad}: Opus is measured at {lo:g} to {hi:g} kbps for {rule.channels} "
            "channel(s)"
        )
    targets = sorted({round(float(t), 9) for t in targets_kbps})
    points = [("matched", t) for t in targets] + [("sweep", float(b)) for b in sweep]
    sets = create_metrics("audio", list(metrics), copies=len(points), sample_rate=rule.sample_rate)
    stats = [
        {"payload": 0, "file": 0, "seconds": 0.0, "settings": [], "within": 0, "unreachable": 0,
         "rel_err": []}
        for _ in points
    ]  # fmt: skip
    source = open_audio_source(data)
    log = DataLog()
    reject_silent = any(getattr(m, "needs_reference_signal", False) for m in sets[0].values())
    clips = iter_audio_clips(
        source,
        rule,
        skip_bad=skip_bad,
        log=log,
        limit=limit,
        min_samples=min_samples,
        reject_silent=reject_silent,
    )
    total = len(source) if limit is None else min(limit, len(source))
    for clip in tqdm(clips, total=total, desc="opus", unit="clip", disable=not progress):
        x = clip.audio
        audio = x[0].numpy()
        for i, (kind, value) in enumerate(points):
            s = stats[i]
            if kind == "matched":
                m = match_opus_rate(audio, rule.sample_rate, value, tolerance=tolerance)
                coded = m.coded
                s["within"] += int(m.within_tolerance)
                s["unreachable"] += int(not m.reachable)
                s["rel_err"].append(m.relative_error)
            else:
                coded = opus_round_trip(audio, rule.sample_rate, value)
            s["payload"] += coded.payload_bytes
            s["file"] += coded.file_bytes
            s["seconds"] += coded.seconds
            s["settings"].append(coded.setting_kbps)
            rec = torch.from_numpy(coded.audio)[None]
            for metric in sets[i].values():
                metric.update(rec, x)
    out: dict[str, Any] = {"settings": opus_settings(), "matched": [], "sweep": []}
    for i, (kind, value) in enumerate(points):
        s = stats[i]
        entry: dict[str, Any] = {
            "payload_kbps": s["payload"] * 8 / s["seconds"] / 1000,
            "file_kbps": s["file"] * 8 / s["seconds"] / 1000,
            "metrics": {k: float(m.compute()) for k, m in sets[i].items()},
        }
        if kind == "matched":
            n = len(s["settings"])
            entry = {
                "target_kbps": value,
                **entry,
                "setting_kbps_min": float(np.min(s["settings"])),
                "setting_kbps_max": float(np.max(s["settings"])),
                "fraction_within_tolerance": s["within"] / n,
                "num_unreachable": s["unreachable"],
                "mean_relative_error": float(np.mean(s["rel_err"])),
                "max_abs_relative_error": float(np.max(np.abs(s["rel_err"]))),
            }
        else:
            entry = {"setting_kbps": value, **entry}
        out[kind].append(entry)
    return out, log
