"""VQGAN family: token grid shapes at several sizes, gradients, argument checks."""

from __future__ import annotations

import pytest
import torch

import zoo


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("hw", [(32, 32), (16, 24), (8, 40)])
def test_shapes_for_several_sizes(hw):
    tok = zoo.create_tokenizer("vqgan_test").eval()
    x = torch.rand(2, 3, *hw) * 2 - 1
    codes = tok.tokenize(x)
    assert codes.shape == (2, hw[0] // 4, hw[1] // 4, 1) and codes.dtype == torch.int64
    assert tok.encode(x).shape == (2, hw[0] // 4, hw[1] // 4, 3)
    with torch.no_grad():
        assert tok.detokenize(codes).shape == x.shape
        out = tok(x)
    assert out.reconstruction.shape == x.shape
    assert torch.equal(out.quantizer.codes, codes)
    assert tok.token_shape() == (8, 8) and tok.num_tokens == 64


def test_gradients_reach_encoder():
    tok = zoo.create_tokenizer("vqgan_test").train()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    out = tok(x)
    ((out.reconstruction - x) ** 2).mean().backward()
    for p in (tok.encoder.conv_in.weight, tok.quant_conv.weight, tok.decoder.conv_out.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_rejects_sizes_not_multiple_of_factor_and_bad_args():
    tok = zoo.create_tokenizer("vqgan_test")
    with pytest.raises(ValueError, match="nearest valid sizes"):
        tok.tokenize(torch.zeros(1, 3, 30, 32))
    with pytest.raises(ValueError, match="attn_levels"):
        zoo.create_tokenizer("vqgan_test", attn_levels=[3])
    with pytest.raises(ValueError, match="decode expects quantized latents"):
        tok.decode(torch.zeros(1, 4, 4, 5))


def test_llamagen_sized_preset():
    tok = zoo.create_tokenizer("vqgan_f16_vq").eval()
    assert tok.factor == 16 and tok.token_shape() == (16, 16) and tok.codebook_size == 16384
    n = sum(p.numel() for p in tok.parameters())
    assert 70e6 < n < 74e6, n  # LlamaGen reports 72M parameters for VQ-16
    with torch.no_grad():
        codes = tok.tokenize(torch.zeros(1, 3, 32, 32))
    assert codes.shape == (1, 2, 2, 1)
