"""Peak memory of ``python -m zoo.codec encode`` / ``decode`` against the length of the file.

Each file is real audio: the 4 s music fixture (tests/fixtures/audio, 16 kHz mono) tiled to
``--minutes`` and written as a 16-bit WAV. Encode and decode each run in a fresh
``python -m zoo.codec`` process; its peak resident set size is the kernel's ``ru_maxrss`` of that
child (``os.wait4``), which includes the interpreter, torch and the model. A codec whose memory
does not grow with the file shows the same peak for 1 and 60 minutes.

The results go to stdout as a Markdown table, and with ``--json`` / ``--markdown`` to files.

    python benchmarks/codec_memory.py --json results/codec_memory.json \\
        --markdown results/codec_memory.md                  # 1, 10 and 60 minutes
    python benchmarks/codec_memory.py --minutes 1 --model seanet_cpu_16khz.speech_music
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "audio" / "music_wesnoth_4s_16k.flac"
DEFAULT_MODEL = "seanet_cpu_16khz.speech_music"


def write_long_wav(path: Path, minutes: float) -> int:
    """Tile the fixture to ``minutes`` into a 16-bit WAV, block by block; returns the frames."""
    clip, rate = sf.read(FIXTURE, dtype="float32", always_2d=True)
    total = round(minutes * 60 * rate)
    with sf.SoundFile(path, "w", rate, clip.shape[1], subtype="PCM_16") as f:
        done = 0
        while done < total:
            n = min(len(clip), total - done)
            f.write(clip[:n])
            done += n
    return total


def run_peak(argv: list[str]) -> tuple[float, float]:
    """Run ``python -m zoo.codec *argv``; return (peak RSS in MiB, wall seconds)."""
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo.codec", *argv],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    stderr = proc.stderr.read()  # drain, so a long progress bar never blocks the child
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(
            f"zoo.codec {' '.join(argv)} exited {proc.returncode}: {stderr.decode()[-2000:]}"
        )
    return usage.ru_maxrss / 1024, wall  # ru_maxrss is in KiB on Linux


def bench(minutes: float, model: str, workdir: Path) -> dict:
    wav = workdir / f"long_{minutes:g}min.wav"
    frames = write_long_wav(wav, minutes)
    tokens = workdir / f"long_{minutes:g}min.tokens.safetensors"
    decoded = workdir / f"long_{minutes:g}min.decoded.wav"
    enc_mb, enc_s = run_peak(["encode", str(wav), str(tokens), "--model", model])
    dec_mb, dec_s = run_peak(["decode", str(tokens), str(decoded)])
    out_frames = sf.info(str(decoded)).frames
    result = {
        "minutes": minutes,
        "input_frames": frames,
        "input_mb": wav.stat().st_size / 2**20,
        "encode_peak_rss_mb": enc_mb,
        "encode_seconds": enc_s,
        "decode_peak_rss_mb": dec_mb,
        "decode_seconds": dec_s,
        "decoded_frames": out_frames,
        # Other work on the machine slows both steps; memory does not depend on it.
        "load_average_1min": os.getloadavg()[0],
    }
    for p in (wav, tokens, decoded):
        p.unlink(missing_ok=True)
    return result


def markdown(results: list[dict], meta: dict) -> str:
    lines = [
        f"# zoo.codec peak memory ({meta['model']})",
        "",
        f"Peak RSS of one `python -m zoo.codec` process per step (interpreter, torch and model "
        f"included); input: the 16 kHz music fixture tiled, 16-bit WAV. {meta['machine']}. "
        "Seconds are wall time and grow with other load on the machine (1-minute load average "
        "after each row in the JSON); peak memory does not.",
        "",
        "| minutes | WAV MiB | encode peak MiB | encode s | decode peak MiB | decode s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['minutes']:g} | {r['input_mb']:.0f} | {r['encode_peak_rss_mb']:.0f} | "
            f"{r['encode_seconds']:.1f} | {r['decode_peak_rss_mb']:.0f} | "
            f"{r['decode_seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--minutes", default="1,10,60", help="file lengths (default 1,10,60)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"default {DEFAULT_MODEL}")
    p.add_argument("--json", type=Path, help="also write the results here (JSON)")
    p.add_argument("--markdown", type=Path, help="also write the Markdown table here")
    args = p.parse_args(argv)
    try:
        minutes = [float(m) for m in args.minutes.split(",") if m.strip()]
    except ValueError:
        p.error(f"--minutes must be comma-separated numbers, got {args.minutes!r}")
    if not minutes or min(minutes) <= 0 or max(minutes) > 600:
        p.error(f"--minutes must be lengths in (0, 600], got {args.minutes!r}")

    meta = {
        "model": args.model,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    results = []
    with tempfile.TemporaryDirectory(prefix="codec_memory_") as tmp:
        for m in minutes:
            r = bench(m, args.model, Path(tmp))
            results.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    text = markdown(results, meta)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
