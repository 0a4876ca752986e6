"""DimwiseQuantizer (TokenBridge post-training quantizer): bin tables, rate-distortion, fitting.

The references are computed independently with scipy (truncated-normal quantiles, numeric
integration), never with the module's own tables.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from zoo.quantizers import collect_metrics, create_quantizer
from zoo.quantizers.dimwise import DimwiseQuantizer, gaussian_bin_tables

RANGE = 5.0


def reference_tables(bits: int, a: float = RANGE) -> tuple[np.ndarray, np.ndarray]:
    """Equal-mass edges and conditional-mean centroids of N(0, 1) truncated to [-a, a]."""
    n = 2**bits
    edges = stats.truncnorm.ppf(np.linspace(0, 1, n + 1), -a, a)
    edges[0], edges[-1] = -a, a
    mass = (stats.norm.cdf(a) - stats.norm.cdf(-a)) / n
    centroids = np.array(
        [
            integrate.quad(lambda x: x * stats.norm.pdf(x), edges[i], edges[i + 1])[0] / mass
            for i in range(n)
        ]
    )
    return edges, centroids


def theoretical_mse(bits: int, a: float = RANGE) -> float:
    """E[(x - Q(x))^2] for x ~ N(0, 1) (not truncated: the outer bins take the tails)."""
    edges, centroids = reference_tables(bits, a)
    edges[0], edges[-1] = -np.inf, np.inf
    return sum(
        integrate.quad(lambda x, c=c: (x - c) ** 2 * stats.norm.pdf(x), lo, hi)[0]
        for lo, hi, c in zip(edges[:-1], edges[1:], centroids, strict=True)
    )


@pytest.mark.parametrize("bits", [1, 3, 6])
@pytest.mark.parametrize("a", [3.0, RANGE])
def test_bin_tables_match_scipy_truncated_normal(bits, a):
    edges, centroids = gaussian_bin_tables(bits, a)
    ref_edges, ref_centroids = reference_tables(bits, a)
    assert edges.dtype == centroids.dtype == torch.float64
    np.testing.assert_allclose(edges.numpy(), ref_edges, rtol=0, atol=1e-9)
    np.testing.assert_allclose(centroids.numpy(), ref_centroids, rtol=0, atol=1e-9)
    # Equal probability mass per bin, centroids strictly inside their bins.
    mass = np.diff(stats.truncnorm.cdf(edges.numpy(), -a, a))
    np.testing.assert_allclose(mass, 1 / 2**bits, atol=1e-12)
    assert ((centroids > edges[:-1]) & (centroids < edges[1:])).all()


def test_bin_tables_stay_ordered_at_16_bits():
    edges, centroids = gaussian_bin_tables(16, RANGE)
    assert (edges.diff() > 0).all()
    assert ((centroids > edges[:-1]) & (centroids < edges[1:])).all()
    assert torch.equal(centroids, -centroids.flip(0))


def gaussian(n: int, dim: int, seed: int) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def measured_mse() -> dict[int, float]:
    """MSE per bit width on 1M standard-normal values, fitted on another 1M."""
    fit_data, test_data = gaussian(125_000, 8, seed=0), gaussian(125_000, 8, seed=1)
    out = {}
    for bits in (4, 5, 6):
        q = DimwiseQuantizer(dim=8, bits=bits).fit(fit_data).eval()
        out[bits] = float((q.decode(q.encode(test_data)) - test_data).square().mean())
    return out


@pytest.mark.parametrize("bits", [4, 5, 6])
def test_mse_on_gaussian_data_matches_theory(measured_mse, bits):
    theory = theoretical_mse(bits)
    assert measured_mse[bits] == pytest.approx(theory, rel=0.05)


def test_mse_falls_per_bit_as_theory_predicts(measured_mse):
    # Equal-mass bins spend as many codes on the tails as on the centre, so the error falls by
    # only ~2.3-2.5x per extra bit here (the 4x of uniform/optimal quantizers is the high-rate
    # limit, far beyond 6 bits with a 5-sigma range). Check the measured ratio against theory.
    for bits in (4, 5):
        measured = measured_mse[bits] / measured_mse[bits + 1]
        theory = theoretical_mse(bits) / theoretical_mse(bits + 1)
        assert 2.0 < theory < 3.0
        assert measured == pytest.approx(theory, rel=0.05)


def test_per_dimension_statistics_and_scaling():
    mean = torch.tensor([-3.0, 0.0, 10.0, 100.0])
    std = torch.tensor([0.1, 1.0, 5.0, 0.01])
    bits = 4
    q = DimwiseQuantizer(dim=4, bits=bits).fit(mean + std * gaussian(200_000, 4, seed=2)).eval()
    torch.testing.assert_close(q.mean, mean, rtol=0, atol=float(std.max()) * 0.02)
    torch.testing.assert_close(q.std, std, rtol=0.01, atol=0)
    z = mean + std * gaussian(200_000, 4, seed=3)
    codes = q.encode(z)
    # Equal-mass bins: every code of every dimension is (nearly) equally frequent.
    freq = torch.stack([torch.bincount(codes[:, d], minlength=2**bits) for d in range(4)]).float()
    freq = freq / codes.shape[0]
    torch.testing.assert_close(freq, torch.full_like(freq, 2**-bits), rtol=0.05, atol=0)
    # Error relative to each dimension's variance matches the standard-normal theory.
    normalised_mse = ((q.decode(codes) - z) / std).square().mean(0)
    theory = theoretical_mse(bits)
    for d in range(4):
        assert float(normalised_mse[d]) == pytest.approx(theory, rel=0.05), d


def test_codes_are_monotone_and_out_of_range_values_use_the_outer_bins():
    q = DimwiseQuantizer(dim=1, bits=3).fit(gaussian(10_000, 1, seed=4)).eval()
    z = torch.linspace(-20, 20, 1001).unsqueeze(-1)
    codes = q.encode(z)[:, 0]
    assert (codes.diff() >= 0).all()
    assert int(codes[0]) == 0 and int(codes[-1]) == 7
    assert torch.equal(codes.unique(), torch.arange(8))
    z = torch.tensor([[-100.0], [0.0], [100.0]])
    assert "clipped_fraction" not in q(z).metrics  # a logging statistic: only when asked
    with collect_metrics():
        out = q(z)
    assert float(out.metrics["clipped_fraction"]) == pytest.approx(2 / 3)


def test_forward_is_straight_through_and_matches_decode():
    q = DimwiseQuantizer(dim=6, bits=5).fit(3 + 2 * gaussian(4_000, 6, seed=5))
    z = (3 + 2 * gaussian(64, 6, seed=6)).view(4, 16, 6).requires_grad_(True)
    for mode in (True, False):
        q.train(mode)
        out = q(z)
        assert torch.equal(out.quantized, q.decode(q.encode(z)))
        assert torch.equal(out.codes, q.encode(z))
        assert float(out.loss) == 0.0
    z.grad = None
    q(z).quantized.mul(torch.arange(6.0)).sum().backward()
    assert torch.equal(z.grad, torch.arange(6.0).expand(4, 16, 6))


def test_streaming_fit_equals_single_fit():
    data = 1.5 + 0.5 * gaussian(3_000, 5, seed=7)
    single = DimwiseQuantizer(dim=5).fit(data)
    streamed = DimwiseQuantizer(dim=5)
    for chunk in data.view(3, 1_000, 5):
        streamed.update(chunk.view(10, 100, 5))
    streamed.finalize()
    torch.testing.assert_close(streamed.mean, single.mean, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(streamed.std, single.std, rtol=1e-6, atol=1e-7)
    assert int(streamed.num_samples) == int(single.num_samples) == 3_000
    torch.testing.assert_close(single.mean, data.mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(single.std, data.std(0, unbiased=False), rtol=1e-5, atol=1e-6)
    # fit() starts over instead of adding to earlier batches.
    single.fit(data[:100])
    assert int(single.num_samples) == 100


def test_constant_dimension_does_not_produce_nan():
    data = gaussian(1_000, 2, seed=8)
    data[:, 1] = 4.0
    q = DimwiseQuantizer(dim=2, bits=2).fit(data).eval()
    out = q(data[:10])
    assert torch.isfinite(out.quantized).all()
    assert torch.equal(out.quantized[:, 1], torch.full((10,), 4.0))


def test_unfitted_use_raises_a_clear_error():
    q = create_quantizer("dimwise", dim=3)
    assert q.requires_fit and not q.is_fitted
    z = torch.randn(2, 3)
    for call in (lambda: q(z), lambda: q.encode(z), lambda: q.decode(torch.zeros(2, 3).long())):
        with pytest.raises(RuntimeError, match=r"DimwiseQuantizer.*not fitted.*fit\(latents\)"):
            call()
    with pytest.raises(RuntimeError, match=r"DimwiseQuantizer.*no latents"):
        q.finalize()
    with pytest.raises(ValueError, match=r"DimwiseQuantizer.*\(\.\.\., 3\)"):
        q.fit(torch.randn(10, 4))


def test_state_dict_round_trip_restores_the_fit():
    q = DimwiseQuantizer(dim=3, bits=4).fit(gaussian(500, 3, seed=9) * 2 - 1).eval()
    state = q.state_dict()
    assert set(state) == {"mean", "std", "num_samples"}
    fresh = DimwiseQuantizer(dim=3, bits=4).eval()
    fresh.load_state_dict(state)
    assert fresh.is_fitted
    z = gaussian(20, 3, seed=10)
    assert torch.equal(fresh(z).quantized, q(z).quantized)
    # Loading an unfitted state makes the module unfitted again.
    fresh.load_state_dict(DimwiseQuantizer(dim=3, bits=4).state_dict())
    assert not fresh.is_fitted


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dim": 0}, "dim must be >= 1"),
        ({"dim": 2, "bits": 0}, r"bits must be in \[1, 16\]"),
        ({"dim": 2, "bits": 17}, r"bits must be in \[1, 16\]"),
        ({"dim": 2, "range_sigma": 0.0}, "range_sigma must be > 0"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=f"DimwiseQuantizer: {match}"):
        DimwiseQuantizer(**kwargs)


_WORKER = textwrap.dedent(
    """
    import sys, torch, torch.distributed as dist
    from zoo.quantizers.dimwise import DimwiseQuantizer
    rank, init_file, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    data = torch.load(out + ".data", weights_only=True)
    shard = data[:100] if rank == 0 else data[100:]   # unequal shards
    q = DimwiseQuantizer(dim=data.shape[-1]).fit(shard)
    torch.save({"mean": q.mean, "std": q.std, "n": q.num_samples}, f"{out}.{rank}")
    dist.destroy_process_group()
    """
)


def test_fit_all_reduces_over_ranks(tmp_path: Path):
    data = 2 + 3 * gaussian(700, 4, seed=11)
    out = str(tmp_path / "result")
    torch.save(data, out + ".data")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(rank), str(tmp_path / "init"), out],
            env=env,
            stderr=subprocess.PIPE,
        )
        for rank in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    full = DimwiseQuantizer(dim=4).fit(data)
    for rank in range(2):
        got = torch.load(f"{out}.{rank}", weights_only=True)
        torch.testing.assert_close(got["mean"], full.mean, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(got["std"], full.std, rtol=1e-6, atol=1e-6)
        assert int(got["n"]) == 700
