"""Contract tests swept over every registered tiny tokenizer variant (``*test*``).

Families supply only their tiny variant; the behaviour lives here. Capabilities come from
attributes (``modality``, ``flexible_length``, ``input_size`` / ``input_multiple``); what differs
by modality (example input, token and decoded shapes, bad sizes) is one row of ``MODALITIES``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

import zoo
from zoo.data.samples import photo_crops

NAMES = zoo.list_tokenizers("*test*")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def build(name: str, seed: int = 0):
    torch.manual_seed(seed)
    return zoo.create_tokenizer(name)


def _image_input(tok, batch: int, seed: int) -> torch.Tensor:
    """Photo crops of the size whose token grid is the default ``token_shape()``."""
    if tok.input_size is not None:
        h, w = tok.input_size
    else:  # fully convolutional: the size whose token grid is the default token_shape
        m = tok.input_multiple
        mh, mw = (m, m) if isinstance(m, int) else m
        gh, gw = tok.token_shape()
        h, w = gh * mh, gw * mw
    return photo_crops(batch, h, w, seed=seed)


def _audio_input(tok, batch: int, seed: int) -> torch.Tensor:
    """About one second of recorded speech whose length is NOT a multiple of the hop."""
    import soundfile as sf

    clips = sorted(FIXTURES.glob("*.flac"))
    assert clips, f"no real audio fixture under {FIXTURES}"
    wav, _ = sf.read(clips[0], dtype="float32", always_2d=True)
    hop = tok.hop_length
    # Whole frames minus one, plus about half a frame: never a multiple of the hop (> 1).
    n = max(4, min(wav.shape[0], 8000) // hop - 1) * hop + (hop + 1) // 2
    x = torch.from_numpy(wav[:n].T.copy())[: tok.in_channels]
    starts = [(seed + i) * 97 for i in range(batch)]
    return torch.stack([x.roll(s, -1) for s in starts])


def _video_input(tok, batch: int, seed: int) -> torch.Tensor:
    """A clip of the nominal size (``num_frames`` x ``frame_size``^2) panning across a photo one
    pixel per frame."""
    t, s = tok.num_frames, tok.frame_size
    big = photo_crops(batch, s, s + t, seed=seed)
    return torch.stack([big[..., i : i + s] for i in range(t)], 2)


def _audio_tokens(tok, x: torch.Tensor) -> tuple[int, ...]:
    return (tok.num_frames(x.shape[-1]),)


def _audio_decoded(tok, x: torch.Tensor) -> tuple[int, ...]:
    return (*x.shape[:-1], tok.num_frames(x.shape[-1]) * tok.hop_length)


class Modality(NamedTuple):
    """How the sweep treats one modality: its example input, the token grid and decoded shape of
    an input, and inputs of a size the model cannot take (with the error they must raise)."""

    example: Callable[..., torch.Tensor]
    token_shape: Callable[..., tuple[int, ...]] = lambda tok, x: tok.token_shape()
    decoded_shape: Callable[..., tuple[int, ...]] = lambda tok, x: tuple(x.shape)
    bad_sizes: Callable[[torch.Tensor], list[tuple[torch.Tensor, str]]] = lambda x: []


MODALITIES = {
    "image": Modality(_image_input, bad_sizes=lambda x: [(x[..., :-1], "size|multiples")]),
    # audio takes any length of at least one frame; it decodes whole frames (frames * hop)
    "audio": Modality(_audio_input, _audio_tokens, _audio_decoded),
    "video": Modality(
        _video_input,
        bad_sizes=lambda x: [(x[..., :-1], "size|multiples"), (x[:, :, 1:], "frames")],
    ),
}


def modality(tok) -> Modality:
    assert tok.modality in MODALITIES, f"add an entry for modality {tok.modality!r} to MODALITIES"
    return MODALITIES[tok.modality]


def example_input(tok, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """Real data in the tokenizer's layout: photo crops for images, recorded speech for audio,
    a panning photo for video. Images and video get the size whose token grid is the default
    ``token_shape()``; audio a clip that is not a whole number of frames (expected token counts
    come from :func:`expected_token_shape`)."""
    return modality(tok).example(tok, batch, seed)


def expected_token_shape(tok, x: torch.Tensor) -> tuple[int, ...]:
    """Token grid of input ``x``."""
    return modality(tok).token_shape(tok, x)


def decoded_shape(tok, x: torch.Tensor) -> tuple[int, ...]:
    """Shape of ``detokenize(tokenize(x))``."""
    return modality(tok).decoded_shape(tok, x)


def test_tiny_variants_exist():
    assert {"titok_test", "vqgan_test", "causal3d_test", "cvivit_test", "larp_test"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_tokenize_shapes_and_round_trip(name):
    tok = build(name).eval()
    x = example_input(tok)
    codes = tok.tokenize(x)
    assert codes.dtype == torch.int64
    assert codes.shape == (x.shape[0], *expected_token_shape(tok, x), tok.num_codebooks)
    assert int(codes.min()) >= 0 and int(codes.max()) < tok.codebook_size
    with torch.no_grad():
        x_hat = tok.detokenize(codes)
        out = tok(x)
    assert x_hat.shape == decoded_shape(tok, x)
    assert torch.isfinite(x_hat).all()
    assert torch.equal(out.quantizer.codes, codes)
    assert out.reconstruction.shape == x.shape  # forward trims audio to the input length
    torch.testing.assert_close(x_hat[..., : x.shape[-1]], out.reconstruction, rtol=1e-5, atol=2e-5)
    assert tok.bits_per_item() == pytest.approx(
        math.prod(tok.token_shape()) * tok.quantizer.bits_per_token
    )


@pytest.mark.parametrize("name", NAMES)
def test_batching_does_not_change_codes(name):
    tok = build(name).eval()
    x = example_input(tok, batch=3)
    together = tok.tokenize(x)
    alone = torch.cat([tok.tokenize(x[i : i + 1]) for i in range(3)])
    assert torch.equal(together, alone)


@pytest.mark.parametrize("name", [n for n in NAMES if zoo.create_tokenizer(n).flexible_length])
def test_every_prefix_length_decodes(name):
    tok = build(name).eval()
    x = example_input(tok)
    full = tok.tokenize(x)
    for k in range(1, tok.num_tokens + 1):
        codes = tok.tokenize(x, num_tokens=k)
        assert codes.shape[1] == k
        assert torch.equal(codes, full[:, :k])
        with torch.no_grad():
            x_hat = tok.detokenize(codes)
            ref = tok(x, num_tokens=k).reconstruction
        assert x_hat.shape == x.shape
        torch.testing.assert_close(x_hat, ref, rtol=1e-5, atol=2e-5)
        assert tok.bits_per_item(k) == pytest.approx(k * tok.quantizer.bits_per_token)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_the_encoder(name):
    tok = build(name).train()
    x = example_input(tok).requires_grad_(True)
    out = tok(x)
    loss = (out.reconstruction - x.detach()).abs().mean() + out.quantizer.loss
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with_grad = [n for n, p in tok.named_parameters() if p.grad is not None and p.grad.any()]
    params = [n for n, p in tok.named_parameters() if p.requires_grad]
    assert len(with_grad) >= 0.5 * len(params), f"few parameters got gradients: {with_grad}"


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_reproduces_codes(name, tmp_path):
    tok = build(name).eval()
    x = example_input(tok)
    tok.save_pretrained(tmp_path / "tok")
    for f in ("model.safetensors", "config.json", "README.md"):
        assert (tmp_path / "tok" / f).is_file(), f
    loaded = zoo.load(str(tmp_path / "tok")).eval()
    assert type(loaded) is type(tok)
    assert torch.equal(loaded.tokenize(x), tok.tokenize(x))


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_raise_clear_errors(name):
    tok = build(name).eval()
    x = example_input(tok)
    with pytest.raises(ValueError, match="channels"):
        tok.tokenize(torch.cat([x, x], dim=1))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        tok.tokenize(x * 127.5 + 127.5)
    with pytest.raises(ValueError, match="empty batch"):
        tok.tokenize(x[:0])
    with pytest.raises(TypeError, match="floating-point"):
        tok.tokenize((x * 127).to(torch.int64))
    bad = x.clone()
    bad.view(-1)[3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        tok.tokenize(bad)
    for bad_size, message in modality(tok).bad_sizes(x):
        with pytest.raises(ValueError, match=message):
            tok.tokenize(bad_size)
