"""Normalisation and activation layers chosen by name (JSON-able configs name them as strings).

Layouts: ``layernorm`` and ``rmsnorm`` normalise the LAST axis (channels-last token sequences);
``groupnorm`` normalises channels-first feature maps ``(B, C, *spatial)`` as in conv nets.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NORMS = ("layernorm", "rmsnorm", "groupnorm", "none")
ACTIVATIONS = ("gelu", "gelu_tanh", "silu", "swish", "relu", "leaky_relu", "tanh", "none")


def groupnorm_min_side(module: nn.Module) -> int:
    """Smallest side of a square feature map on which every ``nn.GroupNorm`` in ``module`` sees
    at least two values per group (GroupNorm raises on one): 2 when some group holds a single
    channel (tiny widths: ``gcd(C, 32) == C``), else 1. Conservative: it assumes any of them may
    run on the coarsest map. Conv tokenizers multiply it by their downsampling factor to get
    their smallest input."""
    single = any(
        m.num_channels // m.num_groups < 2 for m in module.modules() if isinstance(m, nn.GroupNorm)
    )
    return 2 if single else 1


def _group_count(channels: int, max_groups: int) -> int:
    # GroupNorm needs groups | channels; tiny test widths are not multiples of 32.
    return math.gcd(channels, max_groups)


def create_norm(name: str, dim: int, *, eps: float = 1e-6, max_groups: int = 32) -> nn.Module:
    """A normalisation layer over ``dim`` features.

    Args:
        name: one of ``layernorm`` (last axis), ``rmsnorm`` (last axis), ``groupnorm`` (axis 1,
            channels-first, ``gcd(dim, max_groups)`` groups) or ``none`` (identity).
        dim: number of features / channels.
        eps: numerical epsilon (1e-6 matches taming / ViT tokenizers).
        max_groups: upper bound on the group count for ``groupnorm``.
    """
    key = name.lower()
    if key == "layernorm":
        return nn.LayerNorm(dim, eps=eps)
    if key == "rmsnorm":
        return nn.RMSNorm(dim, eps=eps)
    if key == "groupnorm":
        return nn.GroupNorm(_group_count(dim, max_groups), dim, eps=eps, affine=True)
    if key in ("none", "identity"):
        return nn.Identity()
    raise ValueError(f"create_norm: unknown norm {name!r}; expected one of {', '.join(NORMS)}")


def create_activation(name: str) -> nn.Module:
    """An activation module by name: one of ``gelu``, ``gelu_tanh``, ``silu`` (= ``swish``),
    ``relu``, ``leaky_relu`` (slope 0.2, the GAN convention), ``tanh``, ``none``."""
    key = name.lower()
    if key == "gelu":
        return nn.GELU()
    if key == "gelu_tanh":
        return nn.GELU(approximate="tanh")
    if key in ("silu", "swish"):
        return nn.SiLU()
    if key == "relu":
        return nn.ReLU()
    if key == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if key == "tanh":
        return nn.Tanh()
    if key in ("none", "identity"):
        return nn.Identity()
    raise ValueError(
        f"create_activation: unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}"
    )


def activate_(act: nn.Module, h: Tensor) -> Tensor:
    """``act(h)`` written into ``h`` when autograd does not track ``h`` (inference, ``no_grad``,
    frozen weights) and ``act`` is SiLU, ReLU, LeakyReLU or Tanh: the same values (the same
    kernel) without allocating another tensor of ``h``'s size, which at full image resolution
    costs more in page faults than the activation itself. Otherwise ``act(h)``.

    ``h`` must be an intermediate the caller owns (a norm's or a conv's output), never a tensor
    that is read again, such as a block's input.
    """
    if h.requires_grad:
        return act(h)
    if isinstance(act, nn.SiLU):
        return F.silu(h, inplace=True)
    if isinstance(act, nn.ReLU):
        return F.relu(h, inplace=True)
    if isinstance(act, nn.LeakyReLU):
        return F.leaky_relu(h, act.negative_slope, inplace=True)
    if isinstance(act, nn.Tanh):
        return torch.tanh_(h)
    return act(h)
