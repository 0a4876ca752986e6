"""Causal 3D CNN video tokenizer: shapes, image path, causality, streaming, inflation from a 2D
VQGAN, hierarchical codebooks, tiling and the bad-input messages."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.data.samples import photo_crops
from zoo.tokenizers.video import Causal3D, VideoStreamState


def build(name: str = "causal3d_test", seed: int = 0, **kw) -> Causal3D:
    torch.manual_seed(seed)
    return zoo.create_tokenizer(name, **kw).eval()


def clip(b: int = 2, t: int = 5, size: int = 16, seed: int = 0) -> torch.Tensor:
    """A real-photo clip panning one pixel per frame: ``(b, 3, t, size, size)``."""
    big = photo_crops(b, size, size + t, seed=seed)
    return torch.stack([big[..., i : i + size] for i in range(t)], 2)


@pytest.mark.parametrize("t,size", [(1, 16), (5, 16), (9, 24)])
def test_shapes_and_round_trip(t, size):
    tok = build()
    x = clip(t=t, size=size)
    codes = tok.tokenize(x)
    assert codes.shape == (2, 1 + (t - 1) // 4, size // 4, size // 4, 1)
    assert codes.dtype == torch.int64
    with torch.no_grad():
        x_hat = tok.detokenize(codes)
        out = tok(x)
    assert x_hat.shape == x.shape
    torch.testing.assert_close(x_hat, out.reconstruction, rtol=1e-5, atol=2e-5)
    assert tok.token_shape() == (2, 4, 4)
    assert tok.bits_per_item() == pytest.approx(2 * 4 * 4 * tok.quantizer.bits_per_token)


def test_one_frame_clip_is_the_image_path():
    tok = build()
    x = clip(t=9)
    image = x[:, :, 0]
    img_codes = tok.tokenize_image(image)
    assert img_codes.shape == (2, 4, 4, 1)
    assert torch.equal(img_codes, tok.tokenize(image.unsqueeze(2))[:, 0])
    # the first latent frame of any clip is the image's code grid
    assert torch.equal(img_codes, tok.tokenize(x)[:, 0])
    with torch.no_grad():
        img_hat = tok.detokenize_image(img_codes)
        torch.testing.assert_close(img_hat, tok.detokenize(tok.tokenize(x))[:, :, 0])
    assert img_hat.shape == image.shape


def test_future_frames_do_not_change_past_codes_or_frames():
    tok = build()
    x = clip(t=9)
    full = tok.tokenize(x)
    changed = x.clone()
    changed[:, :, 5:] = torch.rand_like(changed[:, :, 5:]) * 2 - 1
    # latent frames 0 and 1 see input frames 0..4 only
    assert torch.equal(tok.tokenize(changed)[:, :2], full[:, :2])
    assert torch.equal(tok.tokenize(x[:, :, :5]), full[:, :2])
    with torch.no_grad():
        torch.testing.assert_close(
            tok.detokenize(full[:, :2]), tok.detokenize(full)[:, :, :5], rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize("padding", ["zeros", "replicate"])
@pytest.mark.parametrize(
    "splits", [[1, 4, 4], [9], [2, 0, 3, 1, 3], [1, 1, 1, 1, 1, 1, 1, 1, 1], [4, 5]]
)
def test_streaming_equals_the_whole_clip(splits, padding):
    tok = build(temporal_padding=padding)
    x = clip(t=9)
    full = tok.tokenize(x)
    state, parts, start = None, [], 0
    for i, n in enumerate(splits):
        codes, state = tok.tokenize_stream(
            x[:, :, start : start + n], state, final=i == len(splits) - 1
        )
        assert isinstance(state, VideoStreamState)
        parts.append(codes)
        start += n
    assert state.finished and state.frames == 9
    assert torch.equal(torch.cat(parts, 1), full)
    with torch.no_grad():
        ref = tok.detokenize(full)
    for code_splits in ([1, 1, 1], [3], [2, 0, 1]):
        state, frames, start = None, [], 0
        for i, n in enumerate(code_splits):
            y, state = tok.detokenize_stream(
                full[:, start : start + n], state, final=i == len(code_splits) - 1
            )
            frames.append(y)
            start += n
        torch.testing.assert_close(torch.cat(frames, 2), ref, rtol=1e-5, atol=1e-5)


def test_streaming_emits_codes_as_soon_as_frames_arrive_and_checks_the_end():
    tok = build()
    x = clip(t=9)
    codes, state = tok.tokenize_stream(x[:, :, :1])
    assert codes.shape[1] == 1  # frame 0 alone gives the first latent frame
    codes, state = tok.tokenize_stream(x[:, :, 1:4], state)
    assert codes.shape[1] == 0  # frames 1..3 complete nothing yet
    codes, state = tok.tokenize_stream(None, state)
    assert codes.shape == (2, 0, 4, 4, 1)
    with pytest.raises(ValueError, match=r"T = 4 frames.*1 \+ 4k.*5"):
        tok.tokenize_stream(None, state, final=True)
    codes, state = tok.tokenize_stream(x[:, :, 4:5], state, final=True)
    assert codes.shape[1] == 1
    with pytest.raises(ValueError, match="finished"):
        tok.tokenize_stream(x[:, :, :1], state)
    _, state = tok.tokenize_stream(x[:, :, :1])
    with pytest.raises(ValueError, match="keeps its batch size"):
        tok.tokenize_stream(x[:1, :, 1:5], state)
    with pytest.raises(TypeError, match="VideoStreamState"):
        tok.tokenize_stream(x[:, :, :1], {"layers": {}})


@pytest.mark.parametrize("quantizer,kwargs,dim", [
    ("lfq", {"group_size": 4}, 8), ("bsq", {"group_size": 4}, 8), ("fsq", {"levels": [8, 5]}, 2),
])  # fmt: skip
def test_any_quantizer(quantizer, kwargs, dim):
    tok = build(token_dim=dim, quantizer=quantizer, quantizer_kwargs=kwargs)
    x = clip()
    codes = tok.tokenize(x)
    assert codes.shape[-1] == tok.num_codebooks
    with torch.no_grad():
        assert tok.detokenize(codes).shape == x.shape


def test_inflation_from_a_2d_vqgan_reconstructs_static_clips_like_the_image_model(tmp_path):
    torch.manual_seed(0)
    image_tok = zoo.create_tokenizer("vqgan_test").eval()
    video = Causal3D.from_image_tokenizer(image_tok, num_frames=5).eval()
    assert video.architecture == "causal3d_inflated"
    assert (video.spatial_factor, video.temporal_factor) == (4, 4)
    images = photo_crops(2, 32)
    static = images.unsqueeze(2).expand(-1, -1, 9, -1, -1)
    with torch.no_grad():
        ref_codes = image_tok.tokenize(images)
        ref = image_tok.detokenize(ref_codes)
        codes = video.tokenize(static)
        x_hat = video.detokenize(codes)
    for j in range(codes.shape[1]):
        assert torch.equal(codes[:, j], ref_codes)
    for t in range(9):
        torch.testing.assert_close(x_hat[:, :, t], ref, rtol=1e-4, atol=1e-4)
    # the same through inflate_from= (a save_pretrained folder), as a training YAML would do it
    image_tok.save_pretrained(tmp_path / "vqgan")
    args = {k: v for k, v in video.get_config().items() if k != "architecture"}
    assert args["inflate_from"] is None
    again = zoo.create_tokenizer(
        "causal3d_inflated", **dict(args, inflate_from=str(tmp_path / "vqgan"))
    ).eval()
    assert torch.equal(again.tokenize(static), codes)
    assert again.get_config()["inflate_from"] is None  # reloads do not re-inflate
    again.save_pretrained(tmp_path / "video")
    assert torch.equal(zoo.load(str(tmp_path / "video")).tokenize(static), codes)


def test_inflation_refuses_a_mismatched_image_model():
    torch.manual_seed(0)
    image_tok = zoo.create_tokenizer("vqgan_test")
    with pytest.raises(ValueError, match="lacks|do not fit"):
        from zoo.tokenizers.video import inflate_image_weights

        inflate_image_weights(build(), image_tok)
    with pytest.raises(TypeError, match="VQGAN"):
        Causal3D.from_image_tokenizer(zoo.create_tokenizer("titok_test"))


def test_hierarchical_levels_decode_from_any_prefix():
    tok = build("causal3d_test_hier")
    x = clip()
    assert tok.supported_num_codebooks() == [1, 2, 3]
    full = tok.tokenize(x)
    assert full.shape == (2, 2, 4, 4, 3)
    outs = []
    with torch.no_grad():
        for k in (1, 2, 3):
            codes = tok.tokenize(x, num_codebooks=k)
            assert torch.equal(codes, full[..., :k])
            x_hat = tok.detokenize(codes)
            assert x_hat.shape == x.shape and torch.isfinite(x_hat).all()
            outs.append(x_hat)
        torch.testing.assert_close(outs[-1], tok.detokenize(full))
    assert not torch.allclose(outs[0], outs[2])  # finer levels add detail
    with pytest.raises(ValueError, match=r"num_codebooks must be one of \[1, 2, 3\]"):
        tok.tokenize(x, num_codebooks=4)
    # a prefix streams too
    y, _ = tok.detokenize_stream(full[..., :2], final=True)
    torch.testing.assert_close(y, outs[1], rtol=1e-5, atol=1e-5)


def test_tiling_larger_frames():
    tok = build()
    x = clip(t=5, size=32)
    codes = tok.tokenize_tiled(x, tile=16, overlap=4)
    assert codes.shape == (2, 2, 8, 8, 1)
    # a tile as large as the frame is the plain path
    assert torch.equal(tok.tokenize_tiled(x, tile=32), tok.tokenize(x))
    with torch.no_grad():
        y = tok.detokenize_tiled(codes, tile=16, overlap=4)
        assert y.shape == x.shape and torch.isfinite(y).all()
        torch.testing.assert_close(tok.detokenize_tiled(codes, tile=32), tok.detokenize(codes))
    with pytest.raises(ValueError, match="multiples"):
        tok.tokenize_tiled(x, tile=15)


def test_bad_inputs_name_the_problem_and_the_fix():
    tok = build()
    x = clip(t=5)
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\).*permute\(0, 2, 1, 3, 4\)"):
        tok.tokenize(x.permute(0, 2, 1, 3, 4))
    with pytest.raises(ValueError, match=r"T = 6 frames.*1 \+ 4k.*5 or 9.*pad_frames"):
        tok.tokenize(torch.cat([x, x[:, :, :1]], 2))
    with pytest.raises(ValueError, match="empty clip"):
        tok.tokenize(x[:, :, :0])
    with pytest.raises(ValueError, match="empty batch"):
        tok.tokenize(x[:0])
    with pytest.raises(ValueError, match=r"4-d.*unsqueeze\(2\)"):
        tok.tokenize(x[:, :, 0])
    bad = x.clone()
    bad[1, 2, 3, 4, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN.*item 1, channel 2, frame 3"):
        tok.tokenize(bad)
    with pytest.raises(TypeError, match=r"floating-point.*127\.5"):
        tok.tokenize(((x + 1) * 127.5).to(torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        tok.tokenize((x + 1) * 127.5)
    with pytest.raises(ValueError, match="multiples of the spatial factor 4"):
        tok.tokenize(x[..., :15])
    with pytest.raises(ValueError, match="channels"):
        tok.tokenize(torch.cat([x, x], 1))
    # the documented padding rule
    x7 = clip(t=7)
    padded, t = tok.pad_frames(x7)
    assert t == 7 and padded.shape[2] == 9
    assert torch.equal(padded[:, :, 7], x7[:, :, 6]) and torch.equal(padded[:, :, 8], x7[:, :, 6])
    with torch.no_grad():
        assert tok.detokenize(tok.tokenize(padded))[:, :, :t].shape == x7.shape
    # bad codes
    codes = tok.tokenize(x)
    with pytest.raises(ValueError, match=r"\(B, t, h, w, k\)"):
        tok.detokenize(codes[:, 0])
    with pytest.raises(ValueError, match="codebook_size|range|\\[0, "):
        tok.detokenize(codes + tok.codebook_size)


def test_cpu_variant_mirrors_vqgan_cpu_f8_for_inflation():
    torch.manual_seed(0)
    image_tok = zoo.create_tokenizer("vqgan_cpu_f8")
    video = zoo.create_tokenizer("causal3d_cpu_f8_vqgan")
    from zoo.tokenizers.video import inflate_image_weights

    assert inflate_image_weights(video, image_tok) == []  # every tensor has a 2D counterpart
    small = zoo.create_tokenizer("causal3d_cpu_f8")
    assert (small.spatial_factor, small.temporal_factor) == (8, 4)
    assert small.token_shape() == (5, 16, 16)
    assert sum(p.numel() for p in small.parameters()) < 4_000_000
