"""Rate-distortion of tokenizers against JPEG / WebP / AVIF (images) or Opus (audio) at
matched rate.

Examples::

    python eval/rate_distortion.py --model titok_l32.in1k_256 --data skimage --out rd/rd.json
    python eval/rate_distortion.py --model path/to/flexible --num-tokens 8,16,32 \\
        --model vqgan_f8_fsq.photos_256 --data skimage --out rd/rd.json
    python eval/rate_distortion.py --results results/a.json --results results/b.json \\
        --out rd/rd.json          # reuse eval/reconstruct.py results (same data)
    python eval/rate_distortion.py --model path/to/audio_codec --data speech \\
        --metrics mel_distance,si_sdr,pesq,stoi --out rd/audio.json

Every tokenizer is evaluated (or its reconstruct result read). Images: every codec's quality is
searched per image to hit each tokenizer's bits per image (within --tolerance, default 5%), and
a quality sweep draws each codec's curve. Audio: every clip is coded with Opus (libopus through
PyAV, hard CBR) at the setting whose packet payload matches each tokenizer bitrate in kbps, and
an --opus-sweep of bitrates draws its curve. Writes ``rd.json``, ``rd.md`` (tables and a plain
ahead/behind statement per rate) and ``rd.png`` (metric vs bits per pixel or kbps); existing
files are replaced only with --overwrite, an input never.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from zoo._argtypes import float_in
from zoo._io import atomic_write_text, check_cli_outputs
from zoo.evaluation import evaluate_reconstruction, load_result, write_json
from zoo.evaluation.cli import (
    add_audio_arguments,
    add_data_arguments,
    add_model_arguments,
    add_overwrite_argument,
    add_weights_arguments,
    check_modality_options,
    int_list,
    load_tokenizer,
    local_inputs,
    name_list,
    output_paths,
    weights_from_args,
)
from zoo.evaluation.codecs import CODECS
from zoo.evaluation.plots import plot_rate_distortion
from zoo.evaluation.rate_distortion import (
    DEFAULT_SCALES,
    DEFAULT_SWEEP,
    rate_distortion,
    rate_distortion_markdown,
)
from zoo.evaluation.rate_distortion_audio import (
    AUDIO_CODECS,
    DEFAULT_OPUS_SWEEP,
    audio_rate_distortion,
    audio_rate_distortion_markdown,
)

PROG = "eval/rate_distortion.py"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="eval/rate_distortion.py", description=__doc__.split("\n", 1)[0]
    )
    add_model_arguments(p, repeatable=True)
    p.add_argument(
        "--results",
        action="append",
        default=[],
        help="an eval/reconstruct.py result JSON to reuse instead of evaluating; repeatable",
    )
    add_data_arguments(p)
    p.set_defaults(data=None)
    for action in p._actions:  # --data may come from --results
        if action.dest == "data":
            action.required = False
    add_audio_arguments(p)
    p.add_argument(
        "--num-tokens",
        type=int_list,
        default=None,
        help="token counts for flexible-length --model tokenizers (default: all tokens)",
    )
    p.add_argument(
        "--metrics",
        type=name_list,
        default=None,
        help="default psnr,ssim,fd_efflite0 (+ lpips when --lpips-weights is given)",
    )
    add_weights_arguments(p)
    p.add_argument(
        "--codecs",
        type=name_list,
        default=None,
        help=f"images: from {','.join(CODECS)} (default: those the installed Pillow supports); "
        f"audio: {','.join(AUDIO_CODECS)} (the default)",
    )
    p.add_argument(
        "--codec-scales",
        type=lambda t: [float(v) for v in t.split(",") if v.strip()],
        default=list(DEFAULT_SCALES),
        help="resolutions the codecs code at, e.g. 1,0.5,0.25 (below 1: downsample, code, "
        "upsample, to reach low rates)",
    )
    p.add_argument(
        "--tolerance",
        type=float_in(0, 1, low_open=True),
        default=0.05,
        help="relative rate tolerance, in (0, 1]",
    )
    p.add_argument(
        "--sweep",
        type=int_list,
        default=list(DEFAULT_SWEEP),
        help="codec qualities for the curves",
    )
    p.add_argument(
        "--opus-sweep",
        type=lambda t: [float(v) for v in t.split(",") if v.strip()],
        default=None,
        help="audio: Opus bitrates in kbps for its curve (default "
        f"{','.join(f'{b:g}' for b in DEFAULT_OPUS_SWEEP)})",
    )
    p.add_argument(
        "--out", required=True, help="result JSON, *.json (Markdown and PNG go next to it)"
    )
    add_overwrite_argument(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.model and not args.results:
        raise SystemExit(f"{PROG}: give at least one --model or --results")
    if args.model and not args.data:
        raise SystemExit(f"{PROG}: --model needs --data")
    command = [PROG, *(sys.argv[1:] if argv is None else argv)]
    out, md, png = output_paths(PROG, args.out, suffix=".json", siblings=[".md", ".png"])
    inputs = local_inputs(
        args.results, args.model, args.data, list(weights_from_args(args).values())
    )
    check_cli_outputs(PROG, [out, md, png], inputs=inputs, overwrite=args.overwrite)
    results = [load_result(path) for path in args.results]
    # fail early on bad names
    tokenizers = [(n, load_tokenizer(n, random_init=args.random_init)) for n in args.model]
    modalities = {r.get("modality", "image") for r in results} | {t.modality for _, t in tokenizers}
    if len(modalities) > 1:
        raise SystemExit(
            f"{PROG}: the tokenizers mix modalities ({', '.join(sorted(modalities))}); compare "
            "images and audio separately"
        )
    if modalities == {"audio"}:
        rd, report = _audio(args, results, tokenizers, command)
    else:
        rd, report = _image(args, results, tokenizers, command)
    write_json(out, rd)
    plot_rate_distortion(rd, png)
    atomic_write_text(md, report + f"\n![rate-distortion]({png.name})\n")
    print(report)
    print(f"wrote {out}, {md} and {png}")
    return 0


def _image(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    tokenizers: list[tuple[str, Any]],
    command: list[str],
) -> tuple[dict[str, Any], str]:
    check_modality_options(args, "image", PROG)
    metrics = args.metrics or ["psnr", "ssim", "fd_efflite0"] + (
        ["lpips"] if args.lpips_weights else []
    )
    weights = weights_from_args(args)
    for name, tok in tokenizers:
        result = evaluate_reconstruction(
            tok,
            model_name=name,
            data=args.data,
            num_tokens=args.num_tokens if tok.flexible_length else None,
            metrics=metrics,
            resolution=args.resolution,
            resize=args.resize,
            interpolation=args.interpolation,
            batch_size=args.batch_size,
            device=args.device,
            weights=weights,
            skip_bad=args.skip_bad,
            limit=args.limit,
            progress=not args.no_progress,
            command=command,
        )
        result["tokenizer"]["random_init"] = bool(args.random_init)
        results.append(result)
    rd = rate_distortion(
        results=results,
        data=args.data,
        codecs=args.codecs,
        metrics=metrics if not args.results or args.metrics else None,
        weights=weights,
        sweep=args.sweep,
        scales=args.codec_scales,
        tolerance=args.tolerance,
        batch_size=args.batch_size,
        skip_bad=args.skip_bad,
        limit=args.limit,
        device=args.device,
        progress=not args.no_progress,
        command=command,
    )
    return rd, rate_distortion_markdown(rd)


def _audio(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    tokenizers: list[tuple[str, Any]],
    command: list[str],
) -> tuple[dict[str, Any], str]:
    image_only = {
        "sweep": ("image", list(DEFAULT_SWEEP)),
        "codec_scales": ("image", list(DEFAULT_SCALES)),
    }
    check_modality_options(args, "audio", PROG, extra=image_only)
    for name, tok in tokenizers:
        result = evaluate_reconstruction(
            tok,
            model_name=name,
            data=args.data,
            num_codebooks=args.num_codebooks,
            metrics=args.metrics,
            max_seconds=args.max_seconds,
            device=args.device,
            skip_bad=args.skip_bad,
            limit=args.limit,
            progress=not args.no_progress,
            command=command,
        )
        result["tokenizer"]["random_init"] = bool(args.random_init)
        results.append(result)
    rd = audio_rate_distortion(
        results=results,
        data=args.data,
        codecs=args.codecs,
        metrics=args.metrics if args.results else None,
        sweep=args.opus_sweep or DEFAULT_OPUS_SWEEP,
        tolerance=args.tolerance,
        skip_bad=args.skip_bad,
        limit=args.limit,
        device=args.device,
        progress=not args.no_progress,
        command=command,
    )
    return rd, audio_rate_distortion_markdown(rd)


if __name__ == "__main__":
    sys.exit(main())
