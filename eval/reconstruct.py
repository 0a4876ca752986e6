"""Evaluate one tokenizer's reconstructions under the pinned protocol -> JSON + Markdown.

Examples::

    python eval/reconstruct.py --model titok_l32.in1k_256 --data /data/imagenet/val \\
        --metrics psnr,ssim,lpips,fid --fid-weights weights-inception-2015-12-05-6726825d.pth \\
        --lpips-weights vgg16-397923af.pth --out results/titok_l32.json
    python eval/reconstruct.py --model path/to/saved_folder --data skimage \\
        --num-tokens 8,16,32 --save-reconstructions recon/ --out results/mine.json

The JSON holds the metrics per token count and the full protocol (data manifest with file
hashes, resize/crop rule, resolution, value range, PNG round trip, sample count, metric
implementations and weight hashes, zoo version, tokenizer config hash, wall time, device); the
Markdown table is written next to it (``results.md``). See ``zoo/evaluation/protocol.py``.
"""

from __future__ import annotations

import argparse
import sys

import zoo
from zoo.evaluation import evaluate_reconstruction, reconstruction_markdown, write_json
from zoo.evaluation.cli import (
    add_data_arguments,
    add_weights_arguments,
    int_list,
    markdown_path,
    name_list,
    weights_from_args,
)
from zoo.metrics import IMAGE_METRICS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eval/reconstruct.py", description=__doc__.split("\n", 1)[0])
    p.add_argument(
        "--model", required=True, help="registry name, save_pretrained folder, or hf-hub:org/repo"
    )
    add_data_arguments(p)
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
        help=f"comma-separated, from {','.join(IMAGE_METRICS)} (default: psnr,ssim,fd_efflite0 "
        "and ms_ssim for images of at least 161 px)",
    )
    add_weights_arguments(p)
    p.add_argument("--save-reconstructions", default=None, metavar="DIR", help="write PNGs here")
    p.add_argument(
        "--no-png-round-trip",
        action="store_true",
        help="measure float reconstructions instead of 8-bit ones",
    )
    p.add_argument("--out", required=True, help="result JSON path (Markdown goes next to it)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tokenizer = zoo.load(args.model)
    result = evaluate_reconstruction(
        tokenizer,
        model_name=args.model,
        data=args.data,
        num_tokens=args.num_tokens,
        metrics=args.metrics,
        resolution=args.resolution,
        resize=args.resize,
        interpolation=args.interpolation,
        batch_size=args.batch_size,
        device=args.device,
        weights=weights_from_args(args),
        save_reconstructions=args.save_reconstructions,
        skip_bad=args.skip_bad,
        png_round_trip=not args.no_png_round_trip,
        limit=args.limit,
        progress=not args.no_progress,
        command=["eval/reconstruct.py", *(sys.argv[1:] if argv is None else argv)],
    )
    out = write_json(args.out, result)
    md = markdown_path(out)
    md.write_text(reconstruction_markdown(result))
    for entry in result["data"]["skipped"]:
        print(f"skipped {entry['name']}: {entry['error']}", file=sys.stderr)
    print(reconstruction_markdown(result))
    print(f"wrote {out} and {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
