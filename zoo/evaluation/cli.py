"""Argument parsing shared by the ``eval/`` command-line runners."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo._argtypes import float_in, int_in
from zoo.evaluation.sources import RESIZE_RULES

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


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """--data, --resolution, --resize, --interpolation, --skip-bad, --limit, --batch-size."""
    p.add_argument(
        "--data",
        required=True,
        help="images: a folder, webdataset .tar shard(s) (brace patterns allowed), or 'skimage' "
        "(the bundled real photos of scikit-image and matplotlib); audio: a folder of audio "
        "files, 'speech' (built-in real speech: alsa-utils prompts + Tux Paint descriptions) or "
        "'alsa' (the 8 alsa-utils prompts)",
    )
    p.add_argument(
        "--resolution",
        type=resolution,
        default=None,
        help="SIZE or HxW (default: the tokenizer's fixed or pretrained resolution)",
    )
    p.add_argument(
        "--resize",
        choices=RESIZE_RULES,
        default="center-crop",
        help="center-crop: resize to cover the resolution, then center crop (default); none: "
        "every image must already have the resolution",
    )
    p.add_argument("--interpolation", default="bicubic", choices=("bicubic", "bilinear", "lanczos"))
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip unreadable / truncated files (listed in the result) instead of stopping",
    )
    p.add_argument("--limit", type=int_in(1), default=None, help="evaluate only the first N items")
    p.add_argument(
        "--batch-size",
        type=int_in(1, MAX_BATCH),
        default=16,
        help=f"images per batch, 1-{MAX_BATCH} (images only)",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda:0, ...")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_audio_arguments(p: argparse.ArgumentParser) -> None:
    """--num-codebooks, --max-seconds (audio tokenizers)."""
    p.add_argument(
        "--num-codebooks",
        type=int_list,
        default=None,
        help="audio: codebook counts (bitrates) to evaluate, e.g. 1,2,4 (default: every one the "
        "tokenizer supports)",
    )
    p.add_argument(
        "--max-seconds",
        type=float_in(0, 24 * 3600, low_open=True),
        default=None,
        help="audio: evaluate only the first N seconds of every clip (default: whole clips)",
    )


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
    import torch

    import zoo

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


#: Options that apply to one modality only: ``dest -> (modality, default)``.
_MODALITY_OPTIONS = {
    "resolution": ("image", None),
    "resize": ("image", "center-crop"),
    "interpolation": ("image", "bicubic"),
    "batch_size": ("image", 16),
    "num_tokens": ("image", None),
    "no_png_round_trip": ("image", False),
    "fid_weights": ("image", None),
    "lpips_weights": ("image", None),
    "lpips_lin_weights": ("image", None),
    "efflite0_weights": ("image", None),
    "num_codebooks": ("audio", None),
    "max_seconds": ("audio", None),
    "opus_sweep": ("audio", None),
}


def check_modality_options(
    args: argparse.Namespace,
    modality: str,
    prog: str,
    extra: dict[str, tuple[str, Any]] | None = None,
) -> None:
    """SystemExit naming the options given that do not apply to ``modality`` (``extra``: more
    ``dest -> (modality, default)`` entries of one script)."""
    options = {**_MODALITY_OPTIONS, **(extra or {})}
    wrong = [
        "--" + dest.replace("_", "-")
        for dest, (mod, default) in options.items()
        if mod != modality and hasattr(args, dest) and getattr(args, dest) != default
    ]
    if wrong:
        raise SystemExit(
            f"{prog}: {', '.join(wrong)} do(es) not apply to {modality} tokenizers"
            + (" (audio uses --num-codebooks and --max-seconds)" if modality == "audio" else "")
        )


def add_weights_arguments(p: argparse.ArgumentParser) -> None:
    """Weight files of the feature networks (FID, LPIPS, FD-EffLite0)."""
    p.add_argument(
        "--fid-weights",
        default=None,
        help="Inception-v3 FID weights (torch-fidelity's weights-inception-2015-12-05-6726825d"
        ".pth); default: the torch hub cache",
    )
    p.add_argument(
        "--lpips-weights",
        default=None,
        help="VGG-16 ImageNet weights for LPIPS (vgg16-397923af.pth); default: torch hub cache",
    )
    p.add_argument(
        "--lpips-lin-weights",
        default=None,
        help="LPIPS v0.1 VGG linear heads (default: the copy bundled with torchmetrics)",
    )
    p.add_argument(
        "--efflite0-weights",
        default=None,
        help="EfficientNet-Lite0 weights for FD-EffLite0 (default: the pip-packaged ones)",
    )


def weights_from_args(args: argparse.Namespace) -> dict[str, str | None]:
    return {
        "fid": args.fid_weights,
        "lpips": args.lpips_weights,
        "lpips_lin": args.lpips_lin_weights,
        "fd_efflite0": args.efflite0_weights,
    }


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
