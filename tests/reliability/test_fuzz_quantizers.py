"""Fuzz the quantizer library (issue 9, section 5): every registered quantizer with generated
arguments (valid ones, and wrong types / ranges), generated latents (shapes, float16 / bfloat16
/ float64 / integer dtypes, NaN / Inf, empty) and generated codes (small integer dtypes,
negative and out-of-range values). Each input works -- and then keeps the documented contract
-- or raises a TypeError / ValueError with a message (see ``fuzzing.py``)."""

from __future__ import annotations

import math

import pytest
import torch
from fuzzing import attempt, fuzz_test, strategies
from hypothesis import assume

import zoo
from zoo.quantizers import create_quantizer
from zoo.quantizers.base import get_quantizer_class

S = strategies()
st = S.st
NAMES = zoo.list_quantizers()
INNER = ["fsq", "vq", "lfq", "bsq", "dimwise"]

pytestmark = pytest.mark.timeout(600)


# ---------------------------------------------------------------------------------- arguments
@st.composite
def valid_kwargs(draw, name: str, depth: int = 0) -> dict:
    """Small, valid keyword arguments of quantizer ``name`` (tiny tensors, fast to build)."""
    b, i, f = st.booleans(), st.integers, st.floats
    if name == "vq":
        kw = {"dim": draw(i(1, 8)), "codebook_size": draw(i(2, 32))}
        options = {
            "codebook_dim": st.none() | i(1, 4),
            "distance": st.sampled_from(["l2", "cosine"]),
            "ema": st.none() | f(0.5, 0.99),
            "kmeans_init": b,
            "kmeans_iters": i(1, 3),
            "dead_code_threshold": f(0.0, 2.0),
            "commitment_weight": f(0.0, 1.0),
            "rotation_trick": b,
            "simvq": b,
            "raw_codeword": b,
            "projection_norm": st.sampled_from(["none", "weight_norm"]),
        }
    elif name == "fsq":
        kw = {"levels": draw(st.lists(i(2, 8), min_size=1, max_size=4))}
        options = {"dim": st.none() | i(1, 8)}
    elif name in ("lfq", "bsq"):
        dim = draw(i(1, 12))
        divisors = [g for g in range(1, min(dim, 16) + 1) if dim % g == 0]
        kw = {"dim": dim}
        options = {
            "group_size": st.none() | st.sampled_from(divisors),
            "bit_order": st.sampled_from(["msb", "lsb"]),
            "temperature": f(0.01, 2.0),
            "entropy_loss_weight": f(0.0, 1.0),
            "diversity_gamma": f(0.0, 2.0),
            "commitment_weight": f(0.0, 1.0),
            "entropy_mode": st.sampled_from(["group", "exact"] if dim <= 16 else ["group"]),
            "entropy_chunk_size": st.none() | i(1, 8),
            "entropy_in_eval": b,
        }
        if name == "lfq":
            options["codebook_scale"] = f(0.1, 2.0)
    elif name == "dimwise":
        kw = {"dim": draw(i(1, 6))}
        options = {"bits": i(1, 8), "range_sigma": f(0.5, 6.0)}
    elif name in ("grouped", "residual"):
        inner = draw(st.sampled_from(INNER))
        inner_kw = draw(valid_kwargs(inner, depth + 1))
        if name == "grouped":
            kw = {"quantizer": inner, "groups": draw(i(1, 3)), "quantizer_kwargs": inner_kw}
            options = {}
        else:
            n = draw(i(1, 3))
            kw = {"quantizer": inner, "num_quantizers": n, "quantizer_kwargs": inner_kw}
            options = {
                "quantizer_dropout": f(0.0, 1.0),
                "scales": st.none() | st.lists(f(0.1, 2.0), min_size=n, max_size=n),
            }
    else:  # a quantizer added later: its documented tiny example
        return dict(get_quantizer_class(name).example_kwargs)
    for key, strat in options.items():
        if draw(b):
            kw[key] = draw(strat)
    return kw


@st.composite
def mutated_kwargs(draw, name: str) -> dict:
    """Valid arguments with 0-3 mutations: a value replaced by junk (wrong type or range), a
    key removed, an unknown key added, or a nested ``quantizer_kwargs`` value spoiled."""
    kw = draw(valid_kwargs(name))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["junk", "junk", "drop", "unknown", "nested"]))
        keys = sorted(kw)
        if op == "junk" and keys:
            kw[draw(st.sampled_from(keys))] = draw(S.junk)
        elif op == "drop" and keys:
            kw.pop(draw(st.sampled_from(keys)))
        elif op == "unknown":
            kw[draw(st.sampled_from(["dimm", "levels", "bits", "groups", "x"]))] = draw(S.junk)
        elif op == "nested" and isinstance(kw.get("quantizer_kwargs"), dict):
            inner = kw["quantizer_kwargs"]
            if inner:
                inner[draw(st.sampled_from(sorted(inner)))] = draw(S.junk)
    return kw


def _check_attributes(q) -> None:
    for attr in ("dim", "codebook_size", "num_codebooks"):
        v = getattr(q, attr)
        assert isinstance(v, int) and v >= 1, f"{attr}={v!r}"
    assert q.codebook_size >= 2, f"codebook_size={q.codebook_size}"
    assert math.isfinite(q.bits_per_token) and q.bits_per_token > 0


def _check_forward(q, z: torch.Tensor, out, *, loss: bool = True) -> None:
    """The documented contract of ``forward(z)`` (``loss``: also a finite loss, for moderate
    inputs; a loss weight of 1e300 makes an infinite loss, and rightly so)."""
    lead = tuple(z.shape[:-1])
    assert tuple(out.quantized.shape) == tuple(z.shape), (out.quantized.shape, z.shape)
    assert out.quantized.dtype == z.dtype, (out.quantized.dtype, z.dtype)
    assert out.codes.dtype == torch.int64, out.codes.dtype
    assert tuple(out.codes.shape) == (*lead, q.num_codebooks), (out.codes.shape, lead)
    lo, hi = int(out.codes.min()), int(out.codes.max())
    assert 0 <= lo and hi < q.codebook_size, f"codes in [{lo}, {hi}], size {q.codebook_size}"
    assert torch.isfinite(out.quantized.float()).all(), "non-finite quantized values"
    if loss and float(z.abs().max()) < 1e3:
        assert torch.isfinite(out.loss).all(), f"loss {out.loss}"


def _sample(q, n: int = 24) -> torch.Tensor:
    return torch.randn(2, n, q.dim, generator=torch.Generator().manual_seed(n))


def _use(q) -> tuple:
    """A quantizer that was built must also run: fit (if needed), forward in train and eval
    mode, encode and decode; returns what :func:`_check_use` checks."""
    z = _sample(q)
    if q.requires_fit:
        q.fit(z)
    train = q.train()(z)
    out = q.eval()(z)
    return z, train, out, q.decode(q.encode(z))


def _check_use(q, result: tuple) -> None:
    z, train, out, round_trip = result
    _check_forward(q, z, train, loss=False)
    _check_forward(q, z, out, loss=False)
    assert torch.equal(round_trip, out.quantized), "decode(encode(z)) != forward(z).quantized"


def _quantizer_arguments(data) -> None:
    name = data.draw(st.sampled_from(NAMES), label="name")
    kwargs = data.draw(mutated_kwargs(name), label="kwargs")
    what = f"create_quantizer({name!r}, **{kwargs!r})"
    out = attempt(lambda: create_quantizer(name, **kwargs), what=what, check=_check_attributes)
    if out.kind == "worked" and out.value.dim <= 4096:  # (a sample of 2**31 channels: no)
        torch.manual_seed(0)
        q = out.value
        attempt(
            lambda: _use(q),
            what=f"{what}, then used on a (2, 24, dim) sample",
            check=lambda result: _check_use(q, result),
        )


test_quantizer_arguments = fuzz_test(_quantizer_arguments, 50)
test_quantizer_arguments_many = fuzz_test(_quantizer_arguments, 2000, slow=True)


def test_quantizer_name_and_junk_names():
    for name in (None, 3, "", "FSQ", "fsq ", "vqq", ["vq"], b"vq"):
        attempt(lambda name=name: create_quantizer(name), what=f"create_quantizer({name!r})")


# ---------------------------------------------------------------------------------- latents
@st.composite
def latents(draw, dim: int) -> torch.Tensor:
    lead = draw(st.lists(st.integers(0, 5), min_size=0, max_size=3))
    last = dim if draw(st.integers(0, 4)) else draw(st.integers(0, 10))
    dtype = draw(st.sampled_from(S.float_dtypes * 3 + S.other_dtypes))
    return draw(S.values((*lead, last), dtype))


def _unfitted(q) -> bool:
    return any(getattr(m, "is_fitted", True) is False for m in q.modules())


def _built(name: str, kwargs: dict, seed: int = 0):
    """The quantizer, or (for arguments that clash, e.g. ``simvq`` with ``ema``: a clear error
    that the arguments test covers) a rejected example."""
    torch.manual_seed(seed)
    out = attempt(lambda: create_quantizer(name, **kwargs), what=f"{name}(**{kwargs!r})")
    assume(out.kind == "worked")
    return out.value


def _quantizer_inputs(data) -> None:
    name = data.draw(st.sampled_from(NAMES), label="name")
    q = _built(name, data.draw(valid_kwargs(name), label="kwargs"))
    z = data.draw(latents(q.dim), label="z")
    if q.requires_fit and data.draw(st.booleans(), label="fit on a sample first"):
        q.fit(_sample(q))
    mode = data.draw(st.sampled_from(["train", "eval"]), label="mode")
    q.train(mode == "train")
    what = f"{name} ({q.extra_repr()}) in {mode} mode on z {tuple(z.shape)} {z.dtype}"

    if _unfitted(q):
        # Using a post-training quantizer before fit() is an error of order, not of input:
        # a clear error naming fit() is what we want (RuntimeError is its documented type).
        with pytest.raises((RuntimeError, TypeError, ValueError), match=r"."):
            q(z)
        return
    op = data.draw(st.sampled_from(["forward", "encode", "fit"]), label="op")
    if op == "forward":
        attempt(lambda: q(z), what=f"{what}: forward", check=lambda out: _check_forward(q, z, out))
    elif op == "encode":

        def round_trip(codes: torch.Tensor) -> None:
            lead = tuple(z.shape[:-1])
            assert codes.dtype == torch.int64 and tuple(codes.shape) == (*lead, q.num_codebooks)
            assert 0 <= int(codes.min()) and int(codes.max()) < q.codebook_size
            if mode == "eval":
                ref = q(z).quantized
                assert torch.equal(q.decode(codes).to(z.dtype), ref), "decode(encode) != forward"

        attempt(lambda: q.encode(z), what=f"{what}: encode", check=round_trip)
    elif q.requires_fit:
        attempt(lambda: _use(q.fit(z)), what=f"{what}: fit", check=lambda r: _check_use(q, r))


test_quantizer_inputs = fuzz_test(_quantizer_inputs, 50)
test_quantizer_inputs_many = fuzz_test(_quantizer_inputs, 2000, slow=True)


# ---------------------------------------------------------------------------------- codes
@st.composite
def codes_for(draw, q) -> torch.Tensor:
    lead = draw(st.lists(st.integers(0, 4), min_size=0, max_size=3))
    k = q.num_codebooks if draw(st.integers(0, 3)) else draw(st.integers(0, q.num_codebooks + 2))
    dtype = draw(st.sampled_from(S.code_dtypes * 2 + [torch.float32, torch.bool]))
    kind = draw(st.sampled_from(["valid", "valid", "negative", "too large", "wide"]))
    bounds = {
        "valid": (0, q.codebook_size),
        "negative": (-5, q.codebook_size),
        "too large": (0, q.codebook_size + 5),
        "wide": (-(2**40), 2**40),
    }[kind]
    return draw(S.values((*lead, k), dtype, low_high=bounds))


def _quantizer_codes(data) -> None:
    name = data.draw(st.sampled_from(NAMES), label="name")
    q = _built(name, data.draw(valid_kwargs(name), label="kwargs")).eval()
    if q.requires_fit:
        q.fit(_sample(q))
    codes = data.draw(codes_for(q), label="codes")

    def check(out: torch.Tensor) -> None:
        assert out.dtype == torch.float32, out.dtype
        assert tuple(out.shape) == (*codes.shape[:-1], q.dim), (out.shape, codes.shape)
        assert torch.isfinite(out).all(), "non-finite decoded values"
        # the same codes in int64 decode the same (no wrap-around of small dtypes)
        assert torch.equal(q.decode(codes.long()), out), "decode depends on the codes' dtype"

    what = f"{name} ({q.extra_repr()}).decode(codes {tuple(codes.shape)} {codes.dtype})"
    attempt(lambda: q.decode(codes), what=what, check=check)


test_quantizer_codes = fuzz_test(_quantizer_codes, 50)
test_quantizer_codes_many = fuzz_test(_quantizer_codes, 2000, slow=True)
