"""Classical image codecs through Pillow, and the quality search that matches a bit budget.

Codecs (those the installed Pillow supports; :func:`available_codecs`):

- ``jpeg``: baseline JPEG (ITU-T T.81), libjpeg through Pillow, integer quality 1-100, 4:2:0
  chroma subsampling (Pillow's default), optimised Huffman tables;
- ``webp``: lossy WebP (libwebp), float quality 0-100, ``method=6`` (slowest, best);
- ``avif``: AV1 still image (libavif through Pillow >= 11.2), integer quality 0-100, speed 6.

The rate is the size of the whole file (headers included), as a file on disk costs. At very low
rates a codec's smallest file (quality 0/1) can still exceed a tokenizer's budget; such targets
are reported as unreachable, with the achieved (minimum) rate. Coding a downsampled image and
upsampling the decoded one (``scale < 1``) reaches lower rates, as practical low-rate image
coding does.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, features


@dataclass(frozen=True)
class Codec:
    """A Pillow image format with its quality range and fixed encoder options."""

    name: str
    pil_format: str
    quality_min: float
    quality_max: float
    integer_quality: bool
    options: tuple[tuple[str, Any], ...]
    feature: str | None  # PIL.features name needed, if any

    def describe(self) -> dict[str, Any]:
        return {
            "format": self.pil_format,
            "quality_range": [self.quality_min, self.quality_max],
            "integer_quality": self.integer_quality,
            "options": dict(self.options),
            "library_version": features.version(self.feature) if self.feature else None,
            "rate": "whole file size in bytes, headers included",
        }


CODECS: dict[str, Codec] = {
    "jpeg": Codec("jpeg", "JPEG", 1, 100, True, (("optimize", True),), "jpg"),
    "webp": Codec("webp", "WEBP", 0, 100, False, (("method", 6),), "webp"),
    "avif": Codec("avif", "AVIF", 0, 100, True, (("speed", 6),), "avif"),
}


#: Display names that are not simply upper case.
_LABELS = {"opus": "Opus"}


def variant_label(name: str) -> str:
    """``"jpeg" -> "JPEG"``, ``"jpeg@0.5x" -> "JPEG @0.5x"`` (coded at half resolution),
    ``"opus" -> "Opus"``."""
    base, _, scale = name.partition("@")
    return _LABELS.get(base, base.upper()) + (f" @{scale}" if scale else "")


def available_codecs() -> list[str]:
    """Codec names whose Pillow plugin is available here."""
    return [n for n, c in CODECS.items() if c.feature is None or features.check(c.feature)]


def get_codec(name: str) -> Codec:
    if name not in CODECS:
        raise ValueError(f"unknown codec {name!r}; choose from {list(CODECS)}")
    if name not in available_codecs():
        raise ValueError(
            f"codec {name!r} is not supported by the installed Pillow (available: "
            f"{available_codecs()})"
        )
    return CODECS[name]


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """``(H, W)`` an image is coded at for a resolution ``scale`` (at least 1 px per side)."""
    return max(1, round(height * scale)), max(1, round(width * scale))


def encode(codec: str | Codec, image: np.ndarray, quality: float, *, scale: float = 1.0) -> bytes:
    """Encode an RGB uint8 image ``(H, W, 3)`` at ``quality``.

    ``scale < 1`` first downsamples the image (PIL bicubic, antialiased) and codes the smaller
    image, the usual way to take a classical codec below the rate of its lowest quality;
    :func:`decode` with ``size=`` upsamples it back.
    """
    c = get_codec(codec) if isinstance(codec, str) else codec
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"{c.name}: expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}"
        )
    if not 0 < scale <= 1:
        raise ValueError(f"{c.name}: scale must lie in (0, 1], got {scale}")
    q = int(round(quality)) if c.integer_quality else float(quality)
    img = Image.fromarray(image)
    if scale != 1:
        h, w = scaled_size(image.shape[0], image.shape[1], scale)
        img = img.resize((w, h), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format=c.pil_format, quality=q, **dict(c.options))
    return buf.getvalue()


def decode(data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode an encoded image to RGB uint8 ``(H, W, 3)``, upsampled (PIL bicubic) to
    ``size = (H, W)`` when given and different."""
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGB")
        if size is not None and img.size != (size[1], size[0]):
            img = img.resize((size[1], size[0]), Image.Resampling.BICUBIC)
        return np.asarray(img, dtype=np.uint8)


@dataclass
class RateMatch:
    """The result of :func:`match_rate` for one image."""

    quality: float
    num_bytes: int
    target_bytes: float
    data: bytes
    within_tolerance: bool
    reachable: bool  # False when even the extreme quality misses the target on its side

    @property
    def relative_error(self) -> float:
        return (self.num_bytes - self.target_bytes) / self.target_bytes


def match_rate(
    codec: str | Codec,
    image: np.ndarray,
    target_bytes: float,
    *,
    tolerance: float = 0.05,
    max_steps: int = 24,
    scale: float = 1.0,
) -> RateMatch:
    """Search the quality whose file size is closest to ``target_bytes``.

    File size grows (almost) monotonically with quality, so a bisection over the quality range
    finds the sizes just below and above the target; the closer one wins. Integer-quality codecs
    stop when the bracket is one step wide, float-quality ones when a size lies within
    ``tolerance / 4`` of the target or after ``max_steps`` encodes.

    Args:
        codec: codec name or :class:`Codec`.
        image: RGB uint8 ``(H, W, 3)``.
        target_bytes: file size to hit (bits per image / 8).
        tolerance: relative size error counted as a hit (``within_tolerance``).
        scale: code the image at this fraction of its resolution (see :func:`encode`).
    """
    c = get_codec(codec) if isinstance(codec, str) else codec
    if target_bytes <= 0:
        raise ValueError(f"{c.name}: target_bytes must be positive, got {target_bytes}")
    cache: dict[float, bytes] = {}

    def size_at(q: float) -> int:
        if q not in cache:
            cache[q] = encode(c, image, q, scale=scale)
        return len(cache[q])

    def result(q: float, reachable: bool = True) -> RateMatch:
        n = size_at(q)
        return RateMatch(
            quality=q,
            num_bytes=n,
            target_bytes=float(target_bytes),
            data=cache[q],
            within_tolerance=abs(n - target_bytes) <= tolerance * target_bytes,
            reachable=reachable,
        )

    lo, hi = float(c.quality_min), float(c.quality_max)
    if size_at(lo) >= target_bytes:
        return result(lo, reachable=size_at(lo) <= target_bytes * (1 + tolerance))
    if size_at(hi) <= target_bytes:
        return result(hi, reachable=size_at(hi) >= target_bytes * (1 - tolerance))
    # Invariant: size(lo) < target < size(hi).
    for _ in range(max_steps):
        if c.integer_quality and hi - lo <= 1:
            break
        mid = float((lo + hi) // 2) if c.integer_quality else (lo + hi) / 2
        n = size_at(mid)
        if not c.integer_quality and abs(n - target_bytes) <= tolerance / 4 * target_bytes:
            return result(mid)
        if n < target_bytes:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda q: abs(size_at(q) - target_bytes))
    return result(best)
