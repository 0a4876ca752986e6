"""Export the (EMA) tokenizer of a training checkpoint in the Hub format.

    python -m zoo.training.export runs/titok_cpu_flex/checkpoints/last.ckpt out/titok_cpu_flex

writes ``model.safetensors`` + ``config.json`` + ``README.md``; ``zoo.load(out_dir)`` reads it.
"""

from __future__ import annotations

import argparse
import sys

from zoo.training.module import TokenizerModule


def export_checkpoint(ckpt_path: str, out_dir: str) -> str:
    """Load a ``TokenizerModule`` checkpoint on CPU; export its (EMA) tokenizer to ``out_dir``."""
    module = TokenizerModule.load_from_checkpoint(ckpt_path, map_location="cpu")
    return str(module.export(out_dir))


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m zoo.training.export", description=__doc__.split("\n")[1]
    )
    p.add_argument("checkpoint", help="a .ckpt written by train.py fit")
    p.add_argument("out_dir", help="folder to write model.safetensors + config.json + README.md")
    args = p.parse_args(argv)
    print(export_checkpoint(args.checkpoint, args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
