"""Full-reference audio metrics, streaming (``update`` / ``compute`` / ``reset``).

- Mel distance: the multi-resolution log-mel L1 of :class:`zoo.losses.MultiResolutionMelLoss`
  (the training loss of DAC, Kumar et al., NeurIPS 2023), per clip, averaged over clips.
- Multi-resolution STFT distance: spectral convergence + log-magnitude L1 of
  :class:`zoo.losses.MultiResolutionSTFTLoss` (Yamamoto et al., "Parallel WaveGAN", ICASSP 2020).
- SI-SDR: Le Roux, Wisdom, Erdogan & Hershey, "SDR - Half-baked or Well Done?", ICASSP 2019:
  with zero-mean signals, ``alpha = <p, s> / ||s||^2`` and
  ``SI-SDR = 10 log10(||alpha s||^2 / ||alpha s - p||^2)`` dB, per clip and channel, averaged.

PESQ and STOI need the ``pesq`` / ``pystoi`` packages, which this environment does not ship; they
are not implemented here.

Inputs of every ``update(preds, target)``: two waveform batches ``(B, C, samples)`` float in
[-1, 1] at the metric's sample rate. Every metric is a ``torchmetrics.Metric`` (states sum across
processes under DDP) with ``describe()`` for result files, like :mod:`zoo.metrics.image`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from zoo.losses.spectral import (
    MultiResolutionMelLoss,
    MultiResolutionSTFTLoss,
    check_audio_pair,
)
from zoo.metrics._utils import MeanMetric


class AudioMetric(MeanMetric):
    """Base of the full-reference audio metrics: the mean over clips of a per-clip value.

    Subclasses set ``key``, ``label``, ``higher_is_better`` and implement :meth:`per_clip`.
    """

    @property
    def min_samples(self) -> int:
        """Shortest clip the metric can measure."""
        return 1

    def per_clip(self, preds: Tensor, target: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Metric values ``(B,)`` of waveforms ``(B, C, samples)`` in [-1, 1]."""
        raise NotImplementedError

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch: ``preds`` (reconstructions) and ``target`` (originals), ``(B, C, T)``
        float in [-1, 1]."""
        check_audio_pair(type(self).__name__, preds, target, min_samples=self.min_samples)
        with torch.no_grad():
            values = self.per_clip(preds.detach(), target.detach())
        self._add(values)


class MelDistance(AudioMetric):
    """Multi-resolution log-mel L1 distance per clip, averaged (0 for identical audio).

    Args:
        sample_rate: of the clips, in Hz.
        n_ffts, n_mels: resolutions, as in :class:`zoo.losses.MultiResolutionMelLoss`.
    """

    key = "mel_distance"
    label = "Mel distance"
    higher_is_better = False

    def __init__(
        self,
        *,
        sample_rate: int = 24000,
        n_ffts: Sequence[int] = (512, 1024, 2048),
        n_mels: Sequence[int] = (40, 80, 160),
    ) -> None:
        super().__init__()
        self.distance = MultiResolutionMelLoss(
            sample_rate=sample_rate, n_ffts=n_ffts, n_mels=n_mels
        )

    @property
    def min_samples(self) -> int:
        # Centred STFTs reflect-pad by n_fft // 2, which needs more samples than that.
        return max(self.distance.n_ffts) // 2 + 1

    def per_clip(self, preds: Tensor, target: Tensor) -> Tensor:
        return self.distance.per_item(preds, target)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "sample_rate": self.distance.sample_rate,
            "n_ffts": self.distance.n_ffts,
            "n_mels": [m.n_mels for m in self.distance.mels],
            "hops": self.distance.hops,
            "reduction": "mean over clips of log-mel L1 averaged over resolutions",
        }


class STFTDistance(AudioMetric):
    """Multi-resolution STFT distance (spectral convergence + log-magnitude L1) per clip.

    Args:
        n_ffts: FFT sizes, as in :class:`zoo.losses.MultiResolutionSTFTLoss`.
    """

    key = "stft_distance"
    label = "MR-STFT distance"
    higher_is_better = False

    def __init__(self, *, n_ffts: Sequence[int] = (512, 1024, 2048)) -> None:
        super().__init__()
        self.distance = MultiResolutionSTFTLoss(n_ffts=n_ffts)

    @property
    def min_samples(self) -> int:
        # Centred STFTs reflect-pad by n_fft // 2, which needs more samples than that.
        return max(self.distance.n_ffts) // 2 + 1

    def per_clip(self, preds: Tensor, target: Tensor) -> Tensor:
        return self.distance.per_item(preds, target)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "n_ffts": self.distance.n_ffts,
            "hops": self.distance.hops,
            "reduction": "mean over clips of (SC + log-mag L1) averaged over resolutions",
        }


def si_sdr(preds: Tensor, target: Tensor, *, eps: float = 1e-12) -> Tensor:
    """SI-SDR in dB, ``(...)`` of signals ``(..., samples)``, computed in float64.

    ``eps`` keeps silent targets and exact reconstructions finite: identical signals score
    ``10 log10(||s||^2 / eps)``, far above any real codec.
    """
    p = preds.double() - preds.double().mean(-1, keepdim=True)
    s = target.double() - target.double().mean(-1, keepdim=True)
    alpha = (p * s).sum(-1, keepdim=True) / ((s * s).sum(-1, keepdim=True) + eps)
    projection = alpha * s
    noise = projection - p
    return 10.0 * torch.log10(((projection**2).sum(-1) + eps) / ((noise**2).sum(-1) + eps))


class SISDR(AudioMetric):
    """Scale-invariant signal-to-distortion ratio in dB, per clip and channel, averaged."""

    key = "si_sdr"
    label = "SI-SDR"
    higher_is_better = True

    def per_clip(self, preds: Tensor, target: Tensor) -> Tensor:
        # Each channel is one value: a stereo clip counts twice, as in per-source evaluation.
        return si_sdr(preds, target).flatten()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "reduction": "mean over clips and channels, zero-mean signals, dB",
        }


#: Audio metric keys, in the order tables print them.
AUDIO_METRICS = ("mel_distance", "stft_distance", "si_sdr")


def create_audio_metrics(
    names: Sequence[str],
    *,
    copies: int = 1,
    weights: Mapping[str, str | None] | None = None,
    quantize: bool = True,
    sample_rate: int = 24000,
) -> list[dict[str, Metric]]:
    """``copies`` sets of audio metrics ``{key: metric}`` (the signature of
    :func:`zoo.metrics.create_image_metrics`, so it can sit in ``METRIC_BUILDERS``).

    Args:
        names: metric keys from :data:`AUDIO_METRICS`.
        copies: number of independent metric sets.
        weights: must be empty: no audio metric here has weights.
        quantize: ignored (audio is measured in float); accepted for the common signature.
        sample_rate: of the clips, for the mel filterbanks.
    """
    del quantize  # float audio has no 8-bit round trip
    if weights:
        raise ValueError(
            f"create_audio_metrics: audio metrics take no weights, got {dict(weights)}"
        )
    bad = [n for n in names if n not in AUDIO_METRICS]
    if bad:
        raise ValueError(
            f"create_audio_metrics: unknown audio metrics {bad}; choose from {list(AUDIO_METRICS)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"create_audio_metrics: duplicate metric names in {list(names)}")
    if copies < 1:
        raise ValueError(f"create_audio_metrics: copies must be >= 1, got {copies}")
    builders = {
        "mel_distance": lambda: MelDistance(sample_rate=sample_rate),
        "stft_distance": STFTDistance,
        "si_sdr": SISDR,
    }
    return [{name: builders[name]() for name in names} for _ in range(copies)]


__all__ = [
    "AUDIO_METRICS",
    "SISDR",
    "AudioMetric",
    "MelDistance",
    "STFTDistance",
    "create_audio_metrics",
    "si_sdr",
]
