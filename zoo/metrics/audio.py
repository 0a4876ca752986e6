"""Audio metrics, streaming (``update`` / ``compute`` / ``reset``).

Full-reference (the reconstruction against the original):

- Mel distance: the multi-resolution log-mel L1 of :class:`zoo.losses.MultiResolutionMelLoss`
  (the training loss of DAC, Kumar et al., NeurIPS 2023), per clip, averaged over clips.
- Multi-resolution STFT distance: spectral convergence + log-magnitude L1 of
  :class:`zoo.losses.MultiResolutionSTFTLoss` (Yamamoto et al., "Parallel WaveGAN", ICASSP 2020).
- SI-SDR: Le Roux, Wisdom, Erdogan & Hershey, "SDR - Half-baked or Well Done?", ICASSP 2019:
  with zero-mean signals, ``alpha = <p, s> / ||s||^2`` and
  ``SI-SDR = 10 log10(||alpha s||^2 / ||alpha s - p||^2)`` dB, per clip and channel, averaged.
- PESQ, wideband: ITU-T P.862.2 (MOS-LQO, 1.04 to 4.64) through the ``pesq`` package (the ITU
  reference C code), on both signals resampled to 16 kHz (soxr, very high quality). A model
  below 16 kHz is thereby judged as band-limited wideband speech, as Codec-SUPERB does.
- STOI: Taal, Hendriks, Heusdens & Jensen, "An Algorithm for Intelligibility Prediction of
  Time-Frequency Weighted Noisy Speech", IEEE TASLP 2011, through ``pystoi`` (0 to 1), at the
  clips' own rate (pystoi resamples to its internal 10 kHz and drops silent frames itself).

No-reference (the reconstruction alone; ``target`` is only checked for shape):

- DNSMOS P.835: Reddy, Gopal & Cutler, "DNSMOS P.835: A Non-Intrusive Perceptual Objective Speech
  Quality Metric to Evaluate Noise Suppressors", ICASSP 2022: Microsoft's ONNX models as bundled
  by ``speechmos`` (``pip install 'tokenizer-zoo[dnsmos]'``), at 16 kHz: overall quality
  (``dnsmos_ovrl``), speech signal (``dnsmos_sig``) and background (``dnsmos_bak``), each a MOS
  in [1, 5]. ``"dnsmos"`` in a metric list stands for all three.

Inputs of every ``update(preds, target)``: two waveform batches ``(B, C, samples)`` float in
[-1, 1] at the metric's sample rate. Values are per clip and channel (a stereo clip counts
twice, as in per-source evaluation), averaged. Errors name the metric and the clip: NaN or Inf
samples, shapes that differ, clips too short for the metric (PESQ needs 0.25 s, STOI 30
frames of speech, about 0.4 s), and silent references, for which SI-SDR, PESQ and STOI are
undefined. Every metric is a ``torchmetrics.Metric`` (states sum across processes under DDP)
with ``describe()`` for result files, like :mod:`zoo.metrics.image`.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric

from zoo.losses.spectral import (
    MultiResolutionMelLoss,
    MultiResolutionSTFTLoss,
    check_audio_pair,
)
from zoo.metrics._utils import MeanMetric, sha256_file
from zoo.metrics.registry import (
    MetricBuild,
    MetricKeys,
    build_metric_sets,
    expand_metric_names,
    list_metric_groups,
    register_metric,
)

#: The clips' rate when ``create_metrics`` is given none.
DEFAULT_SAMPLE_RATE = 24000

#: A reference whose peak stays below one 16-bit quantization step is digital silence.
SILENCE_PEAK = 2.0**-15


def is_silent(x: Tensor) -> Tensor:
    """Per channel, whether audio ``(..., samples)`` is digital silence (peak < 2^-15)."""
    return x.detach().abs().amax(-1) < SILENCE_PEAK


def resample_numpy(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample 1-d float64 audio with soxr (very high quality); a no-op at equal rates."""
    if int(rate_in) == int(rate_out):
        return x
    import soxr

    return soxr.resample(x, int(rate_in), int(rate_out), quality="VHQ")


class AudioMetric(MeanMetric):
    """Base of the audio metrics: the mean over clips (and channels) of a per-clip value.

    Subclasses set ``key``, ``label``, ``higher_is_better``, ``order`` (table position) and
    implement :meth:`per_clip`; ``needs_reference_signal`` makes a silent reference an error (the
    metric is undefined); :func:`~zoo.metrics.registry.register_metric` lists them.
    """

    modality: ClassVar[str] = "audio"
    #: ``create_metrics`` keywords the metric reads: its constructor takes ``sample_rate``.
    options: ClassVar[tuple[str, ...]] = ("sample_rate",)
    #: Raise on silent references (True for SI-SDR, PESQ, STOI).
    needs_reference_signal: ClassVar[bool] = False

    @classmethod
    def create(cls, build: MetricBuild) -> AudioMetric:
        """One instance for one metric set of :func:`zoo.metrics.create_metrics`."""
        if "sample_rate" not in cls.options:  # rate-independent
            return cls()
        return cls(sample_rate=build.sample_rate or DEFAULT_SAMPLE_RATE)

    @property
    def min_samples(self) -> int:
        """Shortest clip the metric can measure."""
        return 1

    def per_clip(self, preds: Tensor, target: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Metric values ``(B,)`` or ``(B * C,)`` of waveforms ``(B, C, samples)`` in [-1, 1]."""
        raise NotImplementedError

    def check_inputs(self, preds: Tensor, target: Tensor) -> None:
        """Raise a ValueError naming the metric and the problem (shape, length, NaN, silence)."""
        name = type(self).__name__
        check_audio_pair(name, preds, target, min_samples=1)
        if preds.shape[0] == 0:
            raise ValueError(f"{name}: got an empty batch, shape {tuple(preds.shape)}")
        n = preds.shape[-1]
        if n < self.min_samples:
            raise ValueError(
                f"{name}: clips need at least {self.min_samples} samples ({self._duration_hint()}"
                f"), got {n}"
            )
        for what, x in (("preds", preds), ("target", target)):
            bad = ~torch.isfinite(x)
            if bad.any():
                clips = sorted({int(i) for i in bad.nonzero()[:, 0].tolist()})
                raise ValueError(
                    f"{name}: {what} holds {int(bad.sum())} NaN/Inf samples (clips {clips[:8]})"
                )
        if self.needs_reference_signal:
            silent = is_silent(target)
            if silent.any():
                clips = sorted({int(i) for i in silent.nonzero()[:, 0].tolist()})
                raise ValueError(
                    f"{name}: the reference (target) of clips {clips[:8]} is silent (peak below "
                    f"{SILENCE_PEAK:.2g}); {self.label} is undefined for a silent reference, leave "
                    "such clips out of the evaluation"
                )

    def _duration_hint(self) -> str:
        return f"what {self.label} needs"

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch: ``preds`` (reconstructions) and ``target`` (originals), ``(B, C, T)``
        float in [-1, 1]."""
        self.check_inputs(preds, target)
        with torch.no_grad():
            values = self.per_clip(preds.detach(), target.detach())
        self._add(values)


@register_metric
class MelDistance(AudioMetric):
    """Multi-resolution log-mel L1 distance per clip, averaged (0 for identical audio).

    Args:
        sample_rate: of the clips, in Hz.
        n_ffts, n_mels: resolutions, as in :class:`zoo.losses.MultiResolutionMelLoss`.
    """

    key = "mel_distance"
    label = "Mel distance"
    higher_is_better = False
    order = 10
    default = True

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

    def _duration_hint(self) -> str:
        return "the largest FFT"

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


@register_metric
class STFTDistance(AudioMetric):
    """Multi-resolution STFT distance (spectral convergence + log-magnitude L1) per clip.

    Args:
        n_ffts: FFT sizes, as in :class:`zoo.losses.MultiResolutionSTFTLoss`.
    """

    key = "stft_distance"
    label = "MR-STFT distance"
    higher_is_better = False
    order = 20
    default = True
    options = ()

    def __init__(self, *, n_ffts: Sequence[int] = (512, 1024, 2048)) -> None:
        super().__init__()
        self.distance = MultiResolutionSTFTLoss(n_ffts=n_ffts)

    @property
    def min_samples(self) -> int:
        # Centred STFTs reflect-pad by n_fft // 2, which needs more samples than that.
        return max(self.distance.n_ffts) // 2 + 1

    def _duration_hint(self) -> str:
        return "the largest FFT"

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
    ``10 log10(||s||^2 / eps)``, far above any real codec. (:class:`SISDR` refuses silent
    targets, for which the ratio means nothing.)
    """
    p = preds.double() - preds.double().mean(-1, keepdim=True)
    s = target.double() - target.double().mean(-1, keepdim=True)
    alpha = (p * s).sum(-1, keepdim=True) / ((s * s).sum(-1, keepdim=True) + eps)
    projection = alpha * s
    noise = projection - p
    return 10.0 * torch.log10(((projection**2).sum(-1) + eps) / ((noise**2).sum(-1) + eps))


@register_metric
class SISDR(AudioMetric):
    """Scale-invariant signal-to-distortion ratio in dB, per clip and channel, averaged."""

    key = "si_sdr"
    label = "SI-SDR"
    higher_is_better = True
    order = 30
    default = True
    options = ()
    needs_reference_signal = True

    def per_clip(self, preds: Tensor, target: Tensor) -> Tensor:
        # Each channel is one value: a stereo clip counts twice, as in per-source evaluation.
        return si_sdr(preds, target).flatten()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "reduction": "mean over clips and channels, zero-mean signals, dB",
        }


def _channels(x: Tensor) -> list[np.ndarray]:
    """``(B, C, T)`` -> B*C float64 numpy signals, clip-major (the order of ``flatten()``)."""
    return list(x.detach().double().cpu().reshape(-1, x.shape[-1]).numpy())


@register_metric
class PESQ(AudioMetric):
    """Wideband PESQ (ITU-T P.862.2, MOS-LQO) per clip and channel, averaged.

    Both signals are resampled from ``sample_rate`` to 16 kHz (soxr, very high quality) and
    scored with the ``pesq`` package (the ITU reference implementation). The identical signal
    scores 4.64, the scale's top.

    Args:
        sample_rate: of the clips, in Hz.
    """

    key = "pesq"
    label = "PESQ-WB"
    higher_is_better = True
    order = 40
    default = True
    needs_reference_signal = True
    #: The rate P.862.2 is defined at.
    pesq_rate: ClassVar[int] = 16000
    #: Shortest signal the ITU code accepts.
    min_seconds: ClassVar[float] = 0.25

    def __init__(self, *, sample_rate: int = 24000) -> None:
        super().__init__()
        self.sample_rate = int(sample_rate)

    @property
    def min_samples(self) -> int:
        # A margin of 1 ms absorbs the resampler's rounding of the length.
        return math.ceil((self.min_seconds + 0.001) * self.sample_rate)

    def _duration_hint(self) -> str:
        return f"PESQ needs {self.min_seconds:g} s at {self.sample_rate} Hz"

    def per_clip(self, preds: Tensor, target: Tensor) -> Tensor:
        from pesq import NoUtterancesError, PesqError, pesq

        silent = is_silent(preds).flatten()
        if silent.any():
            clips = sorted({int(i) // preds.shape[1] for i in silent.nonzero()[:, 0].tolist()})
            raise ValueError(
                f"PESQ: the reconstruction (preds) of clips {clips[:8]} is digital silence; "
                "PESQ is undefined for it (the ITU code fails); check the decoder's output"
            )
        values = []
        channels = preds.shape[1]
        for i, (p, t) in enumerate(zip(_channels(preds), _channels(target), strict=True)):
            p16 = resample_numpy(p, self.sample_rate, self.pesq_rate)
            t16 = resample_numpy(t, self.sample_rate, self.pesq_rate)
            try:
                values.append(pesq(self.pesq_rate, t16, p16, "wb"))
            except NoUtterancesError as err:
                raise ValueError(
                    f"PESQ: no speech utterance found in the reference of clip {i // channels} "
                    "(too quiet or not speech); PESQ measures speech only"
                ) from err
            except PesqError as err:
                raise ValueError(
                    f"PESQ: clip {i // channels}: {type(err).__name__}: {err}"
                ) from err
        return torch.tensor(values, dtype=torch.float64)

    def describe(self) -> dict[str, Any]:
        from importlib import metadata

        return {
            **super().describe(),
            "standard": "ITU-T P.862.2 wideband, MOS-LQO",
            "package": f"pesq {metadata.version('pesq')}",
            "sample_rate": self.sample_rate,
            "measured_at": self.pesq_rate,
            "resampling": None
            if self.sample_rate == self.pesq_rate
            else f"soxr VHQ {self.sample_rate} -> {self.pesq_rate} Hz",
            "reduction": "mean over clips and channels",
        }


@register_metric
class STOI(AudioMetric):
    """Short-time objective intelligibility (0 to 1) per clip and channel, averaged.

    Computed by ``pystoi`` at the clips' own rate (it resamples to 10 kHz internally and drops
    frames more than 40 dB below the loudest one). STOI needs at least 30 frames of 25.6 ms at
    12.8 ms hops, about 0.4 s of non-silent speech.

    Args:
        sample_rate: of the clips, in Hz.
        extended: the extended STOI of Jensen & Taal (IEEE TASLP 2016) instead.
    """

    key = "stoi"
    label = "STOI"
    higher_is_better = True
    order = 50
    default = True
    needs_reference_signal = True

    def __init__(self, *, sample_rate: int = 24000, extended: bool = False) -> None:
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.extended = bool(extended)

    def per_clip(self, preds: Tensor, target: Tensor) -> Tensor:
        from pystoi import stoi

        values = []
        channels = preds.shape[1]
        for i, (p, t) in enumerate(zip(_channels(preds), _channels(target), strict=True)):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                value = stoi(t, p, self.sample_rate, extended=self.extended)
            if any("Not enough STFT frames" in str(w.message) for w in caught):
                raise ValueError(
                    f"STOI: clip {i // channels} holds fewer than 30 STFT frames of speech after "
                    f"removing silent frames ({t.shape[-1] / self.sample_rate:.3g} s in all); "
                    "STOI needs about 0.4 s of speech, leave shorter clips out"
                )
            values.append(float(value))
        return torch.tensor(values, dtype=torch.float64)

    def describe(self) -> dict[str, Any]:
        from importlib import metadata

        return {
            **super().describe(),
            "package": f"pystoi {metadata.version('pystoi')}",
            "extended": self.extended,
            "sample_rate": self.sample_rate,
            "measured_at": "10000 Hz (pystoi's internal resampling)",
            "reduction": "mean over clips and channels",
        }


class DNSMOSScorer:
    """DNSMOS P.835 through ``speechmos`` (its bundled ONNX models), shared by the three DNSMOS
    metrics so that each clip is scored once.

    ``speechmos`` needs 16 kHz audio in [-1, 1]; clips shorter than its 9.01 s window are tiled
    (repeated) to that length, longer ones are scored in 9.01 s windows at 1 s hops and averaged.
    It returns ``ovrl_mos``, ``sig_mos``, ``bak_mos`` (after its polynomial calibration) and
    ``p808_mos``. The ONNX sessions run on one thread without spin-waiting: the models are small
    (about 0.3 s per window on a CPU core), and spinning threads stall a busy machine.
    """

    rate: ClassVar[int] = 16000

    def __init__(self) -> None:
        try:
            from speechmos import dnsmos
        except ImportError as err:
            raise ImportError(
                "DNSMOS needs the speechmos package and its dependencies: pip install "
                f"'tokenizer-zoo[dnsmos]' (speechmos onnxruntime librosa requests); {err}"
            ) from err
        self._dnsmos = dnsmos
        self._model: Any = None
        self._last: tuple[str, list[dict[str, float]]] | None = None

    def _get_model(self) -> Any:
        """speechmos' ``DNSMOS`` scorer (its public class), with single-threaded sessions."""
        if self._model is None:
            import onnxruntime as ort

            files = self.model_files()
            model = self._dnsmos.DNSMOS(str(files["sig_bak_ovr"]), str(files["p808"]))
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            # Same models, other thread settings (speechmos builds its sessions with defaults).
            if hasattr(model, "onnx_sess") and hasattr(model, "p808_onnx_sess"):
                model.onnx_sess = ort.InferenceSession(str(files["sig_bak_ovr"]), opts)
                model.p808_onnx_sess = ort.InferenceSession(str(files["p808"]), opts)
            self._model = model
        return self._model

    def model_files(self) -> dict[str, Path]:
        root = Path(self._dnsmos.__file__).parent / "dnsmos_models"
        return {"sig_bak_ovr": root / "sig_bak_ovr.onnx", "p808": root / "model_v8.onnx"}

    def score(self, audio: Tensor, sample_rate: int) -> list[dict[str, float]]:
        """Scores of every channel of ``audio`` ``(B, C, T)``, clip-major; the last batch is
        cached, so the OVRL/SIG/BAK metrics of one batch cost one model run."""
        signals = [
            np.clip(resample_numpy(x, sample_rate, self.rate), -1.0, 1.0).astype(np.float32)
            for x in _channels(audio)
        ]
        h = hashlib.sha1(str(sample_rate).encode())
        for x in signals:
            h.update(x.tobytes())
        key = h.hexdigest()
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        model = self._get_model()
        scores = []
        for x in signals:
            out = model(x, self.rate, False)  # False: DNSMOS, not the personalized model
            scores.append({k: float(v) for k, v in out.items() if k.endswith("_mos")})
        self._last = (key, scores)
        return scores

    def describe(self) -> dict[str, Any]:
        from importlib import metadata

        return {
            "package": f"speechmos {metadata.version('speechmos')}, onnxruntime "
            f"{metadata.version('onnxruntime')}",
            "weights": {k: str(p.name) for k, p in self.model_files().items()},
            "weights_sha256": sha256_file(self.model_files()["sig_bak_ovr"]),
            "p808_weights_sha256": sha256_file(self.model_files()["p808"]),
            "measured_at": f"{self.rate} Hz (soxr VHQ), clipped to [-1, 1]; clips shorter than "
            "9.01 s are tiled to that length by speechmos",
        }


class _DNSMOSMetric(AudioMetric):
    """One DNSMOS P.835 score of the reconstructions (no reference), per clip and channel."""

    higher_is_better = True
    needs_reference = False
    group = "dnsmos"
    #: The speechmos output this metric averages.
    output: ClassVar[str] = ""

    @classmethod
    def create(cls, build: MetricBuild) -> _DNSMOSMetric:
        """One instance for one metric set: the set's DNSMOS metrics share one scorer, so
        OVRL/SIG/BAK come from one model run per batch."""
        scorer = build.per_set.get("dnsmos")
        if scorer is None:
            scorer = build.per_set["dnsmos"] = DNSMOSScorer()
        return cls(sample_rate=build.sample_rate or DEFAULT_SAMPLE_RATE, scorer=scorer)

    def __init__(self, *, sample_rate: int = 24000, scorer: DNSMOSScorer | None = None) -> None:
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.scorer = scorer if scorer is not None else DNSMOSScorer()

    def per_clip(self, preds: Tensor, target: Tensor) -> Tensor:
        del target  # no-reference
        scores = self.scorer.score(preds, self.sample_rate)
        return torch.tensor([s[self.output] for s in scores], dtype=torch.float64)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            **self.scorer.describe(),
            "reference": "none (scores the reconstruction alone)",
            "speechmos_output": self.output,
            "sample_rate": self.sample_rate,
            "reduction": "mean over clips and channels",
        }


@register_metric
class DNSMOSOverall(_DNSMOSMetric):
    """DNSMOS P.835 overall quality (OVRL, MOS 1-5) of the reconstructions."""

    key = "dnsmos_ovrl"
    label = "DNSMOS OVRL"
    order = 60
    output = "ovrl_mos"


@register_metric
class DNSMOSSignal(_DNSMOSMetric):
    """DNSMOS P.835 speech signal quality (SIG, MOS 1-5) of the reconstructions."""

    key = "dnsmos_sig"
    label = "DNSMOS SIG"
    order = 70
    output = "sig_mos"


@register_metric
class DNSMOSBackground(_DNSMOSMetric):
    """DNSMOS P.835 background quality (BAK, MOS 1-5) of the reconstructions."""

    key = "dnsmos_bak"
    label = "DNSMOS BAK"
    order = 80
    output = "bak_mos"


#: Audio metric keys, in the order tables print them (a live view of the registry).
AUDIO_METRICS = MetricKeys("audio")
#: Shorthands accepted in metric lists.
AUDIO_METRIC_GROUPS = list_metric_groups("audio")
#: The metrics that need no reference (they score the reconstruction alone).
NO_REFERENCE_METRICS = MetricKeys("audio", needs_reference=False)


def expand_audio_metric_names(names: Sequence[str]) -> list[str]:
    """Metric keys with shorthands (``"dnsmos"``) replaced by their members."""
    return expand_metric_names(names, "audio")


def create_audio_metrics(
    names: Sequence[str],
    *,
    copies: int = 1,
    weights: Mapping[str, str | None] | None = None,
    quantize: bool = True,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
) -> list[dict[str, Metric]]:
    """``copies`` sets of audio metrics ``{key: metric}``: ``create_metrics("audio", ...)``.

    Args:
        names: metric keys from :data:`AUDIO_METRICS`, or ``"dnsmos"`` for its three scores.
        copies: number of independent metric sets.
        weights: must be empty: the only audio metric with weights (DNSMOS) uses the ONNX files
            bundled with speechmos.
        quantize: ignored (audio is measured in float); accepted for the common signature.
        sample_rate: of the clips (mel filterbanks; PESQ and DNSMOS resample to 16 kHz from it).
    """
    return build_metric_sets(
        "audio", names, copies=copies, weights=weights, quantize=quantize, sample_rate=sample_rate
    )


__all__ = [
    "AUDIO_METRICS",
    "DEFAULT_SAMPLE_RATE",
    "AUDIO_METRIC_GROUPS",
    "NO_REFERENCE_METRICS",
    "PESQ",
    "SILENCE_PEAK",
    "SISDR",
    "STOI",
    "AudioMetric",
    "DNSMOSBackground",
    "DNSMOSOverall",
    "DNSMOSScorer",
    "DNSMOSSignal",
    "MelDistance",
    "STFTDistance",
    "create_audio_metrics",
    "expand_audio_metric_names",
    "is_silent",
    "resample_numpy",
    "si_sdr",
]
