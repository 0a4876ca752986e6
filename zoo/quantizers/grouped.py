"""Grouped (product) quantization over any registered quantizer.

Jégou et al., "Product Quantization for Nearest Neighbor Search", TPAMI 2011; in neural codecs
e.g. Yang et al., "HiFi-Codec: Group-residual Vector quantization for High Fidelity Audio Codec",
2023 (arXiv:2305.02765). The ``dim`` channels are split into ``groups`` contiguous
groups of ``dim // groups`` channels; group ``g`` gets its own inner quantizer, and the codebook is
the Cartesian product of the groups' codebooks.

Codes: the groups' codes concatenated, group-major:
``codes[..., g * K:(g + 1) * K]`` are group ``g``'s codes (channels ``g * w:(g + 1) * w``),
``K`` = the inner ``num_codebooks``.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from zoo.outputs import QuantizerOutput
from zoo.quantizers._utils import check_int
from zoo.quantizers.base import (
    Quantizer,
    create_quantizer,
    get_quantizer_class,
    register_quantizer,
)

#: Most groups of a product quantizer (each one is a full quantizer).
MAX_GROUPS = 4096


@register_quantizer("grouped")
class GroupedQuantizer(Quantizer):
    """One inner quantizer per channel group (product quantization).

    Input ``z``: ``(..., dim)``. Output ``quantized``: ``(..., dim)``, each group's channels
    replaced by its inner quantizer's output (with that quantizer's own gradient).
    Codes: ``(..., groups * K)`` int64 in ``[0, codebook_size)``, group-major.

    Args:
        quantizer: registered name of the inner quantizer (``"vq"``, ``"fsq"``, ...).
        groups: number of channel groups (>= 1).
        quantizer_kwargs: keyword arguments of every group's quantizer (JSON-able dict).
        dim: total width; must be divisible by ``groups``. When given, ``dim // groups`` is passed
            to the inner quantizers as their ``dim`` (unless ``quantizer_kwargs`` already sets the
            same value); when omitted, ``dim = groups * inner.dim``.

    Loss: the groups' losses summed. Metrics: each group's metrics prefixed ``group{g}/`` (usage
    and perplexity inside :func:`~zoo.quantizers.collect_metrics`).
    """

    example_kwargs = {
        "quantizer": "fsq",
        "groups": 2,
        "quantizer_kwargs": {"levels": [5, 4, 3]},
        "dim": 6,
    }

    def __init__(
        self,
        *,
        quantizer: str,
        groups: int,
        quantizer_kwargs: dict[str, Any] | None = None,
        dim: int | None = None,
    ) -> None:
        super().__init__()
        get_quantizer_class(quantizer)  # a clear error for a bad name before anything else
        groups = check_int("GroupedQuantizer", "groups", groups, high=MAX_GROUPS)
        if dim is not None:
            dim = check_int("GroupedQuantizer", "dim", dim)
        if quantizer_kwargs is not None and not isinstance(quantizer_kwargs, dict):
            raise TypeError(
                "GroupedQuantizer: quantizer_kwargs must be a dict of keyword arguments, got "
                f"{type(quantizer_kwargs).__name__}"
            )
        self.quantizer = quantizer
        self.groups = int(groups)
        self.quantizer_kwargs = copy.deepcopy(quantizer_kwargs or {})
        inner_kwargs = copy.deepcopy(self.quantizer_kwargs)
        if dim is not None:
            if int(dim) % self.groups != 0:
                raise ValueError(
                    f"GroupedQuantizer: dim must be divisible by groups, got dim={dim}, "
                    f"groups={self.groups} (remainder {int(dim) % self.groups})"
                )
            width = int(dim) // self.groups
            if inner_kwargs.setdefault("dim", width) != width:
                raise ValueError(
                    f"GroupedQuantizer: quantizer_kwargs['dim']={inner_kwargs['dim']} disagrees "
                    f"with dim // groups = {dim} // {self.groups} = {width}; set one of them only"
                )

        self.quantizers = nn.ModuleList(
            create_quantizer(quantizer, **copy.deepcopy(inner_kwargs)) for _ in range(self.groups)
        )
        first = self.quantizers[0]
        if dim is not None and first.dim * self.groups != int(dim):
            raise ValueError(
                f"GroupedQuantizer: inner {quantizer!r} has dim {first.dim}, expected "
                f"dim // groups = {int(dim) // self.groups}"
            )
        self.group_dim = first.dim
        self.dim = self.groups * self.group_dim
        self.codebook_size = first.codebook_size
        self.codes_per_group = first.num_codebooks
        self.num_codebooks = self.groups * self.codes_per_group
        # A post-training inner quantizer makes the whole product one too (see fit()).
        self.requires_fit = first.requires_fit  # type: ignore[misc]

    @torch.no_grad()
    def fit(self, latents: Tensor) -> GroupedQuantizer:
        """Fit post-training inner quantizers, each on its channel group of ``latents``.

        Only for inner quantizers with ``requires_fit`` (e.g. ``"dimwise"``). Returns ``self``.
        """
        if not self.requires_fit:
            raise RuntimeError(
                f"{self._label}: the inner quantizer {self.quantizer!r} needs no fitting "
                "(requires_fit is False); train it with forward() instead"
            )
        self._check_input(latents)
        for q, part in zip(
            self.quantizers, latents.detach().split(self.group_dim, dim=-1), strict=True
        ):
            q.fit(part)
        return self

    # ------------------------------------------------------------------ hooks
    def _split(self, z: Tensor) -> list[Tensor]:
        # Contiguous copies: inner quantizers may reshape/view their input.
        return [part.contiguous() for part in z.split(self.group_dim, dim=-1)]

    def _forward(self, z: Tensor) -> QuantizerOutput:
        quantized, codes = [], []
        loss = z.new_zeros(())
        metrics: dict[str, Tensor] = {}
        for g, (q, part) in enumerate(zip(self.quantizers, self._split(z), strict=True)):
            out = q._forward(part)
            quantized.append(out.quantized)
            codes.append(out.codes)
            loss = loss + out.loss
            metrics.update({f"group{g}/{k}": v.detach() for k, v in out.metrics.items()})
        return QuantizerOutput(
            quantized=torch.cat(quantized, -1),
            codes=torch.cat(codes, -1),
            loss=loss,
            metrics=metrics,
        )

    @torch.no_grad()
    def code_metrics(self, codes: Tensor) -> dict[str, Tensor]:
        """Each group's usage statistics (see :meth:`Quantizer.code_metrics`) prefixed
        ``group{g}/``."""
        out: dict[str, Tensor] = {}
        for g, (q, c) in enumerate(
            zip(self.quantizers, codes.split(self.codes_per_group, dim=-1), strict=True)
        ):
            out.update({f"group{g}/{key}": v for key, v in q.code_metrics(c).items()})
        return out

    def _encode(self, z: Tensor) -> Tensor:
        return torch.cat(
            [q._encode(part) for q, part in zip(self.quantizers, self._split(z), strict=True)], -1
        )

    def _decode(self, codes: Tensor) -> Tensor:
        parts = codes.split(self.codes_per_group, dim=-1)
        return torch.cat(
            [q._decode(c.contiguous()) for q, c in zip(self.quantizers, parts, strict=True)], -1
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, quantizer={self.quantizer!r}, groups={self.groups}"
