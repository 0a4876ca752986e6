"""FSQ beyond the contract tests: parity with vector-quantize-pytorch's ``FSQ`` (values, codes and
the straight-through gradient of the tanh bound) for any token count, and the exact float32
code computation against the int64 one."""

from __future__ import annotations

import pytest
import torch
import vector_quantize_pytorch as vqp

from zoo.quantizers import create_quantizer


@pytest.mark.parametrize("levels", [[8, 5, 5, 5], [7, 5, 5, 5, 5], [8, 8, 8, 5, 5, 5], [4, 3]])
@pytest.mark.parametrize("shape", [(2, 64), (3, 7), (1, 1), (4, 96)])
def test_values_codes_and_gradient_match_vector_quantize_pytorch(levels, shape):
    ours = create_quantizer("fsq", levels=levels).train()
    ref = vqp.FSQ(levels=levels).train()
    g = torch.Generator().manual_seed(len(levels) + shape[1])
    z = (torch.randn(*shape, len(levels), generator=g) * 2).requires_grad_(True)
    z_ref = z.detach().clone().requires_grad_(True)
    upstream = torch.randn(*shape, len(levels), generator=g)
    out = ours(z)
    quantized_ref, codes_ref = ref(z_ref)
    assert torch.equal(out.codes[..., 0], codes_ref.long())
    assert torch.equal(out.quantized, quantized_ref)
    (out.quantized * upstream).sum().backward()
    (quantized_ref * upstream).sum().backward()
    torch.testing.assert_close(z.grad, z_ref.grad)
    ours.eval()
    assert torch.equal(ours.decode(ours.encode(z.detach())), ours(z.detach()).quantized)


def test_float32_codes_equal_int64_codes():
    q = create_quantizer("fsq", levels=[8] * 8)  # 2^24 codes: the largest float32 case
    assert q._float_codes
    z = torch.randn(5, 333, 8) * 3
    codes = q.encode(z)
    q._float_codes = False
    assert torch.equal(q.encode(z), codes)
    assert int(codes.max()) >= 2**24 - 2**21  # the top of the exact float32 range is exercised
    big = create_quantizer("fsq", levels=[8] * 9)  # 2^27 codes: int64 arithmetic
    assert not big._float_codes
    zb = torch.randn(4, 50, 9) * 3
    assert torch.equal(big.decode(big.encode(zb)), big.eval()(zb).quantized)


def test_usage_loss_is_zero_for_spread_levels_and_pulls_saturated_channels_back():
    q = create_quantizer("fsq", levels=[8, 5], usage_loss_weight=0.5, usage_temperature=0.5)
    g = torch.Generator().manual_seed(0)
    spread = torch.atanh(torch.rand(4096, 2, generator=g) * 1.98 - 0.99)  # uniform after tanh
    saturated = torch.randn(4096, 2, generator=g) + torch.tensor([4.0, 0.0])
    loss_spread = q.usage_loss(spread)
    loss_saturated = q.usage_loss(saturated)
    assert 0 <= loss_spread < 0.05 < 0.2 < loss_saturated <= 1
    # Training mode returns the weighted loss, and its gradient moves the saturated channel
    # back towards the middle (a gradient step lowers z of channel 0, leaves the sign of 1).
    z = saturated.clone().requires_grad_(True)
    out = q.train()(z)
    torch.testing.assert_close(out.loss, 0.5 * loss_saturated)
    out.loss.backward()
    assert z.grad[:, 0].mean() > 0
    # Off by default and in eval mode: nothing computed, values and codes unchanged.
    plain = create_quantizer("fsq", levels=[8, 5]).train()
    assert plain(z).loss.item() == 0 and q.eval()(z).loss.item() == 0
    assert torch.equal(plain(z).codes, q(z).codes)
    bad_args = ({"usage_loss_weight": -1.0}, {"usage_temperature": 0.0}, {"usage_loss_weight": "x"})
    for bad in bad_args:
        with pytest.raises(ValueError, match="FSQ: usage_"):
            create_quantizer("fsq", levels=[8, 5], **bad)
