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

Published weights (converted on load by :func:`convert_llamagen_checkpoint`):

- LlamaGen VQ-16 / VQ-8 (``llamagen_vq_f16.c2i``, ``.t2i``, ``llamagen_vq_f8.c2i``): upstream
  ``torch.save({"model": state_dict})`` files with keys ``encoder.conv_blocks.{i}.res.{j}.*``,
  ``.attn.{j}.*``, ``.downsample.conv.*`` (decoder: ``.upsample``), ``encoder.mid.{0,1,2}.*``,
  ``quant_conv`` (256 -> 8), ``quantize.embedding.weight`` (16384 x 8, l2-normalised before the
  lookup) and the usage buffer ``quantize.codebook_used`` (dropped). Decoder blocks run from the
  coarsest level (``conv_blocks.0``), as ours.
- Janus / Janus-Pro's generation VQ (``janus_vq_f16.deepseek``): the same model under
  ``gen_vision_model.`` in the full Janus checkpoint, or transformers' ``JanusVQVAE`` layout
  (``encoder.down.{i}.block.{j}``, ``mid.block_1/attn_1/block_2``, ``decoder.up.{i}``, coarsest
  first; ``model.vqmodel.`` inside ``JanusForConditionalGeneration``).

Taming-style VQGANs (converted on load by :func:`convert_taming_checkpoint`; l2 lookup of raw
codewords):

- Chameleon's VQGAN (``chameleon_vq_f16.meta``): taming's Lightning checkpoint ``vqgan.ckpt``,
  ``{"state_dict": ...}`` with ``encoder.down.{i}.block.{j}``, ``encoder.mid.block_1/attn_1/
  block_2``, ``decoder.up.{level}`` indexed by level (finest first: the reverse of ours), the
  quantizer ``quantize.embedding.weight`` (8192 x 256) and the training loss ``loss.*`` (dropped).
- diffusers ``VQModel`` folders (``amused_vq_f16.*``): ``encoder.down_blocks.{i}.resnets.{j}``,
  ``.downsamplers.0.conv``, ``mid_block.resnets.{0,1}`` / ``.attentions.0`` (``group_norm``,
  ``to_q/k/v``, ``to_out.0`` as linear layers), ``conv_norm_out``, ``decoder.up_blocks.{i}``
  coarsest first with ``.upsamplers.0.conv``, resnet ``conv_shortcut`` (1x1).
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import Tensor, nn

from zoo.layers import (
    ConvAttention,
    Downsample,
    ResnetBlock,
    Upsample,
    activate_,
    create_norm,
    groupnorm_min_side,
)
from zoo.registry import PretrainedCfg, register_pretrained, register_tokenizer
from zoo.tokenizers.base import build_quantizer
from zoo.tokenizers.image.base import ImageTokenizer
from zoo.tokenizers.upstream import read_checkpoint, take_prefix, unwrap_checkpoint


def _stage(blocks: list[nn.Module], attn: list[nn.Module], resample: nn.Module) -> nn.Module:
    stage = nn.Module()
    stage.blocks = nn.ModuleList(blocks)
    stage.attn = nn.ModuleList(attn)
    stage.resample = resample
    return stage


#: Without autograd, feature maps of at least this many positions run channels-last, smaller ones
#: channels-first. oneDNN's convs need no layout reorders on channels-last input: on 2 CPU
#: threads 20-30% faster on maps of 128 x 128 and more with 128-256 channels, about even on
#: 64 x 64, 5-15% slower on smaller maps with 512 channels or more (their weights are copied to
#: channels-last on every call; Emu3's wide encoder was 20% slower all channels-last). Training
#: keeps channels-first (GroupNorm's backward is slower channels-last).
_CHANNELS_LAST_MIN_POSITIONS = 128 * 128


def _inference_layout(h: Tensor) -> Tensor:
    """``h`` in the memory layout its size runs fastest in (see above); as is with autograd."""
    if torch.is_grad_enabled():
        return h
    large = h.shape[-2] * h.shape[-1] >= _CHANNELS_LAST_MIN_POSITIONS
    return h.contiguous(memory_format=torch.channels_last if large else torch.contiguous_format)


def _run_stage(stage: nn.Module, h: Tensor) -> Tensor:
    h = _inference_layout(h)
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
        h = self.conv_in(_inference_layout(x))
        for stage in self.stages:
            h = _run_stage(stage, h)
        h = self.mid(h)
        return self.conv_out(activate_(self.act, self.norm_out(h)))


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
        h = self.mid(self.conv_in(_inference_layout(z)))
        for stage in self.stages:
            h = _run_stage(stage, h)
        return self.conv_out(activate_(self.act, self.norm_out(h)))


class VQGAN(ImageTokenizer):
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
        self.quantizer = build_quantizer(
            quantizer, quantizer_kwargs, token_dim, "VQGAN", dim_name="token_dim"
        )
        # GroupNorm needs two values per group on the coarsest (H/f x W/f) map.
        self.min_input_size = self.factor * groupnorm_min_side(self)

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


# ---------------------------------------------------------------------- converters
# Upstream module paths (LlamaGen / Janus VQModel and transformers JanusVQVAE) -> ours.
_LLAMAGEN_RULES = [
    (r"(encoder|decoder)\.(?:conv_blocks\.(\d+)\.res|(?:down|up)\.(\d+)\.block)\.(\d+)\.",
     lambda m: f"{m[1]}.stages.{m[2] or m[3]}.blocks.{m[4]}."),
    (r"(encoder|decoder)\.(?:conv_blocks|down|up)\.(\d+)\.attn\.(\d+)\.",
     lambda m: f"{m[1]}.stages.{m[2]}.attn.{m[3]}."),
    (r"(encoder|decoder)\.(?:conv_blocks|down|up)\.(\d+)\.(?:downsample|upsample)\.",
     lambda m: f"{m[1]}.stages.{m[2]}.resample."),
    (r"(encoder|decoder)\.mid\.(block_1|attn_1|block_2)\.",
     lambda m: f"{m[1]}.mid.{_MID[m[2]]}."),
    (r"quantize\.embedding\.weight$", lambda m: "quantizer.codebook"),
]  # fmt: skip
_MID = {"block_1": 0, "attn_1": 1, "block_2": 2}  # transformers' names of mid.{0,1,2}
_DROPPED = ("quantize.codebook_used",)  # LlamaGen's training-time usage history


def _rename(key: str, rules: list[tuple[str, Any]]) -> str:
    for pattern, repl in rules:
        key = re.sub("^" + pattern, repl, key)
    return key.replace(".nin_shortcut.", ".shortcut.")


def _fill(tok: VQGAN, renamed: dict[str, Tensor], who: str, hint: str) -> dict[str, Tensor]:
    """Check ``renamed`` against ``tok``'s state dict (names and shapes), add the statistics
    buffers upstream lacks, and cast to our dtypes; errors list what does not fit."""
    ours = tok.state_dict()
    for key in ours:  # usage statistics start as in a fresh model
        if key.endswith(".cluster_size") and key not in renamed:
            renamed[key] = torch.ones_like(ours[key])
    missing = sorted(set(ours) - set(renamed))
    extra = sorted(set(renamed) - set(ours))
    if missing or extra:
        raise ValueError(
            f"{who}: the checkpoint does not match this architecture: model keys not filled "
            f"{missing[:5]}, checkpoint keys the model lacks {extra[:5]} (totals {len(missing)}/"
            f"{len(extra)}); {hint}"
        )
    for k, v in renamed.items():  # linear layers (diffusers attention) -> our 1x1 convs
        if v.shape != ours[k].shape and ours[k].shape == (*v.shape, 1, 1):
            renamed[k] = v.reshape(ours[k].shape)
    bad = [k for k in ours if renamed[k].shape != ours[k].shape]
    if bad:
        k = bad[0]
        raise ValueError(
            f"{who}: shape mismatch for {k}: checkpoint {tuple(renamed[k].shape)}, model "
            f"{tuple(ours[k].shape)} ({len(bad)} tensors differ); {hint}"
        )
    return {k: v.to(ours[k].dtype) for k, v in renamed.items()}


def convert_llamagen_state_dict(state_dict: dict[str, Any], tok: VQGAN) -> dict[str, Tensor]:
    """Rename a LlamaGen / Janus VQ state dict for ``tok`` (a :class:`VQGAN` built as
    ``llamagen_vq_f16``, ``llamagen_vq_f8`` or ``janus_vq_f16``).

    Accepts the training checkpoint dict (``{"model"|"ema"|"state_dict": ...}``; EMA weights
    first), LlamaGen's / Janus's ``VQModel`` keys and transformers' ``JanusVQVAE`` keys, bare or
    under a prefix (``gen_vision_model.`` in Janus checkpoints, ``model.vqmodel.`` in
    transformers' Janus models). Raises ValueError naming unmatched keys and shapes.
    """
    sd = unwrap_checkpoint(state_dict)
    anchor = next((k for k in sd if k.endswith("quantize.embedding.weight")), None)
    if anchor is None:
        raise ValueError(
            "convert_llamagen_state_dict: no 'quantize.embedding.weight' in the checkpoint "
            f"(first keys {sorted(sd)[:5]}); not a LlamaGen / Janus VQ checkpoint"
        )
    sd = take_prefix(sd, anchor[: -len("quantize.embedding.weight")])
    q = tok.quantizer
    if getattr(q, "distance", None) != "cosine" or getattr(q, "raw_codeword", False):
        raise ValueError(
            "convert_llamagen_state_dict: LlamaGen / Janus codes are looked up with l2-normalised "
            "codewords: the model needs quantizer='vq' with distance='cosine' (see "
            f"llamagen_vq_f16); it has {type(q).__name__}({q.extra_repr()})"
        )
    renamed = {_rename(k, _LLAMAGEN_RULES): v for k, v in sd.items() if k not in _DROPPED}
    hint = "build the variant of that checkpoint (llamagen_vq_f16, llamagen_vq_f8, janus_vq_f16)"
    return _fill(tok, renamed, "convert_llamagen_state_dict", hint)


# Top-level keys worth reading: training-checkpoint wrappers, a bare VQ, the VQ inside Janus
# (``gen_vision_model.``) or inside transformers' Janus (``model.vqmodel.``).
_WRAPPERS = ("model", "ema", "state_dict")
_VQ_PREFIXES = (
    "encoder.", "decoder.", "quantize.", "quant_conv.", "post_quant_conv.",
    "gen_vision_model.", "model.vqmodel.",
)  # fmt: skip


def convert_llamagen_checkpoint(path: str, tok: VQGAN) -> dict[str, Tensor]:
    """Converter for :class:`~zoo.registry.PretrainedCfg`: read a LlamaGen ``vq_ds*.pt``, a
    Janus checkpoint (``pytorch_model.bin``, safetensors, or their folder: only the VQ's tensors
    are read) or a transformers ``JanusVQVAE`` ``save_pretrained`` folder, and convert it."""

    def keep(k: str) -> bool:
        return k in _WRAPPERS or k.startswith(_VQ_PREFIXES)

    return convert_llamagen_state_dict(read_checkpoint(path, select=keep), tok)


def _taming_rules(num_levels: int) -> list[tuple[str, Any]]:
    """taming (Chameleon) and diffusers ``VQModel`` module paths -> ours."""
    top = num_levels - 1
    return [
        # taming / Chameleon: the decoder's up.{level} runs finest first, ours coarsest first
        (r"encoder\.down\.(\d+)\.block\.", lambda m: f"encoder.stages.{m[1]}.blocks."),
        (r"encoder\.down\.(\d+)\.attn\.", lambda m: f"encoder.stages.{m[1]}.attn."),
        (r"encoder\.down\.(\d+)\.downsample\.", lambda m: f"encoder.stages.{m[1]}.resample."),
        (r"decoder\.up\.(\d+)\.block\.", lambda m: f"decoder.stages.{top - int(m[1])}.blocks."),
        (r"decoder\.up\.(\d+)\.attn\.", lambda m: f"decoder.stages.{top - int(m[1])}.attn."),
        (r"decoder\.up\.(\d+)\.upsample\.",
         lambda m: f"decoder.stages.{top - int(m[1])}.resample."),
        (r"(encoder|decoder)\.mid\.(block_1|attn_1|block_2)\.",
         lambda m: f"{m[1]}.mid.{_MID[m[2]]}."),
        # diffusers VQModel: blocks run coarsest first in the decoder, as ours
        (r"(encoder|decoder)\.(?:down|up)_blocks\.(\d+)\.resnets\.",
         lambda m: f"{m[1]}.stages.{m[2]}.blocks."),
        (r"(encoder|decoder)\.(?:down|up)_blocks\.(\d+)\.attentions\.",
         lambda m: f"{m[1]}.stages.{m[2]}.attn."),
        (r"(encoder|decoder)\.(?:down|up)_blocks\.(\d+)\.(?:down|up)samplers\.0\.",
         lambda m: f"{m[1]}.stages.{m[2]}.resample."),
        (r"(encoder|decoder)\.mid_block\.resnets\.(\d)\.",
         lambda m: f"{m[1]}.mid.{2 * int(m[2])}."),
        (r"(encoder|decoder)\.mid_block\.attentions\.0\.", lambda m: f"{m[1]}.mid.1."),
        (r"(encoder|decoder)\.conv_norm_out\.", lambda m: f"{m[1]}.norm_out."),
        (r"quantize\.embedding\.weight$", lambda m: "quantizer.codebook"),
    ]  # fmt: skip


# diffusers' attention and resnet parameter names (current and legacy) -> ours
_DIFFUSERS_PARTS = {
    ".group_norm.": ".norm.", ".to_q.": ".q.", ".to_k.": ".k.", ".to_v.": ".v.",
    ".to_out.0.": ".proj_out.", ".query.": ".q.", ".key.": ".k.", ".value.": ".v.",
    ".proj_attn.": ".proj_out.", ".conv_shortcut.": ".shortcut.",
}  # fmt: skip


def convert_taming_state_dict(state_dict: dict[str, Any], tok: VQGAN) -> dict[str, Tensor]:
    """Rename a taming-style VQGAN state dict for ``tok`` (a :class:`VQGAN` of the same sizes,
    e.g. ``chameleon_vq_f16`` or ``amused_vq_f16``).

    Accepts taming's Lightning checkpoint (``{"state_dict": ...}``; ``loss.*`` is dropped) as
    Chameleon publishes it, and diffusers ``VQModel`` weights. The decoder must be present:
    transformers' ``ChameleonVQVAE`` keeps only the encoder, so its checkpoints cannot be
    converted. Raises ValueError naming unmatched keys and shapes.
    """
    sd = unwrap_checkpoint(state_dict, keys=("state_dict", "model"))
    sd = (
        take_prefix(sd, "model.vqmodel.") if any(k.startswith("model.vqmodel.") for k in sd) else sd
    )
    if not any(k.startswith("decoder.") for k in sd) and any(k.startswith("encoder.") for k in sd):
        raise ValueError(
            "convert_taming_state_dict: the checkpoint has an encoder but no decoder (the "
            "transformers Chameleon layout keeps only the encoder); use the full VQGAN "
            "checkpoint (Chameleon's tokenizer/vqgan.ckpt)"
        )
    q = tok.quantizer
    if getattr(q, "distance", None) != "l2" or getattr(q, "codebook_dim", None) != q.dim:
        raise ValueError(
            "convert_taming_state_dict: taming VQGANs look codes up by l2 distance to the raw "
            "codewords: the model needs quantizer='vq' with distance='l2' and no codebook_dim; it "
            f"has {type(q).__name__}({q.extra_repr()})"
        )
    rules = _taming_rules(len(tok.encoder.stages))
    renamed = {}
    for key, value in sd.items():
        if key.startswith("loss."):  # discriminator and perceptual loss of the training run
            continue
        key = _rename(key, rules)
        for theirs, ours in _DIFFUSERS_PARTS.items():
            key = key.replace(theirs, ours)
        renamed[key] = value
    hint = "build the variant of that checkpoint (chameleon_vq_f16, amused_vq_f16)"
    return _fill(tok, renamed, "convert_taming_state_dict", hint)


def convert_taming_checkpoint(path: str, tok: VQGAN) -> dict[str, Tensor]:
    """Converter for :class:`~zoo.registry.PretrainedCfg`: read a taming / Chameleon
    ``vqgan.ckpt`` or a diffusers ``VQModel`` folder / safetensors file, and convert it."""
    return convert_taming_state_dict(read_checkpoint(path), tok)


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
def vqgan_cpu_f8(**kwargs: Any) -> VQGAN:
    """CPU-trainable f8 FSQ VQGAN: ch 32, ch_mult [1, 2, 2, 4], one ResNet block per level, no
    attention, FSQ [8, 8, 8, 5, 5, 5] (64000 codes, ~16 bits per token): 128 px -> 16 x 16
    tokens, 0.25 bpp. Fully convolutional, so it trains on 64 px crops and runs at any
    multiple of 8 (``image_size`` is only the nominal size)."""
    args = dict(
        image_size=128, ch=32, ch_mult=[1, 2, 2, 4], num_res_blocks=1, z_channels=64,
        token_dim=6, mid_attention=False, quantizer="fsq",
        quantizer_kwargs={"levels": [8, 8, 8, 5, 5, 5]},
    )  # fmt: skip
    return _create_vqgan("vqgan_cpu_f8", **dict(args, **kwargs))


# Weights trained by this project and shipped as package data (zoo/weights/<name>/, float16).
register_pretrained(
    "vqgan_cpu_f8.photos",
    PretrainedCfg(
        package_weights="vqgan_cpu_f8.photos",
        license="apache-2.0",
        training_data=(
            "Stage 1: 20,000 multi-scale 128 px crops (trained on 64 px windows) of 35 real "
            "photographs from Debian wallpaper packages (mate-backgrounds, "
            "plasma-workspace-wallpapers: GPL-2+; lxqt-themes: LGPL-2.1+); stage 2: 30,000 crops "
            "of those and 20 more photographs (lomiri-wallpapers-16.04 / 20.04: CC-BY(-SA) / CC0; "
            "palapeli-data: public domain / GFDL); built by `python -m zoo.data.photos`"
        ),
        resolution=128,
        notes=(
            "CPU-scale 2D default, three stages: configs/image/vqgan_cpu_f8_recon.yaml (L1, "
            "2000 steps x 16 crops of 64 px, 35 photos), then "
            "configs/image/vqgan_cpu_f8_usage.yaml (init from stage 1, FSQ level-usage loss "
            "0.1, 2200 steps, 55 photos), then "
            "configs/image/vqgan_cpu_f8_more.yaml (2400 more steps at peak lr 2e-4, 20 min); no "
            "discriminator; 2 CPU cores; EMA weights. 16 bits per 8 x 8 pixels = 0.25 bpp "
            "at any size. Validated on the bundled scikit-image / matplotlib photos; "
            "results/vqgan_cpu_f8.photos.md and results/rd_vqgan_cpu_f8.photos.md (against "
            "JPEG / WebP / AVIF)."
        ),
    ),
)


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


# ---------------------------------------------------------------------- published ports
_LLAMAGEN_PAPER = (
    "Sun et al., Autoregressive Model Beats Diffusion: Llama for Scalable Image Generation, "
    "arXiv:2406.06525"
)
# Upstream ImageNet-val 50k rFID (LlamaGen README): 2.19 at 256 px (16 x 16 tokens), 0.94 at
# 384 px, 0.70 at 512 px for VQ-16; 0.59 at 256 px (32 x 32 tokens) for VQ-8.
_LLAMAGEN = dict(
    converter="convert_llamagen_checkpoint",
    license="MIT",
    paper=_LLAMAGEN_PAPER,
    resolution=256,
    metrics_dataset="ImageNet-1k val (50k), 256 px",
)
# The Hub repo's head commit is 81e4113 (2024-06-14; vq_ds16_c2i.pt added in e467ee8); its full
# id could not be resolved offline, so the file is read from main.
_LLAMAGEN_REPO = dict(hub_id="FoundationVision/LlamaGen", revision="main")


def _llamagen_args(ch_mult: list[int], image_size: int) -> dict[str, Any]:
    """LlamaGen ``VQModel`` (= Janus's generation VQ): ch 128, 2 ResNet blocks per level,
    attention after each block of the coarsest level and in the mid blocks, z 256, ``quant_conv``
    to 8 channels, 16384 l2-normalised codewords of 8 dims."""
    return dict(
        image_size=image_size, ch=128, ch_mult=ch_mult, num_res_blocks=2, z_channels=256,
        token_dim=8, attn_levels=[len(ch_mult) - 1], mid_attention=True, dropout=0.0,
        quantizer="vq", quantizer_kwargs={"codebook_size": 16384, "distance": "cosine"},
    )  # fmt: skip


@register_tokenizer(
    pretrained_cfgs={
        "c2i": PretrainedCfg(
            **_LLAMAGEN_REPO,
            filename="vq_ds16_c2i.pt",
            training_data="ImageNet-1k train",
            metrics={"rfid": 2.19, "codebook_usage": 0.97},
            notes="LlamaGen's class-conditional VQ-16 (vq_ds16_c2i.pt, 72M parameters), converted "
            "on load; also rFID 0.94 at 384 px and 0.70 at 512 px upstream",
            **_LLAMAGEN,
        ),
        "c2i_safetensors": PretrainedCfg(
            hub_id="FoundationVision/vq-ds16-c2i",
            revision="cbbc83d7011f8aa2b24ccaabd4540b87e62e6bbb",
            filename="model.safetensors",
            training_data="ImageNet-1k train",
            metrics={"rfid": 2.19, "codebook_usage": 0.97},
            notes="the same VQ-16 as a PyTorchModelHubMixin safetensors repo (LlamaGen's "
            "VQModelHF), converted on load",
            **_LLAMAGEN,
        ),
        "t2i": PretrainedCfg(
            hub_id="peizesun/llamagen_t2i",
            revision="main",
            filename="vq_ds16_t2i.pt",
            training_data="LAION-COCO (50M) + 10M internal high-aesthetic images",
            notes="LlamaGen's text-to-image VQ-16 (vq_ds16_t2i.pt), converted on load; no "
            "upstream reconstruction metrics",
            **_LLAMAGEN,
        ),
    }
)
def llamagen_vq_f16(**kwargs: Any) -> VQGAN:
    """LlamaGen VQ-16 (Sun et al. 2024): f16, ch_mult [1, 1, 2, 2, 4], 72M parameters; 256 px ->
    16 x 16 tokens of 14 bits (3584 bits per image)."""
    args = _llamagen_args([1, 1, 2, 2, 4], 256)
    return _create_vqgan("llamagen_vq_f16", **dict(args, **kwargs))


@register_tokenizer(
    pretrained_cfgs={
        "c2i": PretrainedCfg(
            **_LLAMAGEN_REPO,
            filename="vq_ds8_c2i.pt",
            training_data="ImageNet-1k train",
            metrics={"rfid": 0.59},
            notes="LlamaGen's class-conditional VQ-8 (vq_ds8_c2i.pt, 70M parameters), converted "
            "on load",
            **_LLAMAGEN,
        ),
    }
)
def llamagen_vq_f8(**kwargs: Any) -> VQGAN:
    """LlamaGen VQ-8: f8, ch_mult [1, 2, 2, 4], 70M parameters; 256 px -> 32 x 32 tokens of 14
    bits (14336 bits per image)."""
    args = _llamagen_args([1, 2, 2, 4], 256)
    return _create_vqgan("llamagen_vq_f8", **dict(args, **kwargs))


@register_tokenizer(
    pretrained_cfgs={
        "deepseek": PretrainedCfg(
            hub_id="deepseek-ai/Janus-Pro-1B",
            revision="960ab33191f61342a4c60ae74d8dc356a39fafcb",
            filename="pytorch_model.bin",
            converter="convert_llamagen_checkpoint",
            license="DeepSeek Model License (code MIT)",
            paper="Chen et al., Janus-Pro: Unified Multimodal Understanding and Generation with "
            "Data and Model Scaling, arXiv:2501.17811",
            resolution=384,
            notes="Janus-Pro's image-generation VQ (gen_vision_model.* in the 4.2 GB bf16 "
            "checkpoint; only those tensors are read), converted on load; load it from upstream, "
            "never re-host. No upstream reconstruction metrics",
        ),
    }
)
def janus_vq_f16(**kwargs: Any) -> VQGAN:
    """Janus / Janus-Pro generation VQ (DeepSeek, 2024-25): LlamaGen's VQ-16 architecture at
    Janus-Pro's 384 px (24 x 24 tokens of 14 bits, 8064 bits per image)."""
    args = _llamagen_args([1, 1, 2, 2, 4], 384)
    return _create_vqgan("janus_vq_f16", **dict(args, **kwargs))


@register_tokenizer(
    pretrained_cfgs={
        "meta": PretrainedCfg(
            hub_id="GAIR/Anole-7b-v0.1",
            revision="main",
            filename="tokenizer/vqgan.ckpt",
            converter="convert_taming_checkpoint",
            license="Chameleon Research License (Meta): research only",
            paper="Chameleon Team, Chameleon: Mixed-Modal Early-Fusion Foundation Models, "
            "arXiv:2405.09818",
            resolution=512,
            notes="Meta's Chameleon image tokenizer (taming VQGAN, tokenizer/vqgan.ckpt of "
            "Meta's release; Anole's copy has the same md5 1a559fb5dab4d351d19496ae89da1db1 in "
            "its checklist.chk). Research licence: load it from upstream, never re-host; "
            "pass Meta's own download with checkpoint_path. No upstream reconstruction metrics",
        ),
    }
)
def chameleon_vq_f16(**kwargs: Any) -> VQGAN:
    """Chameleon's VQGAN (Meta, 2024): taming encoder/decoder, ch 128, ch_mult [1, 1, 2, 2, 4],
    no attention in the levels, attention in the mid blocks, z 256, VQ 8192 x 256 (l2, raw
    codewords); 512 px -> 32 x 32 tokens of 13 bits (13312 bits per image)."""
    args = dict(
        image_size=512, ch=128, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2, z_channels=256,
        token_dim=256, attn_levels=[], mid_attention=True, dropout=0.0, quantizer="vq",
        quantizer_kwargs={"codebook_size": 8192, "distance": "l2"},
    )  # fmt: skip
    return _create_vqgan("chameleon_vq_f16", **dict(args, **kwargs))


_AMUSED = dict(
    converter="convert_taming_checkpoint",
    filename="vqvae/diffusion_pytorch_model.safetensors",
    license="openrail++",
    paper="Patil et al., aMUSEd: An Open MUSE Reproduction, arXiv:2401.01808",
    notes="aMUSEd's VQGAN (from open-muse, a taming-style f16 VQGAN without attention), the "
    "vqvae/ folder of the diffusers pipeline, converted on load. No upstream reconstruction "
    "metrics",
)


@register_tokenizer(
    pretrained_cfgs={
        "amused_256": PretrainedCfg(
            hub_id="amused/amused-256",
            revision="09b6259bf96dbe6d70a852b70812420fe02df55e",
            resolution=256,
            **_AMUSED,
        ),
        "amused_512": PretrainedCfg(
            hub_id="amused/amused-512",
            revision="7e77e3efc7465346c2fb725aff80cf0ed6942576",
            resolution=512,
            **_AMUSED,
        ),
    }
)
def amused_vq_f16(**kwargs: Any) -> VQGAN:
    """aMUSEd's VQGAN (diffusers ``VQModel``): ch 128, ch_mult [1, 2, 2, 4, 6], no attention
    (levels or mid), z 64, VQ 8192 x 64 (l2, raw codewords); 256 px -> 16 x 16 tokens of 13
    bits (3328 bits per image)."""
    args = dict(
        image_size=256, ch=128, ch_mult=[1, 2, 2, 4, 6], num_res_blocks=2, z_channels=64,
        token_dim=64, attn_levels=[], mid_attention=False, dropout=0.0, quantizer="vq",
        quantizer_kwargs={"codebook_size": 8192, "distance": "l2"},
    )  # fmt: skip
    return _create_vqgan("amused_vq_f16", **dict(args, **kwargs))
