"""Modality-agnostic building blocks shared by every tokenizer family.

Imports point one way: ``zoo.layers`` depends on torch only, never on quantizers or tokenizers.
"""

from zoo.layers.attention import Attention, RotaryEmbedding, apply_rotary
from zoo.layers.conv import (
    CausalConv,
    ConvAttention,
    Downsample,
    FrameNorm,
    ResnetBlock,
    Upsample,
    conv_nd,
    upsample_conv2d,
)
from zoo.layers.norms import activate_, create_activation, create_norm, groupnorm_min_side
from zoo.layers.patch import PatchEmbed, patchify, unpatchify
from zoo.layers.transformer import DropPath, Mlp, Transformer, TransformerBlock

__all__ = [
    "Attention",
    "CausalConv",
    "ConvAttention",
    "Downsample",
    "DropPath",
    "FrameNorm",
    "Mlp",
    "PatchEmbed",
    "ResnetBlock",
    "RotaryEmbedding",
    "Transformer",
    "TransformerBlock",
    "Upsample",
    "activate_",
    "apply_rotary",
    "conv_nd",
    "create_activation",
    "create_norm",
    "groupnorm_min_side",
    "patchify",
    "unpatchify",
    "upsample_conv2d",
]
