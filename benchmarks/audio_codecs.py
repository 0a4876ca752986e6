"""Audio codecs on CPU: real-time factor of encode + decode, and the zoo's EnCodec against the
``encodec`` package on the same input.

Real-time factor (RTF) = wall time of ``detokenize(tokenize(x))`` / duration of ``x``; below 1 is
faster than real time. Input: the real speech fixture (tests/fixtures, 24 kHz), tiled to
``--seconds`` and resampled to each model's rate. Random weights (speed does not depend on
them). Timing: median of ``--repeats`` runs after one warm-up, ``torch.set_num_threads(--threads)``,
eval mode, ``torch.inference_mode``.

For the EnCodec comparison both implementations get the same random weights (converted with
``convert_encodec_state_dict``) and run interleaved in this process; the codes are checked equal.

    python benchmarks/audio_codecs.py                 # 5 s of speech, 2 threads
    python benchmarks/audio_codecs.py --seconds 1 --repeats 2 --quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import soundfile as sf
import torch
import torchaudio.functional as AF

import zoo

FIXTURE = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "speech_front_center_24k.flac"
)
FAMILIES = ["encodec_24khz", "dac_16khz", "wavtokenizer_75hz", "wavtokenizer_40hz"]


def speech(seconds: float, sample_rate: int) -> torch.Tensor:
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


def bench_family(name: str, seconds: float, repeats: int) -> dict:
    torch.manual_seed(0)
    tok = zoo.create_tokenizer(name).eval()
    x = speech(seconds, tok.sample_rate)

    def run():
        with torch.inference_mode():
            tok.detokenize(tok.tokenize(x))

    t = median_time(run, repeats)
    return {
        "model": name,
        "sample_rate": tok.sample_rate,
        "frame_rate": tok.frame_rate,
        "kbps": tok.bitrate() / 1000,
        "params_M": round(sum(p.numel() for p in tok.parameters()) / 1e6, 2),
        "seconds": seconds,
        "encode_decode_s": round(t, 4),
        "rtf": round(t / seconds, 4),
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="EnCodec-only smoke run")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    results = {
        "threads": args.threads,
        "load_average": os.getloadavg(),
        "families": [
            bench_family(n, args.seconds, args.repeats)
            for n in (FAMILIES[:1] if args.quick else FAMILIES)
        ],
        "encodec_vs_reference": bench_encodec_vs_reference(args.seconds, args.repeats),
    }
    print(f"{'model':20s} {'kbps':>6s} {'params M':>9s} {'enc+dec s':>10s} {'RTF':>7s}")
    for r in results["families"]:
        print(
            f"{r['model']:20s} {r['kbps']:6.2f} {r['params_M']:9.2f} "
            f"{r['encode_decode_s']:10.3f} {r['rtf']:7.3f}"
        )
    e = results["encodec_vs_reference"]
    print(
        f"EnCodec 24 kHz, {e['seconds']} s: encodec package {e['encodec_package_s']:.3f} s, zoo "
        f"{e['zoo_s']:.3f} s, ratio zoo/encodec {e['zoo_over_encodec']:.2f} (codes equal: "
        f"{e['codes_equal']}, max |audio diff| {e['max_abs_audio_diff']:.2e})"
    )
    print(f"threads {args.threads}, load average {results['load_average']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
