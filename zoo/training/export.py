"""Export the (EMA) tokenizer of a training checkpoint in the Hub format.

    python -m zoo.training.export runs/titok_cpu_flex/checkpoints/last.ckpt out/titok_cpu_flex

writes ``model.safetensors`` + ``config.json`` + ``README.md``; ``zoo.load(out_dir)`` reads it.
A run that trained the 1D stage of a two-stage tokenizer (:class:`zoo.tokenizers.image.LatentTiTok`)
is joined with its frozen 2D tokenizer on export:

    python -m zoo.training.export runs/titok_cpu_latent128/checkpoints/last.ckpt out/latent128 \
        --join titok_cpu_latent128 --pixel vqgan_cpu_f8.photos --half

The export is atomic (written into a temporary sibling folder that then takes ``out_dir``'s
place), refuses to replace an earlier export unless ``--overwrite`` is given, and reads only local
checkpoints, unpickled with ``weights_only=True``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from zoo._io import OutputPathError, atomic_dir, check_output_paths, refuse_urls
from zoo.tokenizers.base import CONFIG_NAME, WEIGHTS_NAME
from zoo.training.module import TokenizerModule

#: The files an export writes.
EXPORT_FILES = (WEIGHTS_NAME, CONFIG_NAME, "README.md")


def export_checkpoint(
    ckpt_path: str,
    out_dir: str,
    *,
    half: bool = False,
    overwrite: bool = False,
    join: str | None = None,
    pixel: str | None = None,
) -> str:
    """Load a ``TokenizerModule`` checkpoint on CPU; export its (EMA) tokenizer to ``out_dir``.

    ``half=True`` stores float32 weights as float16 (half the size, e.g. for weights shipped as
    package data); loading casts them back into the float32 model. An existing export in
    ``out_dir`` is replaced only with ``overwrite=True`` (:class:`zoo._io.OutputPathError`
    otherwise); other files there are left alone. ``join`` (a ``LatentTiTok`` variant) with
    ``pixel`` (its trained 2D tokenizer, anything ``zoo.load`` reads) exports the checkpoint's
    tokenizer as that variant's 1D stage, joined with the 2D tokenizer's weights.
    """
    ckpt_path = refuse_urls(ckpt_path, "checkpoint")
    if (join is None) != (pixel is None):
        raise ValueError("export_checkpoint: join and pixel go together (the variant and its 2D "
                         "tokenizer's weights)")  # fmt: skip
    out = Path(out_dir)
    check_output_paths([out / n for n in EXPORT_FILES], inputs=[ckpt_path], overwrite=overwrite)
    module = TokenizerModule.load_from_checkpoint(ckpt_path, map_location="cpu", weights_only=True)
    with atomic_dir(out) as tmp:
        if join is None:
            module.export(tmp)
        else:
            from zoo.hub import load
            from zoo.tokenizers.image.titok_latent import LatentTiTok

            stage = module.export_tokenizer.eval().to(memory_format=torch.contiguous_format)
            LatentTiTok.from_stages(join, load(pixel), stage).save_pretrained(tmp)
        if half:
            _to_float16(tmp / WEIGHTS_NAME)
    return str(out)


def _to_float16(path: Path) -> None:
    tensors = load_file(path)
    half = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
    save_file(half, path, metadata={"format": "pt"})  # inside the export's temporary folder


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m zoo.training.export", description=__doc__.split("\n")[0]
    )
    p.add_argument("checkpoint", help="a .ckpt written by train.py fit (a local file)")
    p.add_argument("out_dir", help="folder to write model.safetensors + config.json + README.md")
    p.add_argument("--half", action="store_true", help="store float weights as float16")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in OUT_DIR")
    p.add_argument("--join", default=None, help="a LatentTiTok variant: export the run's "
                   "tokenizer as its 1D stage, joined with --pixel")  # fmt: skip
    p.add_argument("--pixel", default=None, help="with --join: the trained 2D tokenizer")
    args = p.parse_args(argv)
    try:
        out = export_checkpoint(
            args.checkpoint, args.out_dir, half=args.half, overwrite=args.overwrite,
            join=args.join, pixel=args.pixel,
        )  # fmt: skip
    except (OutputPathError, ValueError) as err:
        raise SystemExit(f"{p.prog}: {err}") from None
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
