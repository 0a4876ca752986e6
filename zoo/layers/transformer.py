"""Pre-norm transformer blocks (Vaswani et al. 2017; pre-norm as in ViT, Dosovitskiy et al. 2021).

Layout: ``(B, N, dim)`` channels last. ``x = x + attn(norm1(x)); x = x + mlp(norm2(x))``, with
optional layer scale (Touvron et al., CaiT 2021) and stochastic depth (Huang et al. 2016).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from zoo.layers.attention import Attention
from zoo.layers.norms import create_activation, create_norm


class Mlp(nn.Module):
    """Two-layer feed-forward network ``fc2(act(fc1(x)))`` on the last axis."""

    def __init__(
        self, *, dim: int, hidden_dim: int, act: str = "gelu", dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = create_activation(act)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class DropPath(nn.Module):
    """Stochastic depth: zero a residual branch for a random subset of samples while training,
    rescaling the kept ones by ``1 / (1 - p)``."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)


class TransformerBlock(nn.Module):
    """One pre-norm block: self-attention then MLP, each on a residual branch.

    Args:
        dim: token width; num_heads: attention heads; mlp_ratio: MLP hidden width / dim.
        qkv_bias, qk_norm: see :class:`~zoo.layers.attention.Attention`.
        norm: ``layernorm`` or ``rmsnorm``; act: MLP activation name.
        dropout: dropout in attention probabilities and the MLP.
        drop_path: stochastic-depth probability of each residual branch.
        layer_scale: initial value of per-channel residual scales; ``None`` disables them.
        norm_eps: epsilon of the norms (1e-6; ports of models trained with PyTorch's
            ``nn.LayerNorm`` default use 1e-5).
    """

    def __init__(
        self,
        *,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_norm: bool = False,
        norm: str = "layernorm",
        act: str = "gelu",
        dropout: float = 0.0,
        drop_path: float = 0.0,
        layer_scale: float | None = None,
        norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.norm1 = create_norm(norm, dim, eps=norm_eps)
        self.attn = Attention(
            dim=dim, num_heads=num_heads, qkv_bias=qkv_bias, qk_norm=qk_norm, dropout=dropout
        )
        self.norm2 = create_norm(norm, dim, eps=norm_eps)
        self.mlp = Mlp(dim=dim, hidden_dim=int(dim * mlp_ratio), act=act, dropout=dropout)
        self.drop_path = DropPath(drop_path)
        if layer_scale is None:
            self.gamma1 = self.gamma2 = None
        else:
            self.gamma1 = nn.Parameter(torch.full((dim,), float(layer_scale)))
            self.gamma2 = nn.Parameter(torch.full((dim,), float(layer_scale)))

    def forward(
        self,
        x: Tensor,
        *,
        attn_mask: Tensor | None = None,
        is_causal: bool = False,
        rope: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """``x`` ``(B, N, dim)`` -> ``(B, N, dim)``; mask/rope as in ``Attention.forward``."""
        h = self.attn(self.norm1(x), attn_mask=attn_mask, is_causal=is_causal, rope=rope)
        x = x + self.drop_path(h if self.gamma1 is None else h * self.gamma1)
        h = self.mlp(self.norm2(x))
        return x + self.drop_path(h if self.gamma2 is None else h * self.gamma2)


class Transformer(nn.Module):
    """A stack of ``depth`` :class:`TransformerBlock` (no final norm: callers own it, since
    tokenizers apply it to a subset of tokens).

    Args: as :class:`TransformerBlock`, plus ``depth``; ``drop_path`` rises linearly from 0 to
    the given value over the blocks. Set ``grad_checkpointing = True`` on the instance to
    recompute activations in the backward pass (saves memory, costs ~30% time).
    """

    def __init__(
        self,
        *,
        dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_norm: bool = False,
        norm: str = "layernorm",
        act: str = "gelu",
        dropout: float = 0.0,
        drop_path: float = 0.0,
        layer_scale: float | None = None,
        norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.grad_checkpointing = False
        self.blocks = nn.ModuleList(
            TransformerBlock(
                dim=dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                qk_norm=qk_norm,
                norm=norm,
                act=act,
                dropout=dropout,
                drop_path=drop_path * i / max(depth - 1, 1),
                layer_scale=layer_scale,
                norm_eps=norm_eps,
            )
            for i in range(depth)
        )

    def forward(
        self,
        x: Tensor,
        *,
        attn_mask: Tensor | None = None,
        is_causal: bool = False,
        rope: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """``x`` ``(B, N, dim)`` -> ``(B, N, dim)``; the same mask and rope go to every block."""
        for block in self.blocks:
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(
                    block,
                    x,
                    attn_mask=attn_mask,
                    is_causal=is_causal,
                    rope=rope,
                    use_reentrant=False,
                )
            else:
                x = block(x, attn_mask=attn_mask, is_causal=is_causal, rope=rope)
        return x
