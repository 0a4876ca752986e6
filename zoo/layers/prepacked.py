"""Convolutions and linear layers at inference with weights pre-packed for oneDNN.

``F.conv1d`` on a CPU float32 tensor runs oneDNN (mkldnn), which wants the weight in a blocked
layout: every call re-orders the weight into it, and re-orders the input from ``(B, C, T)`` and
the output back. For a decoder's wide layers at a low frame rate the weight re-order is most of
the call (DAC's 1536-channel convs at 50 Hz), and for the long high-rate layers the activation
re-orders are. :func:`conv1d` and :func:`conv_transpose1d` give the same convolution from a
weight packed once per weight value (cached on the module, like
:func:`~zoo.layers.weight_norm.inference_weight`, and re-packed when the weight changes) and
return oneDNN's channels-last output as it is: a ``(B, C, T)`` tensor with strides
``(C*T, 1, C)``, which the next conv reads without a re-order and which elementwise ops,
padding and residual adds keep.

:func:`linear` does the same for ``F.linear`` (optionally with a fused GELU and a per-output
scale folded into the packed weight). On this project's CPU (AMD EPYC) it is also a faster
GEMM: MKL, which ``F.linear`` calls, takes its AVX2 code path on AMD processors, oneDNN uses
AVX-512 (a 375 x 768 x 2304 product: 6.6 ms vs 2.9 ms on 2 threads).

Same mathematics, another summation order: results differ from ``F.conv1d`` by float rounding
(~1e-6 relative). That is why only decoders use it (``StreamableConv1d(prepack=True)``):
an encoder's outputs pick discrete codes, and a rounding difference at a code boundary would
change a code, so encoders keep ``F.conv1d`` and produce bit-identical codes to upstream.

Used only when it applies: CPU, float32, autograd off, module in eval mode, weights that are
not inference tensors, and a PyTorch build whose oneDNN has these ops (x86 builds; elsewhere,
or if the op fails once, the plain path is used from then on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_CACHE = "_zoo_prepacked_weight"
_ops = getattr(torch.ops, "mkldnn", None)
#: Whether the prepacked path may be tried (cleared the first time the op is missing or fails).
AVAILABLE = bool(
    torch.backends.mkldnn.is_available()
    and _ops is not None
    and hasattr(_ops, "_convolution_pointwise")
    and hasattr(_ops, "_convolution_transpose_pointwise")
    and hasattr(_ops, "_linear_pointwise")
)


def runs_on(x: Tensor, *weights: Tensor | None, dims: int = 0) -> bool:
    """Whether oneDNN's ops can take ``x`` and these weights: a oneDNN build, CPU, float32,
    non-empty; ``dims``: the input rank the op takes (0: any rank >= 2)."""
    return (
        AVAILABLE
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and (x.dim() == dims if dims else x.dim() >= 2)
        and x.numel() > 0
        and all(w is None or w.dtype == torch.float32 for w in weights)
    )


def applies(module: nn.Module, x: Tensor, *weights: Tensor | None, dims: int = 3) -> bool:
    """Whether the cached prepacked path can run ``module`` on ``x`` with these weights (see
    the module docstring): :func:`runs_on`, at inference, with weights a cache can follow."""
    return (
        not module.training
        and not torch.is_grad_enabled()
        and runs_on(x, *weights, dims=dims)
        # Inference tensors have no version counter, so a cache could not see them change.
        and not any(w is not None and w.is_inference() for w in weights)
    )


def pack_linear(weight: Tensor, rows: int) -> Tensor:
    """``weight`` ``(out, in)`` in oneDNN's layout for products with ``rows``-row inputs."""
    return _ops._reorder_linear_weight(weight, max(1, rows))


def packed_linear(
    x: Tensor, packed: Tensor, bias: Tensor | None, *, gelu: bool = False
) -> Tensor:
    """``x @ W^T + bias`` (then exact GELU when ``gelu``) for ``packed`` = :func:`pack_linear`."""
    if gelu:
        return _ops._linear_pointwise(x, packed, bias, "gelu", [], "none")
    return _ops._linear_pointwise(x, packed, bias, "none", [], "")


def _packed(module: nn.Module, weight: Tensor, key: tuple, pack, *also: Tensor | None) -> Any:
    """``pack()``, cached on ``module`` until ``weight`` (or a tensor in ``also``) changes."""
    key = tuple(
        (t.data_ptr(), t._version, t.shape) if t is not None else None for t in (weight, *also)
    ) + key
    cached = module.__dict__.get(_CACHE)
    if cached is not None and cached[0] == key:
        return cached[2]
    packed = pack()
    # The weight itself is kept alive with its packed copy, so a freed weight's address cannot
    # come back as the "same" weight with another value.
    module.__dict__[_CACHE] = (key, (weight, *also), packed)
    return packed


def _disable(err: Exception) -> None:
    global AVAILABLE
    AVAILABLE = False
    import warnings

    warnings.warn(
        f"zoo.layers.prepacked: oneDNN prepacked ops are not usable here ({err}); "
        "using the plain torch ops from now on",
        RuntimeWarning,
        stacklevel=3,
    )


def _run(
    module: nn.Module,
    x: Tensor,
    weights: tuple[Tensor | None, ...],
    key: tuple,
    pack: Callable[[], Any],
    op: Callable[[Any], Tensor],
    plain: Callable[[], Tensor],
    dims: int = 3,
) -> Tensor:
    """``op(packed)`` with ``pack()``'s result cached on ``module`` for ``weights`` (the first
    is the weight) when :func:`applies`, else (or once the op fails) ``plain()``."""
    if applies(module, x, *weights, dims=dims):
        try:
            return op(_packed(module, weights[0], key, pack, *weights[1:]))
        except RuntimeError as err:
            _disable(err)
    return plain()


def conv1d(
    module: nn.Module,
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: int,
    padding: int,
    dilation: int,
    groups: int,
) -> Tensor:
    """``F.conv1d(x, weight, bias, stride, padding, dilation, groups)`` (``module`` holds the
    cache); prepacked and channels-last when :func:`applies`."""
    pad, strd, dil = [0, padding], [1, stride], [1, dilation]
    shape = [*x.shape[:2], 1, x.shape[-1]]
    return _run(
        module, x, (weight, bias), ("conv", padding, stride, dilation, groups),
        lambda: _ops._reorder_convolution_weight(weight.unsqueeze(2), pad, strd, dil, groups,
                                                 shape),
        lambda packed: _ops._convolution_pointwise(
            x.unsqueeze(2), packed, bias, pad, strd, dil, groups, "none", [], "").squeeze(2),
        lambda: F.conv1d(x, weight, bias, stride, padding, dilation, groups),
    )  # fmt: skip


def conv_transpose1d(
    module: nn.Module, x: Tensor, weight: Tensor, bias: Tensor | None, stride: int, padding: int
) -> Tensor:
    """``F.conv_transpose1d(x, weight, bias, stride, padding)`` (``module`` holds the cache);
    prepacked and channels-last when :func:`applies`."""
    pad, strd = [0, padding], [1, stride]
    shape = [*x.shape[:2], 1, x.shape[-1]]
    return _run(
        module, x, (weight, bias), ("transpose", padding, stride),
        lambda: _ops._reorder_convolution_transpose_weight(
            weight.unsqueeze(2), pad, [0, 0], strd, [1, 1], 1, shape),
        lambda packed: _ops._convolution_transpose_pointwise(
            x.unsqueeze(2), packed, bias, pad, [0, 0], strd, [1, 1], 1, "none", [], ""
        ).squeeze(2),
        lambda: F.conv_transpose1d(x, weight, bias, stride, padding),
    )  # fmt: skip


def linear(
    module: nn.Module,
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    *,
    gelu: bool = False,
    scale: Tensor | None = None,
) -> Tensor:
    """``F.linear(x, weight, bias)``, then GELU (exact, erf) when ``gelu``, times the
    per-output ``scale`` when given (folded into the packed weight and bias: a layer scale);
    ``module`` holds the cache. Prepacked when :func:`applies`, otherwise those ops in turn."""
    if gelu and scale is not None:
        raise ValueError("prepacked.linear: gelu and scale do not compose (GELU is not linear)")

    def pack() -> tuple[Tensor, Tensor | None]:
        w, b = weight, bias
        if scale is not None:
            w, b = w * scale[:, None], None if b is None else b * scale
        return pack_linear(w, x.numel() // x.shape[-1]), b

    def op(packed: tuple[Tensor, Tensor | None]) -> Tensor:
        return packed_linear(x, *packed, gelu=gelu)

    def plain() -> Tensor:
        y = F.linear(x, weight, bias)
        y = F.gelu(y) if gelu else y
        return y if scale is None else y * scale

    return _run(module, x, (weight, bias, scale), ("linear",), pack, op, plain, dims=0)
