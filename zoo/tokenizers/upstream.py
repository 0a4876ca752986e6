"""Reading upstream checkpoints, for the converters that live in each family file.

Published tokenizers come as one file or as a folder:

- a single file: ``.safetensors``, or a pickle (``.pt``, ``.pth``, ``.bin``, ``.ckpt``) read with
  ``torch.load(weights_only=True)`` (tensors and plain containers only, never code);
- a ``save_pretrained`` folder (transformers, diffusers, ``PyTorchModelHubMixin``): a
  ``config.json`` next to one weights file, or to shards listed in a ``*.index.json``.

:func:`read_checkpoint` turns either into a flat ``{name: value}`` dict (a pickle keeps its
nesting: LlamaGen's ``{"model": state_dict}``; :func:`unwrap_checkpoint` opens it), reading only
the tensors a ``select`` predicate keeps, so the VQ of a multi-GB multimodal checkpoint is read
without the rest. Converters then rename the keys for our modules.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import Tensor

from zoo._io import refuse_urls

#: Weights files looked for in a folder, in this order (first found wins).
WEIGHTS_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "diffusion_pytorch_model.bin",
)
_PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def read_checkpoint(
    path: str | os.PathLike,
    *,
    weights_files: Iterable[str] = WEIGHTS_FILES,
    select: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """The contents of an upstream checkpoint file or ``save_pretrained`` folder.

    Args:
        path: a local file, or a folder holding one of ``weights_files`` (a ``*.index.json``
            names shards, which are read and merged).
        weights_files: file names to look for in a folder, first found wins.
        select: keep only top-level keys for which this returns True (safetensors files are read
            lazily, so unselected tensors are never loaded).

    Returns a dict; for safetensors files and folders it maps names to tensors, for a pickle it
    is whatever the pickle holds at top level (often a wrapper: see :func:`unwrap_checkpoint`).
    """
    p = Path(refuse_urls(path, "upstream checkpoint"))
    if p.is_dir():
        names = list(weights_files)
        found = next((p / n for n in names if (p / n).is_file()), None)
        if found is None:
            present = sorted(q.name for q in p.iterdir())[:20]
            raise FileNotFoundError(
                f"upstream checkpoint folder {str(p)!r} has none of {names} (it holds {present})"
            )
        p = found
    if not p.is_file():
        raise FileNotFoundError(f"upstream checkpoint {str(p)!r} does not exist")
    if p.name.endswith(".index.json"):
        index = json.loads(p.read_text(encoding="utf-8"))
        shards = sorted(set(index.get("weight_map", {}).values()))
        if not shards:
            raise ValueError(f"{str(p)!r} has no weight_map: not a sharded-checkpoint index")
        out: dict[str, Any] = {}
        for shard in shards:
            out.update(read_checkpoint(p.parent / shard, select=select))
        return out
    if p.suffix == ".safetensors":
        with safe_open(str(p), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys() if select is None or select(k)}
    if p.suffix not in _PICKLE_SUFFIXES:
        raise ValueError(
            f"upstream checkpoint {str(p)!r}: unknown file type {p.suffix!r}; expected "
            f".safetensors or one of {', '.join(_PICKLE_SUFFIXES)}"
        )
    try:  # mmap: only the tensors that are used are read from disk
        ckpt = torch.load(str(p), map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # legacy (pre-zip) pickles cannot be memory-mapped
        ckpt = torch.load(str(p), map_location="cpu", weights_only=True)
    if not isinstance(ckpt, Mapping):
        raise TypeError(f"upstream checkpoint {str(p)!r} holds a {type(ckpt).__name__}, not a dict")
    return {k: v for k, v in ckpt.items() if select is None or select(k)}


def read_folder_config(path: str | os.PathLike) -> dict[str, Any] | None:
    """The ``config.json`` next to the weights (the folder's, or the file's siblings), if any."""
    p = Path(path)
    config = (p if p.is_dir() else p.parent) / "config.json"
    if not config.is_file():
        return None
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def unwrap_checkpoint(
    ckpt: Mapping[str, Any], keys: Iterable[str] = ("ema", "model", "state_dict")
) -> dict[str, Tensor]:
    """The state dict inside a training checkpoint: the first of ``keys`` that holds a dict
    (LlamaGen saves ``{"model": ..., "ema": ...}``: EMA weights first), else ``ckpt`` itself."""
    for key in keys:
        inner = ckpt.get(key)
        if isinstance(inner, Mapping):
            return dict(inner)
    return dict(ckpt)


def take_prefix(state_dict: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Entries under ``prefix`` (e.g. ``"gen_vision_model."``) with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
