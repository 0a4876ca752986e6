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

Audio (``update(preds, target)``, ``(B, C, samples)`` float in [-1, 1] at the model's rate;
see :mod:`zoo.metrics.audio`):

========================  ==================  ============================================
key                       label               implementation
========================  ==================  ============================================
``mel_distance``          Mel distance        multi-resolution log-mel L1 (zoo.losses)
``stft_distance``         MR-STFT distance    spectral convergence + log-magnitude L1
``si_sdr``                SI-SDR              closed form, float64, dB
``pesq``                  PESQ-WB             ``pesq`` (ITU-T P.862.2) at 16 kHz
``stoi``                  STOI                ``pystoi``
``dnsmos_ovrl``, ...      DNSMOS OVRL         ``speechmos`` ONNX models (no reference);
                                              also ``dnsmos_sig``, ``dnsmos_bak``
========================  ==================  ============================================

Codes: :class:`CodebookUsage` (usage, perplexity, entropy over the whole set) and
:func:`bits_per_image` / :func:`bits_per_pixel` / :func:`audio_code_bits` from the tokenizer's
own accounting.

:func:`create_metrics` builds metrics by name for a modality through :data:`METRIC_BUILDERS`
(``create_metrics("audio", ["pesq", "stoi"], sample_rate=16000)``, or with the modality
inferred from the names: ``create_metrics(["pesq", "stoi"], sample_rate=16000)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from torchmetrics import Metric

from zoo.metrics.audio import (
    AUDIO_METRIC_GROUPS,
    AUDIO_METRICS,
    NO_REFERENCE_METRICS,
    PESQ,
    SISDR,
    STOI,
    AudioMetric,
    DNSMOSBackground,
    DNSMOSOverall,
    DNSMOSScorer,
    DNSMOSSignal,
    MelDistance,
    STFTDistance,
    create_audio_metrics,
    expand_audio_metric_names,
)
from zoo.metrics.codebook import CodebookUsage, audio_code_bits, bits_per_image, bits_per_pixel
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
    "mel_distance": MelDistance.label,
    "stft_distance": STFTDistance.label,
    "si_sdr": SISDR.label,
    "pesq": PESQ.label,
    "stoi": STOI.label,
    "dnsmos_ovrl": DNSMOSOverall.label,
    "dnsmos_sig": DNSMOSSignal.label,
    "dnsmos_bak": DNSMOSBackground.label,
}

#: Whether larger is better, by key.
HIGHER_IS_BETTER = {
    "psnr": True,
    "ssim": True,
    "ms_ssim": True,
    "lpips": False,
    "fid": False,
    "fd_efflite0": False,
    "mel_distance": False,
    "stft_distance": False,
    "si_sdr": True,
    "pesq": True,
    "stoi": True,
    "dnsmos_ovrl": True,
    "dnsmos_sig": True,
    "dnsmos_bak": True,
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


#: ``modality -> builder(names, *, copies, weights, quantize[, sample_rate])``; the eval runners
#: dispatch here.
METRIC_BUILDERS: dict[str, Callable[..., list[dict[str, Metric]]]] = {
    "image": create_image_metrics,
    "audio": create_audio_metrics,
}

#: Metric keys (and shorthands) each builder accepts, for :func:`metric_modality`.
METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "image": IMAGE_METRICS,
    "audio": AUDIO_METRICS + tuple(AUDIO_METRIC_GROUPS),
}

#: Metrics computed when none are requested, per modality (ms_ssim is added by the runner when
#: the images are large enough; DNSMOS, a neural network at ~1 s per clip on a CPU, is opt-in).
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "image": ("psnr", "ssim", "fd_efflite0"),
    "audio": ("mel_distance", "stft_distance", "si_sdr", "pesq", "stoi"),
}


def metric_modality(names: Sequence[str]) -> str:
    """The modality whose metrics ``names`` are (ValueError for unknown or mixed names)."""
    names = list(names)
    if not names:
        raise ValueError("metric_modality: no metric names given")
    for modality, known in METRIC_NAMES.items():
        if all(n in known for n in names):
            return modality
    unknown = [n for n in names if not any(n in known for known in METRIC_NAMES.values())]
    if unknown:
        raise ValueError(
            f"unknown metrics {unknown}; choose from "
            + "; ".join(f"{m}: {', '.join(k)}" for m, k in METRIC_NAMES.items())
        )
    raise ValueError(f"metrics {names} mix modalities; build each modality's metrics separately")


def create_metrics(
    modality: str | Sequence[str],
    names: Sequence[str] | None = None,
    *,
    copies: int = 1,
    weights: Mapping[str, str | None] | None = None,
    quantize: bool = True,
    sample_rate: int | None = None,
) -> list[dict[str, Metric]]:
    """Build metric sets for ``modality`` through :data:`METRIC_BUILDERS` (arguments as in
    :func:`create_image_metrics`; ``sample_rate`` is the clips' rate, for audio metrics only).

    ``create_metrics(names, ...)`` (a list first, no modality) infers the modality from the names.
    """
    if not isinstance(modality, str):
        if names is not None:
            raise TypeError("create_metrics: pass (modality, names) or (names) alone")
        names = list(modality)
        modality = metric_modality(names)
    if names is None:
        raise TypeError(f"create_metrics({modality!r}): missing the metric names")
    if modality not in METRIC_BUILDERS:
        raise ValueError(
            f"create_metrics: no metrics registered for modality {modality!r} (have "
            f"{sorted(METRIC_BUILDERS)})"
        )
    options: dict[str, int] = {}
    if sample_rate is not None:
        if modality != "audio":
            raise ValueError(
                f"create_metrics: sample_rate applies to audio metrics, not {modality!r}"
            )
        options["sample_rate"] = sample_rate
    return METRIC_BUILDERS[modality](
        names, copies=copies, weights=weights, quantize=quantize, **options
    )


__all__ = [
    "AUDIO_METRICS",
    "AUDIO_METRIC_GROUPS",
    "DEFAULT_METRICS",
    "FID",
    "HIGHER_IS_BETTER",
    "IMAGE_METRICS",
    "METRIC_BUILDERS",
    "METRIC_LABELS",
    "METRIC_NAMES",
    "MSSSIM",
    "NO_REFERENCE_METRICS",
    "PESQ",
    "PSNR",
    "SISDR",
    "SSIM",
    "STOI",
    "STFTDistance",
    "AudioMetric",
    "CodebookUsage",
    "DNSMOSBackground",
    "DNSMOSOverall",
    "DNSMOSScorer",
    "DNSMOSSignal",
    "EffLite0Features",
    "FDEffLite0",
    "FeatureExtractor",
    "FrechetDistance",
    "ImageMetric",
    "InceptionV3Features",
    "LPIPSMetric",
    "MelDistance",
    "audio_code_bits",
    "bits_per_image",
    "bits_per_pixel",
    "create_audio_metrics",
    "create_image_metrics",
    "create_metrics",
    "expand_audio_metric_names",
    "frechet_distance",
    "gaussian_stats",
    "metric_modality",
]
