"""Latent caches: the quantized latent grids of a frozen 2D tokenizer, for two-stage training.

TiTok's two-stage recipe trains a 1D tokenizer on the latent grid of a frozen 2D tokenizer
instead of on pixels: the 1D model learns to reproduce the grid, and images are decoded through
the frozen 2D decoder (:class:`zoo.tokenizers.image.titok_latent.LatentTiTok`). Encoding the
training crops once makes every later step a small transformer pass over a 16 x 16 x 6 map
instead of a 128 px image through a CNN.

A latent cache is a crop cache (:func:`zoo.data.image.build_crop_cache`) whose ``crops`` are float16
``(N, h, w, token_dim)`` quantized latents (channels last, the tokenizers' latent layout), so
:class:`zoo.data.image.CropCacheDataset` and ``ImageDataModule(train_cache=..., val_cache=...)``
read it; the metadata names the tokenizer and the source. Latents are not flipped at training
time (a conv encoder is not flip-equivariant); ``flips=True`` stores the latents of the mirrored
crops as extra items instead.

    python -m zoo.data.latents data/photos/crops_128.safetensors --tokenizer vqgan_cpu_f8.photos
    python -m zoo.data.latents data/photos/val --tokenizer vqgan_cpu_f8.photos --crop-size 128 \\
        --short-side 256 --crops-per-image 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor

from zoo._argtypes import int_in
from zoo._io import atomic_file
from zoo.data.image import (
    CACHE_KEY,
    CropCacheDataset,
    FixedCropDataset,
    list_images,
)
from zoo.data.transforms import MultiScaleCrop
from zoo.tokenizers.image.titok_latent import quantized_grid

__all__ = ["encode_latents", "build_latent_cache", "build_folder_latent_cache"]


@torch.inference_mode()
def encode_latents(tokenizer, images: Tensor) -> Tensor:
    """Quantized latents ``(B, h, w, token_dim)`` (float32) of images ``(B, 3, H, W)`` in [-1, 1]:
    what the 2D tokenizer's decoder receives."""
    if not hasattr(tokenizer, "token_shape") or len(tokenizer.token_shape()) != 2:
        raise ValueError(
            f"encode_latents: needs a 2D tokenizer (a latent grid h x w), got "
            f"{type(tokenizer).__name__}"
        )
    tokenizer.validate_input(images)
    return quantized_grid(tokenizer, tokenizer._as_model_dtype(images)).float()


def build_latent_cache(
    tokenizer,
    dataset,
    out_path: str | Path,
    *,
    flips: bool = False,
    batch_size: int = 64,
    metadata: dict | None = None,
    progress: bool = True,
) -> Path:
    """Encode every item of ``dataset`` (images ``(3, H, W)`` in [-1, 1]) and write a latent cache.

    Items come out in dataset order; with ``flips`` the latents of each mirrored batch follow the
    batch's own. Written atomically (a killed run leaves no partial cache).
    """
    tokenizer.eval()
    n = len(dataset)
    if n == 0:
        raise ValueError("build_latent_cache: the dataset is empty")
    out: list[Tensor] = []
    start = time.monotonic()
    for lo in range(0, n, batch_size):
        x = torch.stack([dataset[i] for i in range(lo, min(n, lo + batch_size))])
        out.append(encode_latents(tokenizer, x).half())
        if flips:
            out.append(encode_latents(tokenizer, x.flip(-1)).half())
        if progress:
            done = min(n, lo + batch_size)
            rate = done / max(time.monotonic() - start, 1e-9)
            print(f"  {done}/{n} images, {rate:.1f}/s", end="\r", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    latents = torch.cat(out).contiguous()
    meta = {
        "tokenizer": getattr(tokenizer, "architecture", None) or type(tokenizer).__name__,
        "pretrained": getattr(getattr(tokenizer, "pretrained_cfg", None), "tag", None),
        "flips": flips,
        "num_images": n,
        "latent_shape": list(latents.shape[1:]),
    } | (metadata or {})
    with atomic_file(out_path) as tmp:
        save_file({CACHE_KEY: latents}, str(tmp), metadata={"zoo_latents": json.dumps(meta)})
    return Path(out_path)


def folder_crops(
    folder: str | Path, *, crop_size: int, short_side: int, crops_per_image: int, seed: int = 0
) -> FixedCropDataset:
    """Fixed, seeded ``crop_size`` crops of every photo in ``folder`` resized to ``short_side``
    (the validation crops of ``ImageDataModule``), unflipped."""
    crop = MultiScaleCrop(
        crop_size=crop_size, min_short_side=short_side, max_short_side=short_side, flip=False
    )
    return FixedCropDataset(list_images(folder), crop, crops_per_image=crops_per_image, seed=seed)


def build_folder_latent_cache(
    tokenizer,
    folder: str | Path,
    out_path: str | Path,
    *,
    crop_size: int,
    short_side: int,
    crops_per_image: int,
    seed: int = 0,
    **kwargs,
) -> Path:
    """:func:`build_latent_cache` of :func:`folder_crops` (``kwargs`` go to it), the settings
    recorded in the metadata."""
    crops = folder_crops(folder, crop_size=crop_size, short_side=short_side,
                         crops_per_image=crops_per_image, seed=seed)  # fmt: skip
    what = {"source": str(folder), "crop_size": crop_size, "short_side": short_side,
            "crops_per_image": crops_per_image, "seed": seed}  # fmt: skip
    kwargs["metadata"] = what | kwargs.get("metadata", {})
    return build_latent_cache(tokenizer, crops, out_path, **kwargs)


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m zoo.data.latents", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "source",
        help="a crop cache (.safetensors from `python -m zoo.data.photos cache`) or a folder of "
        "photos (fixed, seeded crops; e.g. the validation photos)",
    )
    p.add_argument("--tokenizer", required=True, help="a 2D tokenizer zoo.load reads")
    p.add_argument(
        "--output", default=None, help="default: <source>_latents_<tokenizer>.safetensors"
    )
    p.add_argument("--flips", action="store_true", help="also store the mirrored crops' latents")
    p.add_argument("--batch-size", type=int_in(1, 4096), default=64)
    p.add_argument("--crop-size", type=int_in(1, 4096), default=128, help="folders only")
    p.add_argument("--short-side", type=int_in(1, 16384), default=256, help="folders only")
    p.add_argument("--crops-per-image", type=int_in(1, 100000), default=2, help="folders only")
    p.add_argument("--seed", type=int, default=0, help="folders only")
    args = p.parse_args(argv)
    from zoo.hub import load

    tok = load(args.tokenizer)
    src = Path(args.source)
    if not (src.is_dir() or src.is_file()):
        raise SystemExit(f"python -m zoo.data.latents: {str(src)!r} is neither a file nor a folder")
    tag = args.tokenizer.replace("/", "_").replace(":", "_")
    out = args.output or str(src.with_suffix("")) + f"_latents_{tag}.safetensors"
    common = dict(flips=args.flips, batch_size=args.batch_size,
                  metadata={"tokenizer_source": args.tokenizer})  # fmt: skip
    if src.is_dir():
        build_folder_latent_cache(tok, src, out, crop_size=args.crop_size,
                                  short_side=args.short_side, crops_per_image=args.crops_per_image,
                                  seed=args.seed, **common)  # fmt: skip
    else:
        common["metadata"] |= {"source": str(src)}
        build_latent_cache(tok, CropCacheDataset(src, train=False), out, **common)
    print(f"wrote {out}" + (" (with the mirrored crops' latents)" if args.flips else ""))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
