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
from typing import Any

from zoo._io import atomic_write_text, check_cli_outputs
from zoo.evaluation import check_evaluator, write_json
from zoo.evaluation.cli import (
    add_data_arguments,
    add_model_arguments,
    add_overwrite_argument,
    check_modality_options,
    check_reconstructions_dir,
    load_tokenizer,
    local_inputs,
    name_list,
    output_paths,
)
from zoo.evaluation.runner import Run
from zoo.modalities import get_modality, list_modalities

PROG = "eval/reconstruct.py"


def evaluators() -> dict[str, Any]:
    """``{modality: its evaluator or None}`` of every registered modality."""
    return {name: get_modality(name).evaluator for name in list_modalities()}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n", 1)[0])
    found = [e for e in evaluators().values() if e is not None]
    add_model_arguments(p)
    add_data_arguments(p, found)
    metrics = "; ".join(f"{e.name}: {','.join(e.metric_keys)} (default "
                        f"{','.join(e.default_metrics)})" for e in found)  # fmt: skip
    p.add_argument("--metrics", type=name_list, default=None, help=f"comma-separated; {metrics}")
    p.add_argument("--save-reconstructions", default=None, metavar="DIR",
                   help="write the reconstructions here ("
                   + "; ".join(e.save_help for e in found if e.save_help) + ")")  # fmt: skip
    p.add_argument(
        "--out", required=True, help="result JSON path, *.json (the Markdown goes next to it)"
    )
    add_overwrite_argument(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = [PROG, *(sys.argv[1:] if argv is None else argv)]
    out, md = output_paths(PROG, args.out, suffix=".json", siblings=[".md"])
    weights = [v for k, v in vars(args).items() if k.endswith("_weights")]
    inputs = local_inputs(args.model, args.data, weights)
    check_cli_outputs(PROG, [out, md], inputs=inputs, overwrite=args.overwrite)
    check_reconstructions_dir(
        PROG, args.save_reconstructions, data=args.data, overwrite=args.overwrite
    )
    tokenizer = load_tokenizer(args.model, random_init=args.random_init)
    evaluator = check_evaluator(evaluators(), tokenizer.modality, tokenizer._label)
    check_modality_options(parser, args, tokenizer.modality, PROG)
    try:  # option errors (a size the model cannot take, ...) as usage errors, before any data
        evaluator.setup(Run(tokenizer, evaluator.options(args)))
    except ValueError as err:
        parser.error(str(err))
    result = evaluator.evaluate(
        tokenizer,
        model_name=args.model,
        data=args.data,
        metrics=args.metrics,
        device=args.device,
        save_reconstructions=args.save_reconstructions,
        skip_bad=args.skip_bad,
        limit=args.limit,
        progress=not args.no_progress,
        command=command,
        **evaluator.options(args),
    )
    result["tokenizer"]["random_init"] = bool(args.random_init)
    write_json(out, result)
    atomic_write_text(md, evaluator.markdown(result))
    for entry in result["data"]["skipped"]:
        print(f"skipped {entry['name']}: {entry['error']}", file=sys.stderr)
    print(evaluator.markdown(result))
    print(f"wrote {out} and {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
