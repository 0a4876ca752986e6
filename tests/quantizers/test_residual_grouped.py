"""Residual and grouped (product) wrappers over registered quantizers."""

from __future__ import annotations

import copy
import itertools
import json

import pytest
import torch

from zoo.quantizers import collect_metrics, create_quantizer, get_quantizer_class, list_quantizers


def gaussian(*shape: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def prefix_errors(q, z: torch.Tensor) -> list[float]:
    codes = q.encode(z)
    k = q.codes_per_level
    return [
        float((q.decode(codes[..., : i * k]) - z).square().mean())
        for i in range(1, q.num_quantizers + 1)
    ]


# ---------------------------------------------------------------------------------------- residual
def test_residual_vq_error_falls_with_every_level():
    torch.manual_seed(0)
    q = create_quantizer(
        "residual",
        quantizer="vq",
        num_quantizers=4,
        quantizer_kwargs={"dim": 8, "codebook_size": 32, "ema": 0.9, "kmeans_init": True},
    )
    data = gaussian(8, 512, 8, seed=1)
    q.train()
    for _ in range(3):  # k-means on the first batch (level by level), then EMA steps
        q(data)
    errors = prefix_errors(q.eval(), gaussian(8, 256, 8, seed=2))
    for coarse, fine in itertools.pairwise(errors):
        assert fine < 0.95 * coarse, errors
    assert errors[0] < 0.9  # level 0 alone beats predicting 0 (error 1.0)


def test_residual_fsq_with_scales_error_falls_with_every_level():
    q = create_quantizer(
        "residual",
        quantizer="fsq",
        num_quantizers=4,
        quantizer_kwargs={"levels": [5, 5, 5, 5]},
        scales=[1.0, 0.25, 0.0625, 0.015625],
    ).eval()
    errors = prefix_errors(q, gaussian(4096, 4, seed=3, scale=0.4))
    for coarse, fine in itertools.pairwise(errors):
        assert fine < 0.5 * coarse, errors


@pytest.fixture
def rvq():
    torch.manual_seed(0)
    return create_quantizer(
        "residual",
        quantizer="vq",
        num_quantizers=4,
        quantizer_kwargs={"dim": 4, "codebook_size": 16},
        quantizer_dropout=1.0,
        scales=[1.0, 0.5, 0.5, 0.25],
    )


def test_prefix_decoding_is_the_partial_sum(rvq):
    rvq.eval()
    z = gaussian(3, 5, 4, seed=4)
    codes = rvq.encode(z)
    assert codes.shape == (3, 5, 4)
    assert rvq.accepts_code_prefix
    partial = torch.zeros_like(z)
    for k in range(1, 5):
        level = rvq.levels[k - 1]
        partial = partial + level.decode(codes[..., k - 1 : k]) * rvq.scales[k - 1]
        assert torch.equal(rvq.decode(codes[..., :k]), partial)
        assert torch.equal(rvq.encode(z, num_quantizers=k), codes[..., :k])
    assert torch.equal(partial, rvq(z).quantized)
    with pytest.raises(ValueError, match=r"num_quantizers must be in \[1, 4\]"):
        rvq.encode(z, num_quantizers=5)
    with pytest.raises(ValueError, match=r"ResidualQuantizer.*valid prefix"):
        rvq.decode(codes[..., :0])


def test_quantizer_dropout_uses_a_per_sample_prefix(rvq):
    rvq.train()
    z = gaussian(64, 16, 4, seed=5).requires_grad_(True)
    out = rvq(z)
    # The (learned) codebooks do not move in forward, so decode gives the levels' values.
    prefixes = [rvq.decode(out.codes[..., :k]) for k in range(1, 5)]
    active = []
    for b in range(64):
        matches = [k for k, p in enumerate(prefixes, 1) if torch.equal(out.quantized[b], p[b])]
        assert len(matches) == 1, f"sample {b} matches prefixes {matches}"
        active.append(matches[0])
    active_t = torch.tensor(active, dtype=torch.float32)
    assert len(set(active)) >= 3, active
    assert float(out.metrics["active_quantizers"]) == pytest.approx(float(active_t.mean()))
    # Each level's loss is weighted by the share of samples that use it.
    expected = sum(
        float((active_t > i).float().mean()) * float(out.metrics[f"level{i}/loss"])
        for i in range(4)
    )
    assert float(out.loss.detach()) == pytest.approx(expected, rel=1e-5)
    # Identity gradient to z whatever the number of active levels.
    out.quantized.sum().backward()
    assert torch.equal(z.grad, torch.ones_like(z))


def test_no_dropout_in_eval_or_with_zero_probability(rvq):
    z = gaussian(32, 4, 4, seed=6)
    out = rvq.eval()(z)
    assert float(out.metrics["active_quantizers"]) == 4.0
    assert torch.equal(out.quantized, rvq.decode(out.codes))
    rvq.quantizer_dropout = 0.0
    out = rvq.train()(z)
    assert float(out.metrics["active_quantizers"]) == 4.0
    assert torch.equal(out.quantized, rvq.decode(out.codes))
    assert float(out.loss.detach()) == pytest.approx(
        sum(float(out.metrics[f"level{i}/loss"]) for i in range(4))
    )


def test_residual_levels_losses_reach_encoder_and_codebooks(rvq):
    rvq.train()
    z = gaussian(4, 8, 4, seed=7).requires_grad_(True)
    with collect_metrics():
        out = rvq(z)
    out.loss.backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    for level in rvq.levels:
        assert level.codebook.grad is not None and level.codebook.grad.abs().sum() > 0
    assert {f"level{i}/usage" for i in range(4)} <= set(out.metrics)


def test_residual_trains_every_levels_output_projection():
    torch.manual_seed(0)
    q = create_quantizer(
        "residual",
        quantizer="vq",
        num_quantizers=3,
        quantizer_kwargs={"dim": 6, "codebook_size": 8, "codebook_dim": 2},
    ).train()
    z = gaussian(4, 8, 6, seed=15).requires_grad_(True)
    q(z).quantized.square().sum().backward()
    for level in q.levels:
        assert level.project_out.weight.grad.abs().sum() > 0
        assert level.project_in.weight.grad.abs().sum() > 0
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_residual_train_eval_reaches_the_levels(rvq):
    rvq.eval()
    assert not any(level.training for level in rvq.levels)
    rvq.train()
    assert all(level.training for level in rvq.levels)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_quantizers": 0}, ValueError, r"num_quantizers must be in \[1, 1024\]"),
        (
            {"num_quantizers": 2, "quantizer_dropout": 1.5},
            ValueError,
            r"quantizer_dropout must be in \[0, 1\]",
        ),
        ({"num_quantizers": 2, "scales": [1.0]}, ValueError, "scales must be 2 positive numbers"),
        ({"num_quantizers": 2, "scales": [1.0, 0.0]}, ValueError, "scales must be 2 positive"),
        (
            {"num_quantizers": 2, "quantizer_kwargs": [3, 3]},
            TypeError,
            "quantizer_kwargs must be a dict",
        ),
    ],
)
def test_residual_bad_arguments(kwargs, error, match):
    kwargs = {"quantizer": "fsq", "quantizer_kwargs": {"levels": [3, 3]}, **kwargs}
    with pytest.raises(error, match=f"ResidualQuantizer: {match}"):
        create_quantizer("residual", **kwargs)


def test_residual_fit_needs_a_post_training_inner_quantizer():
    q = create_quantizer(
        "residual", quantizer="fsq", num_quantizers=2, quantizer_kwargs={"levels": [3]}
    )
    assert not q.requires_fit
    with pytest.raises(RuntimeError, match=r"ResidualQuantizer.*'fsq' needs no fitting"):
        q.fit(torch.randn(10, 1))


def test_residual_over_dimwise_fits_level_by_level():
    q = create_quantizer(
        "residual", quantizer="dimwise", num_quantizers=3, quantizer_kwargs={"dim": 3, "bits": 2}
    )
    assert q.requires_fit and q.num_codebooks == 9 and q.codebook_size == 4
    z = gaussian(2000, 3, seed=8)
    with pytest.raises(RuntimeError, match="not fitted"):
        q(z)
    q.fit(z).eval()
    errors = prefix_errors(q, gaussian(2000, 3, seed=9))
    for coarse, fine in itertools.pairwise(errors):
        assert fine < 0.5 * coarse, errors
    codes = q.encode(z[:5])
    with pytest.raises(ValueError, match=r"valid prefix length <= 9"):
        q.decode(codes[..., :4])  # not a whole level


# ---------------------------------------------------------------------------------------- grouped
def test_grouped_equals_the_inner_quantizers_on_slices():
    torch.manual_seed(0)
    g = create_quantizer(
        "grouped", quantizer="vq", groups=2, dim=8, quantizer_kwargs={"codebook_size": 16}
    )
    assert (g.dim, g.num_codebooks, g.codebook_size, g.group_dim) == (8, 2, 16, 4)
    reference = copy.deepcopy(g.quantizers)
    z = gaussian(3, 5, 8, seed=10).requires_grad_(True)
    z_ref = z.detach().clone().requires_grad_(True)

    with collect_metrics():  # compare the usage statistics too
        out = g.train()(z)
        refs = [q.train()(part) for q, part in zip(reference, z_ref.split(4, dim=-1), strict=True)]
    assert {f"group{i}/usage" for i in range(2)} <= set(out.metrics)
    torch.testing.assert_close(
        out.quantized, torch.cat([r.quantized for r in refs], -1), rtol=0, atol=0
    )
    assert torch.equal(out.codes, torch.cat([r.codes for r in refs], -1))
    torch.testing.assert_close(out.loss, sum(r.loss for r in refs), rtol=0, atol=0)
    for i, r in enumerate(refs):
        for key, value in r.metrics.items():
            assert torch.equal(out.metrics[f"group{i}/{key}"], value.detach())
    # Same gradients as the separate quantizers, to the input and to every codebook.
    (out.quantized.square().sum() + out.loss).backward()
    (sum(r.quantized.square().sum() + r.loss for r in refs)).backward()
    torch.testing.assert_close(z.grad, z_ref.grad)
    for q, r in zip(g.quantizers, reference, strict=True):
        torch.testing.assert_close(q.codebook.grad, r.codebook.grad)

    g.eval()
    codes = g.encode(z)
    assert torch.equal(g.decode(codes), g(z).quantized)
    assert torch.equal(codes[..., 1:], reference[1].eval().encode(z[..., 4:]))


def test_grouped_dim_must_be_divisible():
    with pytest.raises(
        ValueError, match=r"GroupedQuantizer: dim must be divisible by groups.*dim=7"
    ):
        create_quantizer(
            "grouped", quantizer="vq", groups=2, dim=7, quantizer_kwargs={"codebook_size": 4}
        )
    with pytest.raises(
        ValueError, match=r"GroupedQuantizer: quantizer_kwargs\['dim'\]=3 disagrees"
    ):
        create_quantizer(
            "grouped",
            quantizer="vq",
            groups=2,
            dim=8,
            quantizer_kwargs={"dim": 3, "codebook_size": 4},
        )
    with pytest.raises(ValueError, match=r"GroupedQuantizer: groups must be in \[1, 4096\]"):
        create_quantizer("grouped", quantizer="fsq", groups=0, quantizer_kwargs={"levels": [3]})


def test_grouped_width_follows_the_inner_quantizer_when_dim_is_omitted():
    g = create_quantizer("grouped", quantizer="fsq", groups=3, quantizer_kwargs={"levels": [3, 4]})
    assert (g.dim, g.num_codebooks, g.codebook_size) == (6, 3, 12)
    assert g.quantizer_kwargs == {"levels": [3, 4]}  # the config stays as given


def test_grouped_over_dimwise_fits_and_round_trips_state():
    kwargs = {"quantizer": "dimwise", "groups": 2, "dim": 6, "quantizer_kwargs": {"bits": 3}}
    g = create_quantizer("grouped", **kwargs)
    assert g.requires_fit
    z = torch.arange(6.0) + gaussian(500, 6, seed=11) * (1 + torch.arange(6.0))
    with pytest.raises(RuntimeError, match=r"DimwiseQuantizer.*fit\(latents\)"):
        g(z)
    g.fit(z).eval()
    torch.testing.assert_close(torch.cat([q.mean for q in g.quantizers]), z.mean(0))
    fresh = create_quantizer("grouped", **kwargs).eval()
    fresh.load_state_dict(g.state_dict())
    assert torch.equal(fresh(z).quantized, g(z).quantized)


# ---------------------------------------------------------------------------------------- nesting
def test_nested_wrappers_round_trip_through_a_json_config():
    kwargs = {
        "quantizer": "grouped",
        "num_quantizers": 2,
        "quantizer_kwargs": {
            "quantizer": "vq",
            "groups": 2,
            "dim": 6,
            "quantizer_kwargs": {"codebook_size": 8, "codebook_dim": 2},
        },
        "quantizer_dropout": 0.5,
    }
    config = json.loads(json.dumps(kwargs))
    torch.manual_seed(0)
    q = create_quantizer("residual", **config).eval()
    assert (q.dim, q.num_codebooks, q.codebook_size, q.codes_per_level) == (6, 4, 8, 2)
    torch.manual_seed(1)
    fresh = create_quantizer("residual", **config).eval()
    fresh.load_state_dict(q.state_dict())
    z = gaussian(2, 3, 6, seed=12)
    with collect_metrics():
        out = q(z)
    assert torch.equal(q.decode(q.encode(z)), out.quantized)
    assert torch.equal(fresh(z).quantized, out.quantized)
    assert torch.equal(q.decode(out.codes[..., :2]), q.levels[0].decode(out.codes[..., :2]))
    assert "level1/group0/usage" in out.metrics


# ------------------------------------------------------------------------ any registered quantizer
@pytest.mark.parametrize("inner", list_quantizers())
@pytest.mark.parametrize("wrapper", ["residual", "grouped"])
def test_wrappers_work_over_every_registered_quantizer(wrapper, inner):
    inner_kwargs = json.loads(json.dumps(get_quantizer_class(inner).example_kwargs))
    count = {"residual": "num_quantizers", "grouped": "groups"}[wrapper]
    config = {"quantizer": inner, count: 2, "quantizer_kwargs": inner_kwargs}
    torch.manual_seed(0)
    q = create_quantizer(wrapper, **config)
    single = create_quantizer(inner, **inner_kwargs)
    assert q.num_codebooks == 2 * single.num_codebooks
    assert q.codebook_size == single.codebook_size
    assert q.requires_fit == single.requires_fit
    z = gaussian(4, 16, q.dim, seed=13)
    if q.requires_fit:
        q.fit(z)
    q.train()
    out = q(z.requires_grad_(True))
    (out.quantized.square().sum() + out.loss).backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    q.eval()
    z = gaussian(3, 5, q.dim, seed=14)
    out = q(z)
    assert torch.equal(q.decode(q.encode(z)), out.quantized)
    torch.manual_seed(1)
    fresh = create_quantizer(wrapper, **config).eval()
    fresh.load_state_dict(q.state_dict())
    assert torch.equal(fresh(z).quantized, out.quantized)
