"""The quantizer interface and the quantizer registry.

Every quantizer takes ``z`` of shape ``(..., dim)`` (channels last, any leading shape) and returns
a :class:`~zoo.outputs.QuantizerOutput`. Subclasses implement three hooks on a ``(b, n, dim)``
float32 view of the input — ``_forward``, ``_encode``, ``_decode`` — and the base class does the
rest once: input validation with clear errors, fp32 math under autocast, packing any leading shape
to ``(b, n, dim)`` and back, code validation in ``decode``.

Statistics that only logging needs (codebook usage and perplexity of the batch's codes) are not
computed by ``forward`` unless asked for, inside :func:`collect_metrics` or afterwards with
:meth:`Quantizer.code_metrics`: they cost a histogram of the whole codebook per call (64 000 bins
for FSQ ``[8, 8, 8, 5, 5, 5]``, more than the quantization itself) and an all-reduce under DDP.
Losses, EMA codebook updates and dead-code restarts are training, not logging: they always run.

Index conventions: codes are 0-based int64; ``codes[..., k]`` is the index into codebook ``k``.
"""

from __future__ import annotations

import contextlib
import difflib
import math
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from zoo.outputs import QuantizerOutput
from zoo.quantizers._utils import check_code_range, check_integer_codes, code_usage_metrics

_QUANTIZERS: dict[str, type[Quantizer]] = {}

#: Whether ``forward`` adds the logging statistics (see :func:`collect_metrics`).
_COLLECT_METRICS = False


@contextlib.contextmanager
def collect_metrics(enabled: bool = True) -> Iterator[None]:
    """Within this block every quantizer's ``forward`` also reports codebook usage and
    perplexity (``usage``, ``perplexity``; per level / group for residual and grouped
    quantizers) in ``QuantizerOutput.metrics``.

    Off by default: training needs them only on the steps it logs (``TokenizerModule`` turns
    them on every ``trainer.log_every_n_steps`` and in validation). Under DDP the histograms are
    all-reduced, so enter the block on every rank alike. Process-wide, like
    ``torch.autograd.set_detect_anomaly``; nested blocks restore the outer setting on exit.

    >>> with collect_metrics():
    ...     out = quantizer(z)          # out.metrics["usage"], out.metrics["perplexity"]
    """
    global _COLLECT_METRICS
    previous = _COLLECT_METRICS
    _COLLECT_METRICS = bool(enabled)
    try:
        yield
    finally:
        _COLLECT_METRICS = previous


def metrics_requested() -> bool:
    """True inside :func:`collect_metrics`: quantizers compute their logging-only statistics."""
    return _COLLECT_METRICS


def register_quantizer(name: str) -> Callable[[type[Quantizer]], type[Quantizer]]:
    """Class decorator: make ``cls`` available as ``create_quantizer(name, ...)``."""

    def wrap(cls: type[Quantizer]) -> type[Quantizer]:
        if name in _QUANTIZERS and _QUANTIZERS[name] is not cls:
            raise ValueError(
                f"quantizer name {name!r} is already registered to {_QUANTIZERS[name]}"
            )
        cls.name = name
        _QUANTIZERS[name] = cls
        return cls

    return wrap


def list_quantizers() -> list[str]:
    """Names of all registered quantizers, sorted."""
    return sorted(_QUANTIZERS)


def get_quantizer_class(name: str) -> type[Quantizer]:
    if not isinstance(name, str):
        raise TypeError(
            f"the quantizer must be named by a string, one of {list_quantizers()}; got {name!r}"
        )
    if name not in _QUANTIZERS:
        close = difflib.get_close_matches(name, list(_QUANTIZERS), n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"unknown quantizer {name!r}.{hint} "
            f"Registered quantizers: {', '.join(list_quantizers())}."
        )
    return _QUANTIZERS[name]


def create_quantizer(name: str, **kwargs: Any) -> Quantizer:
    """Build a registered quantizer by name from keyword-only, JSON-able arguments.

    >>> q = create_quantizer("fsq", levels=[8, 5, 5, 5])
    """
    cls = get_quantizer_class(name)
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise TypeError(f"create_quantizer({name!r}, ...): {err}") from err


class Quantizer(nn.Module):
    """Base class of every quantizer.

    Subclasses set ``dim``, ``codebook_size`` (entries per codebook) and ``num_codebooks`` in
    ``__init__`` and implement ``_forward``, ``_encode`` and ``_decode`` on ``(b, n, dim)`` float32
    tensors (codes ``(b, n, num_codebooks)`` int64). They must guarantee that in eval mode
    ``_decode(_encode(z))`` equals ``_forward(z).quantized`` exactly.

    Class attributes describe capabilities (so tests never keep exclude lists):
        example_kwargs: a tiny, JSON-able configuration used by the contract tests and docs.
        requires_fit: the quantizer must be ``fit`` on data before use (post-training quantizers).
        accepts_code_prefix: ``decode`` accepts ``codes[..., :k]`` for any valid k (residual).
    """

    name: ClassVar[str] = ""
    example_kwargs: ClassVar[dict[str, Any]] = {}
    requires_fit: ClassVar[bool] = False
    accepts_code_prefix: ClassVar[bool] = False

    dim: int
    codebook_size: int
    num_codebooks: int

    #: Set to False to skip the (synchronising) NaN/Inf check of inputs, e.g. in tight GPU loops.
    check_finite: bool = True

    # ------------------------------------------------------------------ public API
    @property
    def bits_per_token(self) -> float:
        """Bits carried by one token's codes: ``num_codebooks * log2(codebook_size)``."""
        return self.num_codebooks * math.log2(self.codebook_size)

    def forward(self, z: Tensor) -> QuantizerOutput:
        """Quantize ``z`` of shape ``(..., dim)``; see :class:`~zoo.outputs.QuantizerOutput`."""
        self._check_input(z)
        zb, restore = _to_bnd(z)
        with torch.autocast(device_type=z.device.type, enabled=False):
            out = self._forward(zb.float())
        metrics = {k: v.detach() for k, v in out.metrics.items()}
        if _COLLECT_METRICS:
            metrics.update(self.code_metrics(out.codes))
        return QuantizerOutput(
            quantized=restore(out.quantized).to(z.dtype),
            codes=restore(out.codes),
            loss=out.loss,
            metrics=metrics,
        )

    @torch.no_grad()
    def code_metrics(self, codes: Tensor) -> dict[str, Tensor]:
        """Codebook usage and perplexity of ``codes`` (``(..., num_codebooks)`` int, e.g.
        ``forward(z).codes``) over all ranks: what ``forward`` adds to its metrics inside
        :func:`collect_metrics`. ``usage``: fraction of entries hit at least once; ``perplexity``:
        exp of the entropy of the code histogram; both averaged over the codebooks, and left out
        for codebooks too large to histogram (2^128). All-reduces under DDP: call it on every rank.
        """
        return code_usage_metrics(codes, self.codebook_size)

    @torch.no_grad()
    def encode(self, z: Tensor) -> Tensor:
        """Codes of ``z`` (``(..., dim)`` float): int64, shape ``(..., num_codebooks)``."""
        self._check_input(z)
        zb, restore = _to_bnd(z)
        with torch.autocast(device_type=z.device.type, enabled=False):
            codes = self._encode(zb.float())
        return restore(codes)

    def decode(self, codes: Tensor) -> Tensor:
        """Quantized vectors (float32, ``(..., dim)``) from codes ``(..., num_codebooks)``
        of any integer dtype (int64 from ``encode``; uint8/int16/... holding valid codes too)."""
        self._check_codes(codes)
        cb, restore = _to_bnd(codes)
        with torch.autocast(device_type=codes.device.type, enabled=False):
            return restore(self._decode(cb.long()))

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, codebook_size={self.codebook_size}, "
            f"num_codebooks={self.num_codebooks}, bits_per_token={self.bits_per_token:g}"
        )

    # ------------------------------------------------------------------ hooks
    def _forward(self, z: Tensor) -> QuantizerOutput:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _forward")

    def _encode(self, z: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _encode")

    def _decode(self, codes: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _decode")

    # ------------------------------------------------------------------ validation
    @property
    def _label(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def _check_input(self, z: Tensor) -> None:
        if not isinstance(z, Tensor):
            raise TypeError(f"{self._label}: expected a torch.Tensor z, got {type(z).__name__}")
        if not z.is_floating_point():
            raise TypeError(
                f"{self._label}: expected a floating-point z of shape (..., {self.dim}), got dtype "
                f"{z.dtype}; integer codes go to decode(), latents to forward()/encode()."
            )
        if z.ndim == 0 or z.shape[-1] != self.dim:
            raise ValueError(
                f"{self._label}: expected z of shape (..., {self.dim}) (channels last), got shape "
                f"{tuple(z.shape)}; move channels last, e.g. rearrange(x, 'b c h w -> b h w c')."
            )
        if z.numel() == 0:
            raise ValueError(f"{self._label}: got an empty input of shape {tuple(z.shape)}")
        # A sum is ~5x cheaper than an elementwise check and is non-finite whenever any element
        # is; only if it overflows (or is non-finite) do we pay for the exact check.
        if self.check_finite and not torch.isfinite(z.sum()) and not torch.isfinite(z).all():
            raise ValueError(
                f"{self._label}: z contains NaN or Inf ({int((~torch.isfinite(z)).sum())} of "
                f"{z.numel()} values); check the encoder output or lower the learning rate."
            )

    def _check_codes(self, codes: Tensor) -> None:
        check_integer_codes(codes, self._label, f"of shape (..., {self.num_codebooks})")
        k = codes.shape[-1] if codes.ndim else None
        ok = k == self.num_codebooks or (
            self.accepts_code_prefix and k is not None and self._valid_prefix(k)
        )
        if not ok:
            want = (
                f"(..., k) with k a valid prefix length <= {self.num_codebooks}"
                if self.accepts_code_prefix
                else f"(..., {self.num_codebooks})"
            )
            raise ValueError(
                f"{self._label}: expected codes of shape {want}, got {tuple(codes.shape)}"
            )
        check_code_range(codes, self.codebook_size, self._label)

    def _valid_prefix(self, k: int) -> bool:
        return 1 <= k <= self.num_codebooks


def _to_bnd(x: Tensor) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """View ``x`` of shape ``(..., d)`` as ``(b, n, d)``; return it and the inverse map.

    ``b`` is the first leading dimension (the sample axis, used for per-sample decisions such as
    quantizer dropout); all other leading dimensions are flattened into ``n``.
    """
    lead = x.shape[:-1]
    if len(lead) == 0:
        xb = x.reshape(1, 1, x.shape[-1])
    else:  # n spelled out: -1 is ambiguous for empty tensors (decode of zero codes)
        xb = x.reshape(lead[0], math.prod(lead[1:]), x.shape[-1])

    def restore(y: Tensor) -> Tensor:
        return y.reshape(*lead, y.shape[-1])

    return xb, restore
