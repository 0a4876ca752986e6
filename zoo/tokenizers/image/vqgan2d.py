"""VQGAN-style 2D convolutional image tokenizer with any quantizer.

Esser et al., "Taming Transformers for High-Resolution Image Synthesis", CVPR 2021
(arXiv:2012.09841); sizes of the LlamaGen variant from Sun et al., "Autoregressive Model Beats
Diffusion: Llama for Scalable Image Generation", 2024 (arXiv:2406.06525). FSQ variants follow
Mentzer et al., "Finite Scalar Quantization", ICLR 2024 (arXiv:2309.15505).

Encoder: ``conv_in`` -> per level ``num_res_blocks`` ResNet blocks (optional attention), a strided
downsample between levels -> mid block (ResNet, optional attention, ResNet) -> GroupNorm, SiLU,
``conv_out`` to ``z_channels`` -> 1x1 ``quant_conv`` to the quantizer width ``token_dim``.
The decoder mirrors it (``post_quant_conv``, mid block, ``num_res_blocks + 1`` blocks per level,
nearest upsampling). The downsampling factor is ``2 ** (len(ch_mult) - 1)``.

Layouts: images ``(B, 3, H, W)`` in ``[-1, 1]`` with ``H``, ``W`` multiples of the factor ``f``
(any size: the network is fully convolutional); latents ``(B, H/f, W/f, token_dim)`` channels last;
codes ``(B, H/f, W/f, num_codebooks)`` int64; ``token_shape`` is ``(h, w)`` at ``image_size``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from zoo.layers import ConvAttention, Downsample, ResnetBlock, Upsample, create_norm
from zoo.registry import register_tokenizer
from zoo.tokenizers.base import Tokenizer
from zoo.tokenizers.image.titok import quantizer_for


def _stage(blocks: list[nn.Module], attn: list[nn.Module], resample: nn.Module) -> nn.Module:
    stage = nn.Module()
    stage.blocks = nn.ModuleList(blocks)
    stage.attn = nn.ModuleList(attn)
    stage.resample = resample
    return stage


def _run_stage(stage: nn.Module, h: Tensor) -> Tensor:
    for i, block in enumerate(stage.blocks):
        h = block(h)
        if len(stage.attn):
            h = stage.attn[i](h)
    return stage.resample(h)


def _mid(ch: int, attention: bool, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        ResnetBlock(in_channels=ch, dropout=dropout),
        ConvAttention(channels=ch) if attention else nn.Identity(),
        ResnetBlock(in_channels=ch, dropout=dropout),
    )


class VQGANEncoder(nn.Module):
    """``(B, C, H, W)`` -> ``(B, z_channels, H/f, W/f)``."""

    def __init__(
        self,
        *,
        in_channels: int,
        ch: int,
        ch_mult: list[int],
        num_res_blocks: int,
        z_channels: int,
        attn_levels: list[int],
        mid_attention: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        stages = []
        c_in = ch
        for level, mult in enumerate(ch_mult):
            c_out = ch * mult
            blocks, attn = [], []
            for _ in range(num_res_blocks):
                blocks.append(ResnetBlock(in_channels=c_in, out_channels=c_out, dropout=dropout))
                if level in attn_levels:
                    attn.append(ConvAttention(channels=c_out))
                c_in = c_out
            last = level == len(ch_mult) - 1
            stages.append(
                _stage(blocks, attn, nn.Identity() if last else Downsample(channels=c_in))
            )
        self.stages = nn.ModuleList(stages)
        self.mid = _mid(c_in, mid_attention, dropout)
        self.norm_out = create_norm("groupnorm", c_in)
        self.act = nn.SiLU()
        self.conv_out = nn.Conv2d(c_in, z_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for stage in self.stages:
            h = _run_stage(stage, h)
        h = self.mid(h)
        return self.conv_out(self.act(self.norm_out(h)))


class VQGANDecoder(nn.Module):
    """``(B, z_channels, h, w)`` -> ``(B, C, h*f, w*f)``."""

    def __init__(
        self,
        *,
        out_channels: int,
        ch: int,
        ch_mult: list[int],
        num_res_blocks: int,
        z_channels: int,
        attn_levels: list[int],
        mid_attention: bool,
        dropout: float,
    ) -> None:
        super().__init__()
        c_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, c_in, 3, padding=1)
        self.mid = _mid(c_in, mid_attention, dropout)
        stages = []
        # Levels run from the coarsest up; an upsample closes every level but the finest.
        for level in reversed(range(len(ch_mult))):
            c_out = ch * ch_mult[level]
            blocks, attn = [], []
            for _ in range(num_res_blocks + 1):
                blocks.append(ResnetBlock(in_channels=c_in, out_channels=c_out, dropout=dropout))
                if level in attn_levels:
                    attn.append(ConvAttention(channels=c_out))
                c_in = c_out
            up = nn.Identity() if level == 0 else Upsample(channels=c_in)
            stages.append(_stage(blocks, attn, up))
        self.stages = nn.ModuleList(stages)
        self.norm_out = create_norm("groupnorm", c_in)
        self.act = nn.SiLU()
        self.conv_out = nn.Conv2d(c_in, out_channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.mid(self.conv_in(z))
        for stage in self.stages:
            h = _run_stage(stage, h)
        return self.conv_out(self.act(self.norm_out(h)))


class VQGAN(Tokenizer):
    """Convolutional 2D tokenizer (taming / LlamaGen layout) with a quantizer chosen by name.

    Input: images ``(B, in_channels, H, W)``, float in ``[-1, 1]``, ``H`` and ``W`` multiples of
    ``2 ** (len(ch_mult) - 1)``. Tokens: a ``(H/f, W/f)`` grid; codes ``(B, h, w, num_codebooks)``.

    Args:
        image_size: default input side; defines ``num_tokens`` and ``token_shape()`` (other sizes
            that are multiples of ``f`` work too).
        ch: base channel count; ch_mult: channel multiplier per level (``f = 2**(levels-1)``).
        num_res_blocks: ResNet blocks per encoder level (decoder: one more).
        z_channels: encoder output channels before ``quant_conv``.
        token_dim: quantizer width (``quant_conv`` output channels).
        attn_levels: level indices (0 = finest) with attention after each ResNet block.
        mid_attention: attention in the mid blocks.
        dropout: dropout inside ResNet blocks.
        quantizer: registered quantizer name; quantizer_kwargs: its arguments without ``dim``.
        in_channels: image channels.
    """

    modality = "image"

    def __init__(
        self,
        *,
        image_size: int = 256,
        ch: int = 128,
        ch_mult: list[int] | None = None,
        num_res_blocks: int = 2,
        z_channels: int = 256,
        token_dim: int = 8,
        attn_levels: list[int] | None = None,
        mid_attention: bool = True,
        dropout: float = 0.0,
        quantizer: str = "vq",
        quantizer_kwargs: dict[str, Any] | None = None,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        ch_mult = [1, 1, 2, 2, 4] if ch_mult is None else [int(m) for m in ch_mult]
        attn_levels = [] if attn_levels is None else [int(a) for a in attn_levels]
        if not ch_mult:
            raise ValueError("VQGAN: ch_mult must have at least one level")
        bad = [a for a in attn_levels if not 0 <= a < len(ch_mult)]
        if bad:
            raise ValueError(f"VQGAN: attn_levels {bad} outside 0..{len(ch_mult) - 1}")
        self.factor = 2 ** (len(ch_mult) - 1)
        if image_size % self.factor:
            raise ValueError(
                f"VQGAN: image_size ({image_size}) must be a multiple of the downsampling factor "
                f"{self.factor}"
            )
        self.image_size = image_size
        self.in_channels = in_channels
        self.input_multiple = self.factor
        self.token_dim = token_dim
        side = image_size // self.factor
        self.num_tokens = side * side
        arch = dict(
            ch=ch,
            ch_mult=ch_mult,
            num_res_blocks=num_res_blocks,
            z_channels=z_channels,
            attn_levels=attn_levels,
            mid_attention=mid_attention,
            dropout=dropout,
        )
        self.encoder = VQGANEncoder(in_channels=in_channels, **arch)
        self.decoder = VQGANDecoder(out_channels=in_channels, **arch)
        self.quant_conv = nn.Conv2d(z_channels, token_dim, 1)
        self.post_quant_conv = nn.Conv2d(token_dim, z_channels, 1)
        self.quantizer = quantizer_for(token_dim, quantizer, quantizer_kwargs, "VQGAN")

    def token_shape(self, num_tokens: int | None = None) -> tuple[int, ...]:
        """``(h, w)`` token grid at ``image_size`` (inputs of other sizes give other grids)."""
        self._resolve_num_tokens(num_tokens)
        side = self.image_size // self.factor
        return (side, side)

    def encode(self, x: Tensor) -> Tensor:
        """Continuous latents ``(B, H/f, W/f, token_dim)`` of images ``(B, C, H, W)`` in [-1, 1]."""
        return self.quant_conv(self.encoder(x)).permute(0, 2, 3, 1)

    def decode(self, quantized: Tensor, num_tokens: int | None = None) -> Tensor:
        """Images ``(B, C, h*f, w*f)``, roughly in ``[-1, 1]`` (not clamped), from quantized
        latents ``(B, h, w, token_dim)``."""
        if quantized.ndim != 4 or quantized.shape[-1] != self.token_dim:
            raise ValueError(
                f"{self._label}: decode expects quantized latents (B, h, w, {self.token_dim}), "
                f"got {tuple(quantized.shape)}"
            )
        return self.decoder(self.post_quant_conv(quantized.permute(0, 3, 1, 2)))


def _create_vqgan(variant: str, **kwargs: Any) -> VQGAN:
    try:
        return VQGAN(**kwargs)
    except TypeError as err:
        raise TypeError(f"{variant}: {err}") from err


# ---------------------------------------------------------------------- variants
@register_tokenizer
def vqgan_test(**kwargs: Any) -> VQGAN:
    """Tiny VQGAN for tests: 32 px, f4 (8 x 8 tokens), FSQ [5, 4, 3]."""
    args = dict(
        image_size=32, ch=16, ch_mult=[1, 2, 2], num_res_blocks=1, z_channels=16, token_dim=3,
        attn_levels=[2], mid_attention=True, quantizer="fsq",
        quantizer_kwargs={"levels": [5, 4, 3]},
    )  # fmt: skip
    return _create_vqgan("vqgan_test", **dict(args, **kwargs))


@register_tokenizer
def vqgan_f8_fsq(**kwargs: Any) -> VQGAN:
    """Small f8 FSQ VQGAN: ch 64, ch_mult [1, 2, 2, 4], FSQ [8, 8, 8, 5, 5, 5] (64000 codes),
    256 px -> 32 x 32 tokens."""
    args = dict(
        image_size=256, ch=64, ch_mult=[1, 2, 2, 4], num_res_blocks=2, z_channels=256,
        token_dim=6, quantizer="fsq", quantizer_kwargs={"levels": [8, 8, 8, 5, 5, 5]},
    )  # fmt: skip
    return _create_vqgan("vqgan_f8_fsq", **dict(args, **kwargs))


@register_tokenizer
def vqgan_f16_vq(**kwargs: Any) -> VQGAN:
    """f16 VQGAN with LlamaGen VQ-16 sizes: ch 128, ch_mult [1, 1, 2, 2, 4], attention at the
    coarsest level and mid, z 256, VQ 16384 x 8 l2-normalised; 256 px -> 16 x 16 tokens."""
    args = dict(
        image_size=256, ch=128, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2, z_channels=256,
        token_dim=8, attn_levels=[4], quantizer="vq",
        quantizer_kwargs={"codebook_size": 16384, "distance": "cosine"},
    )  # fmt: skip
    return _create_vqgan("vqgan_f16_vq", **dict(args, **kwargs))
