"""C-ViViT (Phenaki) and LARP: variable-length causal clips, streaming, tiling, the image path,
flexible-length 1D tokens and the learned autoregressive prior."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.data.samples import photo_crops
from zoo.tokenizers.video import LARP, CViViT


def build(name: str, seed: int = 0, **kw):
    torch.manual_seed(seed)
    return zoo.create_tokenizer(name, **kw).eval()


def clip(b: int = 2, t: int = 5, size: int = 16, seed: int = 0) -> torch.Tensor:
    big = photo_crops(b, size, size + t, seed=seed)
    return torch.stack([big[..., i : i + size] for i in range(t)], 2)


# ---------------------------------------------------------------------- C-ViViT
@pytest.mark.parametrize("t", [1, 5, 9, 13])
def test_cvivit_variable_length_clips(t):
    tok = build("cvivit_test")
    assert isinstance(tok, CViViT)
    x = clip(t=t)
    codes = tok.tokenize(x)
    assert codes.shape == (2, 1 + (t - 1) // 4, 4, 4, 1)
    with torch.no_grad():
        assert tok.detokenize(codes).shape == x.shape


def test_cvivit_first_frame_is_the_image_and_the_past_ignores_the_future():
    tok = build("cvivit_test")
    x = clip(t=9)
    full = tok.tokenize(x)
    assert torch.equal(tok.tokenize_image(x[:, :, 0]), full[:, 0])
    changed = x.clone()
    changed[:, :, 5:] = -changed[:, :, 5:]
    assert torch.equal(tok.tokenize(changed)[:, :2], full[:, :2])
    with torch.no_grad():
        torch.testing.assert_close(
            tok.detokenize(full[:, :2]), tok.detokenize(full)[:, :, :5], rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize("splits", [[1, 8], [9], [2, 0, 3, 4], [1, 1, 1, 1, 1, 1, 1, 1, 1]])
def test_cvivit_streaming_equals_the_whole_clip(splits):
    tok = build("cvivit_test")
    x = clip(t=9)
    full_latents = tok.encode(x)
    state, parts, start = None, [], 0
    for i, n in enumerate(splits):
        codes, state = tok.tokenize_stream(
            x[:, :, start : start + n], state, final=i == len(splits) - 1
        )
        parts.append(codes)
        start += n
    codes = torch.cat(parts, 1)
    # codes equal wherever the latent is not within float rounding of a quantization boundary
    agree = (codes == tok.tokenize(x)).float().mean()
    assert agree == 1.0, agree
    assert full_latents.shape[:4] == codes.shape[:4]
    with torch.no_grad():
        ref = tok.detokenize(codes)
        state, frames = None, []
        for i, (a, b) in enumerate([(0, 1), (1, 1), (1, 3)]):
            y, state = tok.detokenize_stream(codes[:, a:b], state, final=i == 2)
            frames.append(y)
    torch.testing.assert_close(torch.cat(frames, 2), ref, rtol=1e-5, atol=1e-5)


def test_cvivit_fixed_frame_size_and_tiling():
    tok = build("cvivit_test")
    big = clip(t=5, size=32)
    with pytest.raises(ValueError, match=r"frames of 16 x 16.*tokenize_tiled"):
        tok.tokenize(big)
    codes = tok.tokenize_tiled(big, overlap=4)
    assert codes.shape == (2, 2, 8, 8, 1)
    # the top-left tile's top-left latents come from the first tile alone
    assert torch.equal(codes[:, :, :2, :2], tok.tokenize(big[..., :16, :16])[:, :, :2, :2])
    with torch.no_grad():
        y = tok.detokenize_tiled(codes, overlap=4)
    assert y.shape == big.shape and torch.isfinite(y).all()
    with pytest.raises(ValueError, match="detokenize_tiled"):
        tok.detokenize(codes)
    with pytest.raises(ValueError, match="tile must be 16"):
        tok.tokenize_tiled(big, tile=8)


def test_cvivit_bad_frame_counts():
    tok = build("cvivit_test")
    with pytest.raises(ValueError, match=r"T = 4 frames.*1 \+ 4k.*5"):
        tok.tokenize(clip(t=4))
    with pytest.raises(ValueError, match=r"permute\(0, 2, 1, 3, 4\)"):
        tok.tokenize(clip(t=5).transpose(1, 2))


# ---------------------------------------------------------------------- LARP
def test_larp_holistic_tokens_and_prefixes():
    tok = build("larp_test")
    assert isinstance(tok, LARP) and tok.flexible_length
    x = clip(t=4)
    codes = tok.tokenize(x)
    assert codes.shape == (2, 8, 1)
    for k in (1, 3, 8):
        prefix = tok.tokenize(x, num_tokens=k)
        assert torch.equal(prefix, codes[:, :k])
        with torch.no_grad():
            assert tok.detokenize(prefix).shape == x.shape
        assert tok.bits_per_item(k) == pytest.approx(k * tok.quantizer.bits_per_token)
    with pytest.raises(ValueError, match="exactly 4 frames"):
        tok.tokenize(clip(t=5))
    with pytest.raises(RuntimeError, match="does not stream"):
        tok.tokenize_stream(x)


def test_larp_prior_loss_is_reported_finite_and_trains_encoder_and_prior():
    tok = build("larp_test").train()
    x = clip(t=4)
    out = tok(x, num_tokens=8)
    prior = out.metrics["prior_loss"]
    assert torch.isfinite(prior) and prior > 0
    assert 0 <= float(out.metrics["prior_accuracy"]) <= 1
    assert not prior.requires_grad  # metrics are detached; the loss itself is in quantizer.loss
    # quantizer.loss = the quantizer's own loss + prior_weight * prior_loss
    base = tok.quantizer(tok.encode(x)).loss
    torch.testing.assert_close(
        out.quantizer.loss.detach(), base.detach() + tok.prior_weight * prior, rtol=1e-4, atol=1e-5
    )
    # the prior loss alone trains the prior and reaches the encoder through the prior's inputs
    # (straight through the quantizer): that is what makes the token order learnable
    tok.zero_grad()
    tok.prior_loss(out.quantizer.quantized, out.quantizer.codes)[0].backward()
    for name in ("prior_head.weight", "prior_start", "queries", "enc_proj.weight"):
        grad = dict(tok.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    # the prior's next-code predictions can be read directly
    with torch.no_grad():
        q = tok.quantizer.decode(tok.tokenize(x))
        logits = tok.prior_logits(q)
    assert logits.shape == (2, 8, tok.num_codebooks, tok.codebook_size)


def test_larp_prior_refuses_huge_codebooks():
    with pytest.raises(ValueError, match="16 bits"):
        zoo.create_tokenizer(
            "larp_test", token_dim=6, quantizer_kwargs={"levels": [8, 8, 8, 8, 8, 8]}
        )
