"""VQ options for DAC (Kumar et al. 2023): cosine search with raw-codeword output
(``raw_codeword=True``) and weight-normed factorized projections (``projection_norm``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.quantizers import create_quantizer
from zoo.quantizers.vq import VQ

DAC_LEVEL = {
    "dim": 12,
    "codebook_size": 32,
    "codebook_dim": 4,
    "distance": "cosine",
    "raw_codeword": True,
    "projection_norm": "weight_norm",
}


def _vq(seed: int = 0, **overrides) -> VQ:
    torch.manual_seed(seed)
    q = create_quantizer("vq", **{**DAC_LEVEL, **overrides})
    with torch.no_grad():  # codewords of very different norms, as a trained DAC codebook has
        q.codebook.mul_(
            torch.logspace(-1, 1, q.codebook_size)[torch.randperm(q.codebook_size)][:, None]
        )
    return q


def _z(shape=(3, 40), seed: int = 1, dim: int = 12) -> torch.Tensor:
    return torch.randn(*shape, dim, generator=torch.Generator().manual_seed(seed))


def test_search_is_cosine_but_decode_gives_the_raw_codeword():
    q = _vq().eval()
    z = _z()
    codes = q.encode(z)
    with torch.no_grad():
        h = F.normalize(q.project_in(z), dim=-1)
        best = (h @ F.normalize(q.codebook, dim=-1).T).argmax(-1)
        assert torch.equal(codes[..., 0], best)
        raw = q.codebook[codes[..., 0]]
        assert torch.equal(q.decode(codes), q.project_out(raw))
        # The same weights with the default (unit-norm) output: same codes, other vectors.
        unit = create_quantizer("vq", **{**DAC_LEVEL, "raw_codeword": False})
        unit.load_state_dict(q.state_dict())
        unit.eval()
        assert torch.equal(unit.encode(z), codes)
        torch.testing.assert_close(
            unit.decode(codes), q.project_out(F.normalize(raw, dim=-1)), rtol=0, atol=0
        )
        assert not torch.allclose(unit.decode(codes), q.decode(codes), atol=1e-3)
    assert len(codes.unique()) > 8  # a non-trivial test


def test_eval_forward_equals_decode_of_encode_exactly():
    q = _vq().eval()
    z = _z(shape=(2, 3, 5))
    out = q(z)
    assert torch.equal(out.codes, q.encode(z))
    assert torch.equal(out.quantized, q.decode(out.codes))
    assert out.quantized.shape == z.shape


def test_losses_are_measured_in_the_raw_projection_space():
    q = _vq().eval()
    z = _z()
    out = q(z)
    with torch.no_grad():
        y = q.project_in(z)
        c = q.codebook[out.codes[..., 0]]
        mse = F.mse_loss(y, c)
    torch.testing.assert_close(out.metrics["commitment"], mse)
    torch.testing.assert_close(out.metrics["codebook"], mse)
    torch.testing.assert_close(out.loss, 0.25 * mse + mse)


def test_straight_through_gradient_skips_the_normalisation():
    # Without projections the quantized output is the codeword plus (z - sg(z)): its gradient to
    # z is exactly the identity in raw mode; the unit-norm variant passes through F.normalize.
    z = _z(shape=(2, 6), dim=4).requires_grad_(True)
    raw = _vq(dim=4, codebook_dim=None, projection_norm="none").train()
    raw(z).quantized.sum().backward()
    assert torch.equal(z.grad, torch.ones_like(z))
    z.grad = None
    unit = _vq(dim=4, codebook_dim=None, projection_norm="none", raw_codeword=False).train()
    unit(z).quantized.sum().backward()
    assert not torch.allclose(z.grad, torch.ones_like(z))


def test_learned_codebook_and_projections_get_gradients():
    q = _vq().train()
    out = q(_z())
    (out.quantized.square().mean() + out.loss).backward()
    assert q.codebook.grad is not None and q.codebook.grad.abs().sum() > 0
    for proj in (q.project_in, q.project_out):
        g = proj.parametrizations.weight.original0
        v = proj.parametrizations.weight.original1
        assert g.grad.abs().sum() > 0 and v.grad.abs().sum() > 0


def test_weight_norm_projections_match_plain_linear_layers():
    q = _vq().eval()
    sd = q.state_dict()
    assert sd["project_in.parametrizations.weight.original0"].shape == (4, 1)
    assert sd["project_in.parametrizations.weight.original1"].shape == (4, 12)
    assert sd["project_out.parametrizations.weight.original0"].shape == (12, 1)
    with torch.no_grad():
        for proj in (q.project_in, q.project_out):
            proj.parametrizations.weight.original0.mul_(1.7)  # magnitude != ||v||
    plain = create_quantizer("vq", **{**DAC_LEVEL, "projection_norm": "none"})
    with torch.no_grad():
        for name in ("project_in", "project_out"):
            wn = getattr(q, name)
            g, v = wn.parametrizations.weight.original0, wn.parametrizations.weight.original1
            getattr(plain, name).weight.copy_(g * v / v.norm(dim=1, keepdim=True))
            getattr(plain, name).bias.copy_(wn.bias)
        plain.codebook.copy_(q.codebook)
    plain.eval()
    z = _z()
    assert torch.equal(plain.encode(z), q.encode(z))
    torch.testing.assert_close(plain(z).quantized, q(z).quantized, rtol=1e-5, atol=1e-6)


def test_state_dict_round_trip_keeps_codes_and_vectors():
    q = _vq().eval()
    other = _vq(seed=5).eval()
    z = _z()
    assert not torch.equal(other.encode(z), q.encode(z))
    other.load_state_dict(q.state_dict())
    assert torch.equal(other.encode(z), q.encode(z))
    assert torch.equal(other(z).quantized, q(z).quantized)


def test_dead_code_restart_copies_raw_vectors():
    q = _vq(dead_code_threshold=1e9).train()  # every code is dead: all restart
    z = _z(shape=(4, 50))
    out = q(z)
    assert float(out.metrics["restarted"]) == q.codebook_size
    with torch.no_grad():
        rows = q.project_in(z).reshape(-1, 4)
    # Each codeword is one of this batch's raw (un-normalised) projected vectors.
    dist = (q.codebook.detach()[:, None] - rows[None]).norm(dim=-1).min(-1).values
    assert float(dist.max()) < 1e-5
    norms = q.codebook.detach().norm(dim=-1)
    assert float((norms - 1).abs().max()) > 0.1


def test_default_behaviour_is_unchanged():
    torch.manual_seed(0)
    q = create_quantizer("vq", dim=8, codebook_size=16, codebook_dim=4, distance="cosine")
    assert not q.raw_codeword and q.projection_norm == "none"
    assert isinstance(q.project_in, torch.nn.Linear)
    assert "raw_codeword" not in q.extra_repr()
    q.eval()
    z = _z(dim=8)
    codes = q.encode(z)
    with torch.no_grad():
        expected = q.project_out(F.normalize(q.codebook, dim=-1)[codes[..., 0]])
    assert torch.equal(q.decode(codes), expected)
    assert "raw_codeword=True" in _vq().extra_repr()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"distance": "l2"}, "only changes cosine"),
        ({"ema": 0.99}, "ema=None, kmeans_init=False"),
        ({"kmeans_init": True}, "ema=None, kmeans_init=False"),
        ({"projection_norm": "spectral"}, "projection_norm must be one of"),
        ({"codebook_dim": 12}, "exist only when codebook_dim != dim"),
    ],
)
def test_invalid_combinations_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_quantizer("vq", **{**DAC_LEVEL, **kwargs})


def test_residual_stack_of_raw_levels_decodes_every_prefix():
    torch.manual_seed(0)
    level = {k: v for k, v in DAC_LEVEL.items() if k != "dim"}
    rvq = create_quantizer(
        "residual", quantizer="vq", num_quantizers=3, quantizer_kwargs={"dim": 12, **level}
    ).eval()
    z = _z()
    codes = rvq.encode(z)
    total = torch.zeros_like(z)
    residual = z
    for i, level_q in enumerate(rvq.levels):
        c = level_q.encode(residual)
        assert torch.equal(c, codes[..., i : i + 1])
        part = level_q.decode(c)
        total, residual = total + part, residual - part
        torch.testing.assert_close(rvq.decode(codes[..., : i + 1]), total, rtol=0, atol=1e-6)
    assert torch.equal(rvq(z).quantized, rvq.decode(codes))
