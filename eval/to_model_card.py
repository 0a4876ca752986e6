"""A reconstruction result -> the model card's ``model-index`` eval results and metrics table.

Examples::

    python eval/to_model_card.py results/titok.json --dataset-name imagenet-1k \\
        --dataset-type ILSVRC/imagenet-1k --split validation --out card/eval_results.json
    python eval/to_model_card.py results/titok.json --model path/to/folder \\
        --card path/to/folder/README.md --overwrite      # replaces save_pretrained's card

Writes the eval results as JSON (the dicts ``zoo.hub.render_model_card(eval_results=...)``
takes) and their Markdown table; with ``--model`` and ``--card`` it renders the whole card
(``model-index`` in the YAML header, table in the body), after checking that the result was
measured on that tokenizer (same config sha256). Existing files are replaced only with
--overwrite, an input never.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import zoo
from zoo._io import atomic_write_json, atomic_write_text, check_cli_outputs
from zoo.evaluation import check_evaluator, load_result
from zoo.evaluation.cli import add_overwrite_argument, local_inputs, output_paths
from zoo.evaluation.protocol import result_modality, sha256_json
from zoo.evaluation.report import eval_results_markdown, model_card_eval_results
from zoo.hub import render_model_card
from zoo.modalities import get_modality, list_modalities
from zoo.tokenizers.base import CONFIG_NAME, WEIGHTS_NAME

PROG = "eval/to_model_card.py"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n", 1)[0])
    p.add_argument("result", help="a JSON file written by eval/reconstruct.py")
    p.add_argument("--dataset-name", default=None, help="shown name (default: from the data)")
    p.add_argument("--dataset-type", default=None, help="Hub dataset id, e.g. ILSVRC/imagenet-1k")
    p.add_argument("--split", default=None, help="dataset split, e.g. validation")
    p.add_argument(
        "--out", default=None, help="write the eval results JSON here, *.json (+ .md next to it)"
    )
    p.add_argument("--model", default=None, help="the evaluated tokenizer, to render its card")
    p.add_argument("--card", default=None, help="model card path to write (needs --model)")
    add_overwrite_argument(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if bool(args.model) != bool(args.card):
        raise SystemExit(f"{PROG}: --model and --card go together")
    outputs = output_paths(PROG, args.out, suffix=".json", siblings=[".md"]) if args.out else []
    outputs += [Path(args.card)] if args.card else []
    model_files = [Path(args.model) / n for n in (CONFIG_NAME, WEIGHTS_NAME)] if args.model else []
    inputs = local_inputs(args.result, model_files)
    check_cli_outputs(PROG, outputs, inputs=inputs, overwrite=args.overwrite)
    result = load_result(args.result)
    found = {n: get_modality(n).evaluator for n in list_modalities()}
    evaluator = check_evaluator(found, result_modality(result), args.result)
    eval_results = model_card_eval_results(
        evaluator,
        result,
        dataset_name=args.dataset_name,
        dataset_type=args.dataset_type,
        split=args.split,
    )
    table = eval_results_markdown(eval_results)
    if args.out:
        out, md = outputs[:2]
        atomic_write_json(out, eval_results)
        atomic_write_text(md, table)
        print(f"wrote {out} and {md}")
    if args.model:
        tok = zoo.load(args.model)
        got = sha256_json(tok.get_config())
        want = result["tokenizer"]["config_sha256"]
        if got != want:
            raise SystemExit(
                f"{PROG}: {args.model!r} has config sha256 {got[:16]}, but the "
                f"result was measured on {result['tokenizer']['name']!r} with {want[:16]}"
            )
        card = render_model_card(tok, eval_results=eval_results)
        atomic_write_text(args.card, str(card))
        print(f"wrote {args.card}")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
