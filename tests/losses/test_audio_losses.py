"""Audio losses and discriminators on real speech: spectral losses are zero for identical
clips, grow with noise and are differentiable; discriminators give the documented shapes and
pass gradients; feature matching compares activations; the multi-resolution discriminator
matches the ``vocos`` package's."""

from pathlib import Path

import pytest
import soundfile as sf
import torch

from zoo.losses.adversarial import feature_matching_loss
from zoo.losses.discriminators.audio import (
    VOCOS_BANDS,
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
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
        MultiResolutionDiscriminator(n_ffts=(512, 256, 128), width=8),
    ]


def test_discriminator_shapes(speech):
    x = speech[..., :4001]  # odd length: MPD pads to whole periods
    mpd, msd, mstft, _ = _tiny_discriminators()

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


@pytest.mark.parametrize("index", [0, 1, 2, 3])
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
    mpd, msd, mstft, _ = _tiny_discriminators()
    with pytest.raises(ValueError, match=r"MultiPeriodDiscriminator: expected a \(B, 1, samples\)"):
        mpd(speech.reshape(1, 2, -1))
    with pytest.raises(ValueError, match="MultiScaleDiscriminator"):
        msd(speech[:, 0])
    with pytest.raises(ValueError, match="MultiScaleSTFTDiscriminator: need at least 257"):
        mstft(speech[..., :200])
    with pytest.raises(ValueError, match="feature_matching_loss: sub-discriminator 0"):
        feature_matching_loss([[speech, speech]], [[speech]])


def _halvings(n: int, times: int = 3) -> int:
    for _ in range(times):  # conv (kernel 9, stride 2, padding 4) along frequency
        n = (n - 1) // 2 + 1
    return n


def test_multi_resolution_discriminator_shapes(speech):
    x = speech[..., :4001]
    mrd = MultiResolutionDiscriminator(n_ffts=(512, 256, 128), width=8)
    logits, feats = mrd(x)
    assert len(logits) == len(feats) == 3
    for n_fft, out, f in zip((512, 256, 128), logits, feats, strict=True):
        frames, bins = 4001 // (n_fft // 4) + 1, n_fft // 2 + 1
        edges = [(int(lo * bins), int(hi * bins)) for lo, hi in VOCOS_BANDS]
        assert edges[0][0] == 0 and edges[-1][1] == bins  # the bands cover every bin
        assert out.shape == (2, 1, frames, sum(_halvings(hi - lo) for lo, hi in edges))
        # five layers per band, then the logits
        assert len(f) == 5 * len(edges) + 1 and f[-1] is out
        assert f[0].shape == (2, 8, frames, edges[0][1] - edges[0][0])

    # UnivNet's form: one band over the magnitude; stereo gives one map per channel.
    univnet = MultiResolutionDiscriminator(
        n_ffts=(256, 128), channels=2, width=4, bands=((0.0, 1.0),), spectrum="magnitude"
    )
    stereo = speech[..., :4000].reshape(1, 2, -1)[..., :2001]
    assert univnet.discriminators[0].band_convs[0][0].weight.shape[1] == 2
    logits, feats = univnet(stereo)
    assert logits[0].shape == (1, 1, 2001 // 64 + 1, _halvings(129))
    assert len(feats[1]) == 6


def test_multi_resolution_discriminator_normalises_gain(speech):
    x = speech[..., :3000]
    torch.manual_seed(0)
    mrd = MultiResolutionDiscriminator(n_ffts=(256,), width=4)
    torch.manual_seed(0)
    raw = MultiResolutionDiscriminator(n_ffts=(256,), width=4, normalize=False)
    with torch.no_grad():
        # Peak normalisation: the gain and a DC offset do not change the verdict ...
        torch.testing.assert_close(mrd(0.3 * x + 0.05)[0][0], mrd(x)[0][0], atol=1e-5, rtol=1e-4)
        # ... without it they do; and a silent clip stays finite either way.
        assert not torch.allclose(raw(0.3 * x)[0][0], raw(x)[0][0], atol=1e-3)
        assert torch.isfinite(mrd(torch.zeros(1, 1, 3000))[0][0]).all()


def _vocos_key(key: str) -> str:
    """Our name of a ``vocos`` ``DiscriminatorR`` state-dict key (old-style weight norm)."""
    key = key.replace("conv_post.", "post.")
    key = key.replace(".weight_g", ".parametrizations.weight.original0")
    return "discriminators.0." + key.replace(".weight_v", ".parametrizations.weight.original1")


@pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")
def test_multi_resolution_discriminator_matches_vocos(speech):
    """Same weights (the ``vocos`` package's ``g``/``v`` weight norm copied into the
    parametrisation, perturbed so no bias is at its zero init), same input: same logits and
    feature maps (Vocos leaves each band's first activation out of its feature list)."""
    from vocos.discriminators import DiscriminatorR

    torch.manual_seed(0)
    ref = DiscriminatorR(window_length=256, channels=8).eval()
    ours = MultiResolutionDiscriminator(n_ffts=(256,), width=8).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for key, value in ref.state_dict().items():
            if key != "spec_fn.window":  # a constant of the transform, not a weight
                value.add_(0.05 * torch.randn(value.shape, generator=gen))
    sd = {_vocos_key(k): v for k, v in ref.state_dict().items() if k != "spec_fn.window"}
    ours.load_state_dict(sd)  # strict: every key maps
    x = speech[..., :3001]
    with torch.no_grad():
        want, want_feats = ref(x[:, 0])
        (got,), (got_feats,) = ours(x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    kept = [f for i, f in enumerate(got_feats[:-1]) if i % 5] + [got_feats[-1]]
    assert len(kept) == len(want_feats) == 21
    for g, w in zip(kept, want_feats, strict=True):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-4)


def test_multi_resolution_discriminator_bad_input(speech):
    mrd = MultiResolutionDiscriminator(n_ffts=(512, 128), width=4)
    with pytest.raises(ValueError, match=r"MultiResolutionDiscriminator: expected a \(B, 1, samp"):
        mrd(speech.reshape(1, 2, -1))
    with pytest.raises(ValueError, match=r"MultiResolutionDiscriminator: expected a \(B, 1, samp"):
        mrd(speech[:, 0])
    with pytest.raises(ValueError, match="need at least 257 samples"):
        mrd(speech[..., :256])
    with pytest.raises(ValueError, match="spectrum must be one of"):
        MultiResolutionDiscriminator(spectrum="power")
    with pytest.raises(ValueError, match="holds no bins of n_fft=16"):
        MultiResolutionDiscriminator(n_ffts=(16,))
    with pytest.raises(ValueError, match="0 <= low < high <= 1"):
        MultiResolutionDiscriminator(bands=((0.5, 0.2),))
    with pytest.raises(ValueError, match="one hop per FFT size"):
        MultiResolutionDiscriminator(n_ffts=(512, 256), hops=(128,))
