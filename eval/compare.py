"""Several result files -> one leaderboard (Markdown) and a plot of every metric vs rate.

Example::

    python eval/compare.py results/titok.json results/vqgan.json rd/rd.json \\
        --sort psnr --out results/leaderboard.md

Accepts files written by eval/reconstruct.py and eval/rate_distortion.py (whose codecs join the
table), all images (rate in bits per pixel) or all audio (rate in kbps). Every row carries a
protocol id (a hash of data manifest, resolution, resize rule, PNG round trip and feature
weights; for audio: manifest, sample rate, channels, crop and metric weights); rows with
different ids are not comparable and the table says so. Existing output files are replaced only
with --overwrite, an input never.
"""

from __future__ import annotations

import argparse
import sys

from zoo._io import atomic_write_text, check_cli_outputs
from zoo.evaluation import check_evaluator, load_result
from zoo.evaluation.cli import add_overwrite_argument, output_paths
from zoo.evaluation.plots import plot_leaderboard
from zoo.evaluation.protocol import result_modality
from zoo.evaluation.report import (
    entries_modality,
    leaderboard_entries,
    leaderboard_markdown,
    unique_entries,
)
from zoo.modalities import get_modality, list_modalities

PROG = "eval/compare.py"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n", 1)[0])
    p.add_argument("results", nargs="+", help="result JSON files")
    p.add_argument("--sort", default=None, help="metric key to rank by (default: the first one)")
    p.add_argument("--no-codecs", action="store_true", help="leave codec rows out of the table")
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse to compare results measured under different protocols",
    )
    p.add_argument(
        "--out", required=True, help="Markdown path, *.md (the PNG plot goes next to it)"
    )
    add_overwrite_argument(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out, png = output_paths(PROG, args.out, suffix=".md", siblings=[".png"])
    check_cli_outputs(PROG, [out, png], inputs=args.results, overwrite=args.overwrite)
    found = {n: get_modality(n).evaluator for n in list_modalities()}
    entries = []
    for path in args.results:
        result = load_result(path)
        evaluator = check_evaluator(found, result_modality(result), path)
        entries += leaderboard_entries(evaluator, result, source=path)
    entries = unique_entries(entries)
    evaluator = check_evaluator(found, entries_modality(entries), PROG)
    protocols = {e["protocol"] for e in entries}
    if args.strict and len(protocols) > 1:
        raise SystemExit(
            f"{PROG}: the results use {len(protocols)} different protocols "
            f"({', '.join(sorted(protocols))}); drop --strict to tabulate them anyway"
        )
    text = leaderboard_markdown(
        evaluator, entries, sort_by=args.sort, include_codecs=not args.no_codecs
    )
    present = {k for e in entries for p in e["points"] for k in p["metrics"]}
    rate_key, rate_label, _ = evaluator.board_rate
    plot_leaderboard(
        [e for e in entries if not (args.no_codecs and e["codec"])],
        [k for k in evaluator.metric_keys if k in present],
        png,
        rate_key=rate_key,
        rate_label=rate_label,
    )
    atomic_write_text(out, text + f"\n![leaderboard]({png.name})\n")
    print(text)
    print(f"wrote {out} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
