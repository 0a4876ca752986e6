"""Dimension-wise post-training quantization of continuous latents (TokenBridge).

Wang et al., "Bridging Continuous and Discrete Tokens for Autoregressive Visual Generation"
(TokenBridge), 2025, arXiv:2503.16430. A continuous tokenizer (e.g. a KL-VAE) is trained as
usual; afterwards each latent channel is quantized on its own, with no further training.

Per dimension ``d`` the quantizer learns the mean ``mu_d`` and standard deviation ``sigma_d`` of
the latents (:meth:`DimwiseQuantizer.fit`), standardises ``x = (z - mu_d) / sigma_d`` and assigns
``x`` to one of ``2**bits`` bins. The bins split a standard normal truncated to
``[-range_sigma, range_sigma]`` into intervals of equal probability mass (edges at its quantiles),
so every code is equally likely on Gaussian latents. A code is reconstructed as the conditional
mean (centroid) of the truncated normal within its bin, mapped back with ``mu_d + sigma_d * c``.
Values outside the range fall into the outermost bins.

Codes are per dimension: ``codes[..., d]`` in ``[0, 2**bits)`` indexes the bin of channel ``d``,
0 being the most negative bin, so ``num_codebooks == dim`` and ``codebook_size == 2**bits``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zoo.outputs import QuantizerOutput
from zoo.quantizers._utils import all_reduce_sum, check_dim, check_int, check_number
from zoo.quantizers.base import Quantizer, metrics_requested, register_quantizer

_MAX_BITS = 16
# Floor for a fitted standard deviation, so a constant channel standardises to 0, not NaN.
_MIN_STD = 1e-12


def gaussian_bin_tables(bits: int, range_sigma: float) -> tuple[Tensor, Tensor]:
    """Bin edges and centroids (float64) of ``2**bits`` equal-mass bins of a truncated normal.

    The standard normal is truncated to ``[-range_sigma, range_sigma]``. Returns ``edges`` of shape
    ``(2**bits + 1,)`` with ``edges[0] = -range_sigma`` and ``edges[-1] = range_sigma``, and
    ``centroids`` of shape ``(2**bits,)``: the conditional mean of the truncated normal in each bin,
    ``(phi(lo) - phi(hi)) / mass``. Both tables are exactly antisymmetric about 0.
    """
    n = 2**bits
    a = torch.tensor(float(range_sigma), dtype=torch.float64)
    tail = torch.special.ndtr(-a)
    bin_mass = (1 - 2 * tail) / n
    # Only the lower half is computed and then mirrored: ndtri near 1 loses the digits that
    # ndtri near 0 keeps, and mirroring makes the tables exactly symmetric.
    steps = torch.arange(n // 2 + 1, dtype=torch.float64)
    lower = torch.special.ndtri(tail + steps * bin_mass)
    lower[0] = -a
    lower[-1] = 0.0
    edges = torch.cat([lower, -lower[:-1].flip(0)])
    pdf = torch.exp(-0.5 * lower**2) / math.sqrt(2 * math.pi)
    lower_centroids = (pdf[:-1] - pdf[1:]) / bin_mass
    # Cancellation in pdf differences of very narrow central bins (large ``bits``) could push a
    # centroid a hair outside its bin; keep it inside.
    lower_centroids = torch.minimum(torch.maximum(lower_centroids, lower[:-1]), lower[1:])
    centroids = torch.cat([lower_centroids, -lower_centroids.flip(0)])
    return edges, centroids


@register_quantizer("dimwise")
class DimwiseQuantizer(Quantizer):
    """Post-training, per-dimension Gaussian-quantile quantizer (TokenBridge).

    Call :meth:`fit` on continuous latents (``(..., dim)``) once before use; or stream them with
    :meth:`update` and :meth:`finalize`. There is nothing to train: ``forward`` returns the
    quantized values with an identity (straight-through) gradient and a zero loss.

    Input ``z``: ``(..., dim)``, any real values. Output ``quantized``: ``(..., dim)``, each value
    ``mean_d + std_d * c`` with ``c`` a bin centroid in ``(-range_sigma, range_sigma)``.
    Codes: ``(..., dim)`` int64 in ``[0, 2**bits)``, one per dimension.

    Args:
        dim: number of latent channels.
        bits: bits per channel; each channel has ``2**bits`` bins (1 to 16).
        range_sigma: half-width, in standard deviations, of the truncated normal whose
            equal-mass bins are used; values beyond it land in the outermost bins.

    Buffers ``mean`` and ``std`` (float32, ``(dim,)``) and ``num_samples`` (how many latent
    vectors they were fitted on; 0 means unfitted) are saved in the ``state_dict``.
    """

    example_kwargs = {"dim": 4, "bits": 3}
    requires_fit = True

    mean: Tensor
    std: Tensor
    num_samples: Tensor
    edges: Tensor
    centroids: Tensor

    def __init__(self, *, dim: int, bits: int = 6, range_sigma: float = 5.0) -> None:
        super().__init__()
        who = "DimwiseQuantizer"
        self.dim = check_dim(who, dim)
        self.bits = check_int(who, "bits", bits, high=_MAX_BITS)
        self.range_sigma = check_number(who, "range_sigma", range_sigma, low=0.0, low_open=True)
        self.codebook_size = 2**self.bits
        self.num_codebooks = self.dim

        edges, centroids = gaussian_bin_tables(self.bits, self.range_sigma)
        # The tables follow from (bits, range_sigma), so they are rebuilt rather than saved.
        self.register_buffer("edges", edges[1:-1].float(), persistent=False)
        self.register_buffer("centroids", centroids.float(), persistent=False)
        self.register_buffer("mean", torch.zeros(self.dim))
        self.register_buffer("std", torch.ones(self.dim))
        self.register_buffer("num_samples", torch.zeros((), dtype=torch.int64))
        # Streaming sums (float64) for update()/finalize(); transient, not part of the state.
        self.register_buffer("_count", torch.zeros((), dtype=torch.float64), persistent=False)
        self.register_buffer("_sum", torch.zeros(self.dim, dtype=torch.float64), persistent=False)
        self.register_buffer(
            "_sum_sq", torch.zeros(self.dim, dtype=torch.float64), persistent=False
        )
        # A Python flag avoids a device sync on every call; it follows num_samples on load.
        self._fitted = False
        self.register_load_state_dict_post_hook(_sync_fitted_flag)

    # ------------------------------------------------------------------ fitting
    @property
    def is_fitted(self) -> bool:
        return self._fitted

    @torch.no_grad()
    def fit(self, latents: Tensor) -> DimwiseQuantizer:
        """Fit the per-dimension statistics on ``latents`` (``(..., dim)``) from scratch.

        Collective under torch.distributed: every rank calls it with its own shard of latents and
        all ranks end up with the statistics of the union. Returns ``self``.
        """
        self.reset_statistics()
        self.update(latents)
        return self.finalize()

    @torch.no_grad()
    def reset_statistics(self) -> None:
        """Forget the streamed sums (the fitted ``mean``/``std`` stay until the next finalize)."""
        self._count.zero_()
        self._sum.zero_()
        self._sum_sq.zero_()

    @torch.no_grad()
    def update(self, latents: Tensor) -> None:
        """Add a batch of latents (``(..., dim)``) to the streamed sums; call finalize() after."""
        self._check_input(latents)
        x = latents.detach().reshape(-1, self.dim).to(device=self._sum.device, dtype=torch.float64)
        self._count += x.shape[0]
        self._sum += x.sum(0)
        self._sum_sq += (x * x).sum(0)

    @torch.no_grad()
    def finalize(self) -> DimwiseQuantizer:
        """Set ``mean``/``std`` from the sums streamed so far (summed over ranks). Returns self.

        Collective under torch.distributed. The local sums are left untouched, so more batches
        may be streamed and finalize() called again.
        """
        sums = all_reduce_sum(torch.cat([self._count.view(1), self._sum, self._sum_sq]))
        count = sums[0]
        if count <= 0:
            raise RuntimeError(
                f"{self._label}: finalize() saw no latents; call update(latents) first, or "
                "fit(latents)"
            )
        mean = sums[1 : 1 + self.dim] / count
        var = (sums[1 + self.dim :] / count - mean * mean).clamp_min(0)
        self.mean.copy_(mean)
        self.std.copy_(var.sqrt().clamp_min(_MIN_STD))
        self.num_samples.fill_(int(count))
        self._fitted = True
        return self

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError(
                f"{self._label} is not fitted: call fit(latents) with continuous latents of shape "
                f"(..., {self.dim}) (or update(...) then finalize()) before forward/encode/decode, "
                "or load a fitted state_dict."
            )

    # ------------------------------------------------------------------ hooks
    def _standardise(self, z: Tensor) -> Tensor:
        return (z - self.mean) / self.std

    def _bins(self, z: Tensor) -> Tensor:
        # bucketize counts the interior edges strictly below x: 0 .. 2**bits - 1.
        return torch.bucketize(self._standardise(z), self.edges)

    def _forward(self, z: Tensor) -> QuantizerOutput:
        self._require_fitted()
        codes = self._bins(z.detach())
        q = self._decode(codes)
        # Value exactly q (so decode(encode(z)) matches bit for bit), gradient exactly identity.
        quantized = q + (z - z.detach())
        metrics = {}
        if metrics_requested():  # logging only
            outside = self._standardise(z.detach()).abs() > self.range_sigma
            metrics["clipped_fraction"] = outside.float().mean()
        return QuantizerOutput(
            quantized=quantized, codes=codes, loss=z.new_zeros(()), metrics=metrics
        )

    def _encode(self, z: Tensor) -> Tensor:
        self._require_fitted()
        return self._bins(z)

    def _decode(self, codes: Tensor) -> Tensor:
        self._require_fitted()
        return self.centroids[codes] * self.std + self.mean

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, bits={self.bits}, range_sigma={self.range_sigma:g}"


def _sync_fitted_flag(module: torch.nn.Module, incompatible_keys: object) -> None:
    if isinstance(module, DimwiseQuantizer):
        module._fitted = bool(module.num_samples > 0)
