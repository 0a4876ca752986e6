"""Audio codecs on CPU: the zoo against the reference packages with the same weights, and the
real-time factor of every audio family.

**Zoo vs reference** (``--pairs``): for EnCodec (the ``encodec`` package), DAC (transformers'
``DacModel``, the port of descript-audio-codec, whose own package pins protobuf 3.19 and is not
installed) and WavTokenizer (its upstream repository is not pip-installable: the 75 Hz
configuration without the attention block is compared with the same network assembled from the
``encodec`` and ``vocos`` packages' modules) both sides get the same random weights, converted by
the zoo's own converters, and run interleaved in this process on the same clip (the order
alternates every repeat), under ``torch.inference_mode``. Codes must be identical and the
decoded audio within 1e-4; the ratios zoo / reference of encode, decode and total time are
medians over ``--repeats`` runs after a warm-up.

**Real-time factor** (``--models``): RTF = wall time of ``tokenize(x)`` + ``detokenize(codes)``
/ duration of ``x``; below 1 is faster than real time. Random weights (speed does not depend on
them).

Input: the real speech fixture (tests/fixtures, 24 kHz), tiled to ``--seconds`` and resampled to
each model's rate; ``torch.set_num_threads(--threads)`` (default 2), eval mode, batch 1, all
codebooks. The results go to stdout as Markdown, and with ``--json`` / ``--markdown`` to files,
with the machine, threads, allocator, versions, load average and command line. ``--quick`` is a
smoke run (1 s clips, 1 repeat): it checks the script, its numbers are not measurements.

    python benchmarks/audio_codecs.py --repeats 7 --json results/audio_codecs.json \\
        --markdown results/audio_codecs.md            # 5 s of speech, 2 threads
    python benchmarks/audio_codecs.py --quick         # smoke run
    python benchmarks/audio_codecs.py --pairs dac --models   # one comparison, no RTF table
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import soundfile as sf
import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from _machine import cpu_name, preloaded_allocator, write_report

import zoo

FIXTURE = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "speech_front_center_24k.flac"
)
#: One or more full-size variants of every audio family.
MODELS = [
    "encodec_24khz",  # SEANet + RVQ, EnCodec architecture
    "dac_16khz",  # DAC: Snake, l2-normalised factorised codes
    "wavtokenizer_75hz",  # single codebook, Vocos decoder with attention
    "wavtokenizer_40hz",
    "cat_24khz_fsq",  # causal transformer codec
]


def speech(seconds: float, sample_rate: int) -> torch.Tensor:
    """Real speech ``(1, 1, seconds * sample_rate)``: the fixture clip tiled and resampled."""
    wav, sr = sf.read(FIXTURE, dtype="float32")
    x = torch.from_numpy(wav)
    x = x.repeat(int(seconds * sr) // x.numel() + 1)[: int(seconds * sr)][None, None]
    return x if sr == sample_rate else AF.resample(x, sr, sample_rate)


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up (first LSTM/conv calls allocate and pick kernels)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_model(name: str, seconds: float, repeats: int) -> dict:
    torch.manual_seed(0)
    tok = zoo.create_tokenizer(name).eval()
    x = speech(seconds, tok.sample_rate)
    with torch.inference_mode():
        codes = tok.tokenize(x)  # warm-up
        tok.detokenize(codes)
    enc, dec = [], []
    for _ in range(repeats):
        with torch.inference_mode():
            t0 = time.perf_counter()
            codes = tok.tokenize(x)
            t1 = time.perf_counter()
            tok.detokenize(codes)
            t2 = time.perf_counter()
        enc.append(t1 - t0)
        dec.append(t2 - t1)
    total = statistics.median(e + d for e, d in zip(enc, dec, strict=True))
    return {
        "model": name,
        "family": type(tok).__name__,
        "sample_rate": tok.sample_rate,
        "frame_rate": tok.frame_rate,
        "kbps": round(tok.bitrate() / 1000, 3),
        "params_M": round(sum(p.numel() for p in tok.parameters()) / 1e6, 2),
        "seconds": seconds,
        "encode_s": round(statistics.median(enc), 4),
        "decode_s": round(statistics.median(dec), 4),
        "encode_decode_s": round(total, 4),
        "rtf": round(total / seconds, 4),
    }


# ---------------------------------------------------------------------- zoo vs reference
@dataclass
class Pair:
    """One side-by-side comparison: the zoo tokenizer and a reference with the same weights.

    ``ref_tokenize(x)`` returns the reference's codes in its own layout, ``ref_codes(native)``
    turns them into the zoo's ``(B, frames, k)``, ``ref_detokenize(native)`` returns audio that
    ``ref_audio`` reshapes to ``(B, 1, samples)``.
    """

    name: str
    reference: str
    compared: str
    tok: Any
    sample_rate: int
    ref_tokenize: Callable[[torch.Tensor], Any]
    ref_detokenize: Callable[[Any], torch.Tensor]
    ref_codes: Callable[[Any], torch.Tensor]
    ref_audio: Callable[[torch.Tensor], torch.Tensor] = lambda a: a


def _fit_codebooks_(
    embeds: list[torch.Tensor], z: torch.Tensor, decode_encode, spread: float = 0.5
) -> None:
    """Data-centred random codebooks level by level (see tests/.../test_seanet_codec.py):
    codewords ``mean + spread * std * noise`` of each level's residuals, so codes vary over time
    and levels and the nearest codeword wins by a margin float noise cannot flip (for 4096
    codes in 512 dimensions that takes ``spread=1``: at 0.5, 2 of 375 frames are near-ties of
    relative distance margin 2e-5, which the two implementations' rounding split differently)."""
    r = z.transpose(1, 2).reshape(-1, z.shape[1])
    gen = torch.Generator().manual_seed(0)
    for i, embed in enumerate(embeds):
        embed.copy_(r.mean(0) + spread * r.std(0) * torch.randn(embed.shape, generator=gen))
        r = r - decode_encode(i, r)


def encodec_pair(x: torch.Tensor) -> Pair:
    """The ``encodec`` package's 24 kHz model vs the zoo's ``encodec_24khz``."""
    from encodec import EncodecModel

    from zoo.tokenizers.audio.seanet_codec import convert_encodec_state_dict

    torch.manual_seed(0)
    ref = EncodecModel.encodec_model_24khz(pretrained=False).eval()
    layers = ref.quantizer.vq.layers
    with torch.no_grad():
        cbs = [layer._codebook for layer in layers]
        _fit_codebooks_(
            [cb.embed for cb in cbs], ref.encoder(x), lambda i, r: cbs[i].decode(cbs[i].encode(r))
        )
        for cb in cbs:
            cb.embed_avg.copy_(cb.embed)
            cb.inited.fill_(1)
    tok = zoo.create_tokenizer("encodec_24khz").eval()
    tok.load_state_dict(convert_encodec_state_dict(ref.state_dict(), tok))
    return Pair(
        name="encodec_24khz",
        reference=f"encodec {_version('encodec')} EncodecModel.encodec_model_24khz",
        compared="whole codec: encode() -> 32 codebooks, decode()",
        tok=tok,
        sample_rate=24000,
        ref_tokenize=ref.encode,
        ref_detokenize=ref.decode,
        ref_codes=lambda frames: frames[0][0].transpose(1, 2),
    )


def dac_pair(x: torch.Tensor) -> Pair:
    """transformers' ``DacModel`` (the descript-audio-codec port) vs the zoo's ``dac_16khz``."""
    from transformers import DacConfig, DacModel

    from zoo.tokenizers.audio.dac import convert_dac_state_dict

    torch.manual_seed(0)
    tok = zoo.create_tokenizer("dac_16khz").eval()
    cfg = DacConfig(
        downsampling_ratios=list(tok.strides),
        n_codebooks=tok.num_codebooks,
        sampling_rate=tok.sample_rate,
    )
    ref = DacModel(cfg)
    # As tests/tokenizers/audio/test_dac.py: PyTorch's conv init, small biases, weight-norm
    # magnitudes that keep the residual stacks bounded, Snake frequencies in [0.5, 2],
    # unit-normal codebooks, so codes and audio are not trivial.
    with torch.no_grad():
        for module in ref.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                module.reset_parameters()
                module.bias.uniform_(-0.01, 0.01)
            elif isinstance(module, torch.nn.Embedding):
                module.weight.normal_()
            elif hasattr(module, "alpha"):
                module.alpha.uniform_(0.5, 2.0)
        ref.apply_weight_norm()
        for name, p in ref.named_parameters():
            if name.endswith("original0"):
                p.uniform_(*((0.2, 0.4) if "res_unit" in name else (0.8, 1.2)))
    ref.eval()
    tok.load_state_dict(convert_dac_state_dict(ref.state_dict(), tok))
    hop = tok.hop_length

    def ref_tokenize(x):  # upstream DAC.preprocess pads to whole frames
        return ref.encode(F.pad(x, (0, -x.shape[-1] % hop))).audio_codes

    return Pair(
        name="dac_16khz",
        reference=f"transformers {_version('transformers')} DacModel (port of "
        "descript-audio-codec)",
        compared="whole codec: encode() -> 12 codebooks, decode(audio_codes=); the zoo's "
        f"{tok.decoder_shortfall} trailing zero samples (upstream's odd-stride shortfall) are "
        "not compared",
        tok=tok,
        sample_rate=tok.sample_rate,
        ref_tokenize=ref_tokenize,
        ref_detokenize=lambda codes: ref.decode(audio_codes=codes).audio_values,
        ref_codes=lambda codes: codes.transpose(1, 2),
        ref_audio=lambda a: a[:, None],
    )


def wavtokenizer_pair(x: torch.Tensor) -> Pair:
    """WavTokenizer 75 Hz without its attention block, against the same network assembled from
    the ``encodec`` package (SEANet encoder, 1-level RVQ) and the ``vocos`` package (backbone with
    AdaLayerNorm at bandwidth id 0, ISTFT head): the upstream WavTokenizer repository is not
    pip-installable and is made of exactly these modules plus the attention ``pos_net``."""
    from encodec.modules import SEANetEncoder
    from encodec.quantization import ResidualVectorQuantizer
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone

    from zoo.tokenizers.audio.wavtokenizer import convert_wavtokenizer_state_dict

    torch.manual_seed(0)
    tok = zoo.create_tokenizer("wavtokenizer_75hz", attention=False).eval()
    dim, hop = tok.dimension, tok.hop_length
    width = tok.decoder.head.out.in_features
    enc = SEANetEncoder(
        channels=1,
        dimension=dim,
        n_filters=32,
        ratios=[8, 5, 4, 2],  # encodec lists the strides decoder-first (ours: 2, 4, 5, 8)
        causal=False,
        lstm=2,
        norm="weight_norm",
        pad_mode="reflect",
    ).eval()
    rvq = ResidualVectorQuantizer(dimension=dim, n_q=1, bins=tok.codebook_size).eval()
    backbone = VocosBackbone(
        input_channels=dim,
        dim=width,
        intermediate_dim=tok.decoder.backbone.convnext[0].pwconv1.out_features,
        num_layers=len(tok.decoder.backbone.convnext),
        adanorm_num_embeddings=4,
    ).eval()
    head = ISTFTHead(dim=width, n_fft=tok.decoder.head.n_fft, hop_length=hop, padding="same").eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # nothing at its identity init (as tests/.../test_wavtokenizer.py)
        for module, scale in ((backbone, 0.2), (head, 0.02)):
            for p in module.parameters():
                p.add_(scale * torch.randn(p.shape, generator=gen))
        cb = rvq.vq.layers[0]._codebook
        _fit_codebooks_([cb.embed], enc(x), lambda i, r: cb.decode(cb.encode(r)), spread=1.0)
        cb.embed_avg.copy_(cb.embed)
        cb.inited.fill_(1)
    upstream = {}
    for prefix, module in (
        ("feature_extractor.encodec.encoder.", enc),
        ("feature_extractor.encodec.quantizer.", rvq),
        ("backbone.", backbone),
        ("head.", head),
    ):
        upstream.update({prefix + k: v for k, v in module.state_dict().items()})
    tok.load_state_dict(convert_wavtokenizer_state_dict(upstream, tok))
    bandwidth_id = torch.tensor([0])
    frame_rate = tok.sample_rate // hop

    def ref_tokenize(x):
        return rvq.encode(enc(x), frame_rate, None)

    def ref_detokenize(codes):
        return head(backbone(rvq.decode(codes), bandwidth_id=bandwidth_id))

    return Pair(
        name="wavtokenizer_75hz (attention=False)",
        reference=f"encodec {_version('encodec')} SEANetEncoder + ResidualVectorQuantizer(n_q=1, "
        f"bins=4096) and vocos {_version('vocos')} VocosBackbone(adanorm) + ISTFTHead('same')",
        compared="WavTokenizer 75 Hz minus its attention pos_net (not in any package): SEANet "
        "encoder, one 4096-code VQ, 12-block 768-d Vocos backbone, ISTFT head (n_fft 1280)",
        tok=tok,
        sample_rate=tok.sample_rate,
        ref_tokenize=ref_tokenize,
        ref_detokenize=ref_detokenize,
        ref_codes=lambda codes: codes.permute(1, 2, 0),
        ref_audio=lambda a: a[:, None],
    )


PAIRS = {"encodec": encodec_pair, "dac": dac_pair, "wavtokenizer": wavtokenizer_pair}


def bench_pair(make: Callable[[torch.Tensor], Pair], seconds: float, repeats: int) -> dict:
    """Zoo vs reference on the same clip, interleaved (the order alternates every repeat so
    neither side always runs on a warmer cache), both under ``torch.inference_mode``."""
    torch.manual_seed(0)
    pair = make(speech(1.0, _PAIR_RATES[make.__name__]))
    tok = pair.tok
    x = speech(seconds, pair.sample_rate)
    sides = {
        "reference": (pair.ref_tokenize, pair.ref_detokenize),
        "zoo": (tok.tokenize, tok.detokenize),
    }

    def run(side: str) -> tuple[float, float, Any, torch.Tensor]:
        encode, decode = sides[side]
        with torch.inference_mode():
            t0 = time.perf_counter()
            codes = encode(x)
            t1 = time.perf_counter()
            audio = decode(codes)
            t2 = time.perf_counter()
        return t1 - t0, t2 - t1, codes, audio

    _, _, ref_native, ref_audio = run("reference")  # warm-up and the parity check
    _, _, codes, audio = run("zoo")
    ref_codes = pair.ref_codes(ref_native)
    ref_audio = pair.ref_audio(ref_audio)
    n = ref_audio.shape[-1]
    times: dict[str, list[tuple[float, float]]] = {"reference": [], "zoo": []}
    for i in range(repeats):
        for side in ("reference", "zoo") if i % 2 == 0 else ("zoo", "reference"):
            times[side].append(run(side)[:2])
    out: dict[str, Any] = {
        "name": pair.name,
        "reference": pair.reference,
        "compared": pair.compared,
        "sample_rate": pair.sample_rate,
        "seconds": seconds,
        "codes_shape": list(codes.shape),
        "codes_equal": bool(torch.equal(codes, ref_codes)),
        "max_abs_audio_diff": float((audio[..., :n] - ref_audio).abs().max()),
    }
    for side, runs in times.items():
        out[f"{side}_encode_s"] = round(statistics.median(e for e, _ in runs), 4)
        out[f"{side}_decode_s"] = round(statistics.median(d for _, d in runs), 4)
        out[f"{side}_total_s"] = round(statistics.median(e + d for e, d in runs), 4)
    for part in ("encode", "decode", "total"):
        out[f"ratio_{part}"] = round(out[f"zoo_{part}_s"] / out[f"reference_{part}_s"], 3)
    out["parity_ok"] = out["codes_equal"] and out["max_abs_audio_diff"] <= AUDIO_TOLERANCE
    return out


#: Sample rate each pair's codebooks are fitted at (before the tokenizer exists).
_PAIR_RATES = {"encodec_pair": 24000, "dac_pair": 16000, "wavtokenizer_pair": 24000}
#: Largest accepted |zoo - reference| of the decoded audio.
AUDIO_TOLERANCE = 1e-4


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def markdown(results: dict) -> str:
    """The results as Markdown: the zoo-vs-reference table, then the per-model RTF table."""
    threads = results["threads"]
    m = results["machine"]
    lines = []
    if results["quick"]:
        lines += ["**Quick smoke run (1 repeat, short clips): not a measurement.**", ""]
    pairs = results.get("vs_reference", [])
    if pairs:
        lines += [
            f"### Zoo vs reference, same weights ({pairs[0]['seconds']:g} s of speech, "
            f"{threads} threads, median of {results['repeats']} interleaved runs)",
            "",
            "| codec | reference | encode ref / zoo (s) | decode ref / zoo (s) | "
            "total ref / zoo (s) | zoo / ref: encode | decode | total | codes equal | "
            "max abs audio diff |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
        ]
        for r in pairs:
            lines.append(
                f"| {r['name']} | {r['reference']} | {r['reference_encode_s']:.3f} / "
                f"{r['zoo_encode_s']:.3f} | {r['reference_decode_s']:.3f} / "
                f"{r['zoo_decode_s']:.3f} | {r['reference_total_s']:.3f} / "
                f"{r['zoo_total_s']:.3f} | {r['ratio_encode']:.2f} | {r['ratio_decode']:.2f} | "
                f"{r['ratio_total']:.2f} | {r['codes_equal']} | {r['max_abs_audio_diff']:.2e} |"
            )
        lines += ["", "What is compared:", ""]
        lines += [f"- {r['name']}: {r['compared']}." for r in pairs]
        lines += [
            "",
            "Ratios are zoo time / reference time (below 1: the zoo is faster; the target is "
            "<= 0.83, i.e. >= 1.2x). Both sides run in this process on the same clip, "
            "alternating which goes first, under `torch.inference_mode`, batch 1; random weights "
            "converted by the zoo's own converters; codes must be identical and the audio within "
            f"{AUDIO_TOLERANCE:g}.",
            "",
        ]
    if results["models"]:
        lines += [
            f"### Real-time factor per model ({threads} threads)",
            "",
            f"| model | family | rate (Hz) | tokens/s | kbps | params (M) | encode (s) | "
            f"decode (s) | RTF, {threads} threads |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in results["models"]:
            lines.append(
                f"| {r['model']} | {r['family']} | {r['sample_rate']} | {r['frame_rate']:g} | "
                f"{r['kbps']:g} | {r['params_M']:g} | {r['encode_s']:.3f} | "
                f"{r['decode_s']:.3f} | {r['rtf']:.3f} |"
            )
        lines += [
            "",
            f"RTF = (encode + decode wall time) / clip duration, median of {results['repeats']} "
            f"runs after a warm-up, batch 1, {results['models'][0]['seconds']:g} s of real "
            "speech, random weights.",
            "",
        ]
    load = ", ".join(f"{v:.2f}" for v in results["load_average"])
    load_end = ", ".join(f"{v:.2f}" for v in results["load_average_end"])
    lines += [
        f"Machine: {m['cpu']}, {m['cores']} cores, {threads} torch threads, allocator "
        f"{m['allocator']}; torch {m['torch']}, {m['versions']}. Load average (1/5/15 min) at "
        f"start {load}, at end {load_end}.",
        "",
        f"Command: `{results['command']}`",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=5.0, help="clip length (default 5)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per model (default 3)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument(
        "--models",
        nargs="*",
        default=MODELS,
        help="registry names or fnmatch patterns (default: one or more variants per family)",
    )
    p.add_argument(
        "--pairs",
        nargs="*",
        default=list(PAIRS),
        choices=list(PAIRS),
        help="zoo-vs-reference comparisons to run (default: all; none: --pairs)",
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke run: 1 s clips, 1 repeat, every model"
    )
    p.add_argument("--json", type=Path, help="also write the results here (JSON)")
    p.add_argument("--markdown", type=Path, help="also write the Markdown table here")
    args = p.parse_args()
    if args.quick:
        args.seconds, args.repeats = 1.0, 1
    names = []
    for pattern in args.models:
        found = zoo.list_tokenizers(pattern)
        if not found:
            p.error(f"--models: {pattern!r} matches no registered tokenizer")
        names += [n for n in found if n not in names]
    torch.set_num_threads(args.threads)
    results = {
        "quick": args.quick,
        "threads": args.threads,
        "repeats": args.repeats,
        "command": " ".join(["python", *sys.argv]),
        "load_average": list(os.getloadavg()),
        "machine": {
            "torch": torch.__version__,
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "allocator": preloaded_allocator(),
            "versions": ", ".join(
                f"{p} {_version(p)}" for p in ("encodec", "transformers", "vocos", "numpy")
            ),
        },
        "vs_reference": [bench_pair(PAIRS[k], args.seconds, args.repeats) for k in args.pairs],
        "models": [bench_model(n, args.seconds, args.repeats) for n in names],
    }
    results["load_average_end"] = list(os.getloadavg())
    table = markdown(results)
    write_report(table, results, args.json, args.markdown)


if __name__ == "__main__":
    main()
