"""Perceptual losses: EfficientNet-Lite0 features (offline weights) and LPIPS (user weights)."""

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from torchvision.models.vgg import cfgs, make_layers

from zoo.losses import LPIPS, EffLite0PerceptualLoss, create_perceptual_loss
from zoo.losses.perceptual import build_efficientnet_lite0


def _photo(arr: np.ndarray, size: int) -> torch.Tensor:
    """ImageNet eval crop: short side to ``size * 8 / 7``, centre crop ``size``; in [-1, 1]."""
    im = Image.fromarray(arr)
    w, h = im.size
    s = size * 8 / 7 / min(w, h)
    im = im.resize((round(w * s), round(h * s)), Image.Resampling.BICUBIC)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    im = im.crop((left, top, left + size, top + size))
    return torch.from_numpy(np.array(im)).permute(2, 0, 1)[None].float() / 127.5 - 1


@pytest.fixture(scope="module")
def efflite():
    return EffLite0PerceptualLoss()


def test_efficientnet_lite0_classifies_real_photos():
    # Checks the architecture (no SE, ReLU6, TF "SAME" padding) and preprocessing against the
    # packaged ImageNet weights: a wrong choice of any of them breaks these predictions.
    net = build_efficientnet_lite0().eval()
    x = torch.cat([_photo(skimage.data.coffee(), 224), _photo(skimage.data.chelsea(), 224)])
    with torch.no_grad():
        logits = net(((x + 1) * 127.5 - 127.0) / 128.0)
    top = logits.argmax(-1).tolist()
    assert top[0] == 967  # espresso
    assert top[1] in (281, 282, 285)  # tabby / tiger cat / Egyptian cat
    assert logits.softmax(-1)[0, 967] > 0.5


def test_efflite_distance_properties(efflite):
    x = _photo(skimage.data.astronaut(), 32)
    g = torch.Generator().manual_seed(0)
    small = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    large = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    assert efflite(x, x).item() == pytest.approx(0.0, abs=1e-6)
    d_small, d_large = efflite(small, x).item(), efflite(large, x).item()
    assert 0 < d_small < d_large <= 4
    assert efflite(small, x).item() == pytest.approx(efflite(x, small).item(), rel=1e-5)
    per_item = efflite(torch.cat([small, large]), torch.cat([x, x]), reduction="none")
    assert per_item.shape == (2,)
    torch.testing.assert_close(per_item, torch.tensor([d_small, d_large]), rtol=1e-4, atol=1e-6)


def test_efflite_is_frozen_and_differentiable_in_its_input(efflite):
    efflite.train()
    assert not efflite.training and all(not m.training for m in efflite.modules())
    assert all(not p.requires_grad for p in efflite.parameters())
    x = _photo(skimage.data.coffee(), 32)
    y = torch.zeros_like(x, requires_grad=True)
    efflite(y, x).backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    assert all(p.grad is None for p in efflite.parameters())


def test_efflite_layers_and_errors():
    shallow = EffLite0PerceptualLoss(layers=[1, 2])
    feats = shallow.features(torch.zeros(1, 3, 32, 32))
    assert [f.shape[1] for f in feats] == [16, 24]
    assert [f.shape[-1] for f in feats] == [16, 8]
    full = EffLite0PerceptualLoss().features(torch.zeros(1, 3, 64, 64))
    assert [f.shape[1] for f in full] == [16, 24, 40, 112, 320]
    with pytest.raises(ValueError, match="within 1..5"):
        EffLite0PerceptualLoss(layers=[0, 6])
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        shallow(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 16))


def _lpips_files(tmp_path, seed=0):
    torch.manual_seed(seed)
    vgg = {f"features.{k}": v for k, v in make_layers(cfgs["D"]).state_dict().items()}
    vgg["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files also hold the classifier
    lin = {
        f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1)
        for i, c in enumerate((64, 128, 256, 512, 512))
    }
    torch.save(vgg, tmp_path / "vgg16.pth")
    torch.save(lin, tmp_path / "lin.pth")
    return str(tmp_path / "vgg16.pth"), str(tmp_path / "lin.pth"), lin


def test_lpips_requires_weight_files(tmp_path):
    with pytest.raises(ValueError, match="vgg16-397923af.pth"):
        LPIPS(vgg_weights_path=None, lin_weights_path=None)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LPIPS(vgg_weights_path=str(tmp_path / "nope.pth"), lin_weights_path=str(tmp_path / "x"))
    with pytest.raises(ValueError, match="efflite0"):
        create_perceptual_loss("lpips")  # the message points to the offline alternative


def test_lpips_with_supplied_weights(tmp_path):
    vgg_path, lin_path, lin = _lpips_files(tmp_path)
    lp = create_perceptual_loss("lpips", vgg_weights_path=vgg_path, lin_weights_path=lin_path)
    x = _photo(skimage.data.astronaut(), 32)
    y = _photo(skimage.data.coffee(), 32)
    assert lp(x, x).item() == pytest.approx(0.0, abs=1e-7)
    d = lp(x, y).item()
    assert d > 0
    assert lp(y, x).item() == pytest.approx(d, rel=1e-5)
    # The linear heads weight the per-layer distances: doubling them doubles the distance.
    for k in lin:
        lin[k] = 2 * lin[k]
    torch.save(lin, lin_path)
    lp2 = LPIPS(vgg_weights_path=vgg_path, lin_weights_path=lin_path)
    assert lp2(x, y).item() == pytest.approx(2 * d, rel=1e-5)
    torch.save({"lin0.weight": torch.zeros(1)}, lin_path)
    with pytest.raises(ValueError, match="lin0.model.1.weight"):
        LPIPS(vgg_weights_path=vgg_path, lin_weights_path=lin_path)
