"""Multi-head self-attention on ``torch.nn.functional.scaled_dot_product_attention`` with optional
rotary position embeddings (RoPE, Su et al., "RoFormer", arXiv:2104.09864) along any number of
axes, and optional causal or custom attention masks.

Layout: tokens channels last, ``x`` of shape ``(B, N, dim)``. Masks follow the SDPA convention:
a boolean mask is True where a query MAY attend to a key; a float mask is added to the logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RotaryEmbedding(nn.Module):
    """Axial rotary embedding: the head dimension is split evenly over ``num_axes`` axes (1 for
    sequences, 2 for image grids, 3 for video), each rotated by its own coordinate.

    Args:
        head_dim: per-head width; must be divisible by ``2 * num_axes``.
        num_axes: number of coordinate axes.
        base: frequency base (10000 as in RoFormer / LLaMA).
    """

    def __init__(self, *, head_dim: int, num_axes: int = 1, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % (2 * num_axes):
            raise ValueError(
                f"RotaryEmbedding: head_dim ({head_dim}) must be divisible by 2 * num_axes "
                f"({2 * num_axes})"
            )
        self.head_dim = head_dim
        self.num_axes = num_axes
        axis_dim = head_dim // num_axes
        inv_freq = base ** (-torch.arange(0, axis_dim, 2, dtype=torch.float32) / axis_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """``cos`` and ``sin`` tables, each ``(N, head_dim // 2)`` float32, for ``positions`` of
        shape ``(N,)`` (one axis) or ``(N, num_axes)`` (any real-valued coordinates)."""
        if positions.ndim == 1:
            positions = positions[:, None]
        if positions.ndim != 2 or positions.shape[1] != self.num_axes:
            raise ValueError(
                f"RotaryEmbedding: expected positions of shape (N, {self.num_axes}), got "
                f"{tuple(positions.shape)}"
            )
        angles = positions.float()[:, :, None] * self.inv_freq  # (N, axes, axis_dim/2)
        angles = angles.flatten(1)
        return angles.cos(), angles.sin()


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate ``x`` of shape ``(..., N, D)`` by tables ``(N, D // 2)``: feature ``i`` is paired
    with feature ``i + D // 2`` (the "rotate half" convention). Computed in float32."""
    half = x.shape[-1] // 2
    x1, x2 = x.float()[..., :half], x.float()[..., half:]
    out = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.to(x.dtype)


def _prepare_mask(mask: Tensor | None, n: int) -> Tensor | None:
    if mask is None:
        return None
    if mask.ndim not in (2, 3, 4) or mask.shape[-2:] != (n, n):
        raise ValueError(
            f"Attention: attn_mask must have shape (N, N), (B, N, N) or (B, heads, N, N) with "
            f"N={n}, got {tuple(mask.shape)}"
        )
    if mask.ndim == 3:  # (B, N, N): broadcast over heads
        mask = mask[:, None]
    return mask


class Attention(nn.Module):
    """Multi-head self-attention.

    Args:
        dim: token width.
        num_heads: number of heads; ``dim`` must be divisible by it.
        qkv_bias: bias on the fused q/k/v projection.
        qk_norm: RMS-normalise queries and keys per head (stabilises large models).
        dropout: attention-probability dropout, training only.

    The fused ``qkv`` weight stacks q, k, v along the output axis (the layout of
    ``nn.MultiheadAttention.in_proj_weight``), so upstream checkpoints map onto it directly.
    """

    def __init__(
        self,
        *,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        qk_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"Attention: dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.q_norm = nn.RMSNorm(self.head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(self.head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: Tensor,
        *,
        attn_mask: Tensor | None = None,
        is_causal: bool = False,
        rope: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """Attend over ``x`` ``(B, N, dim)``; returns ``(B, N, dim)``.

        Args:
            attn_mask: boolean (True = may attend) or additive float mask, shape ``(N, N)``,
                ``(B, N, N)`` or ``(B, heads, N, N)``.
            is_causal: token ``i`` attends to tokens ``<= i``; exclusive with ``attn_mask``.
            rope: ``(cos, sin)`` from :class:`RotaryEmbedding` for all N positions (use angle 0,
                i.e. cos=1 / sin=0, for tokens that should not be rotated).
        """
        b, n, d = x.shape
        if attn_mask is not None and is_causal:
            raise ValueError("Attention: pass either attn_mask or is_causal=True, not both")
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, heads, N, head_dim)
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            cos, sin = rope
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=_prepare_mask(attn_mask, n),
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=is_causal,
        )
        return self.proj(out.transpose(1, 2).reshape(b, n, d))
