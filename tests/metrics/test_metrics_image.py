"""PSNR / SSIM / MS-SSIM / LPIPS metrics: agreement with scikit-image and torchmetrics' LPIPS on
real photos, streaming, the 8-bit round trip, and clear errors."""

import io

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from zoo.metrics import MSSSIM, PSNR, SSIM, LPIPSMetric, create_image_metrics
from zoo.metrics.image import lpips_lin_weights_default


def _jpeg(arr: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    return np.array(Image.open(buf).convert("RGB"))


def _pairs(size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Originals and JPEG-degraded versions of real photos, (N, H, W, 3) uint8."""
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    originals = np.stack([p[:size, 40 : 40 + size] for p in photos])
    degraded = np.stack([_jpeg(o, q) for o, q in zip(originals, (10, 30, 60), strict=True)])
    return originals, degraded


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()


def test_psnr_ssim_match_scikit_image_on_real_photos():
    x, y = _pairs()
    ref_psnr = [peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(x, y, strict=True)]
    ref_ssim = [
        structural_similarity(
            a,
            b,
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
        )
        for a, b in zip(x, y, strict=True)
    ]
    psnr, ssim = PSNR(), SSIM()
    psnr.update(_t(y), _t(x))
    ssim.update(_t(y), _t(x))
    assert float(psnr.compute()) == pytest.approx(np.mean(ref_psnr), abs=1e-9)
    assert float(ssim.compute()) == pytest.approx(np.mean(ref_ssim), abs=1e-9)
    # The degradations are real: the three images differ clearly.
    assert max(ref_ssim) - min(ref_ssim) > 0.05


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_streaming_equals_one_batch_and_reset():
    x, y = _pairs(64)
    one, two = SSIM(), SSIM()
    one.update(_t(y), _t(x))
    two.update(_t(y[:1]), _t(x[:1]))
    two.update(_t(y[1:]), _t(x[1:]))
    assert float(two.compute()) == pytest.approx(float(one.compute()), abs=1e-12)
    two.reset()
    with pytest.raises(RuntimeError, match="before any update"):
        two.compute()


def test_float_inputs_are_rounded_to_8_bits_by_default():
    x, y = _pairs(64)
    xf = _t(x).float() / 127.5 - 1
    # Noise below half a grey level vanishes in the PNG round trip...
    yf = _t(y).float() / 127.5 - 1 + (torch.rand(xf.shape) - 0.5) * (0.9 / 127.5)
    q, exact, raw = PSNR(), PSNR(), PSNR(quantize=False)
    q.update(yf, xf)
    exact.update(_t(y), _t(x))
    raw.update(yf, xf)
    assert float(q.compute()) == pytest.approx(float(exact.compute()), abs=1e-9)
    # ...but not without quantization.
    assert abs(float(raw.compute()) - float(exact.compute())) > 1e-4
    # Decoder overshoot beyond [-1, 1] is clipped like a PNG writer would.
    over = PSNR()
    over.update(xf * 1.5, xf)
    clipped = PSNR()
    clipped.update(xf.mul(1.5).clamp(-1, 1), xf)
    assert float(over.compute()) == pytest.approx(float(clipped.compute()))


def test_identical_images_and_ms_ssim_ordering():
    x, y = _pairs(176)
    ms = MSSSIM()
    ms.update(_t(x), _t(x))
    assert float(ms.compute()) == pytest.approx(1.0, abs=1e-6)
    # MS-SSIM ranks JPEG qualities of one photo in order.
    scores = []
    for q in (5, 20, 80):
        m = MSSSIM()
        m.update(_t(_jpeg(x[0], q)[None]), _t(x[:1]))
        scores.append(float(m.compute()))
    assert scores[0] < scores[1] < scores[2] < 1.0
    p = PSNR()
    p.update(_t(x), _t(x))
    assert float(p.compute()) == float("inf")


def test_errors_name_the_problem():
    x, _ = _pairs(64)
    with pytest.raises(ValueError, match=r"same shape \(B, 3, H, W\)"):
        PSNR().update(_t(x), _t(x)[:, :, :32])
    with pytest.raises(ValueError, match="at least 161 px"):
        MSSSIM().update(_t(x), _t(x))
    with pytest.raises(ValueError, match="at least 11 px"):
        SSIM().update(_t(x)[..., :8, :8], _t(x)[..., :8, :8])
    with pytest.raises(TypeError, match="float images in"):
        PSNR(quantize=False).update(_t(x).int(), _t(x).int())
    with pytest.raises(ValueError, match="unknown image metrics"):
        create_image_metrics(["psnr", "rfid"])


def _random_vgg_weights(path) -> None:
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    features = make_layers(cfgs["D"])
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)


def test_lpips_refuses_without_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    with pytest.raises(FileNotFoundError, match=r"vgg16-397923af\.pth.*--lpips-weights"):
        LPIPSMetric()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LPIPSMetric(backbone_weights_path=str(tmp_path / "missing.pth"))


def test_lpips_matches_torchmetrics_port_with_random_backbone(tmp_path, monkeypatch):
    """Random VGG-16 backbone saved to a weights file + the standard linear heads: our metric
    equals torchmetrics' port of the reference LPIPS with the same backbone."""
    from torchmetrics.functional.image.lpips import _LPIPS

    vgg = tmp_path / "vgg16-397923af.pth"
    _random_vgg_weights(vgg)
    metric = LPIPSMetric(backbone_weights_path=str(vgg))
    ref = _LPIPS(pretrained=True, net="vgg", pnet_rand=True).eval()
    state = torch.load(vgg, weights_only=True)
    for s in range(1, 6):
        block = getattr(ref.net, f"slice{s}")
        block.load_state_dict({k: state[f"features.{k}"] for k in block.state_dict()})
    x, y = _pairs(64)
    xf, yf = _t(x).float() / 127.5 - 1, _t(y).float() / 127.5 - 1
    with torch.no_grad():
        want = ref(yf, xf).flatten()
    metric.update(yf, xf)
    assert float(metric.compute()) == pytest.approx(float(want.mean()), rel=1e-4)
    info = metric.describe()
    assert info["lin_weights"] == str(lpips_lin_weights_default())
    assert len(info["backbone_weights_sha256"]) == 64
    assert info["backbone_is_standard"] is False  # random weights are not torchvision's
    # The torch hub cache is the default location.
    ckpt = tmp_path / "home" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    vgg.rename(ckpt / vgg.name)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    same = LPIPSMetric()
    same.update(yf, xf)
    assert float(same.compute()) == pytest.approx(float(metric.compute()), rel=1e-6)
    zero = LPIPSMetric(share_network_of=same)
    zero.update(xf, xf)
    assert float(zero.compute()) == pytest.approx(0.0, abs=1e-7)
