"""Image crops for tokenizer training: multi-scale random crops that skip flat regions.

A crop is taken as if the photo's short side had been resized to a random length in
``[min_short_side, max_short_side]``: only the window under the crop is resampled (with PIL's
antialiased filter), so a 20 MP photo is never resized whole. JPEGs are decoded at a reduced DCT
scale when the crop allows it (``Image.draft``), which makes large photos cheap to read.

Flat crops (sky, walls, blur) teach a tokenizer little and inflate PSNR, so crops whose gradient
energy — mean absolute finite difference of luma in [0, 1] — is below ``min_gradient_energy`` are
redrawn, up to ``max_tries`` times; the most textured attempt is kept if none passes.

Crops are uint8 tensors ``(3, crop_size, crop_size)`` with values in [0, 255];
:func:`to_model_range` maps them to the models' float range [-1, 1].
"""

from __future__ import annotations

import io
import random

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from zoo.data.bad_files import BadSampleError

# sRGB luma weights (ITU-R BT.601), as PIL's "L" conversion uses.
_LUMA = (0.299, 0.587, 0.114)


def to_model_range(x: Tensor) -> Tensor:
    """uint8 images in [0, 255] (any layout) -> float32 in [-1, 1]."""
    if x.dtype != torch.uint8:
        raise TypeError(f"to_model_range: expected uint8 images in [0, 255], got dtype {x.dtype}")
    return x.float() / 127.5 - 1.0


def gradient_energy(x: Tensor | np.ndarray) -> float:
    """Mean absolute horizontal + vertical luma difference of one image.

    Args:
        x: ``(3, H, W)`` uint8 tensor in [0, 255], or an ``(H, W, 3)`` uint8 array.

    Returns:
        a float in [0, 2]. On 64-128 px crops of real photos, sky, fog and out-of-focus
        backgrounds score below ~0.01, textured regions 0.02-0.1.
    """
    a = torch.from_numpy(np.array(x)) if isinstance(x, np.ndarray) else x
    if a.ndim != 3:
        raise ValueError(f"gradient_energy: expected one RGB image, got shape {tuple(a.shape)}")
    if a.shape[0] != 3:  # HWC array
        a = a.permute(2, 0, 1)
    w = torch.tensor(_LUMA, dtype=torch.float32).view(3, 1, 1)
    luma = (a.float() / 255.0 * w).sum(0)
    dx = (luma[:, 1:] - luma[:, :-1]).abs().mean()
    dy = (luma[1:, :] - luma[:-1, :]).abs().mean()
    return float(dx + dy)


def decode_rgb(img: Image.Image, min_size: tuple[int, int] | None = None) -> Image.Image:
    """Decode ``img`` as RGB; for JPEGs, at the smallest DCT scale still >= ``min_size`` (w, h)."""
    # draft() only acts before the pixels are loaded (``tile`` is emptied by load()).
    if min_size is not None and img.format == "JPEG" and getattr(img, "tile", None):
        img.draft("RGB", (max(1, int(min_size[0])), max(1, int(min_size[1]))))
    if img.mode != "RGB":
        # Grayscale and palette images become 3 equal channels; alpha is dropped.
        img = img.convert("RGB")
    img.load()
    return img


def decode_image(data: bytes, name: str) -> Image.Image:
    """Fully decode encoded image bytes as an RGB PIL image (grayscale replicated, alpha dropped;
    truncated files fail here, not later); any failure is a
    :class:`~zoo.data.bad_files.BadSampleError` naming ``name``."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            rgb = decode_rgb(img)
            return rgb if rgb is not img else img.copy()
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, ... on bad files
        raise BadSampleError(f"{name}: cannot decode image: {type(err).__name__}: {err}") from err


class MultiScaleCrop:
    """Random square crops of a photo at a random scale, with flat-crop rejection.

    Args:
        crop_size: side of the output crop in pixels.
        min_short_side, max_short_side: the photo's short side is (virtually) resized to a length
            drawn uniformly from this range before cropping; a length below ``crop_size`` is
            raised to ``crop_size``. Equal values give a fixed scale.
        flip: mirror horizontally with probability 0.5.
        min_gradient_energy: reject crops with :func:`gradient_energy` below this (0 disables).
        max_tries: crop positions tried before keeping the most textured one.

    ``__call__(img, rng)`` takes an undecoded or decoded ``PIL.Image`` and a ``random.Random``
    and returns a uint8 tensor ``(3, crop_size, crop_size)`` in [0, 255].
    """

    def __init__(
        self,
        *,
        crop_size: int,
        min_short_side: int,
        max_short_side: int,
        flip: bool = True,
        min_gradient_energy: float = 0.0,
        max_tries: int = 10,
    ) -> None:
        if crop_size < 1:
            raise ValueError(f"MultiScaleCrop: crop_size must be >= 1, got {crop_size}")
        if not 1 <= min_short_side <= max_short_side:
            raise ValueError(
                "MultiScaleCrop: need 1 <= min_short_side <= max_short_side, got "
                f"{min_short_side} and {max_short_side}"
            )
        if max_tries < 1:
            raise ValueError(f"MultiScaleCrop: max_tries must be >= 1, got {max_tries}")
        self.crop_size = crop_size
        self.min_short_side = min_short_side
        self.max_short_side = max_short_side
        self.flip = flip
        self.min_gradient_energy = min_gradient_energy
        self.max_tries = max_tries

    def __call__(self, img: Image.Image, rng: random.Random) -> Tensor:
        short = rng.uniform(self.min_short_side, self.max_short_side)
        short = max(short, float(self.crop_size))
        w0, h0 = img.size
        scale = short / min(w0, h0)
        img = decode_rgb(img, min_size=(w0 * scale, h0 * scale))
        # The decoded size may be a DCT-reduced version of (w0, h0): rescale to it.
        w, h = img.size
        window = self.crop_size * min(w, h) / short  # crop side in decoded pixels
        best, best_energy = None, -1.0
        for _ in range(self.max_tries):
            x0 = rng.uniform(0.0, w - window)
            y0 = rng.uniform(0.0, h - window)
            crop = img.resize(
                (self.crop_size, self.crop_size),
                Image.Resampling.BICUBIC,
                box=(x0, y0, x0 + window, y0 + window),
            )
            arr = np.asarray(crop)
            energy = gradient_energy(arr)
            if energy > best_energy:
                best, best_energy = arr, energy
            if energy >= self.min_gradient_energy:
                break
        out = torch.from_numpy(np.array(best)).permute(2, 0, 1)  # copy: PIL arrays are read-only
        if self.flip and rng.random() < 0.5:
            out = out.flip(-1)
        return out.contiguous()
