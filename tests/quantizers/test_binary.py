"""Binary quantizers (``lfq``, ``bsq``) and their shared machinery in ``zoo.quantizers._binary``.

Reference values come from brute-force enumeration of ``p(c|x) = softmax_c(2 x·c / T)`` over all
``2**d`` codes (float64, small d), independent of the bit factorisation the library uses, and
from vector-quantize-pytorch's ``LFQ`` (the pip-installable reference).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.multiprocessing as mp
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.profiler import ProfilerActivity, profile
from vector_quantize_pytorch import LFQ as ReferenceLFQ

from zoo.quantizers import _binary, collect_metrics, create_quantizer
from zoo.quantizers._binary import (
    codebook_entropy,
    default_group_size,
    mean_group_probs,
    pack_bits,
    per_sample_entropy,
    regroup_codes,
    unpack_bits,
)

# ---------------------------------------------------------------------------- brute force


def all_codes(d: int, level: float) -> torch.Tensor:
    """Every codebook vector ``{-level, level}^d`` as float64 ``(2**d, d)``, MSB-first order."""
    bits = [[(c >> (d - 1 - j)) & 1 for j in range(d)] for c in range(1 << d)]
    return (torch.tensor(bits, dtype=torch.float64) * 2 - 1) * level


def brute_probs(x: torch.Tensor, level: float, temperature: float) -> torch.Tensor:
    """``(N, 2**d)``: the softmax over all codes, straight from the definition."""
    return torch.softmax(2 * x @ all_codes(x.shape[-1], level).T / temperature, dim=-1)


def h(p: torch.Tensor) -> torch.Tensor:
    return -(p * p.log()).sum(-1)


def brute_entropies(x, level, temperature, group_size=None):
    """Per-sample entropy (token mean) and codebook entropy (summed over groups of bits, the
    marginals of the full softmax); ``group_size=None`` means one group of all bits."""
    d = x.shape[-1]
    k = d if group_size is None else group_size
    p = brute_probs(x.reshape(-1, d), level, temperature)
    mean_p = p.mean(0)
    code_bits = all_codes(d, 1.0) > 0
    sub_codes = pack_bits(code_bits, k, "msb")  # (2**d, G): each code's sub-code per group
    codebook = sum(
        h(torch.zeros(1 << k, dtype=p.dtype).index_add(0, sub_codes[:, g], mean_p))
        for g in range(d // k)
    )
    return h(p).mean(), codebook


def sample(*shape, scale=1.0, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)


# ---------------------------------------------------------------------------- bit packing


@pytest.mark.parametrize(("dim", "expected"), [(18, 9), (14, 14), (128, 16), (6, 6), (17, 1)])
def test_default_group_size(dim, expected):
    assert default_group_size(dim) == expected
    assert create_quantizer("lfq", dim=dim).group_size == expected


@settings(max_examples=60, deadline=None)
@given(
    group_size=st.integers(1, 20),
    groups=st.integers(1, 4),
    bit_order=st.sampled_from(["msb", "lsb"]),
    seed=st.integers(0, 2**16),
)
def test_pack_unpack_round_trip(group_size, groups, bit_order, seed):
    g = torch.Generator().manual_seed(seed)
    bits = torch.rand(3, group_size * groups, generator=g) > 0.5
    codes = pack_bits(bits, group_size, bit_order)
    assert codes.shape == (3, groups) and codes.dtype == torch.int64
    assert int(codes.min()) >= 0 and int(codes.max()) < 2**group_size
    assert torch.equal(unpack_bits(codes, group_size, bit_order), bits)
    assert torch.equal(
        pack_bits(unpack_bits(codes, group_size, bit_order), group_size, bit_order), codes
    )


@settings(max_examples=40, deadline=None)
@given(
    split=st.sampled_from([(9, 18), (3, 6), (2, 8), (16, 32)]),
    bit_order=st.sampled_from(["msb", "lsb"]),
    seed=st.integers(0, 2**16),
)
def test_regroup_codes_round_trip(split, bit_order, seed):
    small, large = split
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 2**small, (5, 2 * large // small), generator=g)
    merged = regroup_codes(codes, from_group_size=small, to_group_size=large, bit_order=bit_order)
    assert merged.shape == (5, 2)
    back = regroup_codes(merged, from_group_size=large, to_group_size=small, bit_order=bit_order)
    assert torch.equal(back, codes)
    # MSB-first concatenation: the first group is the high part; LSB-first: the low part.
    per = large // small
    hi, lo = (
        (codes[:, 0], codes[:, per - 1]) if bit_order == "msb" else (codes[:, per - 1], codes[:, 0])
    )
    assert torch.equal(merged[:, 0] >> (large - small), hi)
    assert torch.equal(merged[:, 0] & (2**small - 1), lo)


@pytest.mark.parametrize("name", ["lfq", "bsq"])
@pytest.mark.parametrize(("bit_order", "expected"), [("msb", [4, 3]), ("lsb", [1, 6])])
def test_bit_order_against_hand_computed_indices(name, bit_order, expected):
    q = create_quantizer(name, dim=6, group_size=3, bit_order=bit_order).eval()
    # signs (+, -, -) and (-, +, +): msb 0b100 = 4, 0b011 = 3; lsb 1 and 2 + 4 = 6.
    z = torch.tensor([[0.5, -1.0, -0.1, -2.0, 0.3, 1.5]])
    assert q.encode(z).tolist() == [expected]
    assert q(z).codes.tolist() == [expected]
    decoded = q.decode(torch.tensor([expected]))
    assert torch.equal(decoded > 0, z > 0)
    # zero is mapped to the negative level (bit 0).
    assert q.encode(torch.zeros(1, 6)).tolist() == [[0, 0]]


def test_code_grouping_reports_per_group_indices():
    q = create_quantizer("lfq", dim=8, group_size=4).eval()
    assert (q.num_codebooks, q.codebook_size, q.bits_per_token) == (2, 16, 8)
    z = torch.tensor([[1.0, 1, 1, 1, -1, -1, -1, 1]])
    assert q.encode(z).tolist() == [[15, 1]]
    whole = create_quantizer("lfq", dim=8, group_size=8).eval()
    assert whole.encode(z).tolist() == [[15 * 16 + 1]]


# ---------------------------------------------------------------------------- entropies


@pytest.mark.parametrize("name", ["lfq", "bsq"])
@pytest.mark.parametrize(("temperature", "scale"), [(1.0, 0.3), (0.1, 0.3), (0.5, 1.0)])
def test_exact_entropies_equal_brute_force(name, temperature, scale):
    dim = 6
    q = create_quantizer(
        name, dim=dim, group_size=3, entropy_mode="exact", temperature=temperature
    ).train()
    z = sample(2, 7, dim, scale=scale, seed=3)
    out = q(z)
    x = z.double()
    if name == "bsq":
        x = torch.nn.functional.normalize(x, dim=-1)
    level = q.level
    ref_sample, ref_codebook = brute_entropies(x, level, temperature)
    torch.testing.assert_close(
        out.metrics["per_sample_entropy"].double(), ref_sample, rtol=1e-4, atol=1e-5
    )
    torch.testing.assert_close(
        out.metrics["codebook_entropy"].double(), ref_codebook, rtol=1e-4, atol=1e-5
    )
    # And the float64 helpers agree to round-off.
    logits = x.reshape(-1, dim) * (4 * level / temperature)
    torch.testing.assert_close(per_sample_entropy(logits), ref_sample, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(codebook_entropy(logits, dim), ref_codebook, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["lfq", "bsq"])
def test_group_entropy_is_sum_of_group_marginal_entropies(name):
    dim, k, temperature = 6, 2, 0.7
    q = create_quantizer(name, dim=dim, group_size=k, temperature=temperature, entropy_chunk_size=5)
    z = sample(3, 5, dim, scale=0.5, seed=4)
    out = q.train()(z)
    x = z.double()
    if name == "bsq":
        x = torch.nn.functional.normalize(x, dim=-1)
    ref_sample, ref_codebook = brute_entropies(x, q.level, temperature, group_size=k)
    torch.testing.assert_close(
        out.metrics["per_sample_entropy"].double(), ref_sample, rtol=1e-4, atol=1e-5
    )
    torch.testing.assert_close(
        out.metrics["codebook_entropy"].double(), ref_codebook, rtol=1e-4, atol=1e-5
    )
    # Summed group marginals bound the joint entropy from above.
    _, joint = brute_entropies(x, q.level, temperature)
    assert ref_codebook >= joint - 1e-12


@pytest.mark.parametrize("name", ["lfq", "bsq"])
def test_group_equals_exact_when_group_size_is_dim(name):
    kwargs = {"dim": 5, "group_size": 5, "temperature": 0.2}
    grouped = create_quantizer(name, entropy_mode="group", **kwargs).train()
    exact = create_quantizer(name, entropy_mode="exact", **kwargs).train()
    z = sample(4, 6, 5, seed=5)
    a, b = grouped(z), exact(z)
    for key in ("per_sample_entropy", "codebook_entropy"):
        assert torch.equal(a.metrics[key], b.metrics[key]), key
    assert torch.equal(a.loss, b.loss)


@pytest.mark.parametrize(("dim", "group_size"), [(5, 5), (6, 2), (6, 3)])
@pytest.mark.parametrize("chunk_size", [1, 4, 6])
def test_chunked_codebook_entropy_gradient_equals_brute_force(dim, group_size, chunk_size):
    level, temperature = 1.0, 0.8
    x = sample(9, dim, scale=0.6, seed=dim + group_size).double().requires_grad_(True)
    logits = x * (4 * level / temperature)
    ours = codebook_entropy(logits, group_size, chunk_size=chunk_size)
    (grad_ours,) = torch.autograd.grad(ours, x)
    x_ref = x.detach().clone().requires_grad_(True)
    _, ref = brute_entropies(x_ref, level, temperature, group_size=group_size)
    (grad_ref,) = torch.autograd.grad(ref, x_ref)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad_ours, grad_ref, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("bit_order", ["msb", "lsb"])
def test_mean_group_probs_gradcheck_and_layout(bit_order):
    logits = sample(5, 6, seed=11).double().requires_grad_(True)
    fn = lambda t: mean_group_probs(t, 3, bit_order=bit_order, chunk_size=4)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (logits,))
    # Column c of group g is the probability of the sub-code c in the configured bit order.
    probs = fn(logits).detach()
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, dtype=torch.float64))
    bits = torch.sigmoid(logits.detach()).reshape(5, 2, 3)
    c = 1 if bit_order == "msb" else 4  # channels (0, 0, 1) of each group
    expected = ((1 - bits[..., 0]) * (1 - bits[..., 1]) * bits[..., 2]).mean(0)
    torch.testing.assert_close(probs[:, c], expected)


def test_module_gradients_do_not_depend_on_chunk_size():
    z = sample(2, 6, 8, scale=0.4, seed=2)
    grads = []
    for chunk in (1, 7, None):
        q = create_quantizer("lfq", dim=8, group_size=4, temperature=0.5, entropy_chunk_size=chunk)
        zz = z.clone().requires_grad_(True)
        q.train()(zz).loss.backward()
        grads.append(zz.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grads[0], grads[2], rtol=1e-5, atol=1e-7)


def test_entropy_is_numerically_stable_at_tiny_temperature():
    logits = torch.tensor([[4000.0, -4000.0, 0.0, 1e-3]])
    # Saturated bits carry no entropy, l = 0 carries log 2; never negative.
    torch.testing.assert_close(per_sample_entropy(logits[:, :2]), torch.tensor(0.0))
    torch.testing.assert_close(_binary.binary_entropy(logits)[0, 2], torch.tensor(math.log(2)))
    assert (_binary.binary_entropy(logits) >= 0).all()


@pytest.mark.parametrize(("dim", "group_size"), [(14, 14), (6, 1), (6, 3), (9, 9)])
@pytest.mark.parametrize("scale", [1.0, 40.0, 4000.0])
def test_float32_codebook_entropy_and_gradient_match_float64_brute_force(dim, group_size, scale):
    """The factorised float32 path (half-group tables, floored log-probabilities, clamped
    logits) against the float64 definition, from unsaturated bits to |logits| in the thousands
    (LFQ's default temperature 0.01), odd group sizes and one-bit groups included."""
    logits = sample(300, dim, scale=scale, seed=dim + group_size)
    x32 = logits.clone().requires_grad_(True)
    ours = codebook_entropy(x32, group_size, chunk_size=64)
    (grad,) = torch.autograd.grad(ours, x32)
    x64 = logits.double().requires_grad_(True)
    # Brute force: p(c|x) over each group's 2**k sub-codes straight from sigmoids, in float64.
    k = group_size
    codes = torch.arange(1 << k)
    bits = ((codes.unsqueeze(-1) >> torch.arange(k - 1, -1, -1)) & 1).double()
    ref = 0
    for g in range(dim // k):
        logit = x64[:, g * k : (g + 1) * k]
        log_p = (
            torch.nn.functional.logsigmoid(logit) @ bits.T
            + torch.nn.functional.logsigmoid(-logit) @ (1 - bits).T
        )
        ref = ref + h(log_p.exp().mean(0).clamp_min(1e-300))
    (grad_ref,) = torch.autograd.grad(ref, x64)
    torch.testing.assert_close(ours.double(), ref, rtol=2e-6, atol=1e-6)
    torch.testing.assert_close(grad.double(), grad_ref, rtol=1e-3, atol=1e-8)


# ---------------------------------------------------------------------------- loss and modes


@pytest.mark.parametrize("name", ["lfq", "bsq"])
def test_loss_combines_entropies_and_commitment(name):
    q = create_quantizer(
        name,
        dim=6,
        group_size=3,
        temperature=0.3,
        entropy_loss_weight=0.7,
        diversity_gamma=1.5,
        commitment_weight=0.4,
    ).train()
    z = sample(2, 5, 6, seed=8)
    with collect_metrics():
        out = q(z)
    x = z if name == "lfq" else torch.nn.functional.normalize(z, dim=-1)
    commit = ((x - out.quantized.detach()) ** 2).mean()
    m = out.metrics
    expected = 0.7 * (m["per_sample_entropy"] - 1.5 * m["codebook_entropy"]) + 0.4 * commit
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(m["commitment_loss"], commit)
    assert {"usage", "perplexity"} <= set(m)


@pytest.mark.parametrize("name", ["lfq", "bsq"])
def test_entropy_only_in_training_or_when_asked(name, monkeypatch):
    z = sample(2, 4, 6, seed=9)
    q = create_quantizer(name, dim=6, group_size=3)
    assert "codebook_entropy" not in q.eval()(z).metrics
    asked = create_quantizer(name, dim=6, group_size=3, entropy_in_eval=True).eval()
    trained = create_quantizer(name, dim=6, group_size=3).train()
    torch.testing.assert_close(asked(z).metrics, trained(z).metrics)

    def forbidden(*args, **kwargs):
        raise AssertionError("encode() must not compute entropies")

    monkeypatch.setattr(_binary, "codebook_entropy", forbidden)
    monkeypatch.setattr(_binary, "per_sample_entropy", forbidden)
    assert q.train().encode(z).shape == (2, 4, 2)
    with pytest.raises(AssertionError, match="must not compute"):
        q(z)


@pytest.mark.parametrize("name", ["lfq", "bsq"])
def test_straight_through_value_is_exact_and_gradient_is_identity(name):
    q = create_quantizer(name, dim=6, group_size=3).train()
    z = sample(3, 6, seed=10).requires_grad_(True)
    out = q(z)
    assert torch.equal(out.quantized, q.decode(out.codes))
    if name == "lfq":
        (grad,) = torch.autograd.grad(out.quantized.sum(), z)
        assert torch.equal(grad, torch.ones_like(z))


def test_lfq_codebook_scale():
    q = create_quantizer("lfq", dim=4, codebook_scale=0.5).eval()
    z = torch.tensor([[0.1, -3.0, 2.0, -0.2]])
    assert q(z).quantized.tolist() == [[0.5, -0.5, 0.5, -0.5]]


def test_bsq_outputs_are_unit_norm_with_entries_pm_inv_sqrt_d():
    dim = 12
    q = create_quantizer("bsq", dim=dim).eval()
    z = sample(3, 5, dim, scale=7.0, seed=12)
    out = q(z)
    torch.testing.assert_close(out.quantized.norm(dim=-1), torch.ones(3, 5))
    torch.testing.assert_close(out.quantized.abs(), torch.full_like(z, 1 / math.sqrt(dim)))
    assert torch.equal(out.quantized > 0, z > 0)
    # Only the direction matters.
    assert torch.equal(q.encode(z * 0.01), q.encode(z))


# ---------------------------------------------------------------------------- huge codebooks


@pytest.mark.parametrize("name", ["lfq", "bsq"])
def test_dim128_is_eight_16bit_codes_with_bounded_memory(name):
    chunk = 16
    q = create_quantizer(name, dim=128, entropy_chunk_size=chunk, temperature=0.05).train()
    assert (q.num_codebooks, q.codebook_size, q.bits_per_token) == (8, 2**16, 128)
    z = sample(2, 16, 128, seed=13).requires_grad_(True)

    saved_numel = []

    def pack(t):
        saved_numel.append(t.numel())
        return t

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = q(z)
        out.loss.backward()
    assert torch.isfinite(out.loss)
    assert torch.isfinite(out.metrics["codebook_entropy"])
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    assert out.codes.shape == (2, 16, 8)
    # Backward keeps nothing of size 2**16 per token: at most the (8 groups, 2**16) batch-mean
    # probabilities the entropy is taken of (all 256 rows would be 32x that) ...
    assert max(saved_numel) <= 8 * 2**16
    # ... and no single allocation holds more than one chunk of sub-code probabilities or the
    # (2 * 16, 2**16) selector (8 MiB); all 256 (token, group) rows at once would be 64 MiB.
    largest = max(e.cpu_memory_usage for e in prof.events())
    assert largest <= max(chunk * 2**16 * 4, 2 * 16 * 2**16 * 4), largest
    q.eval()
    zz = z.detach()
    assert torch.equal(q.decode(q.encode(zz)), q(zz).quantized)


# ---------------------------------------------------------------------------- reference parity


def _reference(dim, num_codebooks, **kwargs):
    ref = ReferenceLFQ(
        dim=dim,
        codebook_size=2 ** (dim // num_codebooks),
        num_codebooks=num_codebooks,
        entropy_loss_weight=0.1,
        diversity_gamma=1.0,
        commitment_loss_weight=0.25,
        **kwargs,
    )
    return ref


@pytest.mark.parametrize(("dim", "group_size"), [(6, 3), (8, 2), (4, 4)])
@pytest.mark.parametrize("bit_order", ["msb", "lsb"])
def test_lfq_codes_match_vector_quantize_pytorch(dim, group_size, bit_order):
    """vector-quantize-pytorch's indices are MSB-first within each codebook; our "lsb" codes are
    its codes of the input with each group's channels reversed."""
    ours = create_quantizer("lfq", dim=dim, group_size=group_size, bit_order=bit_order).eval()
    ref = _reference(dim, dim // group_size, keep_num_codebooks_dim=True).eval()
    z = sample(2, 9, dim, seed=14)
    z_ref = z
    if bit_order == "lsb":
        z_ref = z.reshape(2, 9, -1, group_size).flip(-1).reshape(2, 9, dim)
    ref_out = ref(z_ref)
    assert torch.equal(ours.encode(z), ref_out.indices.long())
    out = ours(z)
    assert torch.equal(out.codes, ref_out.indices.long())
    quantized_ref = ref_out.quantized
    if bit_order == "lsb":
        quantized_ref = quantized_ref.reshape(2, 9, -1, group_size).flip(-1).reshape(2, 9, dim)
    assert torch.equal(out.quantized, quantized_ref)


@pytest.mark.parametrize(("dim", "group_size"), [(4, 4), (6, 3), (6, 2)])
def test_lfq_entropies_match_vector_quantize_pytorch(dim, group_size):
    """Same ``p(c|z) = softmax(2 z·c * inv_temperature)`` with ``inv_temperature = 1/T``; two
    definitional differences: vector-quantize-pytorch takes ``log(max(p, 1e-5))`` (so we compare
    where every probability exceeds 1e-5, asserted below) and, with several codebooks, AVERAGES
    the per-codebook entropies where we SUM them over groups (ours = num_codebooks x theirs).
    With one codebook the whole auxiliary loss, commitment included, is the same."""
    temperature = 1.0
    g = dim // group_size
    ours = create_quantizer("lfq", dim=dim, group_size=group_size, temperature=temperature).train()
    ref = _reference(dim, g, keep_num_codebooks_dim=True).train()
    z = sample(3, 8, dim, scale=0.2, seed=15)
    for s in range(g):
        p = brute_probs(
            z[..., s * group_size : (s + 1) * group_size].reshape(-1, group_size).double(),
            1.0,
            temperature,
        )
        assert p.min() > 1e-5
    out = ours(z)
    ref_out, breakdown = ref(z, inv_temperature=1 / temperature, return_loss_breakdown=True)
    torch.testing.assert_close(out.metrics["per_sample_entropy"], g * breakdown.per_sample_entropy)
    torch.testing.assert_close(out.metrics["codebook_entropy"], g * breakdown.batch_entropy)
    torch.testing.assert_close(out.metrics["commitment_loss"], breakdown.commitment)
    if g == 1:
        torch.testing.assert_close(out.loss, ref_out.entropy_aux_loss)


def test_bsq_matches_vector_quantize_pytorch_spherical_lfq():
    """vector-quantize-pytorch's ``LFQ(spherical=True)`` with one codebook is BSQ: l2-normalised
    input, levels ±1/sqrt(d) after normalising the sign vector, codebook on the sphere."""
    dim, temperature = 5, 1.0
    ours = create_quantizer("bsq", dim=dim, temperature=temperature, commitment_weight=0.25)
    ref = _reference(dim, 1, spherical=True)
    z = sample(2, 7, dim, seed=16)
    out = ours.train()(z)
    ref_out, breakdown = ref.train()(z, inv_temperature=1 / temperature, return_loss_breakdown=True)
    assert torch.equal(out.codes[..., 0], ref_out.indices.long())
    torch.testing.assert_close(out.quantized, ref_out.quantized)
    torch.testing.assert_close(out.metrics["per_sample_entropy"], breakdown.per_sample_entropy)
    torch.testing.assert_close(out.metrics["codebook_entropy"], breakdown.batch_entropy)
    torch.testing.assert_close(out.loss, ref_out.entropy_aux_loss)


# ---------------------------------------------------------------------------- distributed


def _ddp_worker(rank, world, init_file, z, result_file):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        x = z.chunk(world)[rank].clone().requires_grad_(True)
        logits = x.reshape(-1, x.shape[-1]) * 2.0
        value = codebook_entropy(logits, 3, chunk_size=2)
        value.backward()
        torch.save({"value": value.detach(), "grad": x.grad}, f"{result_file}.{rank}")
    finally:
        dist.destroy_process_group()


def test_codebook_entropy_is_global_across_ranks(tmp_path):
    """Two CPU ranks, half the batch each: the entropy is the full batch's, and each rank's
    gradient is world_size x the full-batch gradient of its slice (DDP then averages)."""
    world = 2
    z = sample(4, 3, 6, seed=17).double()
    result = str(tmp_path / "out")
    mp.start_processes(
        _ddp_worker,
        args=(world, str(tmp_path / "init"), z, result),
        nprocs=world,
        join=True,
        # A fresh interpreter: forking after other tests have started thread pools can hang.
        start_method="spawn",
    )
    full = z.clone().requires_grad_(True)
    ref = codebook_entropy(full.reshape(-1, 6) * 2.0, 3)
    ref.backward()
    for rank in range(world):
        got = torch.load(f"{result}.{rank}", weights_only=True)
        torch.testing.assert_close(got["value"], ref.detach())
        torch.testing.assert_close(got["grad"], world * full.grad.chunk(world)[rank])


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dim": 6, "group_size": 4}, r"LFQ: group_size must divide dim=6.*got group_size=4"),
        ({"dim": 34, "group_size": 17}, r"LFQ: group_size .*\[1, 16\].*got group_size=17"),
        ({"dim": 18, "entropy_mode": "exact"}, r"LFQ: entropy_mode='exact'.*dim <= 16, got dim=18"),
        ({"dim": 6, "entropy_mode": "full"}, r"LFQ: entropy_mode must be 'group' or 'exact'"),
        ({"dim": 6, "bit_order": "big"}, r"LFQ: bit_order must be 'msb' or 'lsb', got 'big'"),
        ({"dim": 6, "temperature": 0.0}, r"LFQ: temperature must be > 0"),
        ({"dim": 6, "entropy_chunk_size": 0}, r"LFQ: entropy_chunk_size must be >= 1"),
    ],
)
def test_bad_configuration_raises_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_quantizer("lfq", **kwargs)


def test_bsq_bad_configuration_names_bsq():
    with pytest.raises(ValueError, match=r"BSQ: group_size must divide dim=10"):
        create_quantizer("bsq", dim=10, group_size=3)
