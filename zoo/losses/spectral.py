"""Multi-resolution spectral reconstruction losses for audio codecs.

- Multi-resolution STFT loss: Yamamoto, Song & Kim, "Parallel WaveGAN" (ICASSP 2020), sec. 2.3:
  spectral convergence ``||S - S_hat||_F / ||S||_F`` plus log-magnitude L1
  ``mean |log S - log S_hat|``, averaged over several (FFT size, hop, window) settings.
- Multi-resolution mel L1 loss: L1 between log-mel spectrograms at several FFT sizes, as in
  Kumar et al., "High-Fidelity Audio Compression with Improved RVQGAN" (DAC, NeurIPS 2023) and
  Défossez et al., "High Fidelity Neural Audio Compression" (EnCodec, TMLR 2023).

Inputs are waveforms ``(B, C, samples)`` float in [-1, 1]; channels are treated as separate
signals. Every loss returns a scalar; ``per_item`` gives the ``(B,)`` values the metrics in
:mod:`zoo.metrics.audio` average.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torchaudio
from torch import Tensor, nn

from zoo.losses.registry import register_loss


def check_audio_pair(name: str, preds: Tensor, target: Tensor, *, min_samples: int = 1) -> None:
    """Raise a clear error unless ``preds`` and ``target`` are same-shape float ``(B, C, T)``."""
    for label, x in (("preds", preds), ("target", target)):
        if not isinstance(x, Tensor) or x.ndim != 3:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name}: {label} must be a (B, C, samples) tensor, got {got}")
        if not x.is_floating_point():
            raise ValueError(f"{name}: {label} must be float audio in [-1, 1], got {x.dtype}")
    if preds.shape != target.shape:
        raise ValueError(
            f"{name}: preds and target shapes differ: {tuple(preds.shape)} vs {tuple(target.shape)}"
        )
    if preds.shape[-1] < min_samples:
        raise ValueError(
            f"{name}: clips need at least {min_samples} samples for the largest FFT, got "
            f"{preds.shape[-1]}"
        )


def _resolutions(name: str, n_ffts: Sequence[int], hops: Sequence[int] | None) -> list[int]:
    if not n_ffts or any(int(n) < 2 for n in n_ffts):
        raise ValueError(f"{name}: n_ffts must be a non-empty list of sizes >= 2, got {n_ffts}")
    if hops is None:
        # A quarter of the window: 75 % overlap, as Parallel WaveGAN, EnCodec and DAC use.
        return [int(n) // 4 for n in n_ffts]
    if len(hops) != len(n_ffts) or any(int(h) < 1 for h in hops):
        raise ValueError(
            f"{name}: hops must give one positive hop per FFT size ({len(n_ffts)}), got {hops}"
        )
    return [int(h) for h in hops]


def stft_magnitude(x: Tensor, *, n_fft: int, hop: int) -> Tensor:
    """Magnitude spectrogram ``(B, C, n_fft // 2 + 1, frames)`` of ``x`` ``(B, C, T)``, Hann
    window of length ``n_fft``, centred frames, computed in float32."""
    b, c, t = x.shape
    window = torch.hann_window(n_fft, device=x.device, dtype=torch.float32)
    spec = torch.stft(
        x.reshape(b * c, t).float(),
        n_fft=n_fft,
        hop_length=hop,
        window=window,
        center=True,
        return_complex=True,
    )
    return spec.abs().reshape(b, c, *spec.shape[-2:])


@register_loss("stft", modalities=("audio",))
class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence + log-magnitude L1, averaged over STFT resolutions.

    Args:
        n_ffts: FFT (= Hann window) sizes.
        hops: hop per FFT size; default ``n_fft // 4``.
        eps: floor on magnitudes before the log, and on the target norm of the convergence term.
    """

    def __init__(
        self,
        *,
        n_ffts: Sequence[int] = (512, 1024, 2048),
        hops: Sequence[int] | None = None,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.n_ffts = [int(n) for n in n_ffts]
        self.hops = _resolutions(type(self).__name__, self.n_ffts, hops)
        self.eps = float(eps)

    def per_item(self, preds: Tensor, target: Tensor) -> Tensor:
        """Loss ``(B,)`` per clip (channels pooled), preds/target ``(B, C, T)`` in [-1, 1]."""
        # Centred STFTs reflect-pad by n_fft // 2, which needs more samples than that.
        check_audio_pair(type(self).__name__, preds, target, min_samples=max(self.n_ffts) // 2 + 1)
        total = preds.new_zeros(preds.shape[0], dtype=torch.float32)
        for n_fft, hop in zip(self.n_ffts, self.hops, strict=True):
            p = stft_magnitude(preds, n_fft=n_fft, hop=hop).flatten(1)
            t = stft_magnitude(target, n_fft=n_fft, hop=hop).flatten(1)
            sc = (t - p).norm(dim=1) / t.norm(dim=1).clamp_min(self.eps)
            log_mag = (p.clamp_min(self.eps).log() - t.clamp_min(self.eps).log()).abs().mean(1)
            total = total + sc + log_mag
        return total / len(self.n_ffts)

    def forward(self, preds: Tensor, target: Tensor) -> Tensor:
        """Scalar loss, the mean of :meth:`per_item` over the batch."""
        return self.per_item(preds, target).mean()


@register_loss("mel", modalities=("audio",))
class MultiResolutionMelLoss(nn.Module):
    """L1 distance between natural-log mel spectrograms, averaged over FFT sizes.

    Args:
        sample_rate: of the waveforms, in Hz.
        n_ffts: FFT (= Hann window) sizes.
        n_mels: mel bands per FFT size; small FFTs get fewer bands so no filter is empty.
        hops: hop per FFT size; default ``n_fft // 4``.
        f_min, f_max: mel filterbank range in Hz; ``f_max`` defaults to Nyquist.
        eps: floor on mel energies before the log (``log(1e-5)`` ~ -11.5: silence costs nothing
            below that).
    """

    def __init__(
        self,
        *,
        sample_rate: int = 24000,
        n_ffts: Sequence[int] = (512, 1024, 2048),
        n_mels: Sequence[int] = (40, 80, 160),
        hops: Sequence[int] | None = None,
        f_min: float = 0.0,
        f_max: float | None = None,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.n_ffts = [int(n) for n in n_ffts]
        self.hops = _resolutions(name, self.n_ffts, hops)
        if len(n_mels) != len(self.n_ffts) or any(int(m) < 1 for m in n_mels):
            raise ValueError(
                f"{name}: n_mels must give one positive band count per FFT size "
                f"({len(self.n_ffts)}), got {n_mels}"
            )
        if sample_rate <= 0:
            raise ValueError(f"{name}: sample_rate must be positive, got {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.eps = float(eps)
        self.mels = nn.ModuleList(
            torchaudio.transforms.MelSpectrogram(
                sample_rate=self.sample_rate,
                n_fft=n_fft,
                hop_length=hop,
                f_min=f_min,
                f_max=f_max,
                n_mels=int(m),
                power=1.0,  # magnitude mel: the log-L1 then weighs all bands evenly
                center=True,
            )
            for n_fft, hop, m in zip(self.n_ffts, self.hops, n_mels, strict=True)
        )

    def per_item(self, preds: Tensor, target: Tensor) -> Tensor:
        """Loss ``(B,)`` per clip (channels pooled), preds/target ``(B, C, T)`` in [-1, 1]."""
        check_audio_pair(type(self).__name__, preds, target, min_samples=max(self.n_ffts) // 2 + 1)
        total = preds.new_zeros(preds.shape[0], dtype=torch.float32)
        for mel in self.mels:
            # The filterbank is float32; run it in float32 even under autocast.
            p = mel(preds.float()).clamp_min(self.eps).log()
            t = mel(target.float()).clamp_min(self.eps).log()
            total = total + (p - t).abs().flatten(1).mean(1)
        return total / len(self.mels)

    def forward(self, preds: Tensor, target: Tensor) -> Tensor:
        """Scalar loss, the mean of :meth:`per_item` over the batch."""
        return self.per_item(preds, target).mean()


__all__ = [
    "MultiResolutionMelLoss",
    "MultiResolutionSTFTLoss",
    "check_audio_pair",
    "stft_magnitude",
]
