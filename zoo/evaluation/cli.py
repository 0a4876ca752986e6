"""Argument parsing shared by the ``eval/`` command-line runners."""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.evaluation.sources import RESIZE_RULES


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
    if len(values) != 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected SIZE or HxW with positive sizes, got {text!r}")
    return values[0], values[1]


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """--data, --resolution, --resize, --interpolation, --skip-bad, --limit, --batch-size."""
    p.add_argument(
        "--data",
        required=True,
        help="image folder, webdataset .tar shard(s) (brace patterns allowed), or 'skimage' "
        "(the bundled real photos of scikit-image and matplotlib)",
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
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda:0, ...")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


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
