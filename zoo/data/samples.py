"""Real sample photographs that ship with installed packages (offline, no synthetic images).

scikit-image bundles CC0 / public-domain photos; matplotlib bundles ``grace_hopper.jpg``. They
serve the demo, the tests and the held-out validation set of the CPU-scale recipes (the training
photos come from elsewhere, so these never leak into training).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

#: name -> (loader, license)
SAMPLE_PHOTOS: dict[str, str] = {
    "astronaut": "public domain (NASA)",
    "chelsea": "CC0 (Stefan van der Walt)",
    "coffee": "CC0 (Rachel Michetti)",
    "rocket": "public domain (NASA)",
    "hubble_deep_field": "public domain (NASA/ESA)",
    "retina": "CC0 (Häggström, via scikit-image)",
    "stereo_motorcycle": "CC0 (Middlebury stereo, via scikit-image)",
    "camera": "CC0 (scikit-image), grayscale replicated to RGB",
    "grace_hopper": "public domain (US Navy), via matplotlib",
}


@functools.cache
def load_sample_photo(name: str) -> np.ndarray:
    """One bundled photo as uint8 ``(H, W, 3)`` RGB."""
    if name not in SAMPLE_PHOTOS:
        raise ValueError(f"unknown sample photo {name!r}; available: {', '.join(SAMPLE_PHOTOS)}")
    if name == "grace_hopper":
        import matplotlib
        from PIL import Image

        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        img = np.asarray(Image.open(path).convert("RGB"))
    else:
        import skimage.data

        img = getattr(skimage.data, name)()
        if isinstance(img, tuple):  # stereo_motorcycle returns (left, right, disparity)
            img = img[0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


def sample_photo_tensor(name: str) -> Tensor:
    """One bundled photo as float ``(3, H, W)`` in ``[-1, 1]``."""
    return torch.from_numpy(load_sample_photo(name).copy()).permute(2, 0, 1).float() / 127.5 - 1


def resize_center_crop(img: Tensor, height: int, width: int | None = None) -> Tensor:
    """Resize ``(C, H, W)`` so it covers ``height x width`` (antialiased bilinear), centre crop."""
    width = width or height
    scale = max(height / img.shape[1], width / img.shape[2])
    size = (max(height, round(img.shape[1] * scale)), max(width, round(img.shape[2] * scale)))
    img = torch.nn.functional.interpolate(
        img[None], size=size, mode="bilinear", antialias=True, align_corners=False
    )[0]
    top, left = (size[0] - height) // 2, (size[1] - width) // 2
    return img[:, top : top + height, left : left + width].clamp(-1, 1)


def photo_crops(
    n: int,
    height: int,
    width: int | None = None,
    *,
    names: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket"),
    zoom: float = 2.0,
    seed: int = 0,
) -> Tensor:
    """``n`` real photo crops ``(n, 3, H, W)`` in ``[-1, 1]``, cycling over ``names``: each photo
    is resized so its short side is ``zoom`` times the crop, then cropped at a seeded offset."""
    width = width or height
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = sample_photo_tensor(names[i % len(names)])
        scale = zoom * max(height / img.shape[1], width / img.shape[2])
        big = resize_center_crop(img, round(img.shape[1] * scale), round(img.shape[2] * scale))
        top = int(rng.integers(0, big.shape[1] - height + 1))
        left = int(rng.integers(0, big.shape[2] - width + 1))
        out.append(big[:, top : top + height, left : left + width])
    return torch.stack(out)
