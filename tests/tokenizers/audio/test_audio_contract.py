"""Audio contract, swept over every tiny audio variant: any clip length, variable bitrate,
chunked streaming == whole clip, causality, sample-rate handling and streaming errors.

The modality-independent contract (shapes, batching, gradients, save/load) lives in
tests/tokenizers/test_tokenizer_contract.py, the errors for bad clips and codes in
test_audio_bad_input.py; this file adds what only audio tokenizers promise.
"""

from __future__ import annotations

import math

import pytest
import torch

import zoo
from zoo.tokenizers.audio import AudioTokenizer

AUDIO = [
    n for n in zoo.list_tokenizers("*test*") if isinstance(zoo.create_tokenizer(n), AudioTokenizer)
]


def build(name: str) -> AudioTokenizer:
    torch.manual_seed(0)
    return zoo.create_tokenizer(name).eval()


@pytest.fixture
def speech_for(load_speech):
    """``speech_for(tok)``: real speech at the model's rate, 2 different excerpts of a length
    that is not a multiple of the hop."""
    return lambda tok, batch=2: _excerpts(load_speech(tok.sample_rate), tok, batch)


def _excerpts(x: torch.Tensor, tok: AudioTokenizer, batch: int, seconds: float = 0.25):
    n = int(seconds * tok.sample_rate) + tok.hop_length // 2 + 1
    starts = [int(0.3 * tok.sample_rate) + 811 * i for i in range(batch)]
    clips = torch.cat([x[..., s : s + n] for s in starts])
    return clips.expand(-1, tok.channels, -1).contiguous()


def test_audio_variants_found():
    assert {"seanet_test", "seanet_test_snake"} <= set(AUDIO), AUDIO


@pytest.mark.parametrize("name", AUDIO)
def test_any_length_rounds_up_to_whole_frames(name, speech_for):
    tok = build(name)
    x = speech_for(tok)
    frames = tok.num_frames(x.shape[-1])
    assert frames == math.ceil(x.shape[-1] / tok.hop_length) and x.shape[-1] % tok.hop_length
    codes = tok.tokenize(x)
    assert codes.shape == (2, frames, tok.num_codebooks) and codes.dtype == torch.int64
    with torch.no_grad():
        audio = tok.detokenize(codes)
        trimmed = tok.detokenize(codes, length=x.shape[-1])
        out = tok(x)
    assert audio.shape == (2, tok.channels, frames * tok.hop_length)
    assert torch.equal(trimmed, audio[..., : x.shape[-1]])
    assert out.reconstruction.shape == x.shape and out.num_tokens == frames
    assert torch.equal(out.quantizer.codes, codes)
    torch.testing.assert_close(out.reconstruction, trimmed, rtol=1e-5, atol=1e-6)
    assert tok.frame_rate == tok.sample_rate / tok.hop_length
    assert tok.num_tokens == math.ceil(tok.frame_rate)


@pytest.mark.parametrize("name", AUDIO)
def test_edge_lengths(name, speech_for):
    """One frame exactly, one sample more, one sample short of two frames, and a prime length:
    ``num_frames`` predicts the token count and decoding trims back to the clip."""
    tok = build(name)
    x = speech_for(tok, batch=1)
    hop = tok.hop_length
    for n in (hop, hop + 1, 2 * hop - 1, 1009):
        clip = x[..., :n]
        codes = tok.tokenize(clip)
        assert codes.shape == (1, tok.num_frames(n), tok.num_codebooks), n
        assert tok.num_frames(n) == -(-n // hop)
        with torch.no_grad():
            assert tok.detokenize(codes, length=n).shape == clip.shape
            assert tok(clip).reconstruction.shape == clip.shape


@pytest.mark.parametrize("name", AUDIO)
def test_every_supported_bitrate(name, speech_for):
    tok = build(name)
    x = speech_for(tok)
    full = tok.tokenize(x)
    ks = tok.supported_num_codebooks()
    assert ks[-1] == tok.num_codebooks
    prev = None
    for k in ks:
        codes = tok.tokenize(x, num_codebooks=k)
        assert torch.equal(codes, full[..., :k])
        with torch.no_grad():
            audio = tok.detokenize(codes)
        assert audio.shape == (2, tok.channels, full.shape[1] * tok.hop_length)
        assert torch.isfinite(audio).all()
        if prev is not None:  # more codebooks must change the reconstruction
            assert not torch.equal(audio, prev)
        prev = audio
        expected = tok.frame_rate * k * math.log2(tok.codebook_size)
        assert tok.bitrate(k) == pytest.approx(expected)
    assert tok.bitrate() == pytest.approx(tok.bits_per_item())
    with pytest.raises(ValueError, match="num_codebooks must be one of"):
        tok.tokenize(x, num_codebooks=tok.num_codebooks + 1)
    with pytest.raises(ValueError, match="with k in"):
        tok.detokenize(full[..., :0])


@pytest.mark.parametrize("name", [n for n in AUDIO if build(n).supports_streaming])
@pytest.mark.parametrize("chunks", [[7, 1, 300, 2], [40], [5000]])
def test_streaming_equals_whole_clip(name, chunks, speech_for):
    tok = build(name)
    x = speech_for(tok)
    codes = tok.tokenize(x)
    with torch.no_grad():
        audio = tok.detokenize(codes)
    got, state, pos, i = [], None, 0, 0
    while pos < x.shape[-1]:
        n = chunks[i % len(chunks)]
        i += 1
        piece = x[..., pos : pos + n]
        pos += n
        c, state = tok.tokenize_stream(piece, state, final=pos >= x.shape[-1])
        got.append(c)
    assert torch.equal(torch.cat(got, 1), codes)
    with pytest.raises(ValueError, match="finished"):
        tok.tokenize_stream(x, state)

    # decode in uneven groups of frames, the last call with no new codes
    got, state, t, sizes = [], None, 0, [1, 3, 2, 5]
    while t < codes.shape[1]:
        n = sizes[len(got) % len(sizes)]
        a, state = tok.detokenize_stream(codes[:, t : t + n], state)
        got.append(a)
        t += n
    a, state = tok.detokenize_stream(None, state, final=True)
    got.append(a)
    torch.testing.assert_close(torch.cat(got, -1), audio, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in AUDIO if build(n).causal])
def test_causal_codes_do_not_depend_on_the_future(name, speech_for):
    tok = build(name)
    x = speech_for(tok)
    full = tok.tokenize(x)
    cut = x.shape[-1] // 2
    head = tok.tokenize(x[..., :cut])
    # Only the last frame of the cut clip sees its end padding.
    n = head.shape[1] - 1
    assert n > 4
    assert torch.equal(head[:, :n], full[:, :n])


@pytest.mark.parametrize("name", AUDIO)
def test_sample_rate_argument(name, speech_for):
    tok = build(name)
    x = speech_for(tok)
    assert torch.equal(tok.tokenize(x, sample_rate=tok.sample_rate), tok.tokenize(x))
    with pytest.raises(ValueError, match="resample"):
        tok.tokenize(x, sample_rate=2 * tok.sample_rate)
    codes = tok.tokenize(
        torch.repeat_interleave(x, 2, dim=-1), sample_rate=2 * tok.sample_rate, resample=True
    )
    assert codes.shape[1] == math.ceil(2 * x.shape[-1] / 2 / tok.hop_length)
    with pytest.raises(ValueError, match="sample_rate="):
        tok.tokenize(x, resample=True)


@pytest.mark.parametrize("name", [n for n in AUDIO if build(n).supports_streaming])
def test_bad_stream_inputs(name, speech_for):
    tok = build(name)
    x = speech_for(tok)
    with pytest.raises(ValueError, match="shorter than one frame"):
        tok.tokenize_stream(x[..., :2], None, final=True)
    with pytest.raises(TypeError, match="StreamState"):
        tok.tokenize_stream(x, {"not": "a state"})
    with pytest.raises(ValueError, match="mix down"):
        tok.tokenize_stream(x.expand(-1, 2, -1), None)
    with pytest.raises(TypeError, match=r"x\.to\(torch\.float32\)"):
        tok.tokenize_stream(x.double(), None)
    _, state = tok.tokenize_stream(x[..., :50], None)
    with pytest.raises(ValueError, match="keeps its batch size"):
        tok.tokenize_stream(x[:1, :, 50:100], state)
    with pytest.raises(ValueError, match="the first tokenize_stream call needs audio"):
        tok.tokenize_stream(None, None, final=True)
    codes = tok.tokenize(x)
    _, state = tok.detokenize_stream(codes[:, :2], None)
    with pytest.raises(ValueError, match="keeps its batch size and codebook count"):
        tok.detokenize_stream(codes[:, 2:4, :1], state)
    with pytest.raises(ValueError, match="needs codes"):
        tok.detokenize_stream(None, None, final=True)
