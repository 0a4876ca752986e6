"""Audio losses and discriminators on real speech: spectral losses are zero for identical
clips, grow with noise and are differentiable; discriminators give the documented shapes and
pass gradients; feature matching compares activations."""

from pathlib import Path

import pytest
import soundfile as sf
import torch

from zoo.losses.adversarial import feature_matching_loss
from zoo.losses.discriminators.audio import (
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
    MultiScaleSTFTDiscriminator,
)
from zoo.losses.spectral import MultiResolutionMelLoss, MultiResolutionSTFTLoss

FIXTURE = Path(__file__).parents[1] / "fixtures" / "speech_front_center_24k.flac"


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    """Two 0.5 s crops of real 24 kHz speech, (2, 1, 12000) float32 in [-1, 1]."""
    data, sr = sf.read(FIXTURE, dtype="float32")
    assert sr == 24000
    x = torch.from_numpy(data)
    return torch.stack([x[6000:18000], x[18000:30000]]).unsqueeze(1)


def _noisy(x: torch.Tensor, level: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return x + level * torch.randn(x.shape, generator=g)


@pytest.mark.parametrize(
    "loss", [MultiResolutionMelLoss(sample_rate=24000), MultiResolutionSTFTLoss()]
)
def test_spectral_loss_zero_for_identical_and_grows_with_noise(loss, speech):
    assert loss(speech, speech).item() == pytest.approx(0.0, abs=1e-6)
    values = [loss(_noisy(speech, s), speech).item() for s in (1e-3, 1e-2, 1e-1)]
    assert 0 < values[0] < values[1] < values[2], values


@pytest.mark.parametrize(
    "loss", [MultiResolutionMelLoss(sample_rate=24000), MultiResolutionSTFTLoss()]
)
def test_spectral_loss_differentiable(loss, speech):
    preds = _noisy(speech, 1e-2).requires_grad_(True)
    value = loss(preds, speech)
    value.backward()
    assert value.ndim == 0
    assert torch.isfinite(preds.grad).all() and preds.grad.abs().sum() > 0
    assert loss.per_item(preds.detach(), speech).shape == (2,)


def test_mel_loss_no_empty_filter_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MultiResolutionMelLoss(sample_rate=24000)
        MultiResolutionMelLoss(sample_rate=16000)


def test_spectral_loss_stereo_and_bad_input(speech):
    loss = MultiResolutionSTFTLoss(n_ffts=(256, 512))
    stereo = speech.reshape(1, 2, -1)
    assert loss.per_item(stereo, stereo.flip(1)).shape == (1,)
    with pytest.raises(ValueError, match=r"MultiResolutionSTFTLoss: preds must be a \(B, C"):
        loss(speech[:, 0], speech[:, 0])
    with pytest.raises(ValueError, match="shapes differ"):
        loss(speech, speech[..., :-1])
    with pytest.raises(ValueError, match="at least 257 samples"):
        loss(speech[..., :100], speech[..., :100])
    with pytest.raises(ValueError, match="n_mels must give one"):
        MultiResolutionMelLoss(n_ffts=(512, 1024), n_mels=(40,))


def _tiny_discriminators():
    return [
        MultiPeriodDiscriminator(periods=(2, 3, 5), widths=(4, 8, 16)),
        MultiScaleDiscriminator(scales=3, base_width=4, max_width=32, groups=4),
        MultiScaleSTFTDiscriminator(n_ffts=(512, 256, 128), width=8),
    ]


def test_discriminator_shapes(speech):
    x = speech[..., :4001]  # odd length: MPD pads to whole periods
    mpd, msd, mstft = _tiny_discriminators()

    logits, feats = mpd(x)
    assert len(logits) == len(feats) == 3
    for p, out, f in zip((2, 3, 5), logits, feats, strict=True):
        rows = -(-4001 // p)
        for _ in range(3):  # three stride-3 convs along time
            rows = (rows - 1) // 3 + 1
        assert out.shape == (2, 1, rows, p)
        assert len(f) == 5 and f[-1] is out and f[0].shape[1] == 4

    logits, feats = msd(x)
    assert len(logits) == len(feats) == 3
    lengths = [4001, 2001, 1001]  # AvgPool1d(4, 2, padding=2): floor(T / 2) + 1
    for length, out, f in zip(lengths, logits, feats, strict=True):
        frames = length
        for _ in range(4):  # four stride-4 convs
            frames = (frames - 1) // 4 + 1
        assert out.shape == (2, 1, frames)
        assert len(f) == 7 and f[-1] is out

    logits, feats = mstft(x)
    assert len(logits) == len(feats) == 3
    for n_fft, out, f in zip((512, 256, 128), logits, feats, strict=True):
        frames, bins = 4001 // (n_fft // 4) + 1, n_fft // 2 + 1
        for _ in range(3):  # three frequency-strided convs
            bins = (bins - 1) // 2 + 1
        assert out.shape == (2, 1, frames, bins)
        assert len(f) == 6 and f[0].shape == (2, 8, frames, n_fft // 2 + 1)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_discriminator_gradients_and_feature_matching(index, speech):
    disc = _tiny_discriminators()[index]
    x = speech[..., :4000]
    fake = _noisy(x, 0.05).requires_grad_(True)
    logits_fake, feats_fake = disc(fake)
    _, feats_real = disc(x)
    fm = feature_matching_loss(feats_real, feats_fake)
    assert fm.item() > 0
    loss = sum(-lf.mean() for lf in logits_fake) + fm
    loss.backward()
    assert torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0
    grads = [p.grad for p in disc.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    # Identical inputs match exactly; real activations are detached.
    assert feature_matching_loss(feats_real, feats_real).item() == 0.0


def test_discriminator_bad_input(speech):
    mpd, msd, mstft = _tiny_discriminators()
    with pytest.raises(ValueError, match=r"MultiPeriodDiscriminator: expected a \(B, 1, samples\)"):
        mpd(speech.reshape(1, 2, -1))
    with pytest.raises(ValueError, match="MultiScaleDiscriminator"):
        msd(speech[:, 0])
    with pytest.raises(ValueError, match="MultiScaleSTFTDiscriminator: need at least 257"):
        mstft(speech[..., :200])
    with pytest.raises(ValueError, match="feature_matching_loss: sub-discriminator 0"):
        feature_matching_loss([[speech, speech]], [[speech]])
