"""Encode an audio file to tokens and decode tokens back to audio, from the command line.

    python -m zoo.codec encode speech.wav speech.tokens.safetensors          # default model
    python -m zoo.codec encode song.flac song.tokens.safetensors --num-codebooks 4 \\
        --model seanet_cpu_16khz.speech_music
    python -m zoo.codec decode speech.tokens.safetensors speech.decoded.wav

The token file is a safetensors file holding ``codes`` (int64 ``(channels_batch, frames, k)``)
and metadata that makes it self-describing: the model name, its sample rate, the original
length in samples and rate, and the bitrate. ``decode`` reads the model name from it, so the
same model decodes what it encoded (``--model`` overrides, and must match the architecture).

Input files are read with soundfile (WAV, FLAC, OGG/Vorbis, Opus, MP3), mixed down (or up) to
the model's channels and resampled to its rate with soxr; ``decode`` writes the model's rate
(``--sample-rate`` resamples to another, e.g. the original's).

Files of any length: both commands stream. The audio is read, resampled (soxr's streaming
resampler, identical to resampling the whole file) and tokenized in blocks of ``chunk_seconds``,
and decoded audio is written block by block, so memory does not grow with the file (an hour of
16 kHz audio encodes and decodes in the memory of a minute; ``benchmarks/codec_memory.py``).
Streaming models give the codes and audio of the whole file at once (to float rounding); other
models use overlapping windows (:mod:`zoo.tokenizers.audio.chunked`). Files over a minute show
a progress bar on stderr.

Errors in the input (a missing, empty, truncated or non-audio file; a token file of another
program) name the file and what is wrong; the command line prints them as ``error: ...`` and
exits with status 2. Neither command writes over its input, nor over an existing file unless
given ``--overwrite``; outputs appear complete or not at all (written atomically).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch.nn.utils import parametrize

from zoo._argtypes import int_in
from zoo._io import atomic_file, check_output_paths

DEFAULT_AUDIO_MODEL = "seanet_cpu_16khz.speech_music"
FORMAT = "tokenizer-zoo/audio-tokens/1"
#: Audio per block read, tokenized and written (memory is a few blocks' worth).
CHUNK_SECONDS = 5.0
#: Files longer than this show a progress bar on stderr.
PROGRESS_SECONDS = 60.0
_META_INTS = ("sample_rate", "channels", "length", "source_sample_rate", "num_codebooks")


class CodecError(ValueError):
    """A bad input file or argument of ``zoo.codec``; the message names it and the problem."""


def encode_file(
    path: str | Path,
    out: str | Path,
    *,
    model: str = DEFAULT_AUDIO_MODEL,
    num_codebooks: int | None = None,
    chunk_seconds: float = CHUNK_SECONDS,
    progress: bool | None = None,
    overwrite: bool = False,
) -> dict:
    """Tokenize audio file ``path`` into token file ``out``; returns the metadata written.

    ``chunk_seconds`` sets the block size (memory); ``progress`` shows a bar on stderr (default:
    for files over a minute). :class:`zoo._io.OutputPathError` when ``out`` is ``path``, or
    exists and ``overwrite`` is not set.
    """
    from zoo.data.audio import convert_channels
    from zoo.tokenizers.audio.chunked import ChunkedEncoder
    from zoo.tokenizers.audio.resampling import check_resample_rates

    _check_chunk_seconds(chunk_seconds)
    check_output_paths([out], inputs=[path], overwrite=overwrite)
    tok = _load(model)
    if getattr(tok, "modality", None) != "audio":
        raise CodecError(f"zoo.codec: {model!r} is not an audio tokenizer (it is {tok.modality})")
    tok.eval()
    k = tok._check_num_codebooks(num_codebooks)
    with _open_audio(path) as f:
        src_rate, frames = f.samplerate, f.frames
        check_resample_rates(src_rate, tok.sample_rate, who=f"zoo.codec: {str(path)!r}")
        expected = math.ceil(frames * tok.sample_rate / src_rate)
        if expected < tok.hop_length:
            raise CodecError(
                f"zoo.codec: {str(path)!r} is {frames / src_rate:.3f} s long, shorter than one "
                f"frame of {model!r} ({tok.hop_length} samples at {tok.sample_rate} Hz)"
            )
        resampler = _Resampler(src_rate, tok.sample_rate, tok.channels)
        encoder = ChunkedEncoder(tok, num_codebooks=k)
        # Codes are small (frame_rate x k int64); allocated once for the whole file, as long as
        # its header says -- up to an hour: a damaged header can claim 2**34 samples (the buffer
        # grows below if the audio really is longer).
        initial = min(tok.num_frames(expected) + 2, math.ceil(tok.frame_rate * 3600))
        codes = torch.empty(1, initial, k, dtype=torch.long)
        n_codes = length = 0
        block = max(1, round(chunk_seconds * src_rate))
        with (
            _progress(frames / src_rate, progress, f"encode {Path(path).name}") as bar,
            parametrize.cached(),  # weight-normed weights computed once, not once per block
        ):
            for data, last in _blocks(f, path, block):
                x = convert_channels(torch.from_numpy(data.T), tok.channels, who=str(path))
                in_range = data.size == 0 or float(np.abs(data).max()) <= 1.0
                x = resampler(x, last)
                if in_range:  # resampling a full-scale recording overshoots (Gibbs): clip it
                    x = x.clamp(-1, 1)
                length += x.shape[-1]
                try:
                    c = encoder.feed(x[None], final=last)
                except ValueError as err:  # e.g. a header that promised audio never decoded
                    raise CodecError(
                        f"zoo.codec: cannot encode {str(path)!r} ({length / tok.sample_rate:.2f} s "
                        f"decoded of the {frames / src_rate:.2f} s its header announces): {err}"
                    ) from err
                if n_codes + c.shape[1] > codes.shape[1]:  # longer than its header said (MP3)
                    more = max(c.shape[1], codes.shape[1] // 4)
                    codes = torch.cat([codes, codes.new_empty(1, more, k)], 1)
                codes[:, n_codes : n_codes + c.shape[1]] = c
                n_codes += c.shape[1]
                bar.update(len(data) / src_rate)
    codes = codes[:, :n_codes]
    meta = {
        "format": FORMAT,
        "model": model,
        "architecture": tok.architecture,
        "sample_rate": str(tok.sample_rate),
        "channels": str(tok.channels),
        "length": str(length),
        "source_sample_rate": str(src_rate),
        "num_codebooks": str(k),
        "bitrate_bps": f"{tok.bitrate(k):.1f}",
    }
    with atomic_file(out) as tmp:
        save_file({"codes": codes.contiguous()}, str(tmp), metadata=meta)
    return meta


def decode_file(
    path: str | Path,
    out: str | Path,
    *,
    model: str | None = None,
    sample_rate: int | None = None,
    chunk_seconds: float = CHUNK_SECONDS,
    progress: bool | None = None,
    overwrite: bool = False,
) -> dict:
    """Decode token file ``path`` (from :func:`encode_file`) into audio file ``out`` (format by
    extension, 16-bit), written block by block. :class:`zoo._io.OutputPathError` when ``out`` is
    ``path``, or exists and ``overwrite`` is not set."""
    from zoo.tokenizers.audio.chunked import ChunkedDecoder
    from zoo.tokenizers.audio.resampling import check_resample_rates

    _check_chunk_seconds(chunk_seconds)
    check_output_paths([out], inputs=[path], overwrite=overwrite)
    codes, meta = read_token_file(path)
    name = model or meta["model"]
    try:
        tok = _load(name)
    except CodecError as err:
        if model is not None:
            raise
        raise CodecError(
            f"zoo.codec: {str(path)!r} was made by model {name!r}, which does not load here "
            f"({err.__cause__ or err}); decode with --model NAME_OR_FOLDER"
        ) from err
    if getattr(tok, "modality", None) != "audio" or tok.architecture != meta["architecture"]:
        raise CodecError(
            f"zoo.codec: the tokens in {str(path)!r} were made by a {meta['architecture']!r} "
            f"model, and {name!r} is a {tok.architecture!r}; decode with --model {meta['model']}"
        )
    tok.eval()
    try:
        tok.validate_codes(codes)
    except (TypeError, ValueError) as err:
        raise CodecError(
            f"zoo.codec: {str(path)!r} holds codes {name!r} cannot decode: {err}"
        ) from err
    rate = tok.sample_rate
    if sample_rate is not None:
        rate = check_resample_rates(rate, sample_rate, who="zoo.codec: --sample-rate")[1]
    length = int(meta["length"])
    if not 0 < length <= codes.shape[1] * tok.hop_length:
        raise CodecError(
            f"zoo.codec: {str(path)!r} is damaged: its length ({length} samples) does not fit its "
            f"{codes.shape[1]} frames of codes ({tok.hop_length} samples each)"
        )
    resampler = _Resampler(tok.sample_rate, rate, tok.channels)
    decoder = ChunkedDecoder(tok)
    step = max(1, round(chunk_seconds * tok.frame_rate))
    written = 0
    with (
        atomic_file(out) as tmp,
        sf.SoundFile(str(tmp), "w", rate, tok.channels, subtype="PCM_16") as f,
        _progress(length / tok.sample_rate, progress, f"decode {Path(path).name}") as bar,
        parametrize.cached(),
    ):
        for start in range(0, codes.shape[1], step):
            last = start + step >= codes.shape[1]
            audio = decoder.feed(codes[:, start : start + step], final=last)[0]
            audio = audio[:, : max(0, length - written)].clamp(-1, 1)
            written += audio.shape[-1]
            f.write(resampler(audio, last).T.numpy())
            bar.update(audio.shape[-1] / tok.sample_rate)
    return dict(meta, output_sample_rate=str(rate))


def read_token_file(path: str | Path) -> tuple[torch.Tensor, dict[str, str]]:
    """``(codes, metadata)`` of a token file from :func:`encode_file`; a CodecError naming the
    file when it is missing, not safetensors, or not a zoo token file."""
    p = Path(path)
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "does not exist"
        raise CodecError(f"zoo.codec: token file {str(path)!r} {what}")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            keys = list(f.keys())
            if meta.get("format") != FORMAT or "codes" not in keys:
                raise CodecError(
                    f"zoo.codec: {str(path)!r} is not a token file written by `python -m zoo.codec "
                    f"encode` (format {meta.get('format')!r}, tensors {keys})"
                )
            codes = f.get_tensor("codes")
    except (SafetensorError, OSError) as err:
        raise CodecError(
            f"zoo.codec: cannot read token file {str(path)!r}: {err} (it is not a safetensors "
            "file, or it is truncated)"
        ) from err
    missing = [key for key in ("model", "architecture", *_META_INTS) if key not in meta]
    bad = [key for key in _META_INTS if key in meta and not meta[key].isdigit()]
    if missing or bad:
        raise CodecError(
            f"zoo.codec: {str(path)!r} is not a zoo token file (or a damaged one): metadata "
            + "; ".join(
                s
                for s in (
                    f"missing {missing}" if missing else "",
                    f"not whole numbers: {bad}" if bad else "",
                )
                if s
            )
        )
    if codes.ndim != 3 or codes.shape[1] == 0 or codes.is_floating_point():
        raise CodecError(
            f"zoo.codec: {str(path)!r} is damaged: codes must be integers (batch, frames, k) with "
            f"frames >= 1, got {codes.dtype} {tuple(codes.shape)}"
        )
    return codes, meta


# ---------------------------------------------------------------------------------------- helpers
def _load(name: str):
    import zoo

    try:
        return zoo.load(name)
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise CodecError(f"zoo.codec: cannot load model {name!r}: {err}") from err


def _check_chunk_seconds(seconds: float) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise CodecError(f"zoo.codec: chunk_seconds must be a positive number, got {seconds!r}")


def _open_audio(path: str | Path) -> sf.SoundFile:
    p = Path(path)
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "does not exist"
        raise CodecError(f"zoo.codec: input {str(path)!r} {what}")
    if p.stat().st_size == 0:
        raise CodecError(f"zoo.codec: input {str(path)!r} is empty (0 bytes)")
    try:
        f = sf.SoundFile(str(p))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise CodecError(
            f"zoo.codec: cannot read {str(path)!r} as audio ({err}); zoo.codec reads WAV, FLAC, "
            "OGG/Vorbis, Opus and MP3 files"
        ) from err
    if f.frames <= 0:
        f.close()
        raise CodecError(f"zoo.codec: {str(path)!r} holds no audio (0 samples)")
    _warn_if_truncated_wav(f, path)
    return f


def _warn_if_truncated_wav(f: sf.SoundFile, path: str | Path) -> None:
    """libsndfile reads a cut-off WAV up to its end without an error; say so."""
    m = re.search(r"^data : (\d+) \(should be (\d+)\)", f.extra_info, re.MULTILINE)
    if m and int(m.group(1)) > int(m.group(2)) and int(m.group(1)) < 0xFFFFFFFF:
        warnings.warn(
            f"zoo.codec: {str(path)!r} looks truncated: its header announces "
            f"{int(m.group(1))} bytes of audio, the file holds {int(m.group(2))}; using the "
            f"{f.frames / f.samplerate:.2f} s present",
            stacklevel=3,
        )


def _blocks(f: sf.SoundFile, path: str | Path, block: int) -> Iterator[tuple[np.ndarray, bool]]:
    """``(float32 (frames, channels) block, is_last)`` pairs; one block of look-ahead tells the
    last one. A decoding error names the file and where it happened."""

    def read() -> np.ndarray:
        try:
            return f.read(block, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            at, total = f.tell() / f.samplerate, f.frames / f.samplerate
            raise CodecError(
                f"zoo.codec: cannot decode {str(path)!r} after {at:.2f} s of {total:.2f} s: "
                f"{err} (the file is truncated or corrupt)"
            ) from err

    current = read()
    while True:
        following = read() if len(current) == block else current[:0]
        last = len(following) == 0
        yield current, last
        if last:
            return
        current = following


class _Resampler:
    """soxr's streaming resampler on ``(C, T)`` tensors (identity at equal rates)."""

    def __init__(self, orig_rate: int, new_rate: int, channels: int) -> None:
        self.stream = None
        if orig_rate != new_rate:
            import soxr

            self.stream = soxr.ResampleStream(
                orig_rate, new_rate, channels, dtype="float32", quality="VHQ"
            )

    def __call__(self, x: torch.Tensor, last: bool) -> torch.Tensor:
        if self.stream is None:
            return x
        y = self.stream.resample_chunk(np.ascontiguousarray(x.T.numpy()), last=last)
        return torch.from_numpy(np.ascontiguousarray(y.T))


def _progress(seconds: float, show: bool | None, desc: str):
    from tqdm import tqdm

    show = seconds > PROGRESS_SECONDS if show is None else show
    fmt = "{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]"
    return tqdm(total=seconds, desc=desc, disable=not show, file=sys.stderr, bar_format=fmt)


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo.codec", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("encode", help="audio file -> token file (.safetensors)")
    e.add_argument("audio")
    e.add_argument("tokens")
    e.add_argument("--model", default=DEFAULT_AUDIO_MODEL)
    e.add_argument("--num-codebooks", type=int_in(1), default=None, help="fewer = lower bitrate")
    d = sub.add_parser("decode", help="token file -> audio file (WAV/FLAC by extension)")
    d.add_argument("tokens")
    d.add_argument("audio")
    d.add_argument("--model", default=None, help="default: the model named in the token file")
    d.add_argument("--sample-rate", type=int_in(1), default=None, help="resample the output (Hz)")
    for sp in (e, d):
        sp.add_argument("--overwrite", action="store_true", help="replace an existing output")
    a = p.parse_args(argv)
    try:
        if a.cmd == "encode":
            meta = encode_file(
                a.audio,
                a.tokens,
                model=a.model,
                num_codebooks=a.num_codebooks,
                overwrite=a.overwrite,
            )
        else:
            meta = decode_file(
                a.tokens, a.audio, model=a.model, sample_rate=a.sample_rate, overwrite=a.overwrite
            )
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(meta, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
