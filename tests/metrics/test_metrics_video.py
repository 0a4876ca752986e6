"""Video metrics on real clips (tests/fixtures/video): per-frame PSNR / SSIM, temporal flicker,
FVD through the I3D code path with a randomly initialised network saved to a file, and the
per-frame FD-EffLite0; registration under modality "video"."""

from pathlib import Path

import numpy as np
import pytest
import torch

import zoo.metrics as zm
from zoo.data.video import decode_video
from zoo.metrics import PSNR, SSIM
from zoo.metrics.video import (
    FVD,
    I3D_FILENAME,
    FDEffLite0Frames,
    I3DFeatures,
    InceptionI3d,
    TemporalFlicker,
    VideoPSNR,
    VideoSSIM,
    frames_of,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "video"
SQUARE = ["pan_astronaut_17f_64.mp4", "zoom_chelsea_17f_64.mp4", "pan_coffee_17f_64.mp4"]


def _clips(num_frames=17, names=SQUARE):
    """Real clips as uint8 ``(B, 3, T, 64, 64)``."""
    x = [torch.from_numpy(decode_video(FIXTURES / n, num_frames=num_frames)) for n in names]
    return torch.stack(x).permute(0, 4, 1, 2, 3).contiguous()


def _noisy(x, sigma, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x.float() + sigma * torch.randn(x.shape, generator=g)).clamp(0, 255).round().byte()


def test_video_metrics_register_under_video():
    assert zm.list_metrics("video") == [
        "video_psnr", "video_ssim", "flicker", "fvd", "fd_efflite0_frames",
    ]  # fmt: skip
    assert zm.list_metrics("video", default=True) == [
        "video_psnr", "video_ssim", "flicker", "fd_efflite0_frames",
    ]  # fmt: skip
    assert zm.metric_info("fvd").label == "FVD" and not zm.metric_info("fvd").higher_is_better
    assert zm.metric_info("flicker").modality == "video"
    assert zm.metric_info("fd_efflite0_frames").weight_names == ("fd_efflite0",)
    sets = zm.create_metrics("video", ["video_psnr", "flicker"], copies=2)
    assert len(sets) == 2 and isinstance(sets[1]["flicker"], TemporalFlicker)
    assert zm.metric_modality(["video_ssim", "flicker"]) == "video"
    with pytest.raises(ValueError, match="unknown video metrics"):
        zm.create_metrics("video", ["psnr"])


def test_per_frame_psnr_and_ssim_are_the_image_metrics_on_frames():
    x = _clips(9)
    y = _noisy(x, 8)
    vp, vs = VideoPSNR(), VideoSSIM()
    vp.update(y[:2], x[:2])
    vp.update(y[2:], x[2:])  # streaming over batches
    vs.update(y, x)
    ip, iss = PSNR(), SSIM()
    for b in range(3):  # frame by frame with the image metrics
        ip.update(frames_of(y[b : b + 1]), frames_of(x[b : b + 1]))
        iss.update(frames_of(y[b : b + 1]), frames_of(x[b : b + 1]))
    assert int(vp.count) == 27
    assert float(vp.compute()) == pytest.approx(float(ip.compute()), rel=1e-12)
    assert float(vs.compute()) == pytest.approx(float(iss.compute()), rel=1e-12)
    assert 25 < float(vp.compute()) < 35 and 0.3 < float(vs.compute()) < 0.99
    # Float clips in [-1, 1] are rounded to 8 bits: the same numbers.
    vf = VideoPSNR()
    vf.update(y.float() / 127.5 - 1, x.float() / 127.5 - 1)
    assert float(vf.compute()) == pytest.approx(float(vp.compute()), rel=1e-12)
    same = VideoSSIM()
    same.update(x, x)
    assert float(same.compute()) == pytest.approx(1.0)
    assert VideoPSNR().describe()["reduction"] == "mean over all frames of all clips"
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        VideoPSNR().update(frames_of(x), frames_of(x))


def test_flicker_sees_changing_errors_not_steady_ones():
    x = _clips(9)
    steady = x.int().clone()
    steady[:, :, :, 8:40, 8:40] += 20  # the same error in every frame
    steady = steady.clamp(0, 255).byte()
    flick = TemporalFlicker()
    flick.update(x, x)
    assert float(flick.compute()) == 0.0
    s = TemporalFlicker()
    s.update(steady, x)
    changing = _noisy(x, 8)  # a fresh error every frame
    c = TemporalFlicker()
    c.update(changing, x)
    assert float(s.compute()) < 0.2 * float(c.compute())
    assert 5 < float(c.compute()) < 15  # ~ E|n1 - n2| = 2 * 8 / sqrt(pi)
    # The formula, by hand on a tiny clip: one pixel, frames (0, 0, 0) vs (0, 10, 0).
    a = torch.zeros(1, 3, 3, 1, 1, dtype=torch.uint8)
    b = a.clone()
    b[:, :, 1] = 10
    t = TemporalFlicker()
    t.update(b, a)
    assert float(t.compute()) == pytest.approx(10.0)  # |10 - 0| and |-10 - 0|, mean 10
    with pytest.raises(ValueError, match="at least 2 frames"):
        TemporalFlicker().update(a[:, :, :1], a[:, :, :1])


@pytest.fixture(scope="module")
def i3d_weights(tmp_path_factory):
    """A randomly initialised Inception-I3D saved as a plain state dict (no real weights here)."""
    torch.manual_seed(0)
    net = InceptionI3d()
    path = tmp_path_factory.mktemp("i3d") / I3D_FILENAME
    torch.save(net.state_dict(), path)
    return path


def test_i3d_architecture():
    net = InceptionI3d()
    state = net.state_dict()
    # The layout of the common PyTorch conversion of DeepMind's checkpoint.
    for key in ("Conv3d_1a_7x7.conv3d.weight", "Mixed_3b.b1b.bn.running_var",
                "Mixed_5c.b3b.conv3d.weight", "logits.conv3d.bias"):  # fmt: skip
        assert key in state
    assert "Conv3d_1a_7x7.conv3d.bias" not in state  # convs before a BatchNorm have no bias
    assert state["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)
    assert state["logits.conv3d.weight"].shape == (400, 1024, 1, 1, 1)
    assert sum(p.numel() for p in net.parameters()) == 12_697_264


def test_fvd_with_random_i3d(i3d_weights, tmp_path, monkeypatch):
    x = _clips(9)
    fvd = FVD(weights_path=str(i3d_weights))
    real = fvd.extract(x)
    assert real.shape == (3, 400) and real.dtype == torch.float64
    noisy = fvd.extract(_noisy(x, 40))
    fvd.update(real_features=real, fake_features=real)
    assert float(fvd.compute()) == pytest.approx(0.0, abs=1e-6)
    other = FVD(extractor=fvd.extractor, real_from=fvd)
    other.update(fake_features=noisy)
    assert float(other.compute()) > 0
    info = fvd.describe()
    assert info["label"] == "FVD" and info["feature_dim"] == 400
    assert info["weights_sha256"] and "224x224" in info["preprocessing"]
    assert info["num_real"] == 3  # clips, not frames
    with pytest.raises(ValueError, match="at least 9 frames"):
        fvd.extract(x[:, :, :8])
    with pytest.raises(ValueError, match=r"expected clips \(B, 3, T, H, W\)"):
        fvd.extract(frames_of(x))
    # The torch hub cache is the default location, and create_metrics reads weights["fvd"].
    cache = tmp_path / "home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / I3D_FILENAME).symlink_to(i3d_weights)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    assert I3DFeatures().weights_sha256 == info["weights_sha256"]
    (built,) = zm.create_metrics("video", ["fvd"], weights={"fvd": str(i3d_weights)})
    assert isinstance(built["fvd"], FVD)


def test_fvd_refuses_without_or_with_wrong_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    with pytest.raises(FileNotFoundError, match=r"FVD needs the Kinetics-400 RGB I3D.*fd_efflite0"):
        FVD()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        zm.create_metrics("video", ["fvd"], weights={"fvd": str(tmp_path / "nope.pt")})
    wrong = tmp_path / "wrong.pt"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(ValueError, match="does not fit the Inception-I3D"):
        FVD(weights_path=str(wrong))
    pickled = tmp_path / "pickled.pt"
    torch.save({"fc.weight": object()}, pickled)
    with pytest.raises(ValueError, match="weights_only=True"):
        FVD(weights_path=str(pickled))


def test_fd_efflite0_frames_counts_frames_and_grows_with_distortion():
    x = _clips(5)
    sets = zm.create_metrics("video", ["fd_efflite0_frames"], copies=3)
    first, second, third = (s["fd_efflite0_frames"] for s in sets)
    assert second.extractor is first.extractor and second.real_from is first
    first.update(x, x)
    second.update(preds=_noisy(x, 10))
    third.update(preds=_noisy(x, 40))
    d0, d1, d2 = (float(m.compute()) for m in (first, second, third))
    assert d0 == pytest.approx(0.0, abs=1e-6)
    assert 0 < d1 < d2
    info = first.describe()
    assert info["num_real"] == 15 and info["label"] == "FD-EffLite0 (frames)"
    assert "per frame" in info["samples"]
    assert np.isfinite(d2)
    assert isinstance(first, FDEffLite0Frames)
