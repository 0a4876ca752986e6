"""Opus (RFC 6716) through Debian's opus-tools, and the bitrate search that matches a budget.

Opus is run as the command-line tools ``opusenc`` / ``opusdec`` (``apt-get install
opus-tools``): the clip is written at the model's rate as a float32 WAV, coded with
``opusenc --hard-cbr --bitrate K`` (20 ms frames, complexity 10, no comment padding), decoded
with ``opusdec --rate 48000 --float`` (Opus always decodes at 48 kHz internally) and resampled
back to the model's rate with soxr (very high quality), trimmed to the clip's length and clipped
to [-1, 1].

The rate is measured from the Ogg stream itself: the payload of the audio packets (the two
header packets and the Ogg container left out, as a tokenizer's rate counts only its codes) over
the clip's duration; the whole-file rate is reported next to it. In hard-CBR mode every 20 ms
packet has the same size, so the payload rate is the setting plus the few packets that cover the
encoder's look-ahead (6.5 ms) and the last partial frame; :func:`match_opus_rate` corrects the
setting so that the payload rate lands within the tolerance of the target. opusenc accepts 6 to
256 kbps per channel: targets below that range are reported as unreachable, with the rate
actually used.

Opus chooses its mode (SILK, CELT or hybrid) and bandwidth itself (no ``--speech`` / ``--music``
hint), as a default encoder would; quality is therefore not monotone at every step of bitrate
(on 8 kHz speech, 10 kbps can score below 8 kbps), and a sweep shows the codec's real curve.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: opusenc's bitrate range, kbps per channel.
OPUS_MIN_KBPS = 6.0
OPUS_MAX_KBPS = 256.0
#: Opus' decoding rate; the tools resample anything else.
OPUS_RATE = 48000
#: Fixed encoder options (besides --bitrate), recorded in results.
OPUS_OPTIONS = ("--hard-cbr", "--framesize", "20", "--comp", "10", "--padding", "0")


def require_opus_tools() -> tuple[str, str]:
    """Paths of ``opusenc`` and ``opusdec``; FileNotFoundError naming the package otherwise."""
    enc, dec = shutil.which("opusenc"), shutil.which("opusdec")
    if enc is None or dec is None:
        missing = [n for n, p in (("opusenc", enc), ("opusdec", dec)) if p is None]
        raise FileNotFoundError(
            f"Opus comparison needs {' and '.join(missing)} on PATH: apt-get install opus-tools "
            "(Debian/Ubuntu), or leave Opus out of the comparison"
        )
    return enc, dec


@functools.cache
def opus_version() -> str:
    """First line of ``opusenc --version`` (tools and libopus version)."""
    enc, _ = require_opus_tools()
    out = subprocess.run([enc, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip()


def opus_settings() -> dict[str, Any]:
    """What a result records about the Opus runs."""
    return {
        "codec": "opus",
        "tools": opus_version(),
        "encoder": "opusenc --bitrate K " + " ".join(OPUS_OPTIONS),
        "decoder": f"opusdec --rate {OPUS_RATE} --float, then soxr VHQ to the model's rate",
        "input": "float32 WAV at the model's rate and channels",
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
    setting_kbps: float  # the --bitrate given to opusenc
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
    import soundfile as sf
    import soxr

    enc, dec = require_opus_tools()
    if audio.ndim != 2 or audio.shape[1] == 0:
        raise ValueError(f"opus: expected audio (channels, samples), got shape {audio.shape}")
    channels, length = audio.shape
    lo, hi = OPUS_MIN_KBPS * channels, OPUS_MAX_KBPS * channels
    if not lo <= bitrate_kbps <= hi:
        raise ValueError(
            f"opus: opusenc takes {lo:g} to {hi:g} kbps for {channels} channel(s), got "
            f"{bitrate_kbps:g}"
        )
    with tempfile.TemporaryDirectory(prefix="zoo-opus-") as tmp:
        src, coded, out = Path(tmp) / "in.wav", Path(tmp) / "coded.opus", Path(tmp) / "out.wav"
        sf.write(src, np.ascontiguousarray(audio.T), int(sample_rate), subtype="FLOAT")
        for cmd in (
            [
                enc,
                "--quiet",
                "--bitrate",
                f"{bitrate_kbps:.3f}",
                *OPUS_OPTIONS,
                str(src),
                str(coded),
            ],
            [dec, "--quiet", "--rate", str(OPUS_RATE), "--float", str(coded), str(out)],
        ):
            run = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if run.returncode != 0:
                raise RuntimeError(
                    f"opus: {Path(cmd[0]).name} failed (exit {run.returncode}): "
                    f"{run.stderr.strip()[-500:]}"
                )
        data = coded.read_bytes()
        decoded, rate = sf.read(out, dtype="float32", always_2d=True)
    stream = parse_ogg_opus(data)
    if rate != sample_rate:
        decoded = soxr.resample(decoded, rate, int(sample_rate), quality="VHQ")
    decoded = decoded[:length]
    if decoded.shape[0] < length:
        decoded = np.pad(decoded, ((0, length - decoded.shape[0]), (0, 0)))
    return OpusCoded(
        audio=np.ascontiguousarray(np.clip(decoded, -1.0, 1.0).T, dtype=np.float32),
        setting_kbps=float(f"{bitrate_kbps:.3f}"),
        payload_bytes=sum(stream.audio_packet_bytes),
        file_bytes=len(data),
        num_packets=len(stream.audio_packet_bytes),
        seconds=length / sample_rate,
    )


@dataclass
class OpusMatch:
    """The result of :func:`match_opus_rate` for one clip."""

    coded: OpusCoded
    target_kbps: float
    within_tolerance: bool
    reachable: bool  # False when the target lies outside opusenc's range

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
    rate is within ``tolerance / 4`` (at most ``max_steps`` encodes); targets outside opusenc's
    range are coded at the nearest end of it and reported as unreachable.
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
