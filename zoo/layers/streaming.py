"""1D convolutions, transposed convolutions and LSTMs that run on whole clips or chunk by chunk.

Layout: channels first, ``(B, C, T)``. Every module here has ``forward(x)`` for a whole clip and
``stream(x, state, final) -> (y, state)`` for the next chunk of a stream (``state`` None at the
start, ``final=True`` on the last call). Concatenating the ``stream`` outputs gives ``forward`` of
the concatenated input, up to float rounding: the same windows are computed, only later.

Padding follows EnCodec (Défossez et al., "High Fidelity Neural Audio Compression",
arXiv:2210.13438): a conv of effective kernel ``k`` and stride ``s`` is padded by ``k - s`` in
total, all on the left when causal (split, larger part left, otherwise), plus the extra right
padding that completes the last window, so ``ceil(T / s)`` frames come out for ``T`` samples and
a transposed conv of the same stride gives back ``s`` samples per frame. Reflect padding of very
short inputs zero-extends first, as EnCodec does.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from zoo.layers import prepacked
from zoo.layers.weight_norm import inference_weight

PAD_MODES = ("reflect", "constant", "replicate")
CONV_NORMS = ("weight_norm", "none")


def extra_padding(length: int, kernel: int, stride: int, padding_total: int) -> int:
    """Right padding that completes the last window of a strided conv over ``length`` samples."""
    frames_minus_one = -(-(length + padding_total - kernel) // stride)  # ceil division
    return frames_minus_one * stride + kernel - padding_total - length


def pad1d(x: Tensor, left: int, right: int, mode: str) -> Tensor:
    """``F.pad`` on the last axis; reflect padding of inputs shorter than the pad zero-extends
    them first (reflection needs ``T > pad``) and drops the extension afterwards."""
    if not left and not right:
        return x
    if mode != "reflect":
        return F.pad(x, (left, right), mode=mode)
    if x.shape[-1] > max(left, right):
        if x.dim() == 3 and x.shape[1] > 1 and x.stride(1) == 1:
            # A channels-last map (a prepacked conv's output, zoo.layers.prepacked) stays
            # channels-last, so the next prepacked conv reads it without a re-order.
            b, c, t = x.shape
            out = x.new_empty(b, t + left + right, c).transpose(1, 2)
            out[..., left : left + t] = x
            if left:
                out[..., :left] = x[..., 1 : left + 1].flip(-1)
            if right:
                out[..., left + t :] = x[..., -right - 1 : -1].flip(-1)
            return out
        # The same samples as F.pad's reflect kernel from two small flipped slices and one cat,
        # which copies x about twice as fast on CPU.
        parts = [x[..., 1 : left + 1].flip(-1)] if left else []
        parts.append(x)
        if right:
            parts.append(x[..., -right - 1 : -1].flip(-1))
        return torch.cat(parts, -1)
    extend = max(0, max(left, right) - x.shape[-1] + 1)
    if extend:
        x = F.pad(x, (0, extend))
    out = F.pad(x, (left, right), mode="reflect")
    return out[..., : out.shape[-1] - extend]


def _empty(x: Tensor, channels: int) -> Tensor:
    return x.new_zeros(x.shape[0], channels, 0)


def _maybe_weight_norm(module: nn.Module, norm: str) -> nn.Module:
    if norm not in CONV_NORMS:
        raise ValueError(f"conv norm must be one of {CONV_NORMS}, got {norm!r}")
    return weight_norm(module) if norm == "weight_norm" else module


class StreamableConv1d(nn.Module):
    """Conv1d with EnCodec padding (see the module docstring); ``ceil(T / stride)`` output frames.

    Args:
        in_channels, out_channels, kernel_size, stride, dilation, groups, bias: as ``nn.Conv1d``.
        causal: pad only on the left, so output ``t`` depends on inputs up to ``t * stride``
            plus the window (no look-ahead beyond one stride).
        pad_mode: ``reflect`` (EnCodec), ``constant`` (zeros; DAC) or ``replicate``.
        norm: ``weight_norm`` (``torch.nn.utils.parametrizations.weight_norm``) or ``none``.
        prepack: at inference on CPU, run on a weight pre-packed for oneDNN and return a
            channels-last map (:mod:`zoo.layers.prepacked`; float rounding differs from
            ``F.conv1d``): for decoders, never for layers whose output picks codes.

    State dict: ``conv.weight`` / ``conv.bias``, or with weight norm
    ``conv.parametrizations.weight.original0`` (magnitude ``g``, shape ``(out, 1, 1)``) and
    ``original1`` (direction ``v``).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
        causal: bool = False,
        pad_mode: str = "reflect",
        norm: str = "weight_norm",
        prepack: bool = False,
    ) -> None:
        super().__init__()
        self.prepack = bool(prepack)
        if pad_mode not in PAD_MODES:
            raise ValueError(
                f"StreamableConv1d: pad_mode must be one of {PAD_MODES}, got {pad_mode!r}"
            )
        conv = nn.Conv1d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            dilation=dilation,
            groups=groups,
            bias=bias,
        )
        self.conv = _maybe_weight_norm(conv, norm)
        self.causal = bool(causal)
        self.pad_mode = pad_mode
        self.stride = int(stride)
        self.kernel = (kernel_size - 1) * dilation + 1  # effective kernel
        self.padding_total = self.kernel - self.stride
        if self.padding_total < 0:
            raise ValueError(
                f"StreamableConv1d: kernel_size {kernel_size} (dilation {dilation}) must be >= "
                f"stride {stride}, or samples would be skipped"
            )
        right = 0 if self.causal else self.padding_total // 2
        self.pad_left = self.padding_total - right
        self.pad_right = right
        # Streams start once reflection at both ends reads real samples, as on a whole clip.
        self._start_after = (
            max(self.pad_left, self.pad_right + self.stride - 1) if pad_mode != "constant" else 0
        )

    def forward(self, x: Tensor) -> Tensor:
        extra = extra_padding(x.shape[-1], self.kernel, self.stride, self.padding_total)
        left, right = self.pad_left, self.pad_right + extra
        if self.pad_mode == "constant":
            # Zero padding that both sides share is the conv's own (no padded copy of x).
            both = min(left, right)
            if left != right:
                x = F.pad(x, (left - both, right - both))
            return self._conv(x, both)
        return self._conv(pad1d(x, left, right, self.pad_mode), 0)

    def _conv(self, x: Tensor, padding: int) -> Tensor:
        """The wrapped conv with ``padding`` zeros on both sides; weight norm is computed once
        at inference (:func:`~zoo.layers.weight_norm.inference_weight`)."""
        c = self.conv
        w = inference_weight(c)
        if self.prepack:
            return prepacked.conv1d(
                self, x, w, c.bias, c.stride[0], padding, c.dilation[0], c.groups
            )
        return F.conv1d(x, w, c.bias, c.stride, padding, c.dilation, c.groups)

    def stream(self, x: Tensor, state: dict[str, Any] | None, final: bool) -> tuple[Tensor, dict]:
        """Next output frames for chunk ``x``; state holds the unconsumed (padded) input, the
        last raw samples (for reflect padding at the end) and the input length so far."""
        if state is None:
            state = {"buffer": x[..., :0], "tail": x[..., :0], "seen": 0, "started": False}
        state["seen"] += x.shape[-1]
        keep = self.pad_right + self.stride
        # State keeps copies of the few samples it needs: a view would keep the whole chunk.
        state["tail"] = torch.cat([state["tail"], x[..., -keep:]], -1)[..., -keep:].clone()
        buffer = torch.cat([state["buffer"], x], -1)
        if not state["started"]:
            if final:  # the whole signal is here: exactly the full-clip computation
                state["buffer"] = buffer[..., :0]
                return self.forward(buffer), state
            if buffer.shape[-1] <= self._start_after:
                state["buffer"] = buffer
                return _empty(x, self.conv.out_channels), state
            buffer = pad1d(buffer, self.pad_left, 0, self.pad_mode)
            state["started"] = True
        if final:
            extra = extra_padding(state["seen"], self.kernel, self.stride, self.padding_total)
            right = self.pad_right + extra
            if right:
                tail = state["tail"]
                if self.pad_mode == "reflect":
                    pad = tail[..., -right - 1 : -1].flip(-1)
                elif self.pad_mode == "replicate":
                    pad = tail[..., -1:].expand(*tail.shape[:-1], right)
                else:
                    pad = tail.new_zeros(*tail.shape[:-1], right)
                buffer = torch.cat([buffer, pad], -1)
        n = (
            (buffer.shape[-1] - self.kernel) // self.stride + 1
            if buffer.shape[-1] >= self.kernel
            else 0
        )
        if n <= 0:
            state["buffer"] = buffer
            return _empty(x, self.conv.out_channels), state
        y = self._conv(buffer[..., : (n - 1) * self.stride + self.kernel], 0)
        state["buffer"] = buffer[..., n * self.stride :].clone()
        return y, state


class StreamableConvTranspose1d(nn.Module):
    """ConvTranspose1d that returns ``stride`` samples per input frame (EnCodec trimming).

    The ``kernel - stride`` samples of overlap are trimmed all on the right when causal (so the
    output up to frame ``t`` is final once frame ``t`` arrives), else split with the larger part
    on the left. ``prepack`` and state dict as :class:`StreamableConv1d`.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        bias: bool = True,
        causal: bool = False,
        norm: str = "weight_norm",
        prepack: bool = False,
    ) -> None:
        super().__init__()
        self.prepack = bool(prepack)
        if kernel_size < stride:
            raise ValueError(
                f"StreamableConvTranspose1d: kernel_size {kernel_size} must be >= stride {stride}"
            )
        conv = nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride, bias=bias)
        self.conv = _maybe_weight_norm(conv, norm)
        self.causal = bool(causal)
        self.stride = int(stride)
        self.kernel = int(kernel_size)
        total = self.kernel - self.stride
        self.trim_right = total if self.causal else total // 2
        self.trim_left = total - self.trim_right

    def forward(self, x: Tensor) -> Tensor:
        c = self.conv
        w = inference_weight(c)
        # Equal trims are the transposed conv's own padding (those samples are not computed).
        both = min(self.trim_left, self.trim_right)
        if self.prepack:
            y = prepacked.conv_transpose1d(self, x, w, c.bias, self.stride, both)
        else:
            y = F.conv_transpose1d(x, w, c.bias, self.stride, both)
        left, right = self.trim_left - both, self.trim_right - both
        return y[..., left : y.shape[-1] - right] if left or right else y

    def stream(self, x: Tensor, state: dict[str, Any] | None, final: bool) -> tuple[Tensor, dict]:
        """Output samples that no later frame can change; the overlapping tail (without bias)
        waits in the state for the next frame's contribution."""
        out_ch = self.conv.out_channels
        if state is None:
            state = {"tail": None, "emitted": 0}
        n = x.shape[-1]
        if n:
            w = inference_weight(self.conv)
            if self.prepack:
                y = prepacked.conv_transpose1d(self, x, w, None, self.stride, 0)
            else:
                y = F.conv_transpose1d(x, w, None, self.stride)
            if state["tail"] is not None:
                overlap = state["tail"].shape[-1]
                y = torch.cat([y[..., :overlap] + state["tail"], y[..., overlap:]], -1)
            ready, state["tail"] = y[..., : n * self.stride], y[..., n * self.stride :].clone()
        else:
            ready = _empty(x, out_ch)
        if final and state["tail"] is not None:
            tail = state["tail"]
            ready = torch.cat([ready, tail[..., : tail.shape[-1] - self.trim_right]], -1)
            state["tail"] = None
        if self.conv.bias is not None and ready.shape[-1]:
            ready = ready + self.conv.bias[:, None]
        skip = max(0, self.trim_left - state["emitted"])
        state["emitted"] += ready.shape[-1]
        return ready[..., skip:], state


class StreamableLSTM(nn.Module):
    """Unidirectional LSTM over time of a ``(B, C, T)`` map with a residual skip (EnCodec's
    SLSTM); the recurrent state ``(h, c)`` carries across chunks."""

    def __init__(self, *, dim: int, num_layers: int = 2, skip: bool = True) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, num_layers)
        self.skip = skip

    def _run(self, x: Tensor, hidden: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Any]:
        seq = x.permute(2, 0, 1)  # (T, B, C): nn.LSTM's default layout
        y, hidden = self.lstm(seq, hidden)
        # Back to a contiguous (B, C, T) map, the skip added in the same pass. A transposed
        # view would hand the next conv a channels-last layout that every later conv, pad and
        # activation of the decoder then inherits and converts (EnCodec decode: 0.6x the time).
        if torch.is_grad_enabled():
            y = y + seq if self.skip else y
            return y.permute(1, 2, 0).contiguous(), hidden
        out = x.new_empty(x.shape[0], y.shape[-1], y.shape[0])
        if self.skip:
            return torch.add(y.permute(1, 2, 0), x, out=out), hidden
        return out.copy_(y.permute(1, 2, 0)), hidden

    def forward(self, x: Tensor) -> Tensor:
        return self._run(x, None)[0]

    def stream(self, x: Tensor, state: Any, final: bool) -> tuple[Tensor, Any]:
        if x.shape[-1] == 0:
            return x, state
        return self._run(x, state)


def stream_module(module: nn.Module, x: Tensor, state: Any, final: bool) -> tuple[Tensor, Any]:
    """``module.stream`` when it has one; pointwise modules (activations) need no state."""
    if hasattr(module, "stream"):
        return module.stream(x, state, final)
    return module(x), None


def stream_sequence(
    layers: nn.ModuleList | nn.Sequential, x: Tensor, states: list | None, final: bool
) -> tuple[Tensor, list]:
    """Stream ``x`` through ``layers`` in order, one state per layer."""
    states = list(states) if states is not None else [None] * len(layers)
    for i, layer in enumerate(layers):
        x, states[i] = stream_module(layer, x, states[i], final)
    return x, states


def add_aligned(a: Tensor, b: Tensor, state: dict[str, Any] | None) -> tuple[Tensor, dict]:
    """``a + b`` for two streams that emit the same samples at different times (a residual
    branch with start-up latency vs its shortcut): the unmatched remainder waits in ``state``."""
    if state is None:
        state = {"a": a[..., :0], "b": b[..., :0]}
    a = torch.cat([state["a"], a], -1)
    b = torch.cat([state["b"], b], -1)
    n = min(a.shape[-1], b.shape[-1])
    state["a"], state["b"] = a[..., n:].clone(), b[..., n:].clone()
    return a[..., :n] + b[..., :n], state
