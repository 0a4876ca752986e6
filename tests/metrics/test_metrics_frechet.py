"""Fréchet distances: agreement with the scipy sqrtm formulation, streaming statistics, FD-EffLite0
on real photos, and the FID code path with a randomly initialised Inception saved to a file."""

import warnings

import numpy as np
import pytest
import scipy.linalg
import skimage.data
import torch
from PIL import Image
from safetensors.torch import save_file

from zoo.metrics import (
    FID,
    EffLite0Features,
    FDEffLite0,
    FeatureExtractor,
    FrechetDistance,
    InceptionV3Features,
    create_image_metrics,
    frechet_distance,
    gaussian_stats,
)
from zoo.metrics.frechet import INCEPTION_FILENAME


def scipy_frechet(mu1, s1, mu2, s2, eps=1e-6):
    """The pytorch-fid / torch-fidelity formulation, written out with scipy.linalg.sqrtm."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        covmean = scipy.linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = np.eye(s1.shape[0]) * eps
            covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


@pytest.mark.parametrize(
    ("n", "d"),
    [(400, 32), (40, 64), (12, 96)],  # well conditioned, then rank-deficient (n < d)
)
def test_matches_scipy_sqrtm(n, d):
    rng = np.random.default_rng(d)
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) / np.sqrt(d)
    b = rng.normal(size=(n, d)) * 1.3 + 0.2
    mu1, s1 = gaussian_stats(a)
    mu2, s2 = gaussian_stats(b)
    want = scipy_frechet(mu1, s1, mu2, s2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-6)
    # Torch tensors in, same number out.
    got = frechet_distance(*(torch.from_numpy(v) for v in (mu1, s1, mu2, s2)))
    assert got == pytest.approx(want, rel=1e-6)


def test_near_singular_covariances():
    rng = np.random.default_rng(0)
    d = 48
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    # Eigenvalues spanning 12 orders of magnitude, a third of them ~1e-12.
    eig1 = np.concatenate([rng.uniform(0.5, 2, 32), np.full(16, 1e-12)])
    eig2 = np.concatenate([np.full(16, 1e-12), rng.uniform(0.5, 2, 32)])
    s1, s2 = (q * eig1) @ q.T, (q * eig2) @ q.T
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    want = scipy_frechet(mu1, s1, mu2, s2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-5)
    # Identical singular covariances: distance is exactly the mean term.
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-6)


def test_input_errors():
    mu, s = np.zeros(4), np.eye(4)
    with pytest.raises(ValueError, match="same length"):
        frechet_distance(mu, s, np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match=r"sigma2 must be \(4, 4\)"):
        frechet_distance(mu, s, mu, np.eye(3))
    bad = np.eye(4)
    bad[0, 1] = 1.0
    with pytest.raises(ValueError, match="not symmetric"):
        frechet_distance(mu, s, mu, bad)
    with pytest.raises(ValueError, match="NaN or Inf"):
        frechet_distance(mu, s * np.nan, mu, s)
    with pytest.raises(ValueError, match="N >= 2"):
        gaussian_stats(np.zeros((1, 4)))


def _crops(n: int = 12, size: int = 64) -> torch.Tensor:
    """Real photo crops, uint8 (n, 3, size, size)."""
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    out = []
    for i in range(n):
        p = photos[i % len(photos)]
        y, x = 37 * (i // 3) % (p.shape[0] - size), 53 * (i // 3) % (p.shape[1] - size)
        out.append(np.array(Image.fromarray(p[y : y + size, x : x + size])))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def efflite():
    return EffLite0Features()


def test_fd_efflite0_self_zero_and_grows_with_noise(efflite):
    x = _crops()
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(x.shape, generator=g)
    # One reference set, three comparisons (the reference covariance is factored once).
    ref = FDEffLite0(extractor=efflite)
    ref.update(target=x)
    values = []
    for sigma in (0.0, 10.0, 40.0):
        m = FDEffLite0(extractor=efflite, real_from=ref)
        m.update((x.float() + sigma * noise).clamp(0, 255).round().to(torch.uint8))
        values.append(float(m.compute()))
    assert values[0] == pytest.approx(0.0, abs=1e-6)
    assert 0 < values[1] < values[2]
    assert m.label == "FD-EffLite0" and "FID" not in m.label
    info = m.describe()
    assert info["num_real"] == info["num_fake"] == len(x)
    assert len(info["weights_sha256"]) == 64


class _PooledColour(FeatureExtractor):
    """A tiny deterministic extractor (4x4 average-pooled RGB, 48-d) for the streaming logic."""

    feature_dim = 48

    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x.float() / 255, 4).flatten(1)

    def describe(self):
        return {"network": "pooled colour"}


def test_streaming_stats_and_shared_reference():
    ext = _PooledColour()
    x = _crops()
    y = x.flip(-1)
    whole = FrechetDistance(extractor=ext, key="fd", label="FD")
    whole.update(y, x)
    parts = FrechetDistance(extractor=ext, key="fd", label="FD")
    parts.update(y[:5], x[:5])
    parts.update(y[5:], x[5:])
    assert float(parts.compute()) == pytest.approx(float(whole.compute()), rel=1e-9)
    # Streaming statistics equal numpy's on the extracted features.
    f = ext(x).double().numpy()
    mu, sigma = parts.stats("real")
    np.testing.assert_allclose(mu, f.mean(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(f, rowvar=False), rtol=1e-7, atol=1e-12)
    want = frechet_distance(*gaussian_stats(f), *gaussian_stats(ext(y).double().numpy()))
    assert float(whole.compute()) == pytest.approx(want, rel=1e-6)
    # Metrics sharing a reference compare against its originals and hold none themselves.
    a = FrechetDistance(extractor=ext, key="fd", label="FD")
    b = FrechetDistance(extractor=ext, key="fd", label="FD", real_from=a)
    a.update(y, x)
    b.update(x)
    assert float(a.compute()) == pytest.approx(float(whole.compute()), rel=1e-9)
    assert float(b.compute()) == pytest.approx(0.0, abs=1e-9)
    assert not hasattr(b, "real_outer") and b.describe()["num_real"] == len(x)
    with pytest.raises(ValueError, match="real_from"):
        b.update(target=x)
    with pytest.raises(ValueError, match="same feature extractor"):
        FrechetDistance(extractor=_PooledColour(), key="fd", label="FD", real_from=a)
    with pytest.raises(ValueError, match=r"features \(B, 48\)"):
        a.update(fake_features=torch.zeros(2, 5))
    m = FrechetDistance(extractor=ext, key="fd", label="FD")
    m.update(x[:1], x)
    with pytest.raises(RuntimeError, match="at least 2 fake images"):
        m.compute()


def test_metric_sets_share_networks_and_reference(efflite):
    (a, b) = create_image_metrics(["fd_efflite0", "psnr"], copies=2)
    assert a["fd_efflite0"].extractor is b["fd_efflite0"].extractor
    assert b["fd_efflite0"].real_from is a["fd_efflite0"]
    assert a["psnr"] is not b["psnr"]


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """A randomly initialised torch-fidelity Inception-v3 saved as a plain .pth state dict."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    with pytest.MonkeyPatch.context() as mp:
        # Build the network without its (unavailable) download: random init, nothing loaded.
        mp.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
        mp.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        torch.manual_seed(0)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("fid") / INCEPTION_FILENAME
    torch.save(net.state_dict(), path)
    return path


def test_fid_end_to_end_with_random_inception(inception_weights, tmp_path, monkeypatch):
    x = _crops(4, 48)
    noisy = (x.float() + 30 * torch.randn(x.shape)).clamp(0, 255).round().to(torch.uint8)
    fid = FID(weights_path=str(inception_weights))
    fid.update(noisy, x)
    d = float(fid.compute())
    assert np.isfinite(d) and d > 0
    same = FID(extractor=fid.extractor)
    same.update(x, x)
    assert float(same.compute()) == pytest.approx(0.0, abs=1e-6)
    info = fid.describe()
    assert info["label"] == "rFID" and info["feature_dim"] == 2048
    assert info["weights_sha256"] and info["weights"] == str(inception_weights)
    # safetensors weights give the same network.
    st = tmp_path / "inception.safetensors"
    save_file(torch.load(inception_weights, weights_only=True), str(st))
    feats = InceptionV3Features(weights_path=str(st))(x[:2])
    torch.testing.assert_close(feats, fid.extractor(x[:2]))
    # The torch hub cache is the default location.
    cache = tmp_path / "home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / INCEPTION_FILENAME).symlink_to(inception_weights)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    assert InceptionV3Features().weights_sha256 == info["weights_sha256"]


def test_fid_refuses_without_or_with_wrong_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    with pytest.raises(FileNotFoundError, match=r"weights-inception-2015-12-05.*--fid-weights"):
        FID()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_image_metrics(["fid"], weights={"fid": str(tmp_path / "nope.pth")})
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(ValueError, match="does not fit"):
        FID(weights_path=str(wrong))
    pickled = tmp_path / "pickled.pth"
    torch.save({"fc.weight": object()}, pickled)
    with pytest.raises(ValueError, match="weights_only=True"):
        FID(weights_path=str(pickled))
