"""Audio codecs on CPU: real-time factor of encode + decode for every audio family, and the zoo's
EnCodec against the ``encodec`` package on the same input.

Real-time factor (RTF) = wall time of ``tokenize(x)`` + ``detokenize(codes)`` / duration of
``x``; below 1 is faster than real time. Input: the real speech fixture (tests/fixtures, 24 kHz),
tiled to ``--seconds`` and resampled to each model's rate. Random weights (speed does not depend
on them). Timing: median of ``--repeats`` runs after one warm-up, ``torch.set_num_threads
(--threads)`` (default 2), eval mode, ``torch.inference_mode``, batch 1, all codebooks.

For the EnCodec comparison both implementations get the same random weights (converted with
``convert_encodec_state_dict``) and run interleaved in this process; the codes are checked equal
and the ratio is zoo time / ``encodec`` time.

The results go to stdout as a Markdown table, and with ``--json`` / ``--markdown`` to files.
``--quick`` is a smoke run (1 s clips, 1 repeat, every model): it checks the script, its numbers
are not measurements.

    python benchmarks/audio_codecs.py --json results/audio_codecs.json \\
        --markdown results/audio_codecs.md            # 5 s of speech, 2 threads, 3 repeats
    python benchmarks/audio_codecs.py --quick         # smoke run
    python benchmarks/audio_codecs.py --models "wavtokenizer*" --no-encodec
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import soundfile as sf
import torch
import torchaudio.functional as AF

import zoo
from zoo._io import atomic_write_json, atomic_write_text

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


def bench_encodec_vs_reference(seconds: float, repeats: int) -> dict:
    from encodec import EncodecModel

    from zoo.tokenizers.audio.seanet_codec import convert_encodec_state_dict

    torch.manual_seed(0)
    ref = EncodecModel.encodec_model_24khz(pretrained=False).eval()
    x = speech(seconds, 24000)
    with torch.no_grad():  # data-centred random codebooks (see tests/.../test_seanet_codec.py)
        z = ref.encoder(x)
        r = z.transpose(1, 2).reshape(-1, z.shape[1])
        gen = torch.Generator().manual_seed(0)
        for layer in ref.quantizer.vq.layers:
            cb = layer._codebook
            embed = r.mean(0) + 0.5 * r.std(0) * torch.randn(1024, r.shape[1], generator=gen)
            cb.embed.copy_(embed)
            cb.embed_avg.copy_(embed)
            cb.inited.fill_(1)
            r = r - cb.decode(cb.encode(r))
    tok = zoo.create_tokenizer("encodec_24khz").eval()
    tok.load_state_dict(convert_encodec_state_dict(ref.state_dict(), tok))

    def run_ref():
        with torch.inference_mode():
            return ref.decode(ref.encode(x))

    def run_zoo():
        with torch.inference_mode():
            return tok.detokenize(tok.tokenize(x))

    with torch.inference_mode():
        same = torch.equal(tok.tokenize(x).transpose(1, 2), ref.encode(x)[0][0])
        diff = float((run_zoo() - run_ref()).abs().max())
    # Interleave so both see the same machine load.
    t_ref, t_zoo = [], []
    for _ in range(repeats):
        t_ref.append(median_time(run_ref, 1))
        t_zoo.append(median_time(run_zoo, 1))
    r_med, z_med = statistics.median(t_ref), statistics.median(t_zoo)
    return {
        "seconds": seconds,
        "codes_equal": same,
        "max_abs_audio_diff": diff,
        "encodec_package_s": round(r_med, 4),
        "zoo_s": round(z_med, 4),
        "zoo_over_encodec": round(z_med / r_med, 3),
    }


def markdown(results: dict) -> str:
    """The results as Markdown: one table of models, one line for the EnCodec comparison."""
    threads = results["threads"]
    lines = []
    if results["quick"]:
        lines += ["**Quick smoke run (1 repeat, short clips): not a measurement.**", ""]
    lines += [
        f"| model | family | rate (Hz) | tokens/s | kbps | params (M) | encode (s) | decode (s) | "
        f"RTF, {threads} threads |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["models"]:
        lines.append(
            f"| {r['model']} | {r['family']} | {r['sample_rate']} | {r['frame_rate']:g} | "
            f"{r['kbps']:g} | {r['params_M']:g} | {r['encode_s']:.3f} | {r['decode_s']:.3f} | "
            f"{r['rtf']:.3f} |"
        )
    e = results.get("encodec_vs_reference")
    if e:
        lines += [
            "",
            "| EnCodec 24 kHz, same weights | encodec package (s) | zoo (s) | zoo / encodec | "
            "codes equal | max abs audio diff |",
            "|---|---:|---:|---:|---|---:|",
            f"| {e['seconds']:g} s of speech, {threads} threads | {e['encodec_package_s']:.3f} | "
            f"{e['zoo_s']:.3f} | {e['zoo_over_encodec']:.2f} | {e['codes_equal']} | "
            f"{e['max_abs_audio_diff']:.2e} |",
        ]
    m = results["machine"]
    seconds = results["models"][0]["seconds"] if results["models"] else None
    lines += [
        "",
        f"RTF = (encode + decode wall time) / clip duration, median of {results['repeats']} "
        f"runs after a warm-up, batch 1, {seconds:g} s of real speech, random weights, "
        f"torch {m['torch']}, {m['cpu']}, load average at start "
        f"{', '.join(f'{v:.2f}' for v in results['load_average'])}.",
    ]
    return "\n".join(lines) + "\n"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=5.0, help="clip length (default 5)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per model (default 3)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument(
        "--models",
        nargs="+",
        default=MODELS,
        help="registry names or fnmatch patterns (default: one or more variants per family)",
    )
    p.add_argument("--no-encodec", action="store_true", help="skip the encodec package ratio")
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
        "load_average": list(os.getloadavg()),
        "machine": {"torch": torch.__version__, "cpu": _cpu_name(), "cores": os.cpu_count()},
        "models": [bench_model(n, args.seconds, args.repeats) for n in names],
    }
    if not args.no_encodec:
        results["encodec_vs_reference"] = bench_encodec_vs_reference(args.seconds, args.repeats)
    table = markdown(results)
    print(table, end="")
    if args.json:
        atomic_write_json(args.json, results)
    if args.markdown:
        atomic_write_text(args.markdown, table)


if __name__ == "__main__":
    main()
