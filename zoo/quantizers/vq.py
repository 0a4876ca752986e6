"""Codebook vector quantization (VQ).

Each token ``z`` (``dim`` channels) is replaced by its nearest entry of one codebook of
``codebook_size`` vectors; the code is that entry's 0-based index. Variants, all in one class:

- learned codebook with codebook + commitment losses: van den Oord et al., "Neural Discrete
  Representation Learning" (VQ-VAE), NeurIPS 2017 (arXiv:1711.00937).
- EMA codebook updates with Laplace-smoothed cluster sizes: Razavi et al., "Generating Diverse
  High-Fidelity Images with VQ-VAE-2", NeurIPS 2019 (arXiv:1906.00446), appendix of VQ-VAE.
- factorized low-dimensional lookup (``codebook_dim``) and l2-normalised codes
  (``distance="cosine"``): Yu et al., "Vector-quantized Image Modeling with Improved VQGAN"
  (ViT-VQGAN), ICLR 2022 (arXiv:2110.04627).
- rotation-trick gradients instead of straight-through: Fifty et al., "Restructuring Vector
  Quantization with the Rotation Trick", 2024 (arXiv:2410.06424).
- SimVQ: a frozen random codebook ``C`` and a learned linear map ``W``; the effective codebook is
  ``C W``: Zhu et al., "Addressing Representation Collapse in Vector Quantized Models with One
  Linear Layer", 2024 (arXiv:2411.02038).
- cosine search with raw-codeword output (``raw_codeword=True``) and weight-normed factorized
  projections (``projection_norm="weight_norm"``): Kumar et al., "High-Fidelity Audio Compression
  with Improved RVQGAN" (DAC), NeurIPS 2023 (arXiv:2306.06546).

Nearest neighbours are found under ``no_grad`` block by block of the ``(tokens, codebook_size)``
distance matrix (``argmin ||E||^2 - 2 z E^T``; ``||z||^2`` does not change the argmin): one
``addmm`` into a reused buffer of at most ``max_distance_bytes`` per intra-op thread (8 MiB by
default), then ``min`` over it (several times faster than ``argmin``); codebooks too wide for
256 full rows per thread are split into column blocks whose minima are merged (earliest index on
ties, as ``argmin``). Memory stays bounded at 16k+ codes and any number of tokens, and the search
runs at a large fraction of the CPU's GEMM peak (``benchmarks/quantizers.py`` reports it).

Every statistic that changes the codebook (EMA sums and cluster sizes, k-means sums, the data
vectors used for k-means seeds and dead-code restarts) is identical on all ranks: sums are
all-reduced and sampled vectors come from rank 0, so codebooks never diverge under DDP.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from zoo.layers import prepacked
from zoo.outputs import QuantizerOutput
from zoo.quantizers._utils import (
    all_reduce_sum,
    check_bool,
    check_dim,
    check_int,
    check_number,
    is_distributed,
    rotation_trick,
)
from zoo.quantizers.base import Quantizer, register_quantizer

#: Largest codebook (entries x width) allocated: 2**30 values, 4 GiB in float32.
MAX_CODEBOOK_ELEMENTS = 1 << 30
#: Laplace smoothing of EMA cluster sizes (Razavi et al. 2019): keeps never-used codes finite.
_LAPLACE_EPS = 1e-5
#: Decay of the cluster-size EMA that drives dead-code restarts when the codebook is learned
#: (with an EMA codebook the cluster sizes are the EMA's own, decayed by ``ema``).
_LEARNED_USAGE_DECAY = 0.99
#: Parametrisations of the factorized-code projections ``project_in`` / ``project_out``.
PROJECTION_NORMS = ("none", "weight_norm")
#: Fewest tokens per distance block and thread before wide codebooks are split into column
#: blocks: fewer rows would make each block's GEMM stream the whole codebook for too little work.
_MIN_BLOCK_ROWS = 256


def _distance_blocks(n: int, k: int, budget: int, min_rows: int) -> tuple[int, int]:
    """``(rows, cols)`` of the blocks of an ``(n, k)`` distance matrix of at most ``budget``
    elements (at least one): whole codebook rows while ``min_rows`` of them (or all ``n``) fit,
    else ``min_rows`` (at most ``n`` and ``budget``) rows of ``budget // rows`` columns."""
    budget = max(1, budget)
    rows = budget // k
    if rows >= min(n, min_rows):
        return max(1, rows), k
    rows = max(1, min(n, min_rows, budget))
    return rows, max(1, budget // rows)


#: The oneDNN product of one distance block (a name of its own so tests can watch the blocks).
_onednn_scores = prepacked.packed_linear


@register_quantizer("vq")
class VQ(Quantizer):
    """Vector quantization with one codebook (codes ``(..., 1)`` in ``[0, codebook_size)``).

    The input ``z`` is ``(..., dim)`` float (channels last, any range). It is projected to
    ``codebook_dim`` channels (identity when equal to ``dim``), l2-normalised when
    ``distance="cosine"``, matched to its nearest codeword, and the codeword is projected back to
    ``dim``. With ``distance="cosine"`` the quantized output (before ``project_out``) is the
    *unit-norm* codeword, not a rescaled copy of ``z``: decode gives the same vectors; with
    ``raw_codeword=True`` it is the stored codeword itself (DAC).

    Args:
        dim: input width.
        codebook_size: number of codewords, >= 2.
        codebook_dim: width of the lookup space; when it differs from ``dim`` (factorized codes),
            linear projections ``dim -> codebook_dim`` and ``codebook_dim -> dim`` wrap the lookup.
        distance: ``"l2"`` (Euclidean nearest neighbour) or ``"cosine"`` (inputs and codewords
            l2-normalised; the quantized vectors lie on the unit sphere of the lookup space).
        ema: decay in (0, 1) of the EMA codebook update (Razavi et al.); ``None`` learns the
            codebook by gradient through the codebook loss ``||sg(z) - q||^2``.
        kmeans_init: initialise the codebook by k-means on the first training batch.
        kmeans_iters: Lloyd iterations of that k-means.
        dead_code_threshold: codes whose EMA cluster size (expected assignments per batch) falls
            below this are replaced by random vectors of the current training batch; 0 disables.
        commitment_weight: weight of the commitment loss ``||z - sg(q)||^2`` (mean over elements).
        rotation_trick: backpropagate with the rotation trick (Fifty et al.) instead of the
            straight-through estimator. The forward value is the codeword either way.
        simvq: SimVQ reparameterisation: a frozen random codebook ``C`` (buffer ``codebook``) and a
            learned ``W`` (``codebook_transform``, no bias, initialised to the identity); the
            effective codebook is ``C W``. Needs ``ema=None``; no k-means init or dead-code restart.
        raw_codeword: with ``distance="cosine"`` only: the nearest codeword is still found by
            cosine similarity (both sides l2-normalised), but the quantized output and ``decode``
            give the stored, un-normalised codeword, and the commitment / codebook losses and the
            straight-through (or rotation-trick) gradient use the un-normalised projection
            ``project_in(z)``, as DAC does (Kumar et al. 2023): the codewords' norms carry
            information. Needs a learned codebook (``ema=None``, no ``kmeans_init``), since EMA
            and spherical k-means produce unit-norm centroids.
        projection_norm: ``"none"`` (plain ``nn.Linear``) or ``"weight_norm"``
            (``torch.nn.utils.parametrizations.weight_norm`` over each output row, as DAC's
            weight-normed 1x1 convolutions) for ``project_in`` / ``project_out``; only with
            factorized codes (``codebook_dim != dim``).

    State (buffers round-trip through ``state_dict``): ``codebook`` (a parameter when learned),
    ``cluster_size`` (EMA of assignments per batch), ``embed_sum`` (EMA codebook only),
    ``initted`` (k-means done; only with ``kmeans_init``).

    Statistics, k-means and restarts run only in training-mode ``forward``; ``encode`` and
    eval-mode ``forward`` never change the state, and in eval mode
    ``decode(encode(z)) == forward(z).quantized`` exactly.
    """

    example_kwargs = {"dim": 8, "codebook_size": 16}

    #: Largest block of the (tokens x codebook_size) float32 distance matrix built at once, in
    #: bytes per intra-op thread (``torch.get_num_threads()`` on CPU). On one thread, blocks of
    #: 2-8 MiB keep the search near the GEMM rate; with several threads each block costs two
    #: synchronised parallel regions (GEMM, min), which stall when other processes hold the
    #: cores, so blocks should not be much smaller. A runtime knob (not a constructor argument):
    #: the codes never depend on it beyond float ties.
    max_distance_bytes: int = 8 * 2**20

    def __init__(
        self,
        *,
        dim: int,
        codebook_size: int,
        codebook_dim: int | None = None,
        distance: str = "l2",
        ema: float | None = None,
        kmeans_init: bool = False,
        kmeans_iters: int = 10,
        dead_code_threshold: float = 0.0,
        commitment_weight: float = 0.25,
        rotation_trick: bool = False,
        simvq: bool = False,
        raw_codeword: bool = False,
        projection_norm: str = "none",
    ) -> None:
        super().__init__()
        self.dim = check_dim("VQ", dim)
        self.codebook_size = check_int("VQ", "codebook_size", codebook_size, low=2)
        self.codebook_dim = (
            self.dim if codebook_dim is None else check_int("VQ", "codebook_dim", codebook_dim)
        )
        if self.codebook_size * self.codebook_dim > MAX_CODEBOOK_ELEMENTS:
            raise ValueError(
                f"VQ: a codebook of {self.codebook_size} x {self.codebook_dim} values exceeds "
                f"{MAX_CODEBOOK_ELEMENTS} (4 GiB in float32); use a smaller codebook_size or "
                "codebook_dim, a residual / grouped VQ, or an implicit codebook (fsq, lfq, bsq)"
            )
        self.num_codebooks = 1
        if distance not in ("l2", "cosine"):
            raise ValueError(f"VQ: distance must be 'l2' or 'cosine', got {distance!r}")
        self.distance = distance
        if ema is not None and (
            isinstance(ema, bool) or not isinstance(ema, (int, float)) or not 0.0 < ema < 1.0
        ):
            raise ValueError(f"VQ: ema must be a decay in (0, 1) or None, got ema={ema!r}")
        self.ema = None if ema is None else float(ema)
        self.kmeans_init = check_bool("VQ", "kmeans_init", kmeans_init)
        self.kmeans_iters = check_int("VQ", "kmeans_iters", kmeans_iters)
        self.dead_code_threshold = check_number(
            "VQ", "dead_code_threshold", dead_code_threshold, low=0.0
        )
        self.commitment_weight = check_number("VQ", "commitment_weight", commitment_weight, low=0.0)
        self.rotation_trick = check_bool("VQ", "rotation_trick", rotation_trick)
        self.simvq = check_bool("VQ", "simvq", simvq)
        if self.simvq:
            clashes = [
                name
                for name, on in (
                    ("ema", self.ema is not None),
                    ("kmeans_init", self.kmeans_init),
                    ("dead_code_threshold > 0", self.dead_code_threshold > 0),
                )
                if on
            ]
            if clashes:
                raise ValueError(
                    f"VQ: simvq=True keeps its codebook frozen and learns only W, so it cannot be "
                    f"combined with {', '.join(clashes)}; got ema={ema!r}, "
                    f"kmeans_init={kmeans_init}, dead_code_threshold={dead_code_threshold}"
                )

        self.raw_codeword = check_bool("VQ", "raw_codeword", raw_codeword)
        if self.raw_codeword:
            if self.distance != "cosine":
                raise ValueError(
                    "VQ: raw_codeword=True only changes cosine-distance VQ (with distance='l2' "
                    f"the stored codeword is always what is decoded); got distance={distance!r}"
                )
            if self.ema is not None or self.kmeans_init:
                raise ValueError(
                    "VQ: raw_codeword=True decodes the stored codeword, whose norm is learned by "
                    "the codebook loss; EMA updates and spherical k-means would make every "
                    f"codeword unit-norm. Use ema=None, kmeans_init=False (got ema={ema!r}, "
                    f"kmeans_init={kmeans_init})"
                )

        k, d = self.codebook_size, self.codebook_dim
        needs_proj = d != self.dim
        if projection_norm not in PROJECTION_NORMS:
            raise ValueError(
                f"VQ: projection_norm must be one of {PROJECTION_NORMS}, got {projection_norm!r}"
            )
        if projection_norm != "none" and not needs_proj:
            raise ValueError(
                f"VQ: projection_norm={projection_norm!r} normalises the factorized-code "
                f"projections, which exist only when codebook_dim != dim (both are {self.dim})"
            )
        self.projection_norm = projection_norm
        self.project_in = self._projection(self.dim, d) if needs_proj else nn.Identity()
        self.project_out = self._projection(d, self.dim) if needs_proj else nn.Identity()

        # Unit-variance init matches typical (normalised) encoder outputs; a tiny init such as
        # U(-1/K, 1/K) puts every code near the origin and invites collapse.
        codebook = torch.randn(k, d)
        if self.learned_codebook:
            self.codebook = nn.Parameter(codebook)
        else:
            self.register_buffer("codebook", codebook)
        if self.ema is not None:
            # embed_sum / cluster_size == codebook from the start, so untouched codes stay put.
            self.register_buffer("embed_sum", codebook.clone())
        # Ones: every code starts as if it had been hit once (no restart before real statistics).
        self.register_buffer("cluster_size", torch.ones(k))
        if self.kmeans_init:
            self.register_buffer("initted", torch.tensor(False))
        if self.simvq:
            self.codebook_transform = nn.Linear(d, d, bias=False)
            with torch.no_grad():
                self.codebook_transform.weight.copy_(torch.eye(d))

    def _projection(self, cin: int, cout: int) -> nn.Module:
        linear = nn.Linear(cin, cout)
        # dim=0: one magnitude per output row, like weight_norm on a 1x1 Conv1d.
        return weight_norm(linear) if self.projection_norm == "weight_norm" else linear

    @property
    def learned_codebook(self) -> bool:
        """True when ``codebook`` is an ``nn.Parameter`` trained by the codebook loss."""
        return self.ema is None and not self.simvq

    def extra_repr(self) -> str:
        parts = [super().extra_repr(), f"codebook_dim={self.codebook_dim}"]
        parts.append(f"distance={self.distance!r}, ema={self.ema}")
        if self.kmeans_init:
            parts.append(f"kmeans_init=True, kmeans_iters={self.kmeans_iters}")
        if self.dead_code_threshold > 0:
            parts.append(f"dead_code_threshold={self.dead_code_threshold:g}")
        if self.rotation_trick:
            parts.append("rotation_trick=True")
        if self.simvq:
            parts.append("simvq=True")
        if self.raw_codeword:
            parts.append("raw_codeword=True")
        if self.projection_norm != "none":
            parts.append(f"projection_norm={self.projection_norm!r}")
        return ", ".join(parts)

    # ------------------------------------------------------------------ lookup
    def _to_lookup_space(self, z: Tensor) -> Tensor:
        """``(b, n, dim)`` -> ``(b, n, codebook_dim)`` (unit norm for cosine distance)."""
        h = self.project_in(z)
        return F.normalize(h, dim=-1) if self.distance == "cosine" else h

    def _stored_codebook(self) -> Tensor:
        """``(codebook_size, codebook_dim)`` float32 codewords before any normalisation."""
        cb = self.codebook.float()
        return self.codebook_transform(cb) if self.simvq else cb

    def _effective_codebook(self, stored: Tensor | None = None) -> Tensor:
        """``(codebook_size, codebook_dim)`` float32 codewords as used by the lookup (and, unless
        ``raw_codeword``, by decode); ``stored`` is :meth:`_stored_codebook` if already computed."""
        cb = self._stored_codebook() if stored is None else stored
        return F.normalize(cb, dim=-1) if self.distance == "cosine" else cb

    def _output_codebook(self) -> Tensor:
        """The codewords that ``decode`` returns (before ``project_out``)."""
        return self._stored_codebook() if self.raw_codeword else self._effective_codebook()

    @torch.no_grad()
    def _nearest(self, x: Tensor, codebook: Tensor) -> Tensor:
        """Index of the nearest codeword for each row of ``x`` (``(N, d)``): int64 ``(N,)``.

        ``||x||^2`` is constant per row and does not change the argmin, so each block is one
        product with a fused bias, ``x E^T - ||E||^2 / 2``, followed by ``max``; for cosine
        distance both sides have unit norm and the nearest codeword maximises ``x E^T``. The
        product is oneDNN's (:mod:`zoo.layers.prepacked`) on CPU float32, else ``addmm`` /
        ``mm`` into a reused buffer. Blocks are :func:`_distance_blocks`; ties go to the lowest
        index, as ``argmin``.
        """
        n, k = x.shape[0], codebook.shape[0]
        threads = torch.get_num_threads() if x.device.type == "cpu" else 1
        budget = self.max_distance_bytes * threads // x.element_size()
        rows, cols = _distance_blocks(n, k, budget, min_rows=_MIN_BLOCK_ROWS * threads)
        # Scores to maximise: x E^T - ||E||^2 / 2 for l2 (-1/2 times the distance, exactly: a
        # power of two), x E^T for cosine.
        bias = codebook.pow(2).sum(-1).mul_(-0.5) if self.distance == "l2" else None
        if prepacked.runs_on(x, codebook, dims=2):
            # oneDNN's GEMM with the bias fused (on this project's AMD CPU twice MKL's, which
            # torch.addmm calls: MKL takes its AVX2 path there), each block packed once a call.
            packed = {c0: prepacked.pack_linear(codebook[c0 : c0 + cols], min(rows, n))
                      for c0 in range(0, k, cols)}  # fmt: skip

            def scores(chunk: Tensor, c0: int, w: int, block: Tensor) -> Tensor:
                b = None if bias is None else bias[c0 : c0 + w]
                return _onednn_scores(chunk, packed[c0], b)

        else:
            cb_t = codebook.t()

            def scores(chunk: Tensor, c0: int, w: int, block: Tensor) -> Tensor:
                if bias is None:
                    return torch.mm(chunk, cb_t[:, c0 : c0 + w], out=block)
                return torch.addmm(bias[c0 : c0 + w], chunk, cb_t[:, c0 : c0 + w], out=block)

        out = torch.empty(n, dtype=torch.long, device=x.device)
        best = x.new_empty(min(rows, n))
        buf = x.new_empty(min(rows, n) * min(cols, k))
        for r0 in range(0, n, rows):
            chunk = x[r0 : r0 + rows]
            m = chunk.shape[0]
            for c0 in range(0, k, cols):
                w = min(cols, k - c0)
                block = scores(chunk, c0, w, buf[: m * w].view(m, w))
                if c0 == 0:
                    torch.max(block, 1, out=(best[:m], out[r0 : r0 + m]))
                    continue
                value, index = block.max(1)
                better = value > best[:m]
                best[:m] = torch.where(better, value, best[:m])
                out[r0 : r0 + m] = torch.where(better, index + c0, out[r0 : r0 + m])
        return out

    # ------------------------------------------------------------------ hooks
    def _forward(self, z: Tensor) -> QuantizerOutput:
        b, n, _ = z.shape
        if self.raw_codeword:
            # Search on the unit sphere; values, losses and gradients in the raw space (DAC).
            y = self.project_in(z).reshape(b * n, self.codebook_dim)
            x = F.normalize(y, dim=-1)
        else:
            x = y = self._to_lookup_space(z).reshape(b * n, self.codebook_dim)
        metrics: dict[str, Tensor] = {}
        # Codebook surgery happens before the codebook enters this step's autograd graph.
        if self.training:
            if self.kmeans_init and not bool(self.initted):
                self._kmeans_init_(x.detach())
            if self.dead_code_threshold > 0:
                metrics["restarted"] = self._restart_dead_codes_(y.detach())
        elif self.dead_code_threshold > 0:
            metrics["restarted"] = z.new_zeros(())

        stored = self._stored_codebook()
        codebook = self._effective_codebook(stored)
        idx = self._nearest(x.detach(), codebook.detach())
        q = F.embedding(idx, stored if self.raw_codeword else codebook)

        commitment = F.mse_loss(y, q.detach())
        loss = self.commitment_weight * commitment
        metrics["commitment"] = commitment
        if self.ema is None:  # learned codebook or SimVQ's W
            codebook_loss = F.mse_loss(y.detach(), q)
            loss = loss + codebook_loss
            metrics["codebook"] = codebook_loss

        # Value exactly q (so eval forward == decode(encode)); gradient straight-through or
        # rotated (rotation_trick returns q itself with its own backward).
        if self.rotation_trick:
            out = rotation_trick(y, q)
        else:
            out = q.detach() + (y - y.detach())

        if self.training:
            self._update_statistics_(y.detach(), idx)

        codes = idx.view(b, n, 1)
        return QuantizerOutput(
            quantized=self.project_out(out.view(b, n, self.codebook_dim)),
            codes=codes,
            loss=loss,
            metrics=metrics,
        )

    def _encode(self, z: Tensor) -> Tensor:
        b, n, _ = z.shape
        x = self._to_lookup_space(z).reshape(b * n, self.codebook_dim)
        return self._nearest(x, self._effective_codebook()).view(b, n, 1)

    def _decode(self, codes: Tensor) -> Tensor:
        return self.project_out(F.embedding(codes[..., 0], self._output_codebook()))

    # ------------------------------------------------------------------ state updates
    def _sample_rows(self, x: Tensor, num: int) -> Tensor:
        """``num`` rows of ``x`` drawn on rank 0 (distinct if possible), identical on all ranks."""
        if x.shape[0] >= num:
            pick = torch.randperm(x.shape[0], device=x.device)[:num]
        else:
            pick = torch.randint(x.shape[0], (num,), device=x.device)
        rows = x[pick]
        if is_distributed() and dist.get_rank() != 0:
            rows.zero_()
        # A sum where only rank 0 contributes is a broadcast with the one collective we use.
        return all_reduce_sum(rows)

    @torch.no_grad()
    def _kmeans_init_(self, x: Tensor) -> None:
        """Lloyd's k-means on ``x`` (``(N, codebook_dim)``), sums all-reduced over ranks."""
        k = self.codebook_size
        centers = self._sample_rows(x, k)
        counts = torch.ones(k, device=x.device)
        for _ in range(self.kmeans_iters):
            idx = self._nearest(x, centers)
            sums = all_reduce_sum(x.new_zeros(k, x.shape[1]).index_add_(0, idx, x))
            counts = all_reduce_sum(torch.bincount(idx, minlength=k).to(x.dtype))
            means = sums / counts.clamp_min(1.0)[:, None]
            if self.distance == "cosine":  # spherical k-means
                means = F.normalize(means, dim=-1)
            # Empty clusters keep their seed (a data vector) rather than collapsing to 0.
            centers = torch.where(counts[:, None] > 0, means, centers)
        self.codebook.copy_(centers)
        # Empty clusters count as one hit, like a fresh code, so the EMA ratio stays finite.
        self.cluster_size.copy_(counts.clamp_min(1.0))
        if self.ema is not None:
            self.embed_sum.copy_(centers * self.cluster_size[:, None])
        self.initted.fill_(True)

    @torch.no_grad()
    def _restart_dead_codes_(self, x: Tensor) -> Tensor:
        """Replace codes with ``cluster_size < dead_code_threshold`` by rows of ``x``.

        ``cluster_size`` is all-reduced, so every rank sees the same dead set and takes the
        same branch (no collective is skipped on one rank only). Returns the number replaced.
        """
        dead = (self.cluster_size < self.dead_code_threshold).nonzero().squeeze(1)
        num = int(dead.numel())
        if num:
            samples = self._sample_rows(x, num)
            self.codebook.index_copy_(0, dead, samples.to(self.codebook.dtype))
            # A restarted code survives the next check only if it keeps being assigned.
            self.cluster_size.index_fill_(0, dead, self.dead_code_threshold)
            if self.ema is not None:
                self.embed_sum.index_copy_(0, dead, samples * self.dead_code_threshold)
        return torch.tensor(float(num), device=x.device)

    @torch.no_grad()
    def _update_statistics_(self, x: Tensor, idx: Tensor) -> None:
        """Cluster-size EMA (all codebooks) and the EMA codebook update (``ema`` set)."""
        k = self.codebook_size
        counts = all_reduce_sum(torch.bincount(idx, minlength=k).to(self.cluster_size.dtype))
        decay = self.ema if self.ema is not None else _LEARNED_USAGE_DECAY
        self.cluster_size.mul_(decay).add_(counts, alpha=1.0 - decay)
        if self.ema is None:
            return
        sums = all_reduce_sum(x.new_zeros(k, x.shape[1]).index_add_(0, idx, x))
        self.embed_sum.mul_(decay).add_(sums.to(self.embed_sum.dtype), alpha=1.0 - decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + _LAPLACE_EPS) / (total + k * _LAPLACE_EPS) * total
        new = self.embed_sum / smoothed[:, None]
        if self.distance == "cosine":
            new = F.normalize(new, dim=-1)
        self.codebook.copy_(new)
