"""Audio metrics on real speech: SI-SDR against its closed form, spectral distances zero for
identical clips and growing with noise, streaming over batches, clear errors."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from zoo.metrics.audio import (
    AUDIO_METRICS,
    SISDR,
    MelDistance,
    STFTDistance,
    create_audio_metrics,
    si_sdr,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "speech_front_center_24k.flac"


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    """Two 0.5 s crops of real 24 kHz speech, (2, 1, 12000) float32 in [-1, 1]."""
    data, sr = sf.read(FIXTURE, dtype="float32")
    assert sr == 24000
    x = torch.from_numpy(data)
    return torch.stack([x[6000:18000], x[18000:30000]]).unsqueeze(1)


def _noise(shape, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_si_sdr_identical_is_huge(speech):
    metric = SISDR()
    metric.update(speech, speech)
    assert metric.compute().item() > 100.0
    # Scale invariance: a scaled copy is as good as the original.
    assert si_sdr(0.3 * speech, speech).min().item() > 100.0


def test_si_sdr_closed_form_scaled_noisy_copy(speech):
    """preds = k * s + n with zero-mean n orthogonal to zero-mean s has SI-SDR exactly
    10 log10(k^2 ||s||^2 / ||n||^2), whatever k."""
    s = speech.double() - speech.double().mean(-1, keepdim=True)
    n = _noise(s.shape).double()
    n = n - n.mean(-1, keepdim=True)
    n = n - (n * s).sum(-1, keepdim=True) / (s * s).sum(-1, keepdim=True) * s
    n = 0.02 * n
    k = 0.7
    preds = (k * s + n + 0.1).float()  # a DC offset must not matter either
    expected = 10 * np.log10((k**2 * (s**2).sum(-1) / (n**2).sum(-1)).numpy().ravel())
    got = si_sdr(preds, speech).numpy().ravel()
    np.testing.assert_allclose(got, expected, atol=1e-3)
    metric = SISDR()
    metric.update(preds, speech)
    assert metric.compute().item() == pytest.approx(expected.mean(), abs=1e-3)


@pytest.mark.parametrize("cls", [MelDistance, STFTDistance])
def test_spectral_distance_zero_and_grows(cls, speech):
    metric = cls()
    metric.update(speech, speech)
    assert metric.compute().item() == pytest.approx(0.0, abs=1e-6)
    values = []
    for level in (1e-3, 1e-2, 1e-1):
        metric.reset()
        metric.update(speech + level * _noise(speech.shape), speech)
        values.append(metric.compute().item())
    assert 0 < values[0] < values[1] < values[2], values


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
@pytest.mark.parametrize("cls", [SISDR, STFTDistance])
def test_streaming_equals_one_batch(cls, speech):
    noisy = speech + 0.05 * _noise(speech.shape)
    whole, parts = cls(), cls()
    whole.update(noisy, speech)
    for i in range(2):
        parts.update(noisy[i : i + 1], speech[i : i + 1])
    assert parts.compute().item() == pytest.approx(whole.compute().item(), rel=1e-6)
    parts.reset()
    with pytest.raises(RuntimeError, match="before any update"):
        parts.compute()


def test_stereo_counts_channels(speech):
    stereo = speech.reshape(1, 2, -1)
    metric = SISDR()
    metric.update(stereo + 0.05 * _noise(stereo.shape), stereo)
    assert int(metric.count) == 2


def test_bad_input_and_builder(speech):
    with pytest.raises(ValueError, match=r"SISDR: preds must be a \(B, C, samples\)"):
        SISDR().update(speech[:, 0], speech[:, 0])
    with pytest.raises(ValueError, match="MelDistance: preds and target shapes differ"):
        MelDistance().update(speech, speech[..., :-1])
    with pytest.raises(ValueError, match="MelDistance: clips need at least 1025 samples"):
        MelDistance().update(speech[..., :500], speech[..., :500])
    with pytest.raises(ValueError, match="unknown audio metrics"):
        create_audio_metrics(["visqol"])
    sets = create_audio_metrics(list(AUDIO_METRICS), copies=2, sample_rate=16000)
    assert len(sets) == 2 and sets[0]["si_sdr"] is not sets[1]["si_sdr"]
    assert sets[0]["mel_distance"].describe()["sample_rate"] == 16000
    assert SISDR().describe()["higher_is_better"] is True
