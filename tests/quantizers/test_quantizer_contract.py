"""Contract tests swept over every registered quantizer.

Each quantizer supplies only a tiny configuration (``example_kwargs``); the behaviour checked here
is the interface every tokenizer relies on. Capabilities are class attributes (``requires_fit``,
``accepts_code_prefix``), so there is no exclude list.
"""

from __future__ import annotations

import copy
import inspect
import json
import math

import pytest
import torch

from zoo.quantizers import (
    QuantizerOutput,
    collect_metrics,
    create_quantizer,
    get_quantizer_class,
    list_quantizers,
    metrics_requested,
)

NAMES = list_quantizers()


def build(name: str, seed: int = 0):
    torch.manual_seed(seed)
    cls = get_quantizer_class(name)
    return create_quantizer(name, **json.loads(json.dumps(cls.example_kwargs)))


def sample(q, shape=(2, 3, 5), seed: int = 1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, q.dim, generator=g).to(dtype)


def ready(q):
    """A quantizer after fitting / one training step, so lazily initialised state is set."""
    z = sample(q, shape=(4, 16), seed=7)
    if q.requires_fit:
        q.fit(z)
    q.train()
    q(z)
    return q


def test_registry_is_populated():
    for expected in ("vq", "fsq", "lfq", "bsq", "dimwise", "residual", "grouped"):
        assert expected in NAMES, f"{expected!r} is not registered; registered: {NAMES}"


@pytest.mark.parametrize("name", NAMES)
def test_signature_is_keyword_only_and_json_able(name):
    cls = get_quantizer_class(name)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert params, f"{name} takes no arguments"
    for p in params:
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"{name}.{p.name} is not keyword-only"
    assert json.loads(json.dumps(cls.example_kwargs)) == cls.example_kwargs
    assert cls.example_kwargs, f"{name} has no example_kwargs for the contract tests"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(7,), (2, 3), (2, 3, 5), (2, 2, 3, 2)])
def test_shapes_and_code_range(name, shape):
    q = ready(build(name))
    z = sample(q, shape=shape)
    out = q(z)
    assert isinstance(out, QuantizerOutput)
    assert out.quantized.shape == z.shape
    assert out.quantized.dtype == z.dtype
    assert out.codes.shape == (*shape, q.num_codebooks)
    assert out.codes.dtype == torch.int64
    assert int(out.codes.min()) >= 0 and int(out.codes.max()) < q.codebook_size
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    for key, value in out.metrics.items():
        assert value.ndim == 0 and not value.requires_grad, key
    assert q.bits_per_token == pytest.approx(q.num_codebooks * math.log2(q.codebook_size))


def _usage_keys(metrics):
    return {k for k in metrics if k.rsplit("/", 1)[-1] in ("usage", "perplexity")}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("training", [True, False])
def test_usage_metrics_only_when_requested(name, training):
    """Codebook usage and perplexity are logging statistics: forward leaves them out unless
    asked (collect_metrics), and then reports exactly what code_metrics gives for its codes."""
    q = ready(build(name)).train(training)
    twin = copy.deepcopy(q)  # training steps change state (EMA, restarts): compare like with like
    z = sample(q, shape=(3, 8))
    torch.manual_seed(3)
    plain = q(z)
    assert not _usage_keys(plain.metrics), sorted(plain.metrics)
    assert not metrics_requested()
    with collect_metrics():
        assert metrics_requested()
        with collect_metrics(False):  # nests; the outer setting comes back
            assert not _usage_keys(copy.deepcopy(twin)(z).metrics)
        torch.manual_seed(3)
        asked = twin(z)
    assert not metrics_requested()
    keys = _usage_keys(asked.metrics)
    assert keys, f"{name}: no usage/perplexity under collect_metrics(): {sorted(asked.metrics)}"
    expected = twin.code_metrics(asked.codes)
    assert keys == set(expected)
    for key in keys:
        value = asked.metrics[key]
        assert value.ndim == 0 and not value.requires_grad, key
        torch.testing.assert_close(value, expected[key])
        if key.endswith("usage"):
            assert 0 < float(value) <= 1, key
        else:
            assert 1 <= float(value) <= twin.codebook_size + 1e-3, key
    # Asking for statistics changes nothing else: same values, codes, loss and other metrics
    # (it may add other logging-only statistics, e.g. dimwise's clipped_fraction).
    assert torch.equal(asked.quantized, plain.quantized)
    assert torch.equal(asked.codes, plain.codes)
    assert torch.equal(asked.loss, plain.loss)
    for key, value in plain.metrics.items():
        assert torch.equal(asked.metrics[key], value), key


@pytest.mark.parametrize("name", NAMES)
def test_decode_of_encode_equals_forward_in_eval(name):
    q = ready(build(name)).eval()
    z = sample(q, shape=(3, 4, 5))
    out = q(z)
    codes = q.encode(z)
    assert torch.equal(codes, out.codes)
    assert torch.equal(q.decode(codes), out.quantized)
    # Encoding is deterministic and does not change state.
    assert torch.equal(q.encode(z), codes)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_the_input(name):
    q = ready(build(name)).train()
    z = sample(q, shape=(2, 8)).requires_grad_(True)
    out = q(z)
    (out.quantized.square().sum() + out.loss).backward()
    assert z.grad is not None
    assert torch.isfinite(z.grad).all()
    assert z.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_fp32_math_under_bf16_autocast(name):
    q = ready(build(name)).eval()
    z = sample(q, shape=(2, 6))
    ref = q(z)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = q(z)
        codes = q.encode(z)
        dec = q.decode(codes)
    assert torch.equal(out.codes, ref.codes), "codes changed under bf16 autocast"
    assert torch.equal(codes, ref.codes)
    assert out.quantized.dtype == torch.float32 and dec.dtype == torch.float32
    assert torch.equal(dec, ref.quantized)
    # bf16 inputs are upcast for the math and cast back on the way out.
    out_bf16 = q(z.bfloat16())
    assert out_bf16.quantized.dtype == torch.bfloat16
    assert torch.equal(out_bf16.codes, q.encode(z.bfloat16().float()))


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name):
    q = ready(build(name, seed=0)).eval()
    fresh = build(name, seed=123)
    fresh.load_state_dict(q.state_dict())
    fresh.eval()
    z = sample(q, shape=(3, 7))
    assert torch.equal(fresh.encode(z), q.encode(z))
    assert torch.equal(fresh(z).quantized, q(z).quantized)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_raise_clear_errors(name):
    q = ready(build(name)).eval()
    cls_name = type(q).__name__
    z = sample(q, shape=(2, 3))
    with pytest.raises(ValueError, match=rf"{cls_name}.*\(\.\.\., {q.dim}\).*got shape"):
        q(torch.randn(2, 3, q.dim + 1))
    with pytest.raises(TypeError, match=rf"{cls_name}.*floating-point"):
        q(torch.ones(2, 3, q.dim, dtype=torch.int64))
    bad = z.clone()
    bad[0, 1, 0] = float("nan")
    with pytest.raises(ValueError, match=rf"{cls_name}.*NaN or Inf"):
        q(bad)
    bad[0, 1, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or Inf"):
        q.encode(bad)
    codes = q.encode(z)
    with pytest.raises(ValueError, match=rf"{cls_name}.*\[0, {q.codebook_size}\)"):
        q.decode(codes + q.codebook_size)
    with pytest.raises(ValueError, match=rf"{cls_name}.*\[0, {q.codebook_size}\)"):
        q.decode(codes - codes.max() - 1)
    with pytest.raises(TypeError, match=rf"{cls_name}.*integer codes"):
        q.decode(codes.float())
    with pytest.raises(ValueError, match=rf"{cls_name}.*codes of shape"):
        q.decode(torch.cat([codes, codes], dim=-1))
    with pytest.raises(ValueError, match="empty"):
        q(torch.zeros(0, q.dim))


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match=r"unknown quantizer 'fsqq'.*'fsq'"):
        create_quantizer("fsqq", levels=[3, 3])


def test_unexpected_argument_names_the_quantizer():
    with pytest.raises(TypeError, match=r"create_quantizer\('fsq'.*levelz"):
        create_quantizer("fsq", levelz=[3, 3])
