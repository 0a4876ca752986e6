"""Evaluate one tokenizer's reconstructions under the pinned protocol -> JSON + Markdown.

Examples::

    python eval/reconstruct.py --model titok_l32.in1k_256 --data /data/imagenet/val \\
        --metrics psnr,ssim,lpips,fid --fid-weights weights-inception-2015-12-05-6726825d.pth \\
        --lpips-weights vgg16-397923af.pth --out results/titok_l32.json
    python eval/reconstruct.py --model path/to/saved_folder --data skimage \\
        --num-tokens 8,16,32 --save-reconstructions recon/ --out results/mine.json
    python eval/reconstruct.py --model path/to/audio_codec --data speech \\
        --metrics mel_distance,si_sdr,pesq,stoi,dnsmos --out results/codec.json
    python eval/reconstruct.py --model seanet_test --random-init --data /path/to/wavs \\
        --num-codebooks 1,4 --max-seconds 5 --out results/plumbing.json

The JSON holds the metrics per token count (images) or per bitrate (audio, every codebook count
the tokenizer supports unless --num-codebooks says otherwise) and the full protocol (data
manifest with file hashes, resize/crop rule and resolution or sample rate, channels and
resampler, value range, PNG round trip, sample count, metric implementations and weight
hashes, zoo version, tokenizer config hash, wall time, device); the Markdown table is written
next to it (``results.md``). See ``zoo/evaluation/protocol.py``. Existing output files (and a
non-empty --save-reconstructions folder) are replaced only with --overwrite; an input never is.
"""

from __future__ import annotations

import argparse
import sys

from zoo._io import atomic_write_text, check_cli_outputs
from zoo.evaluation import evaluate_reconstruction, reconstruction_markdown, write_json
from zoo.evaluation.cli import (
    add_audio_arguments,
    add_data_arguments,
    add_model_arguments,
    add_overwrite_argument,
    add_weights_arguments,
    check_modality_options,
    check_reconstructions_dir,
    int_list,
    load_tokenizer,
    local_inputs,
    name_list,
    output_paths,
    weights_from_args,
)
from zoo.metrics import AUDIO_METRICS, IMAGE_METRICS

PROG = "eval/reconstruct.py"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n", 1)[0])
    add_model_arguments(p)
    add_data_arguments(p)
    add_audio_arguments(p)
    p.add_argument(
        "--num-tokens",
        type=int_list,
        default=None,
        help="token counts to evaluate, e.g. 8,16,32 (flexible-length tokenizers; default: all)",
    )
    p.add_argument(
        "--metrics",
        type=name_list,
        default=None,
        help=f"comma-separated; images: {','.join(IMAGE_METRICS)} (default: psnr,ssim,"
        "fd_efflite0 and ms_ssim for images of at least 161 px); audio: "
        f"{','.join(AUDIO_METRICS)} or dnsmos for its three scores (default: mel_distance,"
        "stft_distance,si_sdr,pesq,stoi)",
    )
    add_weights_arguments(p)
    p.add_argument(
        "--save-reconstructions",
        default=None,
        metavar="DIR",
        help="write the reconstructions here (images: PNG; audio: float32 WAV)",
    )
    p.add_argument(
        "--no-png-round-trip",
        action="store_true",
        help="measure float reconstructions instead of 8-bit ones",
    )
    p.add_argument(
        "--out", required=True, help="result JSON path, *.json (the Markdown goes next to it)"
    )
    add_overwrite_argument(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = [PROG, *(sys.argv[1:] if argv is None else argv)]
    out, md = output_paths(PROG, args.out, suffix=".json", siblings=[".md"])
    inputs = local_inputs(args.model, args.data, list(weights_from_args(args).values()))
    check_cli_outputs(PROG, [out, md], inputs=inputs, overwrite=args.overwrite)
    check_reconstructions_dir(
        PROG, args.save_reconstructions, data=args.data, overwrite=args.overwrite
    )
    tokenizer = load_tokenizer(args.model, random_init=args.random_init)
    check_modality_options(args, tokenizer.modality, PROG)
    common = {
        "model_name": args.model,
        "data": args.data,
        "metrics": args.metrics,
        "device": args.device,
        "save_reconstructions": args.save_reconstructions,
        "skip_bad": args.skip_bad,
        "limit": args.limit,
        "progress": not args.no_progress,
        "command": command,
    }
    if tokenizer.modality == "audio":
        options = {"num_codebooks": args.num_codebooks, "max_seconds": args.max_seconds}
    else:
        options = {
            "num_tokens": args.num_tokens,
            "resolution": args.resolution,
            "resize": args.resize,
            "interpolation": args.interpolation,
            "batch_size": args.batch_size,
            "weights": weights_from_args(args),
            "png_round_trip": not args.no_png_round_trip,
        }
    result = evaluate_reconstruction(tokenizer, **common, **options)
    result["tokenizer"]["random_init"] = bool(args.random_init)
    write_json(out, result)
    atomic_write_text(md, reconstruction_markdown(result))
    for entry in result["data"]["skipped"]:
        print(f"skipped {entry['name']}: {entry['error']}", file=sys.stderr)
    print(reconstruction_markdown(result))
    print(f"wrote {out} and {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
