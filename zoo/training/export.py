"""Export the (EMA) tokenizer of a training checkpoint in the Hub format.

    python -m zoo.training.export runs/titok_cpu_flex/checkpoints/last.ckpt out/titok_cpu_flex

writes ``model.safetensors`` + ``config.json`` + ``README.md``; ``zoo.load(out_dir)`` reads it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from zoo.training.module import TokenizerModule


def export_checkpoint(ckpt_path: str, out_dir: str, *, half: bool = False) -> str:
    """Load a ``TokenizerModule`` checkpoint on CPU; export its (EMA) tokenizer to ``out_dir``.

    ``half=True`` stores float32 weights as float16 (half the size, e.g. for weights shipped as
    package data); loading casts them back into the float32 model.
    """
    module = TokenizerModule.load_from_checkpoint(ckpt_path, map_location="cpu")
    out = module.export(out_dir)
    if half:
        _to_float16(Path(out) / "model.safetensors")
    return str(out)


def _to_float16(path: Path) -> None:
    tensors = load_file(path)
    half = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
    tmp = path.with_suffix(".tmp")
    save_file(half, tmp, metadata={"format": "pt"})
    os.replace(tmp, path)  # atomic: a crash never leaves a truncated weights file


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m zoo.training.export", description=__doc__.split("\n")[1]
    )
    p.add_argument("checkpoint", help="a .ckpt written by train.py fit")
    p.add_argument("out_dir", help="folder to write model.safetensors + config.json + README.md")
    p.add_argument("--half", action="store_true", help="store float weights as float16")
    args = p.parse_args(argv)
    print(export_checkpoint(args.checkpoint, args.out_dir, half=args.half))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
