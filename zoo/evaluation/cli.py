"""Argument parsing shared by the ``eval/`` command-line runners (modality options come from
each evaluator, see :func:`add_data_arguments`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import zoo
from zoo._argtypes import int_in

#: Largest --resolution side and --batch-size (bigger ones only exhaust memory).
MAX_RESOLUTION = 16384
MAX_BATCH = 4096


def int_list(text: str) -> list[int]:
    """``"8,16,32"`` -> ``[8, 16, 32]``."""
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def name_list(text: str) -> list[str]:
    """``"psnr, ssim"`` -> ``["psnr", "ssim"]``."""
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError("expected at least one name")
    return values


def resolution(text: str) -> tuple[int, int]:
    """``"256"`` -> ``(256, 256)``; ``"192x256"`` / ``"192,256"`` -> ``(H, W) = (192, 256)``."""
    parts = text.lower().replace("x", ",").split(",")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SIZE or HxW, got {text!r}") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 1 or max(values) > MAX_RESOLUTION:
        raise argparse.ArgumentTypeError(
            f"expected SIZE or HxW with sizes in 1..{MAX_RESOLUTION}, got {text!r}"
        )
    return values[0], values[1]


def float_list(text: str) -> list[float]:
    """``"1,0.5"`` -> ``[1.0, 0.5]``."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def add_data_arguments(
    p: argparse.ArgumentParser, evaluators: Sequence[Any], *, baseline: bool = False
) -> None:
    """--data, --skip-bad, --limit, --device, --no-progress, then one argument group per
    evaluator (its rate option, its own options and, with ``baseline``, those of its classical
    baseline). Which modality owns which option is kept in ``p.modality_options`` for
    :func:`check_modality_options`."""
    p.add_argument(
        "--data",
        required=True,
        help="; ".join(e.data_help for e in evaluators if e.data_help) or "the data",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip unreadable / truncated files (listed in the result) instead of stopping",
    )
    p.add_argument("--limit", type=int_in(1), default=None, help="evaluate only the first N items")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda:0, ...")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    owners: dict[str, set[str]] = {}
    for evaluator in evaluators:
        group = p.add_argument_group(f"{evaluator.name} options")
        before = set(p._option_string_actions)
        flag = "--" + evaluator.rate_option.replace("_", "-") if evaluator.rate_option else None
        if flag and flag not in before:
            group.add_argument(flag, type=int_list, default=None, help=evaluator.rate_help)
        evaluator.add_arguments(group)
        if baseline:
            evaluator.add_baseline_arguments(group)
        added = (set(p._option_string_actions) - before) | ({flag} if flag else set())
        for action in p._actions:
            if set(action.option_strings) & added:
                owners.setdefault(action.dest, set()).add(evaluator.name)
    p.modality_options = owners  # type: ignore[attr-defined]


def add_model_arguments(p: argparse.ArgumentParser, *, repeatable: bool = False) -> None:
    """--model (one, or repeatable) and --random-init."""
    what = "registry name, save_pretrained folder, or hf-hub:org/repo"
    if repeatable:
        p.add_argument(
            "--model",
            action="append",
            default=[],
            help=f"tokenizer to evaluate ({what}); repeatable",
        )
    else:
        p.add_argument("--model", required=True, help=what)
    p.add_argument(
        "--random-init",
        action="store_true",
        help="build registered --model names with random weights (seed 0) instead of loading "
        "pretrained ones: a plumbing run, recorded as such in the result",
    )


def load_tokenizer(name: str, *, random_init: bool) -> Any:
    """``zoo.load(name)``, or ``zoo.create_tokenizer(name)`` with seed 0 for ``random_init``."""
    if not random_init:
        return zoo.load(name)
    if not zoo.registry.is_tokenizer(name):
        where = "a folder, which loads" if Path(name).is_dir() else "not a registered name; it"
        raise ValueError(
            f"--random-init builds a registered tokenizer with random weights, and --model "
            f"{name!r} is {where} without --random-init"
        )
    torch.manual_seed(0)
    return zoo.create_tokenizer(name).eval()


def check_modality_options(
    parser: argparse.ArgumentParser, args: argparse.Namespace, modality: str, prog: str
) -> None:
    """SystemExit naming the options given (not at their default) that only other modalities
    take (see :func:`add_data_arguments`)."""
    owners: dict[str, set[str]] = getattr(parser, "modality_options", {})
    wrong = [
        "--" + dest.replace("_", "-")
        for dest, mods in owners.items()
        if modality not in mods and getattr(args, dest, None) != parser.get_default(dest)
    ]
    if wrong:
        own = ["--" + d.replace("_", "-") for d, mods in owners.items() if modality in mods]
        raise SystemExit(
            f"{prog}: {', '.join(wrong)} do(es) not apply to {modality} tokenizers"
            + (f" ({modality} uses {', '.join(own)})" if own else "")
        )


def markdown_path(json_path: str | Path) -> Path:
    """``results.json`` -> ``results.md`` (next to it)."""
    return Path(json_path).with_suffix(".md")


# ---------------------------------------------------------------------------------- outputs
def add_overwrite_argument(p: argparse.ArgumentParser) -> None:
    """--overwrite: without it, no output file that already exists is replaced."""
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace output files that already exist (an input is never overwritten)",
    )


def output_paths(prog: str, out: str, *, suffix: str, siblings: Sequence[str] = ()) -> list[Path]:
    """``[out, out with each sibling suffix]``: the files a runner writes; SystemExit unless
    ``out`` ends in ``suffix`` (``--out r.md`` for a JSON runner would put JSON and Markdown in
    the same file)."""
    path = Path(out)
    if path.suffix.lower() != suffix:
        also = f" and {', '.join(path.with_suffix(s).name for s in siblings)}" if siblings else ""
        raise SystemExit(
            f"{prog}: --out {out!r} must end in {suffix}: --out "
            f"{path.with_suffix(suffix).name} writes {path.with_suffix(suffix).name}{also} "
            "next to it"
        )
    return [path, *(path.with_suffix(s) for s in siblings)]


def local_inputs(*specs: Any) -> list[str]:
    """The arguments among ``specs`` (strings, lists of strings, None) that name existing local
    files or folders: what no output may overwrite."""
    out: list[str] = []
    for spec in specs:
        for s in spec if isinstance(spec, list | tuple) else [spec]:
            if s and Path(str(s)).exists():
                out.append(str(s))
    return out


def check_reconstructions_dir(
    prog: str, folder: str | None, *, data: str | None, overwrite: bool
) -> None:
    """SystemExit when ``--save-reconstructions`` would write among the data (same folder, or
    one inside the other) or into a non-empty folder without ``--overwrite``."""
    if folder is None:
        return
    path = Path(folder).resolve()
    if data and Path(data).is_dir():
        src = Path(data).resolve()
        if path == src or path.is_relative_to(src) or src.is_relative_to(path):
            raise SystemExit(
                f"{prog}: --save-reconstructions {folder!r} overlaps the data folder {data!r}: "
                "reconstructions would be written among (or over) the inputs; choose a folder "
                "outside it"
            )
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise SystemExit(
            f"{prog}: --save-reconstructions {folder!r} is not empty; pass --overwrite to write "
            "into it (files of the same name are replaced), or choose an empty folder"
        )
