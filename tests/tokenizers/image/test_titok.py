"""TiTok family: prefix decoding, nested-dropout causality, token-count sampling, padding, grads."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.tokenizers.image import TiTok


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _images(tok: TiTok, b: int = 2) -> torch.Tensor:
    return torch.rand(b, 3, tok.image_size, tok.image_size) * 2 - 1


@pytest.mark.parametrize("name", ["titok_test", "titok_test_tail_pad"])
def test_every_prefix_length_tokenizes_and_decodes(name):
    tok = zoo.create_tokenizer(name).eval()
    x = _images(tok)
    full = tok.tokenize(x)
    assert full.shape == (2, tok.num_tokens, tok.num_codebooks) and full.dtype == torch.int64
    recons = []
    with torch.no_grad():
        for k in range(1, tok.num_tokens + 1):
            codes = tok.tokenize(x, num_tokens=k)
            assert codes.shape == (2, k, 1)
            torch.testing.assert_close(codes, full[:, :k])
            x_hat = tok.detokenize(codes)
            assert x_hat.shape == x.shape and torch.isfinite(x_hat).all()
            recons.append(x_hat)
    # the decoder really uses the extra tokens
    assert not torch.allclose(recons[0], recons[-1])


def test_nested_prefix_codes_do_not_depend_on_later_latents():
    tok = zoo.create_tokenizer("titok_test").eval()
    x = _images(tok, 3)
    with torch.no_grad():
        z_full = tok.encoder(x, 8)
        for k in (1, 3, 5):
            z_k = tok.encoder(x, k)  # the encoder sees only k latent tokens
            torch.testing.assert_close(z_k, z_full[:, :k], atol=1e-5, rtol=1e-5)
            assert torch.equal(tok.quantizer.encode(z_k), tok.quantizer.encode(z_full[:, :k]))
            torch.testing.assert_close(tok.encode(x, num_tokens=k), z_k)
        # Perturbing later latent tokens never reaches earlier ones.
        tok.encoder.latent_tokens[4:] += torch.randn(4, 32)  # not a constant: ln_pre removes it
        z_perturbed = tok.encoder(x, 8)
    torch.testing.assert_close(z_perturbed[:, :4], z_full[:, :4])
    assert not torch.allclose(z_perturbed[:, 4:], z_full[:, 4:])


def test_tail_drop_encoder_is_not_causal():
    # The same check fails without the causal mask: it is what makes nested prefixes exact.
    # So a tail-drop model always encodes with all K latent tokens and slices.
    tok = zoo.create_tokenizer("titok_test", token_drop="tail").eval()
    x = _images(tok)
    with torch.no_grad():
        z_full = tok.encoder(x, 8)
        assert not torch.allclose(tok.encoder(x, 3), z_full[:, :3], atol=1e-4)
        torch.testing.assert_close(tok.encode(x, num_tokens=3), z_full[:, :3])


def test_nested_mask_shape_and_content():
    tok = zoo.create_tokenizer("titok_test")
    mask = tok.encoder.attention_mask(3, torch.device("cpu"))
    n_img = 1 + (32 // 8) ** 2
    assert mask.shape == (n_img + 3, n_img + 3)
    assert mask[:, :n_img].all() and not mask[:n_img, n_img:].any()
    assert torch.equal(mask[n_img:, n_img:], torch.ones(3, 3, dtype=torch.bool).tril())


@pytest.mark.parametrize("dist,expected", [("pow2", {1, 2, 4, 8}), ("uniform", set(range(1, 9)))])
def test_token_count_distribution(dist, expected):
    tok = zoo.create_tokenizer("titok_test", token_count_dist=dist)
    assert {tok.sample_num_tokens() for _ in range(300)} == expected
    always = zoo.create_tokenizer("titok_test", token_count_dist=dist, keep_all_prob=1.0)
    assert {always.sample_num_tokens() for _ in range(20)} == {8}


def test_pow2_includes_max_when_not_a_power_of_two():
    tok = zoo.create_tokenizer("titok_test_tail_pad", token_count_dist="pow2")
    assert {tok.sample_num_tokens() for _ in range(200)} == {1, 2, 4, 6}


def test_training_forward_samples_token_counts_and_eval_uses_all():
    tok = zoo.create_tokenizer("titok_test_tail_pad").train()
    x = _images(tok)
    seen = set()
    for _ in range(40):
        out = tok(x)
        assert out.quantizer.codes.shape == (2, out.num_tokens, 1)
        assert out.reconstruction.shape == x.shape
        seen.add(out.num_tokens)
    assert len(seen) >= 4 and seen <= set(range(1, 7))
    assert tok.eval()(x).num_tokens == 6


def test_fixed_length_variant_rejects_prefixes():
    tok = zoo.create_tokenizer("titok_test_bsq").eval()
    assert not tok.flexible_length
    x = _images(tok)
    codes = tok.tokenize(x)
    assert codes.shape == (2, 8, 2)  # 16 bits per token as two 8-bit codes
    assert tok.bits_per_item() == 8 * 16
    with pytest.raises(ValueError, match="flexible-length"):
        tok.tokenize(x, num_tokens=4)
    with pytest.raises(ValueError, match="decode expects 8 tokens, got 4"):
        tok.decode(torch.randn(2, 4, 16))


def test_redundant_padding_fills_absent_positions_with_learned_token():
    tok = zoo.create_tokenizer("titok_test_tail_pad").train()
    x = _images(tok)
    out = tok(x, num_tokens=3)
    out.reconstruction.square().mean().backward()
    assert tok.decoder.pad_token.grad.abs().sum() > 0
    tok.zero_grad()
    # With every token present the pad token stays in the graph (zero gradient, not None), so
    # DDP never reports it as unused.
    tok(x, num_tokens=6).reconstruction.square().mean().backward()
    assert tok.decoder.pad_token.grad is not None
    assert tok.decoder.pad_token.grad.abs().sum() == 0
    # Without padding the decoder sees only k latent slots (One-D-Piece slicing).
    sliced = zoo.create_tokenizer("titok_test_tail_pad", redundant_padding=False)
    assert sliced.decoder.pad_token is None
    assert sliced.decode(torch.randn(1, 3, 4)).shape == (1, 3, 16, 16)


def test_gradients_reach_encoder_and_nested_tail_latents_get_none():
    tok = zoo.create_tokenizer("titok_test").train()
    x = _images(tok)
    out = tok(x, num_tokens=4)
    (out.reconstruction - x).abs().mean().backward()
    assert tok.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    grad = tok.encoder.latent_tokens.grad
    assert (grad[:4].abs().sum(-1) > 0).all()
    # Under the causal mask later latent tokens influence nothing that was decoded.
    assert torch.equal(grad[4:], torch.zeros_like(grad[4:]))


def test_input_and_argument_errors():
    tok = zoo.create_tokenizer("titok_test")
    with pytest.raises(ValueError, match="resize the input to"):
        tok.tokenize(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match="num_tokens must lie in"):
        tok.tokenize(torch.zeros(1, 3, 32, 32), num_tokens=9)
    with pytest.raises(ValueError, match="token_drop must be one of"):
        zoo.create_tokenizer("titok_test", token_drop="random")
    with pytest.raises(ValueError, match="differs from token_dim"):
        zoo.create_tokenizer("titok_test", quantizer_kwargs={"levels": [8, 5, 5, 5], "dim": 6})
    with pytest.raises(ValueError, match="multiple of patch_size"):
        zoo.create_tokenizer("titok_test", image_size=36)


def test_upstream_small_preset_sizes():
    tok = zoo.create_tokenizer("titok_s128_vq")
    assert tok.num_tokens == 128 and tok.codebook_size == 4096 and tok.quantizer.dim == 12
    assert tok.quantizer.distance == "cosine"
    assert len(tok.encoder.transformer.blocks) == 8
    assert tok.encoder.transformer.blocks[0].attn.num_heads == 8
    n = sum(p.numel() for p in tok.parameters())
    assert 45e6 < n < 55e6, n  # ViT-S encoder + decoder, as upstream TiTok-S
