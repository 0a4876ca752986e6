"""Emu3's vision tokenizer (MoVQGAN-style image VQ with causal temporal layers), for images.

Wang et al., "Emu3: Next-Token Prediction is All You Need", 2024 (arXiv:2409.18869); the
decoder's spatially conditioned norms follow Zheng et al., "MoVQ: Modulating Quantized Vectors
for High-Fidelity Image Generation", NeurIPS 2022 (arXiv:2209.09002).

Upstream treats an image as a clip of ``temporal_factor`` (4) identical frames:

- encoder: a 2D taming encoder per frame (ResNet levels, attention after each block of
  ``attn_levels``, mid block with attention) to ``z_channels``; then causal temporal
  downsampling convs (kernel (4, 3, 3), stride (2, 1, 1), each followed by SiLU) to one frame
  and ``num_res_blocks`` temporal ResNet blocks (BatchNorm3d, causal 3x3x3 convs); a causal
  (3, 1, 1) ``quant_conv``; l2 VQ of the raw codewords.
- decoder: ``post_quant_conv`` of the codewords ``zq``; both it and ``zq`` go through the same
  temporal ResNet blocks and temporal upsampling (nearest x2 in time, causal 3x3x3 conv, SiLU)
  back to ``temporal_factor`` frames; a 2D decoder whose every norm is a spatial norm
  ``GroupNorm(h) * conv_y(zq) + conv_b(zq)`` (``zq`` resized to ``h``); the image is frame 0.

Causal 3D convs pad time by 2 frames on the left whatever the kernel (upstream's choice; a
(4, 3, 3) kernel therefore sees two zero frames first), space by ``k - s`` split larger-left.
Since the frames of an image are identical, the 2D encoder runs once and the 2D decoder runs on
frame 0 only: the same numbers as upstream for a quarter of the work.

Layouts: images ``(B, 3, H, W)`` in ``[-1, 1]``, ``H``, ``W`` multiples of
``f = 2 ** (len(ch_mult) - 1)``; latents ``(B, H/f, W/f, token_dim)``; codes ``(B, H/f, W/f, 1)``.

Published weights: ``emu3_vq_f8.baai`` (``BAAI/Emu3-VisionTokenizer``, Apache-2.0), converted on
load by :func:`convert_emu3_checkpoint` from upstream's ``Emu3VisionVQModel`` keys
(``encoder.down.{i}.block.{j}``, ``.attn.{j}.{norm,q,k,v,proj_out}`` as 1x1 convs,
``encoder.mid.{block_1,attn_1,block_2}``, ``encoder.time_conv.{i}.conv.conv``,
``encoder.time_res_stack.{i}``, ``quant_conv.conv``, ``decoder.up.{level}`` finest first, spatial
norms ``norm_layer`` / ``conv_y`` / ``conv_b``) or transformers' ``Emu3VQVAE`` keys
(``encoder.down_block.down``, ``middle_block`` with a separate ``attn_norm``, ``up_block.up``,
linear ``q_proj`` / ``k_proj`` / ``v_proj`` / ``out_proj`` attention; ``model.vqmodel.`` in the
full Emu3 models).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.layers import create_norm, groupnorm_min_side, upsample_conv2d
from zoo.registry import PretrainedCfg, register_tokenizer
from zoo.tokenizers.base import build_quantizer
from zoo.tokenizers.image.base import ImageTokenizer
from zoo.tokenizers.image.vqgan2d import VQGANEncoder, _fill, _rename
from zoo.tokenizers.upstream import read_checkpoint, take_prefix


class PaddedConv3d(nn.Module):
    """Conv3d with Emu3's causal padding: time ``(2, 0)`` (left only, fixed), each spatial axis
    ``k - s`` split as ``(ceil, floor)``. Layout ``(B, C, T, H, W)``."""

    def __init__(
        self, cin: int, cout: int, kernel_size: tuple[int, int, int], stride: tuple[int, int, int]
    ) -> None:
        super().__init__()
        pads: list[int] = []
        for k, s in reversed(list(zip(kernel_size[1:], stride[1:], strict=True))):
            p = k - s
            pads += [p - p // 2, p // 2]
        self.pads = (*pads, 2, 0)
        self.conv = nn.Conv3d(cin, cout, kernel_size, stride=stride)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, self.pads))


class TemporalResnetBlock(nn.Module):
    """``x + conv(silu(bn(conv(silu(bn(x))))))`` with causal 3x3x3 convs, ``(B, C, T, H, W)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm3d(channels)
        self.conv1 = PaddedConv3d(channels, channels, (3, 3, 3), (1, 1, 1))
        self.norm2 = nn.BatchNorm3d(channels)
        self.conv2 = PaddedConv3d(channels, channels, (3, 3, 3), (1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class SpatialNorm(nn.Module):
    """MoVQ's norm: ``GroupNorm(h) * conv_y(zq) + conv_b(zq)``, ``zq`` resized (nearest) to
    ``h``'s grid; ``h`` ``(B, C, H, W)``, ``zq`` ``(B, Cq, h, w)``."""

    def __init__(self, channels: int, cond_channels: int) -> None:
        super().__init__()
        self.norm = create_norm("groupnorm", channels)
        self.conv_y = nn.Conv2d(cond_channels, channels, 1)
        self.conv_b = nn.Conv2d(cond_channels, channels, 1)

    def forward(self, h: Tensor, zq: Tensor) -> Tensor:
        zq = F.interpolate(zq, size=h.shape[-2:], mode="nearest")
        return self.norm(h) * self.conv_y(zq) + self.conv_b(zq)


class SpatialResnetBlock(nn.Module):
    """Decoder ResNet block whose norms are :class:`SpatialNorm`; 1x1 shortcut on a width
    change."""

    def __init__(self, cin: int, cout: int, cond_channels: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = SpatialNorm(cin, cond_channels)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = SpatialNorm(cout, cond_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, zq: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x, zq)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h, zq))))
        return self.shortcut(x) + h


class SpatialAttention(nn.Module):
    """Single-head attention over positions with a :class:`SpatialNorm` (1x1 conv projections)."""

    def __init__(self, channels: int, cond_channels: int) -> None:
        super().__init__()
        self.norm = SpatialNorm(channels, cond_channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor, zq: Tensor) -> Tensor:
        h = self.norm(x, zq)
        b, c = x.shape[:2]
        q, k, v = (m(h).reshape(b, 1, c, -1).transpose(-1, -2) for m in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj_out(out.transpose(-1, -2).reshape(x.shape))


class Emu3Decoder2D(nn.Module):
    """``(B, z_channels, h, w)`` conditioned on ``zq`` ``(B, cond, h, w)`` -> ``(B, C, h*f, w*f)``;
    levels run coarsest first."""

    def __init__(
        self,
        *,
        out_channels: int,
        ch: int,
        ch_mult: list[int],
        num_res_blocks: int,
        z_channels: int,
        cond_channels: int,
        attn_levels: list[int],
        dropout: float,
    ) -> None:
        super().__init__()
        c_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, c_in, 3, padding=1)
        self.mid = nn.ModuleList(
            [
                SpatialResnetBlock(c_in, c_in, cond_channels, dropout),
                SpatialAttention(c_in, cond_channels),
                SpatialResnetBlock(c_in, c_in, cond_channels, dropout),
            ]
        )
        stages = []
        for level in reversed(range(len(ch_mult))):
            c_out = ch * ch_mult[level]
            stage = nn.Module()
            blocks, attn = [], []
            for _ in range(num_res_blocks + 1):
                blocks.append(SpatialResnetBlock(c_in, c_out, cond_channels, dropout))
                if level in attn_levels:
                    attn.append(SpatialAttention(c_out, cond_channels))
                c_in = c_out
            stage.blocks = nn.ModuleList(blocks)
            stage.attn = nn.ModuleList(attn)
            stage.resample = nn.Conv2d(c_in, c_in, 3, padding=1) if level else nn.Identity()
            stages.append(stage)
        self.stages = nn.ModuleList(stages)
        self.norm_out = SpatialNorm(c_in, cond_channels)
        self.conv_out = nn.Conv2d(c_in, out_channels, 3, padding=1)

    def forward(self, z: Tensor, zq: Tensor) -> Tensor:
        h = self.conv_in(z)
        for m in self.mid:
            h = m(h, zq)
        last = len(self.stages) - 1
        for i, stage in enumerate(self.stages):
            for j, block in enumerate(stage.blocks):
                h = block(h, zq)
                if len(stage.attn):
                    h = stage.attn[j](h, zq)
            if i != last:  # nearest x2, then the 3x3 conv
                h = upsample_conv2d(h, stage.resample)
        return self.conv_out(F.silu(self.norm_out(h, zq)))


class Emu3VisionTokenizer(ImageTokenizer):
    """Emu3's vision tokenizer for images (see the module docstring).

    Input: images ``(B, in_channels, H, W)``, float in ``[-1, 1]``, ``H`` and ``W`` multiples of
    ``2 ** (len(ch_mult) - 1)``. Tokens: a ``(H/f, W/f)`` grid; codes ``(B, h, w, 1)``.

    Args:
        image_size: default input side (defines ``num_tokens`` / ``token_shape()``).
        ch, ch_mult, num_res_blocks: widths and depth of the 2D encoder / decoder.
        z_channels: latent width of the 2D encoder / decoder and of the temporal layers.
        token_dim: quantizer width (``quant_conv`` output, the decoder's norm condition).
        attn_levels: level indices (0 = finest) with attention after each ResNet block.
        temporal_factor: frames an image is repeated to (a power of two; one temporal
            down/upsampling per factor of two).
        dropout: dropout inside the ResNet blocks.
        quantizer: registered quantizer name; quantizer_kwargs: its arguments without ``dim``.
        in_channels: image channels.
    """

    def __init__(
        self,
        *,
        image_size: int = 512,
        ch: int = 256,
        ch_mult: list[int] | None = None,
        num_res_blocks: int = 2,
        z_channels: int = 4,
        token_dim: int = 4,
        attn_levels: list[int] | None = None,
        temporal_factor: int = 4,
        dropout: float = 0.0,
        quantizer: str = "vq",
        quantizer_kwargs: dict[str, Any] | None = None,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        ch_mult = [1, 2, 2, 4] if ch_mult is None else [int(m) for m in ch_mult]
        attn_levels = [3] if attn_levels is None else [int(a) for a in attn_levels]
        bad = [a for a in attn_levels if not 0 <= a < len(ch_mult)]
        if bad:
            raise ValueError(
                f"Emu3VisionTokenizer: attn_levels {bad} outside 0..{len(ch_mult) - 1}"
            )
        steps = int(math.log2(temporal_factor)) if temporal_factor > 0 else -1
        if temporal_factor < 1 or 2**steps != temporal_factor:
            raise ValueError(
                "Emu3VisionTokenizer: temporal_factor must be a power of two, got "
                f"{temporal_factor}"
            )
        self.factor = 2 ** (len(ch_mult) - 1)
        if image_size % self.factor:
            raise ValueError(
                f"Emu3VisionTokenizer: image_size ({image_size}) must be a multiple of "
                f"{self.factor}"
            )
        self.image_size = image_size
        self.in_channels = in_channels
        self.input_multiple = self.factor
        self.token_dim = token_dim
        self.temporal_factor = temporal_factor
        self.num_tokens = (image_size // self.factor) ** 2
        self.encoder = VQGANEncoder(
            in_channels=in_channels, ch=ch, ch_mult=ch_mult, num_res_blocks=num_res_blocks,
            z_channels=z_channels, attn_levels=attn_levels, mid_attention=True, dropout=dropout,
        )  # fmt: skip
        self.encoder_time_down = nn.ModuleList(
            PaddedConv3d(z_channels, z_channels, (4, 3, 3), (2, 1, 1)) for _ in range(steps)
        )
        self.encoder_time_blocks = nn.ModuleList(
            TemporalResnetBlock(z_channels) for _ in range(num_res_blocks)
        )
        self.quant_conv = PaddedConv3d(z_channels, token_dim, (3, 1, 1), (1, 1, 1))
        self.quantizer = build_quantizer(
            quantizer, quantizer_kwargs, token_dim, "Emu3", dim_name="token_dim"
        )
        self.post_quant_conv = PaddedConv3d(token_dim, z_channels, (3, 1, 1), (1, 1, 1))
        if token_dim != z_channels:
            # upstream runs the codewords through the same temporal layers as the latents
            raise ValueError(
                f"Emu3VisionTokenizer: token_dim ({token_dim}) must equal z_channels "
                f"({z_channels}): the decoder's temporal layers process both"
            )
        self.decoder_time_blocks = nn.ModuleList(
            TemporalResnetBlock(z_channels) for _ in range(num_res_blocks)
        )
        self.decoder_time_up = nn.ModuleList(
            PaddedConv3d(z_channels, z_channels, (3, 3, 3), (1, 1, 1)) for _ in range(steps)
        )
        self.decoder = Emu3Decoder2D(
            out_channels=in_channels, ch=ch, ch_mult=ch_mult, num_res_blocks=num_res_blocks,
            z_channels=z_channels, cond_channels=token_dim, attn_levels=attn_levels,
            dropout=dropout,
        )  # fmt: skip
        # GroupNorm needs two values per group on the coarsest (H/f x W/f) map.
        self.min_input_size = self.factor * groupnorm_min_side(self)

    def token_shape(self, num_tokens: int | None = None) -> tuple[int, ...]:
        """``(h, w)`` token grid at ``image_size``."""
        self._resolve_num_tokens(num_tokens)
        side = self.image_size // self.factor
        return (side, side)

    def encode(self, x: Tensor) -> Tensor:
        """Continuous latents ``(B, H/f, W/f, token_dim)`` of images ``(B, C, H, W)`` in
        [-1, 1]: the image as ``temporal_factor`` identical frames, reduced to one in time."""
        h = self.encoder(x)  # every frame is the same image: run the 2D encoder once
        h = h.unsqueeze(2).expand(-1, -1, self.temporal_factor, -1, -1)
        for conv in self.encoder_time_down:
            h = F.silu(conv(h))
        for block in self.encoder_time_blocks:
            h = block(h)
        return self.quant_conv(h)[:, :, -1].permute(0, 2, 3, 1)

    def decode(self, quantized: Tensor, num_tokens: int | None = None) -> Tensor:
        """Images ``(B, C, h*f, w*f)`` (not clamped) from quantized latents ``(B, h, w,
        token_dim)``: frame 0 of the decoded clip, as upstream returns for images."""
        if quantized.ndim != 4 or quantized.shape[-1] != self.token_dim:
            raise ValueError(
                f"{self._label}: decode expects quantized latents (B, h, w, {self.token_dim}), "
                f"got {tuple(quantized.shape)}"
            )
        zq = quantized.permute(0, 3, 1, 2).unsqueeze(2)  # (B, C, 1, h, w)
        both = torch.cat([self.post_quant_conv(zq), zq])  # shared temporal layers
        for block in self.decoder_time_blocks:
            both = block(both)
        for conv in self.decoder_time_up:
            both = F.silu(conv(both.repeat_interleave(2, dim=2)))
        z, cond = both[:, :, 0].chunk(2)  # frame 0 is the image
        return self.decoder(z, cond)


# ---------------------------------------------------------------------- converter
_MID = {"block_1": 0, "attn_1": 1, "block_2": 2}
# Module paths of upstream (Emu3VisionVQModel) and transformers (Emu3VQVAE) -> ours; decoder
# levels are listed finest first upstream ("up.{level}"), coarsest first in ours.
_PARTS = {
    ".norm_layer.": ".norm.", ".nin_shortcut.": ".shortcut.", ".q_proj.": ".q.",
    ".k_proj.": ".k.", ".v_proj.": ".v.", ".out_proj.": ".proj_out.",
}  # fmt: skip


def _emu3_rules(num_levels: int) -> list[tuple[str, Any]]:
    top = num_levels - 1
    down = r"encoder\.(?:down_block\.)?down\.(\d+)\."
    up = r"decoder\.(?:up_block\.)?up\.(\d+)\."
    return [
        (down + r"block\.", lambda m: f"encoder.stages.{m[1]}.blocks."),
        (down + r"attn_norms\.(\d+)\.", lambda m: f"encoder.stages.{m[1]}.attn.{m[2]}.norm."),
        (down + r"attn\.", lambda m: f"encoder.stages.{m[1]}.attn."),
        (down + r"downsample\.", lambda m: f"encoder.stages.{m[1]}.resample."),
        (up + r"block\.", lambda m: f"decoder.stages.{top - int(m[1])}.blocks."),
        (up + r"attn_norms\.(\d+)\.",
         lambda m: f"decoder.stages.{top - int(m[1])}.attn.{m[2]}.norm."),
        (up + r"attn\.", lambda m: f"decoder.stages.{top - int(m[1])}.attn."),
        (up + r"upsample\.conv\.", lambda m: f"decoder.stages.{top - int(m[1])}.resample."),
        (r"(encoder|decoder)\.(?:mid|middle_block)\.attn_norm\.", lambda m: f"{m[1]}.mid.1.norm."),
        (r"(encoder|decoder)\.(?:mid|middle_block)\.(block_1|attn_1|block_2)\.",
         lambda m: f"{m[1]}.mid.{_MID[m[2]]}."),
        (r"encoder\.time_conv\.(\d+)\.conv\.", lambda m: f"encoder_time_down.{m[1]}."),
        (r"encoder\.time_res_stack\.", lambda m: "encoder_time_blocks."),
        (r"decoder\.time_conv\.(\d+)\.conv\.", lambda m: f"decoder_time_up.{m[1]}."),
        (r"decoder\.time_res_stack\.", lambda m: "decoder_time_blocks."),
        (r"quantize\.embedding\.weight$", lambda m: "quantizer.codebook"),
    ]  # fmt: skip


def convert_emu3_state_dict(
    state_dict: dict[str, Any], tok: Emu3VisionTokenizer
) -> dict[str, Tensor]:
    """Rename an Emu3 vision-tokenizer state dict (upstream ``Emu3VisionVQModel`` or
    transformers ``Emu3VQVAE``, bare or under ``model.vqmodel.``) for ``tok``; linear attention
    projections become our 1x1 convs. Raises ValueError naming unmatched keys and shapes."""
    sd = dict(state_dict)
    if any(k.startswith("model.vqmodel.") for k in sd):
        sd = take_prefix(sd, "model.vqmodel.")
    q = tok.quantizer
    if getattr(q, "distance", None) != "l2" or getattr(q, "codebook_dim", None) != q.dim:
        raise ValueError(
            "convert_emu3_state_dict: Emu3 looks codes up by l2 distance to the raw codewords: "
            "the model needs quantizer='vq' with distance='l2' and no codebook_dim; it has "
            f"{type(q).__name__}({q.extra_repr()})"
        )
    rules = _emu3_rules(len(tok.encoder.stages))
    renamed = {}
    for key, value in sd.items():
        key = _rename(key, rules)
        for theirs, ours in _PARTS.items():
            key = key.replace(theirs, ours)
        renamed[key] = value
    return _fill(tok, renamed, "convert_emu3_state_dict", "build emu3_vq_f8 (or its sizes)")


def convert_emu3_checkpoint(path: str, tok: Emu3VisionTokenizer) -> dict[str, Tensor]:
    """Converter for :class:`~zoo.registry.PretrainedCfg`: read ``BAAI/Emu3-VisionTokenizer``'s
    ``model.safetensors`` (or its folder, or a transformers ``Emu3VQVAE`` folder) and convert."""

    def keep(k: str) -> bool:
        return not k.startswith("model.") or k.startswith("model.vqmodel.")

    return convert_emu3_state_dict(read_checkpoint(path, select=keep), tok)


def _create_emu3(variant: str, **kwargs: Any) -> Emu3VisionTokenizer:
    try:
        return Emu3VisionTokenizer(**kwargs)
    except TypeError as err:
        raise TypeError(f"{variant}: {err}") from err


# ---------------------------------------------------------------------- variants
@register_tokenizer
def emu3_test(**kwargs: Any) -> Emu3VisionTokenizer:
    """Tiny Emu3 tokenizer for tests: 32 px, f4 (8 x 8 tokens), widths 32-64, attention at the
    coarsest level, VQ 64 x 4."""
    args = dict(
        image_size=32, ch=32, ch_mult=[1, 1, 2], num_res_blocks=1, z_channels=4, token_dim=4,
        attn_levels=[2], temporal_factor=4, quantizer="vq",
        quantizer_kwargs={"codebook_size": 64, "distance": "l2"},
    )  # fmt: skip
    return _create_emu3("emu3_test", **dict(args, **kwargs))


@register_tokenizer(
    pretrained_cfgs={
        "baai": PretrainedCfg(
            hub_id="BAAI/Emu3-VisionTokenizer",
            revision="c81f916ad371289e205310a7539255e8a9396488",
            filename="model.safetensors",
            converter="convert_emu3_checkpoint",
            license="Apache-2.0",
            paper="Wang et al., Emu3: Next-Token Prediction is All You Need, arXiv:2409.18869",
            resolution=512,
            notes="Emu3's vision tokenizer (Emu3VisionVQModel, remote code upstream), images only "
            "(the 4-frame clip path of upstream, frame 0 out), converted on load. No upstream "
            "reconstruction metrics for images",
        ),
    }
)
def emu3_vq_f8(**kwargs: Any) -> Emu3VisionTokenizer:
    """Emu3 vision tokenizer: f8, ch 256, ch_mult [1, 2, 2, 4], attention at the coarsest level
    and mid, z 4, temporal factor 4, VQ 32768 x 4 (l2); 512 px -> 64 x 64 tokens of 15 bits
    (61440 bits per image)."""
    args = dict(
        image_size=512, ch=256, ch_mult=[1, 2, 2, 4], num_res_blocks=2, z_channels=4,
        token_dim=4, attn_levels=[3], temporal_factor=4, dropout=0.0, quantizer="vq",
        quantizer_kwargs={"codebook_size": 32768, "distance": "l2"},
    )  # fmt: skip
    return _create_emu3("emu3_vq_f8", **dict(args, **kwargs))
