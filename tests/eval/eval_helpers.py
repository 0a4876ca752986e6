"""Helpers shared by the evaluation tests (imported by name: conftest modules of different test
folders would shadow each other)."""

import io
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image


def write_photos(folder: Path) -> dict[str, bytes]:
    """Real photos of different sizes and formats (JPEG, PNG, grayscale PNG) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    items = {
        "astronaut.jpg": (skimage.data.astronaut()[::4, ::4], "JPEG"),  # 128 x 128
        "sub/coffee.png": (skimage.data.coffee()[::5, ::5], "PNG"),  # 80 x 120
        "camera.png": (skimage.data.camera()[::8, ::8], "PNG"),  # 64 x 64, grayscale
    }
    out = {}
    for name, (arr, fmt) in items.items():
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(arr)).save(buf, fmt)
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(buf.getvalue())
        out[name] = buf.getvalue()
    return out
