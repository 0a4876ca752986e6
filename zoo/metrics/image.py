"""Full-reference image metrics, streaming (``update`` / ``compute`` / ``reset``).

- PSNR: ``10 log10(255^2 / MSE)`` per image over all pixels and channels, averaged over images.
- SSIM: Wang, Bovik, Sheikh & Simoncelli, "Image Quality Assessment: From Error Visibility to
  Structural Similarity", IEEE TIP 2004. Gaussian window (sigma 1.5, 11 x 11), K1 = 0.01,
  K2 = 0.03, per RGB channel; averaged over the "valid" window positions only (borders within 5 px
  excluded, as the paper's reference code and scikit-image do), then channels, then images.
- MS-SSIM: Wang, Simoncelli & Bovik, "Multi-Scale Structural Similarity for Image Quality
  Assessment", Asilomar 2003; torchmetrics' implementation with the paper's five scale weights.
- LPIPS: Zhang, Isola, Efros, Shechtman & Wang, "The Unreasonable Effectiveness of Deep Features
  as a Perceptual Metric", CVPR 2018; v0.1 with the VGG-16 backbone, the same network as the
  training loss :class:`zoo.losses.LPIPS`.

Inputs of every ``update(preds, target)``: two batches ``(B, 3, H, W)``, either float in [-1, 1]
(the tokenizers' range) or uint8 in [0, 255]. By default (``quantize=True``) float images are first
rounded to 8 bits, the values a saved PNG holds, so numbers do not depend on sub-quantization
noise of the decoder; the pixel metrics then work on [0, 255] (data range 255).

Every metric is a ``torchmetrics.Metric``: states are summed across processes under DDP, and
``describe()`` returns the implementation details a result file records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.losses.perceptual import LPIPS
from zoo.metrics._utils import (
    MeanMetric,
    check_image_pair,
    sha256_file,
    to_pixel_values,
    to_uint8,
    torch_hub_checkpoint,
)
from zoo.metrics.registry import MetricBuild, register_metric

_SSIM_SIGMA = 1.5
_SSIM_KERNEL = 11  # int(3.5 * sigma + 0.5) * 2 + 1, the window torchmetrics and scikit-image use
_SSIM_BORDER = (_SSIM_KERNEL - 1) // 2
_MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _gaussian_window(device: torch.device) -> Tensor:
    x = torch.arange(_SSIM_KERNEL, dtype=torch.float64, device=device) - _SSIM_BORDER
    g = torch.exp(-(x**2) / (2 * _SSIM_SIGMA**2))
    return g / g.sum()


def ssim_per_image(preds: Tensor, target: Tensor, data_range: float = 255.0) -> Tensor:
    """SSIM ``(B,)`` of pixel values ``(B, C, H, W)``, averaged over valid windows and channels.

    Float64 throughout, separable Gaussian filtering without padding (only windows that lie inside
    the image, as the reference implementation and scikit-image's ``structural_similarity(...,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` average), population
    (co)variances.
    """
    b, c, h, w = preds.shape
    g = _gaussian_window(preds.device)
    p, t = preds.double().reshape(b * c, 1, h, w), target.double().reshape(b * c, 1, h, w)
    maps = torch.cat([p, t, p * p, t * t, p * t], dim=1)  # (B*C, 5, H, W)
    # Separable blur: 2 x 11 taps instead of 121 per pixel; float64 keeps E[x^2] - E[x]^2 exact.
    maps = F.conv2d(maps, g.view(1, 1, -1, 1).expand(5, 1, -1, 1), groups=5)
    maps = F.conv2d(maps, g.view(1, 1, 1, -1).expand(5, 1, 1, -1), groups=5)
    mu_p, mu_t, e_pp, e_tt, e_pt = maps.unbind(1)
    var_p, var_t = e_pp - mu_p * mu_p, e_tt - mu_t * mu_t
    cov = e_pt - mu_p * mu_t
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim = ((2 * mu_p * mu_t + c1) * (2 * cov + c2)) / (
        (mu_p * mu_p + mu_t * mu_t + c1) * (var_p + var_t + c2)
    )
    return ssim.reshape(b, -1).mean(1)


class ImageMetric(MeanMetric):
    """Base of the full-reference image metrics: the mean over images of a per-image value.

    Subclasses set ``key`` (machine name), ``label`` (how tables print it), ``higher_is_better``,
    ``order`` (table position) and implement :meth:`per_image` on float64 pixel values in
    [0, 255] (or override :meth:`update`); :func:`~zoo.metrics.registry.register_metric` lists
    them.

    Args:
        quantize: round float inputs to 8 bits before measuring (the PNG round trip).
    """

    modality: ClassVar[str] = "image"

    def __init__(self, *, quantize: bool = True) -> None:
        super().__init__()
        self.quantize = bool(quantize)

    @classmethod
    def create(cls, build: MetricBuild) -> ImageMetric:
        """One instance for one metric set of :func:`zoo.metrics.create_metrics`."""
        return cls(quantize=build.quantize)

    def per_image(self, preds: Tensor, target: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Metric values ``(B,)`` of pixel values ``(B, 3, H, W)`` float64 in [0, 255]."""
        raise NotImplementedError

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch: ``preds`` (reconstructions) and ``target`` (originals), ``(B, 3, H, W)``
        float in [-1, 1] or uint8 in [0, 255]."""
        check_image_pair(type(self).__name__, preds, target)
        values = self.per_image(
            to_pixel_values(preds, quantize=self.quantize),
            to_pixel_values(target, quantize=self.quantize),
        )
        self._add(values)

    def describe(self) -> dict[str, Any]:
        """Implementation details recorded in result files."""
        return {
            **super().describe(),
            "inputs": "8-bit quantized (PNG round trip)" if self.quantize else "float, clipped",
        }


@register_metric
class PSNR(ImageMetric):
    """Peak signal-to-noise ratio in dB, per image then averaged (data range 255).

    An image reproduced exactly has infinite PSNR, and so does the mean then.
    """

    key = "psnr"
    label = "PSNR"
    higher_is_better = True
    order = 10
    default = True

    def per_image(self, preds: Tensor, target: Tensor) -> Tensor:
        mse = (preds - target).pow(2).flatten(1).mean(1)
        return 10.0 * torch.log10(255.0**2 / mse)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "data_range": 255, "reduction": "mean of per-image PSNR"}


@register_metric
class SSIM(ImageMetric):
    """Structural similarity (Wang et al. 2004) per image, averaged; see the module docstring."""

    key = "ssim"
    label = "SSIM"
    higher_is_better = True
    order = 20
    default = True

    def per_image(self, preds: Tensor, target: Tensor) -> Tensor:
        h, w = preds.shape[-2:]
        if min(h, w) < _SSIM_KERNEL:
            raise ValueError(
                f"SSIM: images must be at least {_SSIM_KERNEL} px per side for the "
                f"{_SSIM_KERNEL} x {_SSIM_KERNEL} window, got {h} x {w}"
            )
        return ssim_per_image(preds, target)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "window": f"gaussian sigma={_SSIM_SIGMA}, {_SSIM_KERNEL}x{_SSIM_KERNEL}",
            "k1": 0.01,
            "k2": 0.03,
            "data_range": 255,
            "channels": "per RGB channel, averaged",
            "border": f"valid windows only ({_SSIM_BORDER} px border excluded)",
            "covariance": "population (not sample) statistics",
        }


@register_metric
class MSSSIM(ImageMetric):
    """Multi-scale SSIM (Wang et al. 2003) per image, averaged (torchmetrics implementation).

    Five scales need images larger than ``(11 - 1) * 4^2 = 160`` px per side.
    """

    key = "ms_ssim"
    label = "MS-SSIM"
    higher_is_better = True
    order = 30
    min_size: ClassVar[int] = (_SSIM_KERNEL - 1) * (len(_MS_SSIM_BETAS) - 1) ** 2 + 1

    def per_image(self, preds: Tensor, target: Tensor) -> Tensor:
        from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

        h, w = preds.shape[-2:]
        if min(h, w) < self.min_size:
            raise ValueError(
                f"MS-SSIM: {len(_MS_SSIM_BETAS)} scales need images of at least {self.min_size} "
                f"px per side, got {h} x {w}; evaluate at a larger resolution or drop ms_ssim"
            )
        # float32: torchmetrics' 2D grouped convolutions are ~10x slower in float64 on CPU.
        return multiscale_structural_similarity_index_measure(
            preds.float(),
            target.float(),
            gaussian_kernel=True,
            sigma=_SSIM_SIGMA,
            kernel_size=_SSIM_KERNEL,
            data_range=255.0,
            betas=_MS_SSIM_BETAS,
            normalize="relu",
            reduction="none",
        )

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "implementation": "torchmetrics multiscale_structural_similarity_index_measure",
            "betas": list(_MS_SSIM_BETAS),
            "window": f"gaussian sigma={_SSIM_SIGMA}, {_SSIM_KERNEL}x{_SSIM_KERNEL}",
            "normalize": "relu",
            "data_range": 255,
            "dtype": "float32",
        }


# --------------------------------------------------------------------------- LPIPS

#: torchvision's ImageNet VGG-16 weights; torch.hub names files ``<name>-<sha256 prefix>.pth``.
VGG16_FILENAME = "vgg16-397923af.pth"
VGG16_SHA256_PREFIX = "397923af"

LPIPS_WEIGHTS_HELP = (
    "LPIPS needs the ImageNet VGG-16 backbone weights, which cannot be downloaded here: get "
    f"https://download.pytorch.org/models/{VGG16_FILENAME} on a machine with internet access and "
    "pass its path (--lpips-weights PATH, or LPIPSMetric(backbone_weights_path=...)), or put it "
    f"in the torch hub cache as {str(torch_hub_checkpoint(VGG16_FILENAME))!r}. The LPIPS v0.1 "
    "linear heads are read from the copy torchmetrics ships (lpips_models/vgg.pth) unless "
    "lin_weights_path is given."
)


def lpips_lin_weights_default() -> Path:
    """The LPIPS v0.1 VGG linear heads that torchmetrics vendors from the ``lpips`` package."""
    import torchmetrics.functional.image.lpips as tm_lpips

    return Path(tm_lpips.__file__).parent / "lpips_models" / "vgg.pth"


@register_metric
class LPIPSMetric(ImageMetric):
    """LPIPS v0.1 (VGG-16), per image then averaged; lower is more similar.

    Args:
        backbone_weights_path: torchvision ``vgg16`` ImageNet weights (``vgg16-397923af.pth``);
            default: the torch hub cache. Missing weights raise FileNotFoundError saying how to
            provide them.
        lin_weights_path: LPIPS v0.1 VGG linear heads; default: torchmetrics' bundled copy.
        quantize: measure 8-bit quantized images (see the module docstring).
        share_network_of: reuse the (frozen) network of another LPIPSMetric instead of loading
            one; the weight arguments are then ignored.

    Images are fed to the network in [-1, 1] at their own size (no resizing).
    """

    key = "lpips"
    label = "LPIPS-VGG"
    higher_is_better = False
    order = 40
    weight_names = ("lpips", "lpips_lin")

    def __init__(
        self,
        *,
        backbone_weights_path: str | None = None,
        lin_weights_path: str | None = None,
        quantize: bool = True,
        share_network_of: LPIPSMetric | None = None,
    ) -> None:
        super().__init__(quantize=quantize)
        if share_network_of is not None:
            # Several metrics (one per token count) over one frozen network.
            self.net = share_network_of.net
            self.backbone_weights_path = share_network_of.backbone_weights_path
            self.lin_weights_path = share_network_of.lin_weights_path
            self._hashes = dict(share_network_of._hashes)
            return
        backbone = Path(backbone_weights_path or torch_hub_checkpoint(VGG16_FILENAME))
        if not backbone.is_file():
            given = (
                f"backbone_weights_path={backbone_weights_path!r} does not exist"
                if backbone_weights_path
                else f"no backbone weights given and {str(backbone)!r} is not in the cache"
            )
            raise FileNotFoundError(f"LPIPSMetric: {given}. {LPIPS_WEIGHTS_HELP}")
        lin = Path(lin_weights_path or lpips_lin_weights_default())
        if not lin.is_file():
            raise FileNotFoundError(
                f"LPIPSMetric: LPIPS v0.1 linear heads {str(lin)!r} not found; pass "
                "lin_weights_path= (lpips/weights/v0.1/vgg.pth of the `lpips` package)"
            )
        self.backbone_weights_path = str(backbone)
        self.lin_weights_path = str(lin)
        self.net = LPIPS(vgg_weights_path=str(backbone), lin_weights_path=str(lin))
        self._hashes = {"backbone": sha256_file(backbone), "lin": sha256_file(lin)}

    @classmethod
    def create(cls, build: MetricBuild) -> LPIPSMetric:
        """Every set's LPIPS shares one network, loaded from ``build.weights["lpips"]`` (VGG-16
        backbone) and ``build.weights["lpips_lin"]`` (the LPIPS heads)."""
        net = build.shared.get("lpips")
        if net is None:
            net = build.shared["lpips"] = cls(
                backbone_weights_path=build.weights.get("lpips"),
                lin_weights_path=build.weights.get("lpips_lin"),
                quantize=build.quantize,
            )
        return cls(quantize=build.quantize, share_network_of=net)

    def update(self, preds: Tensor, target: Tensor) -> None:
        check_image_pair(type(self).__name__, preds, target)
        if self.quantize or preds.dtype == torch.uint8:
            preds = to_uint8(preds).float() / 127.5 - 1.0
        if self.quantize or target.dtype == torch.uint8:
            target = to_uint8(target).float() / 127.5 - 1.0
        with torch.no_grad():
            values = self.net(preds.float().clamp(-1, 1), target.float().clamp(-1, 1), "none")
        self._add(values)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "implementation": "zoo.losses.perceptual.LPIPS (LPIPS v0.1, VGG-16)",
            "backbone_weights": self.backbone_weights_path,
            "backbone_weights_sha256": self._hashes["backbone"],
            "backbone_is_standard": self._hashes["backbone"].startswith(VGG16_SHA256_PREFIX),
            "lin_weights": self.lin_weights_path,
            "lin_weights_sha256": self._hashes["lin"],
            "resize": "none (network sees the images at their own size)",
        }
