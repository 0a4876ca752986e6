"""Causal 3D convolution blocks for video that run on whole clips or chunk by chunk.

Layout: channels first, ``(B, C, T, H, W)``. Time is causal: a conv of temporal kernel ``kt``
is padded by ``kt - 1`` frames on the left only (zeros, or copies of the first frame), so output
frame ``t`` never sees input frames after ``t * stride``. Every spatial operation acts on each
frame on its own (convs pad symmetrically in space; norms normalise each frame alone), which
makes the blocks streamable along time.

Streaming: the temporal modules take ``forward(x, state=None)``. With ``state=None`` the input is
a whole clip. With a dict ``state`` (one per stream, empty at the start) the input is the next
chunk of a stream, of any length (0 frames too): each module keeps the frames its next window
still needs under its own key and emits the outputs whose windows are complete. Concatenating the
outputs of the chunks gives the whole-clip output up to float rounding (the same windows are
computed, only later).

The first frame is encoded alone (MAGVIT-v2, Yu et al., "Language Model Beats Diffusion --
Tokenizer is Key to Visual Generation", arXiv:2310.05737): a temporal stride-2 downsample of
``1 + 2k`` frames gives ``1 + k`` frames, the first of which depends on input frame 0 only, and
the matching upsample repeats each frame twice and drops the first copy (``1 + k -> 1 + 2k``).
A one-frame clip is therefore an image.

Module and parameter names mirror the 2D blocks of :mod:`zoo.layers.conv` (``conv1``,
``norm1``, ``shortcut``, ``conv``, ``q/k/v/proj_out``) so 2D weights inflate onto them by name
(:func:`inflate_conv_weight`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.layers.conv import ConvAttention
from zoo.layers.norms import create_activation

TEMPORAL_PADDINGS = ("zeros", "replicate")

StreamDict = dict[Any, Any]


def _triple(v: int | Sequence[int], who: str) -> tuple[int, int, int]:
    out = (int(v),) * 3 if isinstance(v, int) else tuple(int(i) for i in v)
    if len(out) != 3:
        raise ValueError(f"{who}: expected an int or 3 values (t, h, w), got {v!r}")
    return out  # type: ignore[return-value]


class CausalConv3d(nn.Conv3d):
    """``nn.Conv3d`` causal in time (see the module docstring); parameters ``weight`` /
    ``bias`` as ``nn.Conv3d``.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: int or ``(kt, kh, kw)``.
        stride: int or ``(st, sh, sw)``; spatial stride 1 or 2 (stride 2 pads only after the
            data, taming's ``(0, 1)``, so 2D downsample weights line up).
        temporal_padding: ``zeros`` or ``replicate`` (copies of the clip's first frame).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int] = 3,
        *,
        stride: int | Sequence[int] = 1,
        temporal_padding: str = "zeros",
        bias: bool = True,
    ) -> None:
        k = _triple(kernel_size, "CausalConv3d kernel_size")
        s = _triple(stride, "CausalConv3d stride")
        if temporal_padding not in TEMPORAL_PADDINGS:
            raise ValueError(
                f"CausalConv3d: temporal_padding must be one of {TEMPORAL_PADDINGS}, got "
                f"{temporal_padding!r}"
            )
        if any(v not in (1, 2) for v in s[1:]):
            raise ValueError(f"CausalConv3d: spatial stride must be 1 or 2, got {s}")
        super().__init__(in_channels, out_channels, k, stride=s, padding=0, bias=bias)
        self.temporal_padding = temporal_padding
        pads: list[int] = []
        for kk, ss in ((k[2], s[2]), (k[1], s[1])):  # F.pad order: W then H
            pads += [0, 1] if ss == 2 else [(kk - 1) // 2, kk - 1 - (kk - 1) // 2]
        self.spatial_pads = (*pads, 0, 0)

    @property
    def stateless(self) -> bool:
        """True for temporal kernel 1 and stride 1 (no frames carried between chunks)."""
        return self.kernel_size[0] == 1 and self.stride[0] == 1

    def _lead(self, x: Tensor) -> Tensor:
        """The ``kt - 1`` frames before the clip's first frame."""
        n = self.kernel_size[0] - 1
        if self.temporal_padding == "replicate":
            return x[:, :, :1].expand(-1, -1, n, -1, -1)
        return x.new_zeros(*x.shape[:2], n, *x.shape[3:])

    def forward(self, x: Tensor, state: StreamDict | None = None) -> Tensor:
        if x.shape[2] == 0:  # an empty stream chunk (F.pad refuses empty axes)
            w0, w1, h0, h1 = self.spatial_pads[:4]
            x = x.new_zeros(*x.shape[:3], x.shape[3] + h0 + h1, x.shape[4] + w0 + w1)
            if state is None or self.stateless:
                return self._empty(x)
        else:
            x = F.pad(x, self.spatial_pads)
        if self.stateless:
            return self._conv_forward(x, self.weight, self.bias)
        kt, st = self.kernel_size[0], self.stride[0]
        if state is None:
            return self._conv_forward(torch.cat([self._lead(x), x], 2), self.weight, self.bias)
        buf = state.get(id(self))
        if buf is None:
            if x.shape[2] == 0:  # nothing seen yet: the first frame decides the padding
                return self._empty(x)
            buf = self._lead(x)
        x = torch.cat([buf, x], 2)
        n = (x.shape[2] - kt) // st + 1 if x.shape[2] >= kt else 0
        state[id(self)] = x[:, :, n * st :]
        if n == 0:
            return self._empty(x)
        return self._conv_forward(x[:, :, : (n - 1) * st + kt], self.weight, self.bias)

    def _empty(self, x_padded: Tensor) -> Tensor:
        h, w = (
            (x_padded.shape[3 + i] - self.kernel_size[1 + i]) // self.stride[1 + i] + 1
            for i in range(2)
        )
        return x_padded.new_zeros(x_padded.shape[0], self.out_channels, 0, h, w)


class FrameGroupNorm(nn.GroupNorm):
    """``nn.GroupNorm`` applied to each frame of ``(B, C, T, H, W)`` on its own (statistics
    never mix frames, so it is causal and streamable); same parameters as ``nn.GroupNorm``."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 5:
            return super().forward(x)
        b, c, t = x.shape[:3]
        frames = x.transpose(1, 2).reshape(b * t, c, *x.shape[3:])
        return super().forward(frames).reshape(b, t, c, *x.shape[3:]).transpose(1, 2)


def frame_group_norm(channels: int, *, eps: float = 1e-6, max_groups: int = 32) -> FrameGroupNorm:
    """:class:`FrameGroupNorm` with the group count of :func:`zoo.layers.create_norm`."""
    return FrameGroupNorm(math.gcd(channels, max_groups), channels, eps=eps, affine=True)


class FrameAttention(ConvAttention):
    """VQGAN's single-head spatial self-attention (:class:`~zoo.layers.ConvAttention`) run on
    each frame on its own: causal in time, stateless when streaming."""

    def __init__(self, *, channels: int) -> None:
        super().__init__(channels=channels, dims=2)

    def forward(self, x: Tensor) -> Tensor:
        b, c, t = x.shape[:3]
        frames = x.transpose(1, 2).reshape(b * t, c, *x.shape[3:])
        out = super().forward(frames)
        return out.reshape(b, t, c, *x.shape[3:]).transpose(1, 2)


class CausalResnetBlock3d(nn.Module):
    """``x + conv2(act(norm2(conv1(act(norm1(x))))))`` with causal 3x3x3 convs, per-frame
    GroupNorm and a 1x1x1 shortcut when the channel count changes."""

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int | None = None,
        act: str = "silu",
        dropout: float = 0.0,
        temporal_padding: str = "zeros",
    ) -> None:
        super().__init__()
        out_channels = out_channels or in_channels
        self.norm1 = frame_group_norm(in_channels)
        self.act = create_activation(act)
        self.conv1 = CausalConv3d(in_channels, out_channels, temporal_padding=temporal_padding)
        self.norm2 = frame_group_norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = CausalConv3d(out_channels, out_channels, temporal_padding=temporal_padding)
        self.shortcut = (
            nn.Conv3d(in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: Tensor, state: StreamDict | None = None) -> Tensor:
        h = self.conv1(self.act(self.norm1(x)), state)
        h = self.conv2(self.dropout(self.act(self.norm2(h))), state)
        return self.shortcut(x) + h


class CausalDownsample3d(nn.Module):
    """Strided causal 3x3x3 conv: space by 2, time by ``temporal`` (1 or 2; ``1 + 2k`` frames ->
    ``1 + k``, the first output from frame 0 alone)."""

    def __init__(self, *, channels: int, temporal: int = 2, temporal_padding: str = "zeros"):
        super().__init__()
        if temporal not in (1, 2):
            raise ValueError(f"CausalDownsample3d: temporal factor must be 1 or 2, got {temporal}")
        self.temporal = temporal
        self.conv = CausalConv3d(
            channels, channels, 3, stride=(temporal, 2, 2), temporal_padding=temporal_padding
        )

    def forward(self, x: Tensor, state: StreamDict | None = None) -> Tensor:
        return self.conv(x, state)


class CausalUpsample3d(nn.Module):
    """Nearest upsampling (space by 2, time by ``temporal``: each frame repeated, the clip's
    first copy dropped, ``1 + k -> 1 + 2k``) then a causal 3x3x3 conv."""

    def __init__(self, *, channels: int, temporal: int = 2, temporal_padding: str = "zeros"):
        super().__init__()
        if temporal not in (1, 2):
            raise ValueError(f"CausalUpsample3d: temporal factor must be 1 or 2, got {temporal}")
        self.temporal = temporal
        self.conv = CausalConv3d(channels, channels, 3, temporal_padding=temporal_padding)

    def forward(self, x: Tensor, state: StreamDict | None = None) -> Tensor:
        if x.shape[2] == 0:  # an empty stream chunk
            x = x.new_zeros(*x.shape[:3], 2 * x.shape[3], 2 * x.shape[4])
        else:
            x = F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest")
        if self.temporal == 2 and x.shape[2]:
            x = x.repeat_interleave(2, dim=2)
            first = state is None or not state.get(id(self), False)
            if first:
                x = x[:, :, 1:]
                if state is not None:
                    state[id(self)] = True
        return self.conv(x, state)


def inflate_conv_weight(weight_2d: Tensor, shape_3d: Sequence[int]) -> Tensor:
    """A 3D conv weight ``(O, I, kt, kh, kw)`` that acts on each frame as the 2D weight
    ``(O, I, kh, kw)``: the 2D kernel in the last temporal tap (the current frame under causal
    padding), zeros in the taps that see earlier frames."""
    o, i, kt, kh, kw = shape_3d
    if tuple(weight_2d.shape) != (o, i, kh, kw):
        raise ValueError(
            f"inflate_conv_weight: 2D weight {tuple(weight_2d.shape)} does not match the 3D "
            f"weight {tuple(shape_3d)} (expected {(o, i, kh, kw)})"
        )
    out = weight_2d.new_zeros(o, i, kt, kh, kw)
    out[:, :, -1] = weight_2d
    return out
