"""Residual quantization over any registered quantizer (RVQ, RFSQ, RLFQ, ...).

Zeghidour et al., "SoundStream: An End-to-End Neural Audio Codec", 2021 (arXiv:2107.03312), and
Lee et al., "Autoregressive Image Generation using Residual Quantization" (RQ-VAE), CVPR 2022
(arXiv:2203.01941). Level ``i`` quantizes what the earlier levels left over:
``r_0 = z``, ``q_i = s_i * Q_i(r_i / s_i)``, ``r_{i+1} = r_i - q_i``, and the output is
``sum_i q_i``. The optional per-level ``scales`` ``s_i`` let bounded quantizers (FSQ, LFQ, BSQ,
whose outputs live in ``[-1, 1]``) refine ever smaller residuals.

Quantizer dropout (SoundStream): in training each sample, with probability ``quantizer_dropout``,
keeps only its first ``k ~ U{1..num_quantizers}`` levels, so one model serves every bitrate.

Codes: the levels' codes concatenated, level-major:
``codes[..., i * K:(i + 1) * K]`` are level ``i``'s codes, ``K`` = the inner ``num_codebooks``.
Any level prefix ``codes[..., :k * K]`` decodes to the sum of the first ``k`` levels.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from zoo.outputs import QuantizerOutput
from zoo.quantizers._utils import check_int, check_number
from zoo.quantizers.base import (
    Quantizer,
    create_quantizer,
    get_quantizer_class,
    register_quantizer,
)

#: Most levels of a residual stack (each one is a full quantizer).
MAX_LEVELS = 1024


@register_quantizer("residual")
class ResidualQuantizer(Quantizer):
    """Residual stack of ``num_quantizers`` identically configured inner quantizers.

    Input ``z``: ``(..., dim)`` with ``dim`` the inner quantizer's. Output ``quantized``:
    ``(..., dim)``, the sum of the active levels' outputs. Codes: ``(..., num_quantizers * K)``
    int64 in ``[0, codebook_size)``, level-major (see the module docstring); in training with
    dropout every level's codes are still reported, but only the active levels enter ``quantized``.

    Gradients (as in DAC, Kumar et al. 2023, arXiv:2306.06546): nothing is detached between
    levels; each level backpropagates with its own surrogate (straight-through, rotation trick,
    FSQ's bound) and the residual chain carries it on. With straight-through levels the
    gradient of ``quantized`` to ``z`` is exactly the identity, with or without dropout (later
    levels see residuals whose gradient cancels); learned parts of every level (codebooks,
    factorized-code projections) get gradients from ``quantized`` and from their own losses.
    The price (audiocraft detaches each level's output instead, and then cannot train a level's
    output projection): with straight-through levels, the loss of a level ``i > 0`` trains that
    level but does not pull the encoder.

    Args:
        quantizer: registered name of the inner quantizer (``"vq"``, ``"fsq"``, ``"lfq"``, ...).
        num_quantizers: number of residual levels (>= 1).
        quantizer_kwargs: keyword arguments of every level (JSON-able dict).
        quantizer_dropout: probability that a training sample keeps only a random prefix of the
            levels (0 disables dropout).
        scales: optional per-level scale ``s_i > 0`` (length ``num_quantizers``): level ``i``
            quantizes ``r_i / s_i`` and contributes ``s_i`` times its output. Default all 1.

    Loss: the levels' losses summed; with dropout level ``i``'s loss is weighted by the fraction
    of samples that use it. Metrics: each level's metrics and loss prefixed ``level{i}/``, plus
    ``active_quantizers`` (mean number of levels used per sample); inside
    :func:`~zoo.quantizers.collect_metrics` each level's usage and perplexity too.
    """

    example_kwargs = {
        "quantizer": "fsq",
        "num_quantizers": 3,
        "quantizer_kwargs": {"levels": [3, 3, 3]},
        "scales": [1.0, 0.5, 0.25],
    }
    accepts_code_prefix = True

    def __init__(
        self,
        *,
        quantizer: str,
        num_quantizers: int,
        quantizer_kwargs: dict[str, Any] | None = None,
        quantizer_dropout: float = 0.0,
        scales: list[float] | None = None,
    ) -> None:
        super().__init__()
        who = "ResidualQuantizer"
        get_quantizer_class(quantizer)  # a clear error for a bad name before anything else
        num_quantizers = check_int(who, "num_quantizers", num_quantizers, high=MAX_LEVELS)
        quantizer_dropout = check_number(
            who, "quantizer_dropout", quantizer_dropout, low=0.0, high=1.0
        )
        if quantizer_kwargs is not None and not isinstance(quantizer_kwargs, dict):
            raise TypeError(
                "ResidualQuantizer: quantizer_kwargs must be a dict of keyword arguments, got "
                f"{type(quantizer_kwargs).__name__}"
            )
        self.quantizer = quantizer
        self.num_quantizers = int(num_quantizers)
        self.quantizer_kwargs = copy.deepcopy(quantizer_kwargs or {})
        self.quantizer_dropout = float(quantizer_dropout)
        if scales is None:
            scales = [1.0] * self.num_quantizers
        if isinstance(scales, (str, bytes)) or not hasattr(scales, "__iter__"):
            raise ValueError(f"{who}: scales must be a list of positive numbers, got {scales!r}")
        scales = [check_number(who, f"scales[{i}]", s) for i, s in enumerate(scales)]
        if len(scales) != self.num_quantizers or min(scales) <= 0:
            raise ValueError(
                f"ResidualQuantizer: scales must be {self.num_quantizers} positive numbers "
                f"(one per level), got {scales}"
            )
        self.scales = scales

        self.levels = nn.ModuleList(
            create_quantizer(quantizer, **copy.deepcopy(self.quantizer_kwargs))
            for _ in range(self.num_quantizers)
        )
        first = self.levels[0]
        self.dim = first.dim
        self.codebook_size = first.codebook_size
        self.codes_per_level = first.num_codebooks
        self.num_codebooks = self.num_quantizers * self.codes_per_level
        # A post-training inner quantizer makes the stack one too (see fit()).
        self.requires_fit = first.requires_fit  # type: ignore[misc]

    # ------------------------------------------------------------------ public extras
    @torch.no_grad()
    def encode(self, z: Tensor, *, num_quantizers: int | None = None) -> Tensor:
        """Codes of ``z``; with ``num_quantizers=k`` only the first ``k`` levels' codes.

        Returns int64 of shape ``(..., k * K)`` (``K`` = codes per level); the prefix of the full
        codes, since later levels never change earlier ones.
        """
        codes = super().encode(z)
        if num_quantizers is None:
            return codes
        if not 1 <= int(num_quantizers) <= self.num_quantizers:
            raise ValueError(
                f"{self._label}: num_quantizers must be in [1, {self.num_quantizers}], got "
                f"{num_quantizers}"
            )
        return codes[..., : int(num_quantizers) * self.codes_per_level]

    @torch.no_grad()
    def fit(self, latents: Tensor) -> ResidualQuantizer:
        """Fit post-training inner quantizers level by level on the residuals of ``latents``.

        Only for inner quantizers with ``requires_fit`` (e.g. ``"dimwise"``); level ``i`` is fit
        on ``r_i / s_i`` after levels ``0..i-1`` are fitted. Returns ``self``.
        """
        if not self.requires_fit:
            raise RuntimeError(
                f"{self._label}: the inner quantizer {self.quantizer!r} needs no fitting "
                "(requires_fit is False); train it with forward() instead"
            )
        self._check_input(latents)
        residual = latents.detach().float()
        for level, scale in zip(self.levels, self.scales, strict=True):
            level.fit(residual / scale)
            residual = residual - level.decode(level.encode(residual / scale)) * scale
        return self

    # ------------------------------------------------------------------ hooks
    def _forward(self, z: Tensor) -> QuantizerOutput:
        b = z.shape[0]
        active = self._active_levels(b, z.device)  # (b,) levels used per sample
        residual = z
        total: Tensor | None = None
        loss = z.new_zeros(())
        codes: list[Tensor] = []
        metrics: dict[str, Tensor] = {}
        for i, (level, scale) in enumerate(zip(self.levels, self.scales, strict=True)):
            # A scale of 1 is skipped (x / 1 and x * 1 are exact: same values, fewer passes).
            out = level._forward(residual if scale == 1.0 else residual / scale)
            q = out.quantized if scale == 1.0 else out.quantized * scale
            if active is None:
                part, weight = q, 1.0
            else:
                keep = active > i
                part = torch.where(keep.view(b, 1, 1), q, torch.zeros_like(q))
                # In expectation the per-sample "sum over my active levels", whatever the inner
                # loss's reduction over samples.
                weight = keep.float().mean()
            # Same summation order as _decode, so eval-mode values match decode bit for bit.
            total = part if total is None else total + part
            loss = loss + (out.loss if active is None else weight * out.loss)
            if i + 1 < self.num_quantizers:  # the last residual is never used
                residual = residual - q
            codes.append(out.codes)
            metrics.update({f"level{i}/{k}": v.detach() for k, v in out.metrics.items()})
            metrics[f"level{i}/loss"] = out.loss.detach()
        if active is None:
            metrics["active_quantizers"] = z.new_tensor(float(self.num_quantizers))
        else:
            metrics["active_quantizers"] = active.float().mean()
        assert total is not None  # num_quantizers >= 1
        return QuantizerOutput(
            quantized=total, codes=torch.cat(codes, -1), loss=loss, metrics=metrics
        )

    @torch.no_grad()
    def code_metrics(self, codes: Tensor) -> dict[str, Tensor]:
        """Each level's usage statistics (see :meth:`Quantizer.code_metrics`) prefixed
        ``level{i}/``, for the levels present in ``codes`` (a level prefix is fine)."""
        k = self.codes_per_level
        out: dict[str, Tensor] = {}
        for i in range(codes.shape[-1] // k):
            stats = self.levels[i].code_metrics(codes[..., i * k : (i + 1) * k])
            out.update({f"level{i}/{key}": v for key, v in stats.items()})
        return out

    def _active_levels(self, b: int, device: torch.device) -> Tensor | None:
        """Per-sample number of active levels in training with dropout, else None (all)."""
        if not (self.training and self.quantizer_dropout > 0 and self.num_quantizers > 1):
            return None
        dropped = torch.rand(b, device=device) < self.quantizer_dropout
        prefix = torch.randint(1, self.num_quantizers + 1, (b,), device=device)
        return torch.where(dropped, prefix, torch.full_like(prefix, self.num_quantizers))

    def _encode(self, z: Tensor) -> Tensor:
        residual = z
        codes = []
        for level, scale in zip(self.levels, self.scales, strict=True):
            c = level._encode(residual / scale)
            residual = residual - level._decode(c) * scale
            codes.append(c)
        return torch.cat(codes, -1)

    def _decode(self, codes: Tensor) -> Tensor:
        k = self.codes_per_level
        levels = [
            self.levels[i]._decode(codes[..., i * k : (i + 1) * k]) * self.scales[i]
            for i in range(codes.shape[-1] // k)
        ]
        total = levels[0]
        for q in levels[1:]:
            total = total + q
        return total

    def _valid_prefix(self, k: int) -> bool:
        return (
            k % self.codes_per_level == 0 and 1 <= k // self.codes_per_level <= self.num_quantizers
        )

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, quantizer={self.quantizer!r}, "
            f"num_quantizers={self.num_quantizers}, quantizer_dropout={self.quantizer_dropout:g}"
        )
