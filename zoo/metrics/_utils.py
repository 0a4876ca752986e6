"""Helpers shared by the metrics: 8-bit quantization, input checks, weight files.

``sha256_file`` (from :mod:`zoo._io`) is re-exported here for the metrics' callers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor
from torchmetrics import Metric

from zoo._io import sha256_file


def to_uint8(x: Tensor) -> Tensor:
    """Images in [-1, 1] (float) -> uint8 in [0, 255], exactly as a PNG file would store them.

    ``p / 127.5 - 1`` maps back to the same byte ``p``, so real images survive the round trip
    unchanged; values outside [-1, 1] (decoder overshoot) are clipped. uint8 input is returned
    as is.
    """
    if x.dtype == torch.uint8:
        return x
    if not x.is_floating_point():
        raise TypeError(f"to_uint8: expected float images in [-1, 1] or uint8, got dtype {x.dtype}")
    return ((x.detach().float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)


def to_pixel_values(x: Tensor, *, quantize: bool) -> Tensor:
    """Images in [-1, 1] (float) or uint8 -> float64 pixel values in [0, 255].

    With ``quantize`` float inputs are rounded to 8 bits first (the PNG round trip); without it
    they are only clipped and rescaled. uint8 inputs are exact either way.
    """
    if x.dtype == torch.uint8 or quantize:
        return to_uint8(x).double()
    if not x.is_floating_point():
        raise TypeError(f"expected float images in [-1, 1] or uint8, got dtype {x.dtype}")
    return (x.detach().double().clamp(-1.0, 1.0) + 1.0) * 127.5


def check_image_pair(name: str, preds: Tensor, target: Tensor) -> None:
    """Raise unless ``preds`` and ``target`` are same-shape RGB batches ``(B, 3, H, W)``."""
    for what, x in (("preds", preds), ("target", target)):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: {what} must be a torch.Tensor, got {type(x).__name__}")
    if preds.shape != target.shape or preds.ndim != 4 or preds.shape[1] != 3:
        raise ValueError(
            f"{name}: expected preds and target of the same shape (B, 3, H, W) (float in [-1, 1] "
            f"or uint8 in [0, 255]), got {tuple(preds.shape)} and {tuple(target.shape)}"
        )
    if preds.shape[0] == 0:
        raise ValueError(f"{name}: got an empty batch, shape {tuple(preds.shape)}")


def load_state_dict_file(path: str | Path, *, component: str) -> dict[str, Tensor]:
    """Tensors of a ``.safetensors`` or plain ``.pth`` state dict (never unpickles code).

    Errors name ``component`` and the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{component}: weights file {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors come in many types
        raise ValueError(
            f"{component}: {str(path)!r} is not a plain tensor state dict loadable with "
            f"torch.load(weights_only=True): {type(err).__name__}: {err}"
        ) from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{component}: {str(path)!r} does not hold a dict of tensors")
    return state


def torch_hub_checkpoint(filename: str) -> Path:
    """Where ``torch.hub`` caches a downloaded checkpoint: ``$TORCH_HOME/hub/checkpoints/``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


class MeanMetric(Metric):
    """Base of per-item metrics: the mean over all items (images, clips) of a per-item value.

    States are a float64 sum and an item count, summed across processes under DDP. Subclasses
    set ``key``, ``label``, ``higher_is_better`` and call :meth:`_add` from ``update``.
    """

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    is_differentiable: ClassVar[bool] = False
    full_state_update: ClassVar[bool] = False

    total: Tensor
    count: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def _add(self, values: Tensor) -> None:
        self.total += values.sum().double()
        self.count += values.numel()

    def compute(self) -> Tensor:
        """Mean over all items seen since the last ``reset`` (float64 scalar)."""
        if int(self.count) == 0:
            raise RuntimeError(f"{type(self).__name__}: compute() called before any update()")
        return self.total / self.count

    def describe(self) -> dict[str, Any]:
        """Implementation details recorded in result files."""
        return {
            "label": self.label,
            "implementation": f"{type(self).__module__}.{type(self).__qualname__}",
            "higher_is_better": self.higher_is_better,
        }


__all__ = [
    "MeanMetric",
    "check_image_pair",
    "load_state_dict_file",
    "sha256_file",
    "to_pixel_values",
    "to_uint8",
    "torch_hub_checkpoint",
]
