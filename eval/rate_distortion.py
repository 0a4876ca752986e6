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

from zoo._argtypes import float_in
from zoo._io import atomic_write_text, check_cli_outputs
from zoo.evaluation import check_evaluator, load_result, write_json
from zoo.evaluation.cli import (
    add_data_arguments,
    add_model_arguments,
    add_overwrite_argument,
    check_modality_options,
    load_tokenizer,
    local_inputs,
    name_list,
    output_paths,
)
from zoo.evaluation.plots import plot_rate_distortion
from zoo.evaluation.protocol import result_modality
from zoo.evaluation.rate_distortion import rate_distortion, rate_distortion_markdown
from zoo.modalities import get_modality, list_modalities

PROG = "eval/rate_distortion.py"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n", 1)[0])
    found = [get_modality(n).evaluator for n in list_modalities() if get_modality(n).evaluator]
    add_model_arguments(p, repeatable=True)
    p.add_argument("--results", action="append", default=[],
                   help="an eval/reconstruct.py result JSON to reuse instead of evaluating; "
                   "repeatable")  # fmt: skip
    add_data_arguments(p, found, baseline=True)
    p.set_defaults(data=None)
    for action in p._actions:  # --data may come from --results
        action.required = action.required and action.dest != "data"
    p.add_argument("--metrics", type=name_list, default=None,
                   help="default: the evaluator's (images psnr,ssim,fd_efflite0 + lpips with "
                   "--lpips-weights), or those of the --results")  # fmt: skip
    p.add_argument(
        "--codecs",
        type=name_list,
        default=None,
        help="classical baselines (default: every one available for the modality)",
    )
    p.add_argument("--tolerance", type=float_in(0, 1, low_open=True), default=0.05,
                   help="relative rate tolerance, in (0, 1]")  # fmt: skip
    p.add_argument("--out", required=True,
                   help="result JSON, *.json (Markdown and PNG go next to it)")  # fmt: skip
    add_overwrite_argument(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.model and not args.results:
        raise SystemExit(f"{PROG}: give at least one --model or --results")
    if args.model and not args.data:
        raise SystemExit(f"{PROG}: --model needs --data")
    command = [PROG, *(sys.argv[1:] if argv is None else argv)]
    out, md, png = output_paths(PROG, args.out, suffix=".json", siblings=[".md", ".png"])
    weights = [v for k, v in vars(args).items() if k.endswith("_weights")]
    inputs = local_inputs(args.results, args.model, args.data, weights)
    check_cli_outputs(PROG, [out, md, png], inputs=inputs, overwrite=args.overwrite)
    results = [load_result(path) for path in args.results]
    # fail early on bad names
    tokenizers = [(n, load_tokenizer(n, random_init=args.random_init)) for n in args.model]
    modalities = {result_modality(r) for r in results} | {t.modality for _, t in tokenizers}
    if len(modalities) > 1:
        raise SystemExit(
            f"{PROG}: the tokenizers mix modalities ({', '.join(sorted(modalities))}); compare "
            "each modality separately"
        )
    (modality,) = modalities
    found = {n: get_modality(n).evaluator for n in list_modalities()}
    evaluator = check_evaluator(found, modality, PROG)
    check_modality_options(parser, args, modality, PROG)
    options = evaluator.options(args)
    for name, tok in tokenizers:
        if not evaluator.accepts_rates(tok):
            options.pop(evaluator.rate_option, None)
        result = evaluator.evaluate(
            tok, model_name=name, data=args.data, metrics=args.metrics or
            evaluator.rd_default_metrics(options), device=args.device, skip_bad=args.skip_bad,
            limit=args.limit, progress=not args.no_progress, command=command, **options,
        )  # fmt: skip
        result["tokenizer"]["random_init"] = bool(args.random_init)
        results.append(result)
    rd = rate_distortion(
        evaluator, results=results, data=args.data, codecs=args.codecs, metrics=args.metrics,
        tolerance=args.tolerance, skip_bad=args.skip_bad, limit=args.limit, device=args.device,
        progress=not args.no_progress, command=command, **evaluator.baseline_options(args),
    )  # fmt: skip
    report = rate_distortion_markdown(evaluator, rd)
    write_json(out, rd)
    plot_rate_distortion(evaluator, rd, png)
    atomic_write_text(md, report + f"\n![rate-distortion]({png.name})\n")
    print(report)
    print(f"wrote {out}, {md} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
