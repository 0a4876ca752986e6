"""Convolutional building blocks generic over 1, 2 or 3 spatial axes (``dims``): "same"-padded
convs (optionally causal along the first spatial axis, for time), ResNet blocks, down/upsampling
and single-head spatial self-attention, in the style of the VQGAN encoder/decoder (Esser et al.,
"Taming Transformers for High-Resolution Image Synthesis", CVPR 2021).

Layout: channels first, ``(B, C, *spatial)`` with ``len(spatial) == dims``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.layers.norms import activate_, create_activation, create_norm

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def _check_dims(dims: int, who: str) -> None:
    if dims not in _CONV:
        raise ValueError(f"{who}: dims must be 1, 2 or 3, got {dims}")


def _per_axis(value: int | Sequence[int], dims: int, who: str) -> tuple[int, ...]:
    out = (int(value),) * dims if isinstance(value, int) else tuple(int(v) for v in value)
    if len(out) != dims:
        raise ValueError(f"{who}: expected an int or {dims} values, got {value!r}")
    return out


def conv_nd(
    dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int],
    *,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] | None = None,
    bias: bool = True,
) -> nn.Module:
    """A plain ``nn.Conv{dims}d``; ``padding=None`` means ``kernel_size // 2`` ("same" for odd
    kernels at stride 1)."""
    _check_dims(dims, "conv_nd")
    k = _per_axis(kernel_size, dims, "conv_nd kernel_size")
    pad = tuple(v // 2 for v in k) if padding is None else padding
    return _CONV[dims](in_channels, out_channels, k, stride=stride, padding=pad, bias=bias)


class CausalConv(nn.Module):
    """Convolution that is causal along the first spatial axis (time): that axis is padded on the
    left only, by ``(k - 1) * dilation``, so output frame ``t`` sees inputs ``<= t``. Other axes
    get symmetric "same" padding. ``padding_mode``: ``constant`` (zeros) or ``replicate``.
    """

    def __init__(
        self,
        *,
        dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        dilation: int = 1,
        padding_mode: str = "constant",
        bias: bool = True,
    ) -> None:
        super().__init__()
        _check_dims(dims, "CausalConv")
        k = _per_axis(kernel_size, dims, "CausalConv kernel_size")
        self.padding_mode = padding_mode
        # F.pad takes (last axis left, right, ..., first axis left, right).
        pads: list[int] = []
        for axis in reversed(range(dims)):
            total = (k[axis] - 1) * (dilation if axis == 0 else 1)
            pads += [total, 0] if axis == 0 else [total // 2, total - total // 2]
        self.pads = tuple(pads)
        dil = (dilation,) + (1,) * (dims - 1)
        self.conv = _CONV[dims](
            in_channels, out_channels, k, stride=stride, dilation=dil, padding=0, bias=bias
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, self.pads, mode=self.padding_mode))


class FrameNorm(nn.Module):
    """Apply a channels-first norm to each time step (first spatial axis) on its own, so that
    statistics never mix frames: the causal counterpart of GroupNorm over the whole clip."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: Tensor) -> Tensor:
        b, c, t = x.shape[:3]
        frames = x.movedim(2, 1).reshape(b * t, c, *x.shape[3:])
        return self.norm(frames).reshape(b, t, c, *x.shape[3:]).movedim(1, 2)


def _norm(name: str, channels: int, causal: bool) -> nn.Module:
    norm = create_norm(name, channels)
    return FrameNorm(norm) if causal and isinstance(norm, nn.GroupNorm) else norm


def add_residual(h: Tensor, skip: Tensor) -> Tensor:
    """``skip + h``, written into ``h`` when autograd tracks neither and both have the same
    shape, dtype and strides (so no broadcasting, type promotion or choice of memory format is
    involved): the same tensor (addition is commutative) without allocating another one of
    ``h``'s size. ``h`` must be an intermediate the caller owns (a conv's output)."""
    same = h.shape == skip.shape and h.dtype == skip.dtype and h.stride() == skip.stride()
    if h.requires_grad or skip.requires_grad or not same:
        return skip + h
    return h.add_(skip)


def _conv(dims: int, cin: int, cout: int, k: int, causal: bool) -> nn.Module:
    if causal:
        return CausalConv(dims=dims, in_channels=cin, out_channels=cout, kernel_size=k)
    return conv_nd(dims, cin, cout, k)


class ResnetBlock(nn.Module):
    """``x + conv(act(norm(conv(act(norm(x))))))`` with a 1x1 shortcut when channels change.

    Args:
        in_channels, out_channels: channel counts (``out_channels=None`` keeps ``in_channels``).
        dims: number of spatial axes (1, 2, 3).
        norm: ``groupnorm`` (default, 32 groups max) or ``none``; act: activation name.
        dropout: dropout between the two convs.
        causal: make the 3x3 convs causal along the first spatial axis and normalise each
            time step on its own (:class:`FrameNorm`), so no output depends on later frames.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int | None = None,
        dims: int = 2,
        norm: str = "groupnorm",
        act: str = "silu",
        dropout: float = 0.0,
        causal: bool = False,
    ) -> None:
        super().__init__()
        _check_dims(dims, "ResnetBlock")
        out_channels = out_channels or in_channels
        self.norm1 = _norm(norm, in_channels, causal)
        self.act = create_activation(act)
        self.conv1 = _conv(dims, in_channels, out_channels, 3, causal)
        self.norm2 = _norm(norm, out_channels, causal)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = _conv(dims, out_channels, out_channels, 3, causal)
        self.shortcut = (
            conv_nd(dims, in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        h = self.conv1(self.act(h) if h is x else activate_(self.act, h))  # norm "none": h is x
        h = self.conv2(self.dropout(activate_(self.act, self.norm2(h))))
        return add_residual(h, self.shortcut(x))


class Downsample(nn.Module):
    """Strided 3x3 conv (or average pooling) reducing each spatial axis by ``factor`` (1 or 2 per
    axis). The conv pads only after the data on downsampled axes (taming's ``(0, 1)`` padding), so
    converted taming/LlamaGen weights line up exactly.
    """

    def __init__(
        self,
        *,
        channels: int,
        dims: int = 2,
        factor: int | Sequence[int] = 2,
        mode: str = "conv",
        out_channels: int | None = None,
    ) -> None:
        super().__init__()
        _check_dims(dims, "Downsample")
        f = _per_axis(factor, dims, "Downsample factor")
        if any(v not in (1, 2) for v in f):
            raise ValueError(f"Downsample: factor per axis must be 1 or 2, got {f}")
        if mode not in ("conv", "avgpool"):
            raise ValueError(f"Downsample: mode must be 'conv' or 'avgpool', got {mode!r}")
        out_channels = out_channels or channels
        if mode == "avgpool" and out_channels != channels:
            raise ValueError("Downsample: mode='avgpool' cannot change the channel count")
        self.mode = mode
        self.factor = f
        pads: list[int] = []
        for v in reversed(f):
            pads += [0, 1] if v == 2 else [1, 1]
        self.pads = tuple(pads)
        if mode == "conv":
            self.conv = conv_nd(dims, channels, out_channels, 3, stride=f, padding=0)

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "avgpool":
            pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[len(self.factor)]
            return pool(x, self.factor, self.factor)
        return self.conv(F.pad(x, self.pads))


#: Fewest input positions (H * W) from which :func:`upsample_conv2d` computes on the input grid:
#: 1.6x faster or more than upsampling first on 32 x 32 to 128 x 128 inputs (128-512 channels,
#: 2 CPU threads), slower on 16 x 16 (the 4x wider weight then dominates).
_PHASE_CONV_MIN_POSITIONS = 32 * 32


def _fold_taps(w: Tensor, dim: int, phase: int) -> Tensor:
    """3 taps along ``dim`` -> the 2 input pixels they read for one output phase of a nearest 2x
    upsampling: phase 0 (even outputs) reads ``(i - 1: w0, i: w1 + w2)``, phase 1 ``(i: w0 + w1,
    i + 1: w2)``."""
    w0, w1, w2 = w.unbind(dim)
    return torch.stack((w0, w1 + w2) if phase == 0 else (w0 + w1, w2), dim)


def upsample_conv2d(x: Tensor, conv: nn.Module) -> Tensor:
    """``conv(F.interpolate(x, scale_factor=2, mode="nearest"))`` for ``x`` ``(B, C, H, W)``.

    Without autograd, for a 3x3 stride-1 conv with zero padding 1 and inputs of at least
    32 x 32 positions, it is computed on ``x``'s grid: each of the four output phases
    ``(2i + a, 2j + b)`` is a 2x2 conv of ``x`` with the 3x3 taps that read the same input pixel
    summed, and the four are one conv with 4x the output channels (16 multiply-adds per input
    pixel and channel pair instead of 36, and no upsampled copy of ``x``). The same function;
    the sums of taps round differently (about 1e-6 relative).
    """
    phase = (
        not torch.is_grad_enabled()
        and isinstance(conv, nn.Conv2d)
        and conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
        and x.ndim == 4
        and x.shape[-2] * x.shape[-1] >= _PHASE_CONV_MIN_POSITIONS
    )
    if not phase:
        return conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
    w = conv.weight
    phases = ((0, 0), (0, 1), (1, 0), (1, 1))
    weight = torch.cat([_fold_taps(_fold_taps(w, 2, a), 3, b) for a, b in phases])
    bias = None if conv.bias is None else conv.bias.repeat(4)
    out = F.conv2d(x, weight, bias, padding=1)  # (B, 4 * O, H + 1, W + 1)
    b, o, h, wd = x.shape[0], w.shape[0], x.shape[-2], x.shape[-1]
    layout = (
        torch.channels_last
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        else torch.contiguous_format
    )  # the layout conv(upsampled x) would have
    y = torch.empty(b, o, 2 * h, 2 * wd, dtype=out.dtype, device=out.device, memory_format=layout)
    for i, (a, c) in enumerate(phases):
        y[:, :, a::2, c::2] = out[:, i * o : (i + 1) * o, a : a + h, c : c + wd]
    return y


class Upsample(nn.Module):
    """Nearest-neighbour upsampling by ``factor`` per axis, then an optional 3x3 conv."""

    def __init__(
        self,
        *,
        channels: int,
        dims: int = 2,
        factor: int | Sequence[int] = 2,
        with_conv: bool = True,
        out_channels: int | None = None,
    ) -> None:
        super().__init__()
        _check_dims(dims, "Upsample")
        self.factor = _per_axis(factor, dims, "Upsample factor")
        out_channels = out_channels or channels
        if not with_conv and out_channels != channels:
            raise ValueError("Upsample: with_conv=False cannot change the channel count")
        self.conv = conv_nd(dims, channels, out_channels, 3) if with_conv else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        if self.factor == (2, 2):
            return upsample_conv2d(x, self.conv)
        return self.conv(F.interpolate(x, scale_factor=self.factor, mode="nearest"))


class ConvAttention(nn.Module):
    """Single-head self-attention over all spatial positions of a feature map (VQGAN's mid-block
    ``AttnBlock``): ``x + proj(attn(q(n), k(n), v(n)))`` with ``n = groupnorm(x)`` and 1x1 convs.
    """

    def __init__(self, *, channels: int, dims: int = 2, norm: str = "groupnorm") -> None:
        super().__init__()
        _check_dims(dims, "ConvAttention")
        self.norm = create_norm(norm, channels)
        self.q = conv_nd(dims, channels, channels, 1)
        self.k = conv_nd(dims, channels, channels, 1)
        self.v = conv_nd(dims, channels, channels, 1)
        self.proj_out = conv_nd(dims, channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm(x)
        b, c = x.shape[:2]
        # (B, C, *S) -> (B, 1, S, C): one head over the flattened positions.
        q, k, v = (m(h).reshape(b, 1, c, -1).transpose(-1, -2) for m in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v)
        return add_residual(self.proj_out(out.transpose(-1, -2).reshape(x.shape)), x)
