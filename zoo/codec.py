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
(``--sample-rate`` resamples to another, e.g. the original's). Neither command writes over its
input, nor over an existing file unless given ``--overwrite``; outputs appear complete or not at
all (written atomically).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import soundfile as sf
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from zoo._io import OutputPathError, atomic_file, check_output_paths

DEFAULT_AUDIO_MODEL = "seanet_cpu_16khz.speech_music"
FORMAT = "tokenizer-zoo/audio-tokens/1"


def encode_file(
    path: str | Path,
    out: str | Path,
    *,
    model: str = DEFAULT_AUDIO_MODEL,
    num_codebooks: int | None = None,
    overwrite: bool = False,
) -> dict:
    """Tokenize audio file ``path`` into token file ``out``; returns the metadata written.
    :class:`zoo._io.OutputPathError` when ``out`` is ``path``, or exists and ``overwrite`` is not
    set."""
    import zoo
    from zoo.data.audio import read_audio

    check_output_paths([out], inputs=[path], overwrite=overwrite)
    tok = zoo.load(model)
    if getattr(tok, "modality", None) != "audio":
        raise ValueError(f"zoo.codec: {model!r} is not an audio tokenizer (it is {tok.modality})")
    info = sf.info(str(path))
    x = read_audio(path, sample_rate=tok.sample_rate, channels=tok.channels)
    if x.shape[-1] < tok.hop_length:
        raise ValueError(
            f"zoo.codec: {str(path)!r} is {info.duration:.3f} s long, shorter than one frame of "
            f"{model!r} ({tok.hop_length} samples at {tok.sample_rate} Hz)"
        )
    tok.eval()
    codes = tok.tokenize(x[None], num_codebooks=num_codebooks)
    k = codes.shape[-1]
    meta = {
        "format": FORMAT,
        "model": model,
        "architecture": tok.architecture,
        "sample_rate": str(tok.sample_rate),
        "channels": str(tok.channels),
        "length": str(x.shape[-1]),
        "source_sample_rate": str(info.samplerate),
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
    overwrite: bool = False,
) -> dict:
    """Decode token file ``path`` (from :func:`encode_file`) into audio file ``out``.
    :class:`zoo._io.OutputPathError` when ``out`` is ``path``, or exists and ``overwrite`` is not
    set."""
    import zoo
    from zoo.data.audio import resample

    check_output_paths([out], inputs=[path], overwrite=overwrite)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != FORMAT or "codes" not in f.keys():
            raise ValueError(
                f"zoo.codec: {str(path)!r} is not a token file written by `python -m zoo.codec "
                f"encode` (format {meta.get('format')!r})"
            )
        codes = f.get_tensor("codes")
    name = model or meta["model"]
    tok = zoo.load(name)
    if tok.architecture != meta["architecture"]:
        raise ValueError(
            f"zoo.codec: the tokens were made by a {meta['architecture']!r} model, and {name!r} "
            f"is a {tok.architecture!r}; decode with --model {meta['model']}"
        )
    tok.eval()
    with torch.no_grad():
        audio = tok.detokenize(codes, length=int(meta["length"]))[0].clamp(-1, 1)
    rate = tok.sample_rate
    if sample_rate and sample_rate != rate:
        audio, rate = resample(audio, rate, sample_rate), sample_rate
    with atomic_file(out) as tmp:  # keeps the suffix: soundfile picks the format from it
        sf.write(str(tmp), audio.T.numpy(), rate, subtype="PCM_16")
    return dict(meta, output_sample_rate=str(rate))


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo.codec", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("encode", help="audio file -> token file (.safetensors)")
    e.add_argument("audio")
    e.add_argument("tokens")
    e.add_argument("--model", default=DEFAULT_AUDIO_MODEL)
    e.add_argument("--num-codebooks", type=int, default=None, help="fewer = lower bitrate")
    d = sub.add_parser("decode", help="token file -> audio file (WAV/FLAC by extension)")
    d.add_argument("tokens")
    d.add_argument("audio")
    d.add_argument("--model", default=None, help="default: the model named in the token file")
    d.add_argument("--sample-rate", type=int, default=None, help="resample the output")
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
    except OutputPathError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(meta, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
