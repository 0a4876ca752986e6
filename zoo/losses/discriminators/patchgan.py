"""PatchGAN discriminator.

Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks" (pix2pix,
CVPR 2017), in the N-layer form VQGAN uses (Esser et al., CVPR 2021): strided 4x4 convolutions
with LeakyReLU(0.2), doubling width up to 8x, then a stride-1 layer and a 1-channel output, so each
logit judges one overlapping patch (70x70 pixels for ``num_layers=3``).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from zoo.losses.registry import register_discriminator

NORMS = ("batch", "group", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        # 32 groups like most tokenizer codebases, fewer when the layer is narrow.
        return nn.GroupNorm(math.gcd(32, channels), channels)
    return nn.Identity()


@register_discriminator("patchgan", channels_arg="in_channels", modalities=("image",))
class PatchGANDiscriminator(nn.Module):
    """N-layer PatchGAN over images ``(B, in_channels, H, W)`` in [-1, 1].

    Args:
        in_channels: input channels (3 for RGB).
        channels: width of the first layer; layer ``i`` has ``channels * min(2**i, 8)``.
        num_layers: number of stride-2 layers (3 in pix2pix / VQGAN). The output is
            ``(B, 1, h, w)`` with ``h ~ H / 2**num_layers - 2``; inputs must be at least
            ``min_input_size`` pixels on each side.
        norm: ``"batch"`` (pix2pix / VQGAN), ``"group"`` (batch-size independent, safe for tiny or
            uneven per-GPU batches), or ``"none"``.

    Returns (forward): raw logits ``(B, 1, h, w)``, one per patch.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        channels: int = 64,
        num_layers: int = 3,
        norm: str = "group",
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"PatchGANDiscriminator: norm must be one of {NORMS}, got {norm!r}")
        if num_layers < 1:
            raise ValueError(f"PatchGANDiscriminator: num_layers must be >= 1, got {num_layers}")
        self.in_channels = in_channels
        self.num_layers = num_layers
        # The first layer has no norm (pix2pix); biases only where no norm follows.
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, channels, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        width = channels
        for i in range(1, num_layers + 1):
            out = channels * min(2**i, 8)
            stride = 2 if i < num_layers else 1
            layers += [
                nn.Conv2d(width, out, 4, stride=stride, padding=1, bias=norm == "none"),
                _norm(norm, out),
                nn.LeakyReLU(0.2),
            ]
            width = out
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)
        self.apply(_init_weights)

    @property
    def min_input_size(self) -> int:
        """Smallest H and W that leave at least one output logit."""
        # Every stride-2 layer halves (floor), the two final stride-1 4x4 convs remove 1 px each.
        size = 3
        for _ in range(self.num_layers):
            size = 2 * size
        return size

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"PatchGANDiscriminator: expected (B, {self.in_channels}, H, W), got "
                f"{tuple(x.shape)}"
            )
        if min(x.shape[-2:]) < self.min_input_size:
            raise ValueError(
                f"PatchGANDiscriminator: inputs of {tuple(x.shape[-2:])} px are too small for "
                f"num_layers={self.num_layers}; need >= {self.min_input_size} px per side or fewer "
                f"layers"
            )
        return self.net(x)


def _init_weights(m: nn.Module) -> None:
    # DCGAN initialisation, as pix2pix and VQGAN use.
    if isinstance(m, nn.Conv2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
