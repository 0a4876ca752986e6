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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, features
from tqdm.auto import tqdm

from zoo.evaluation.runner import resolve_device, update_metrics
from zoo.evaluation.sources import (
    DataLog,
    ResizeRule,
    iter_image_batches,
    num_batches,
    open_image_source,
)
from zoo.metrics import FrechetDistance, create_metrics


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


# --------------------------------------------------------------------------- on a data set
#: Default quality sweep (same list for every codec; each uses the values inside its range).
DEFAULT_SWEEP = (1, 5, 10, 20, 30, 50, 70, 90)
#: Coding resolutions by default: full, and half / quarter to reach tokenizer-like low rates.
DEFAULT_SCALES = (1.0, 0.5, 0.25)


def evaluate_codecs(
    *,
    data: str,
    rule: ResizeRule,
    targets_bits: Sequence[float],
    codecs: Sequence[str] | None = None,
    metrics: Sequence[str] = ("psnr", "ssim", "fd_efflite0"),
    weights: dict[str, str | None] | None = None,
    sweep: Sequence[float] = DEFAULT_SWEEP,
    scales: Sequence[float] = DEFAULT_SCALES,
    tolerance: float = 0.05,
    batch_size: int = 16,
    skip_bad: bool = False,
    limit: int | None = None,
    device: str = "auto",
    progress: bool = True,
    points_per_pass: int = 16,
) -> tuple[dict[str, Any], DataLog]:
    """Measure each codec, at each coding resolution ``scales``, at every target rate (bits per
    image) and over a quality sweep.

    Returns ``({variant: {"settings", "matched": [...], "sweep": [...]}}, data log)``; variants
    are named ``"jpeg"`` (full resolution) or ``"jpeg@0.5x"`` (coded at half resolution). The
    data is read once per ``points_per_pass`` (variant, rate) points, which bounds the memory of
    the Fréchet-distance statistics (13 MB per point for EfficientNet-Lite0, 34 MB for FID).
    """
    dev = resolve_device(device)
    codecs = list(codecs) if codecs else available_codecs()
    for c in codecs:
        get_codec(c)  # clear error for unknown / unsupported codecs
    if not scales or any(not 0 < sc <= 1 for sc in scales):
        raise ValueError(f"codec scales must lie in (0, 1], got {list(scales)}")
    variants = {(c if sc == 1 else f"{c}@{sc:g}x"): (c, float(sc)) for c in codecs for sc in scales}
    targets = sorted(set(float(t) for t in targets_bits))
    points: list[tuple[str, str, float]] = []  # (variant, "matched" | "sweep", target / quality)
    for name, (c, _) in variants.items():
        codec = get_codec(c)
        points += [(name, "matched", t) for t in targets]
        points += [
            (name, "sweep", float(q)) for q in sweep if codec.quality_min <= q <= codec.quality_max
        ]
    source = open_image_source(data)  # a wrong path fails before any network is loaded
    stats = [
        {"bytes": [], "quality": [], "within": 0, "unreachable": 0, "rel_err": []} for _ in points
    ]
    values: list[dict[str, float]] = [{} for _ in points]
    # Each metric set holds (D, D) float64 feature statistics, so points are measured in passes
    # over the data of at most `points_per_pass` sets; the sets (and networks) are reused.
    per_pass = max(1, min(points_per_pass, len(points)))
    sets = create_metrics("image", list(metrics), copies=per_pass, weights=weights)
    sets = [{k: m.to(dev) for k, m in s.items()} for s in sets]
    log: DataLog | None = None
    for start in range(0, len(points), per_pass):
        chunk = list(range(start, min(start + per_pass, len(points))))
        for metric_set in sets:
            for metric in metric_set.values():
                metric.reset()
        pass_log = DataLog()
        batches = iter_image_batches(
            source, rule, batch_size=batch_size, skip_bad=skip_bad, log=pass_log, limit=limit
        )
        bar = tqdm(
            batches,
            total=num_batches(source, batch_size, limit),
            desc=f"codecs {chunk[-1] + 1}/{len(points)}",
            unit="batch",
            disable=not progress,
        )
        for batch in bar:
            x_u8 = batch.images.to(dev)
            for metric in sets[0].values():  # originals once; the other sets compare against them
                if isinstance(metric, FrechetDistance):
                    metric.update(target=x_u8)
            arrays = batch.images.permute(0, 2, 3, 1).numpy()
            size = tuple(arrays.shape[1:3])
            for j, i in enumerate(chunk):
                name, kind, value = points[i]
                c, scale = variants[name]
                decoded = []
                for img in arrays:
                    if kind == "matched":
                        m = match_rate(c, img, value / 8.0, tolerance=tolerance, scale=scale)
                        data_bytes, quality = m.data, m.quality
                        stats[i]["within"] += int(m.within_tolerance)
                        stats[i]["unreachable"] += int(not m.reachable)
                        stats[i]["rel_err"].append(m.relative_error)
                    else:
                        data_bytes, quality = encode(c, img, value, scale=scale), value
                    stats[i]["bytes"].append(len(data_bytes))
                    stats[i]["quality"].append(quality)
                    decoded.append(decode(data_bytes, size=size))
                rec = torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2).to(dev)
                update_metrics(sets[j], rec, x_u8)
        for j, i in enumerate(chunk):
            values[i] = {k: float(m.compute()) for k, m in sets[j].items()}
        if log is None:
            log = pass_log
        elif pass_log.manifest_sha256() != log.manifest_sha256():
            raise RuntimeError(f"data {data!r} changed while the codecs were measured")
    assert log is not None
    h, w = rule.resolution
    out: dict[str, Any] = {
        name: {
            "settings": {
                **get_codec(c).describe(),
                "codec": c,
                "scale": sc,
                "resampling": None
                if sc == 1
                else "PIL bicubic (antialiased) down before coding, bicubic up after decoding",
            },
            "matched": [],
            "sweep": [],
        }
        for name, (c, sc) in variants.items()
    }
    for i, (c, kind, value) in enumerate(points):
        s = stats[i]
        mean_bytes = float(np.mean(s["bytes"]))
        entry: dict[str, Any] = {
            "bits_per_image": mean_bytes * 8,
            "bits_per_pixel": mean_bytes * 8 / (h * w),
            "quality_mean": float(np.mean(s["quality"])),
            "metrics": values[i],
        }
        if kind == "matched":
            n = len(s["bytes"])
            entry = {
                "target_bits_per_image": value,
                "target_bits_per_pixel": value / (h * w),
                **entry,
                "fraction_within_tolerance": s["within"] / n,
                "num_unreachable": s["unreachable"],
                "mean_relative_error": float(np.mean(s["rel_err"])),
                "max_abs_relative_error": float(np.max(np.abs(s["rel_err"]))),
                "quality_min": float(np.min(s["quality"])),
                "quality_max": float(np.max(s["quality"])),
            }
        else:
            entry = {"quality": value, **entry}
        out[c][kind].append(entry)
    return out, log
