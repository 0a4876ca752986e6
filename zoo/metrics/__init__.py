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

Every metric registers itself (:mod:`zoo.metrics.registry`) with its key, label, direction and
modality: :func:`list_metrics` (keys in table order) and :func:`metric_info` feed every CLI
default and report, and :func:`create_metrics` builds metrics by name for a modality
(``create_metrics("audio", ["pesq", "stoi"], sample_rate=16000)``, or with the modality
inferred from the names: ``create_metrics(["pesq", "stoi"], sample_rate=16000)``). A new
modality's metrics register themselves in their own file, with no edit here. The tables
``IMAGE_METRICS``, ``AUDIO_METRICS``, ``METRIC_LABELS``, ``HIGHER_IS_BETTER``, ``DEFAULT_METRICS``
and ``METRIC_NAMES`` are live read-only views of the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

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
from zoo.metrics.functional import psnr
from zoo.metrics.image import MSSSIM, PSNR, SSIM, ImageMetric, LPIPSMetric
from zoo.metrics.registry import (
    MetricBuild,
    MetricInfo,
    MetricKeys,
    MetricTable,
    build_metric_sets,
    expand_metric_names,
    list_metric_groups,
    list_metric_modalities,
    list_metrics,
    metric_info,
    register_metric,
)

#: Image metric keys, in the order tables print them.
IMAGE_METRICS = MetricKeys("image")

#: Metric labels by key (how tables and model cards name them).
METRIC_LABELS = MetricTable("label")

#: Whether larger is better, by key.
HIGHER_IS_BETTER = MetricTable("higher_is_better")


class _ByModality(Mapping[str, tuple[str, ...]]):
    """``{modality: keys}`` over the registry's modalities (read-only, live)."""

    def __init__(self, keys: Callable[[str], tuple[str, ...]]) -> None:
        self._keys = keys

    def __getitem__(self, modality: str) -> tuple[str, ...]:
        if modality not in list_metric_modalities():
            raise KeyError(modality)
        return self._keys(modality)

    def __iter__(self) -> Iterator[str]:
        return iter(list_metric_modalities())

    def __len__(self) -> int:
        return len(list_metric_modalities())


#: Metric keys (and group shorthands) each modality accepts, for :func:`metric_modality`.
METRIC_NAMES: Mapping[str, tuple[str, ...]] = _ByModality(
    lambda m: (*list_metrics(m), *list_metric_groups(m))
)

#: Metrics computed when none are requested, per modality (ms_ssim is added by the runner when
#: the images are large enough; DNSMOS, a neural network at ~1 s per clip on a CPU, is opt-in).
DEFAULT_METRICS: Mapping[str, tuple[str, ...]] = _ByModality(
    lambda m: tuple(list_metrics(m, default=True))
)


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
    return build_metric_sets("image", names, copies=copies, weights=weights, quantize=quantize)


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
    """Build ``copies`` metric sets ``{key: metric}`` of ``modality``'s registered metrics
    ``names`` (arguments as in :func:`create_image_metrics`; ``sample_rate`` is the clips' rate,
    for the metrics that take one, e.g. audio's).

    ``create_metrics(names, ...)`` (a list first, no modality) infers the modality from the names.
    """
    if not isinstance(modality, str):
        if names is not None:
            raise TypeError("create_metrics: pass (modality, names) or (names) alone")
        names = list(modality)
        modality = metric_modality(names)
    if names is None:
        raise TypeError(f"create_metrics({modality!r}): missing the metric names")
    if modality not in list_metric_modalities():
        raise ValueError(
            f"create_metrics: no metrics registered for modality {modality!r} (have "
            f"{sorted(list_metric_modalities())})"
        )
    if sample_rate is not None:
        takes = [m for m in list_metric_modalities() if _takes_option(m, "sample_rate")]
        if modality not in takes:
            raise ValueError(
                f"create_metrics: sample_rate applies to {', '.join(takes)} metrics, not "
                f"{modality!r}"
            )
    return build_metric_sets(
        modality, names, copies=copies, weights=weights, quantize=quantize, sample_rate=sample_rate
    )


def _takes_option(modality: str, option: str) -> bool:
    return any(option in metric_info(k).options for k in list_metrics(modality))


__all__ = [
    "AUDIO_METRICS",
    "AUDIO_METRIC_GROUPS",
    "DEFAULT_METRICS",
    "FID",
    "HIGHER_IS_BETTER",
    "IMAGE_METRICS",
    "METRIC_LABELS",
    "METRIC_NAMES",
    "MSSSIM",
    "MetricBuild",
    "MetricInfo",
    "MetricKeys",
    "MetricTable",
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
    "build_metric_sets",
    "create_audio_metrics",
    "create_image_metrics",
    "create_metrics",
    "expand_audio_metric_names",
    "expand_metric_names",
    "frechet_distance",
    "gaussian_stats",
    "list_metric_groups",
    "list_metric_modalities",
    "list_metrics",
    "metric_info",
    "metric_modality",
    "psnr",
    "register_metric",
]
