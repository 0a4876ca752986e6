"""Bad input to every audio family gives an error that names the problem and the fix; silence is
valid input.

Each case is checked for every registered tiny audio variant (SEANet/EnCodec, SEANet with Snake,
DAC, the causal transformer codec, WavTokenizer), built through ``zoo.create_tokenizer``, on real
speech (tests/fixtures). Where an error suggests a fix, the test applies it and checks that the
fixed input is accepted.
"""

from __future__ import annotations

import contextlib
import re

import pytest
import torch
import torch.nn.functional as F
import torchaudio.functional as AF

import zoo
from zoo.tokenizers.audio import AudioTokenizer

#: Every registered tiny audio variant (one per family at least).
FAMILIES = [
    n for n in zoo.list_tokenizers("*test*") if isinstance(zoo.create_tokenizer(n), AudioTokenizer)
]


def test_every_family_is_covered():
    assert {"seanet_test", "seanet_test_snake", "cat_test", "wavtokenizer_test"} <= set(FAMILIES)


@pytest.fixture(scope="module", params=FAMILIES)
def tok(request) -> AudioTokenizer:
    torch.manual_seed(0)
    model = zoo.create_tokenizer(request.param).eval()
    assert model.channels == 1, "these cases assume mono models; extend them for multichannel"
    return model


@pytest.fixture
def speech(tok, load_speech) -> torch.Tensor:
    """Two 0.2 s excerpts of real speech at the model's rate, length not a multiple of the hop."""
    x = load_speech(tok.sample_rate)
    n = int(0.2 * tok.sample_rate) + tok.hop_length // 2 + 1
    start = int(0.3 * tok.sample_rate)
    return torch.cat([x[..., start : start + n], x[..., start + 997 : start + 997 + n]])


@contextlib.contextmanager
def _raises(exc: type[Exception], *patterns: str, tok: AudioTokenizer):
    """``pytest.raises(exc)`` whose message starts with the tokenizer's name and matches every
    regex in ``patterns`` (the problem and the fix)."""
    with pytest.raises(exc) as info:
        yield info
    message = str(info.value)
    assert message.startswith(f"tokenizer {tok.architecture!r}: "), message
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"


def test_wrong_sample_rate_needs_resample(tok, speech):
    other = 2 * tok.sample_rate
    with _raises(
        ValueError,
        rf"expects {tok.sample_rate} Hz audio, got sample_rate={other}",
        r"resample=True",
        rf"torchaudio\.functional\.resample\(x, {other}, {tok.sample_rate}\)",
        tok=tok,
    ):
        tok.tokenize(speech, sample_rate=other)
    # The two fixes the message names give the same codes.
    up = AF.resample(speech, tok.sample_rate, other)
    fixed = tok.tokenize(AF.resample(up, other, tok.sample_rate))
    assert torch.equal(tok.tokenize(up, sample_rate=other, resample=True), fixed)
    assert torch.equal(
        tok.tokenize(speech, sample_rate=float(tok.sample_rate)), tok.tokenize(speech)
    )
    for bad in (tok.sample_rate + 0.5, 0, -tok.sample_rate, float("nan")):
        with _raises(ValueError, "positive whole number of Hz", tok=tok):
            tok.tokenize(speech, sample_rate=bad, resample=True)
    for bad in ("8k", True):
        with _raises(TypeError, r"sample_rate must be the input's rate in Hz", tok=tok):
            tok.tokenize(speech, sample_rate=bad)
    with _raises(ValueError, r"sample_rate=<Hz of x>, resample=True", tok=tok):
        tok.tokenize(speech, resample=True)


def test_empty_clip_and_empty_batch(tok, speech):
    with _raises(ValueError, r"empty clip \(0 samples\)", rf"at least {tok.hop_length}", tok=tok):
        tok.tokenize(speech[..., :0])
    with _raises(ValueError, "empty clip", tok=tok):
        tok(speech[..., :0])
    with _raises(ValueError, "empty batch", tok=tok):
        tok.tokenize(speech[:0])


def test_clip_shorter_than_one_frame(tok, speech):
    hop = tok.hop_length
    short = speech[..., : hop - 3]
    pad = r"torch\.nn\.functional\.pad\(x, \(0, 3\)\)"
    with _raises(ValueError, rf"{hop - 3} samples is shorter than one frame", pad, tok=tok):
        tok.tokenize(short)
    with _raises(ValueError, "shorter than one frame", tok=tok):
        tok(short)
    # The fix: zero-pad to one frame, which is one token.
    codes = tok.tokenize(F.pad(short, (0, 3)))
    assert codes.shape == (2, 1, tok.num_codebooks)
    assert tok.tokenize(speech[..., :hop]).shape[1] == 1


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_inf_samples(tok, speech, value):
    bad = speech.clone()
    bad[1, 0, 123] = value
    where = r"item 1, channel 0, sample 123"
    with _raises(ValueError, r"NaN or Inf \(1 of", where, r"torch\.nan_to_num", tok=tok):
        tok.tokenize(bad)
    with _raises(ValueError, where, tok=tok):
        tok(bad)
    if tok.supports_streaming:
        with _raises(ValueError, where, tok=tok):
            tok.tokenize_stream(bad, None)
    # Repaired as the message suggests (only the Inf clip then leaves [-1, 1]).
    repaired = torch.nan_to_num(bad, posinf=0.0, neginf=0.0)
    assert tok.tokenize(repaired).shape == (2, tok.num_frames(speech.shape[-1]), tok.num_codebooks)


def test_stereo_into_a_mono_model(tok, speech):
    stereo = torch.cat([speech, speech.flip(0)], dim=1)
    with _raises(
        ValueError,
        r"expected 1 audio channel at dim 1",
        r"got 2 channels \(shape \(2, 2, \d+\)\)",
        r"x\.mean\(1, keepdim=True\)",
        tok=tok,
    ):
        tok.tokenize(stereo)
    with _raises(ValueError, "mix down to mono", tok=tok):
        tok(stereo)
    assert tok.tokenize(stereo.mean(1, keepdim=True)).shape[0] == 2


def test_wrong_dtype(tok, speech):
    pcm = (speech * 32767).round().to(torch.int16)
    with _raises(TypeError, "floating-point", r"x\.float\(\) / 32768", tok=tok):
        tok.tokenize(pcm)
    assert tok.tokenize(pcm.float() / 32768).shape[-1] == tok.num_codebooks
    with _raises(TypeError, r"\(x\.float\(\) - 128\) / 128", tok=tok):
        tok.tokenize((speech * 127 + 128).to(torch.uint8))
    with _raises(TypeError, r"float32 audio \(the model's dtype\), got torch\.float64", tok=tok):
        tok.tokenize(speech.double())
    with _raises(TypeError, r"x\.to\(torch\.float32\)", tok=tok):
        tok(speech.to(torch.bfloat16))
    with _raises(TypeError, r"got ndarray \(convert with torch\.from_numpy\)", tok=tok):
        tok.tokenize(speech.numpy())


def test_wrong_layout(tok, speech):
    with _raises(ValueError, r"3-d audio tensor \(B, 1, samples\)", r"x\[None, None\]", tok=tok):
        tok.tokenize(speech[0, 0])
    with _raises(ValueError, r"x\.unsqueeze\(1\)", tok=tok):
        tok.tokenize(speech[:, 0])
    with _raises(ValueError, r"got shape \(1, 2, 1, \d+\)", tok=tok):
        tok.tokenize(speech[None])


def test_samples_outside_the_range(tok, speech):
    with _raises(ValueError, r"samples in \[-1, 1\]", "divide by 32768", tok=tok):
        tok.tokenize(speech / speech.abs().max() * 32767)
    loud = 1.5 * speech / speech.abs().max()
    with _raises(ValueError, r"peak 1\.5", r"x\.clamp\(-1, 1\)", tok=tok):
        tok.tokenize(loud)
    assert tok.tokenize(loud.clamp(-1, 1)).shape[0] == 2
    # check_inputs=False skips the value checks (they synchronise the device), not the layout.
    tok.check_inputs = False
    try:
        assert tok.tokenize(loud).shape[0] == 2
        with _raises(ValueError, "mix down", tok=tok):
            tok.tokenize(loud.expand(-1, 2, -1))
    finally:
        tok.check_inputs = True


def test_bad_codes_in_detokenize(tok, speech):
    codes = tok.tokenize(speech)
    k, size = tok.num_codebooks, tok.codebook_size
    for value in (size, -1):
        bad = codes.clone()
        bad[0, 2, -1] = value
        lo, hi = int(bad.min()), int(bad.max())
        with _raises(
            ValueError, rf"codes must lie in \[0, {size}\)", rf"\[{lo}, {hi}\]", "tokenize", tok=tok
        ):
            tok.detokenize(bad)
    if tok.supports_streaming:
        with _raises(ValueError, rf"\[0, {size}\)", tok=tok):
            tok.detokenize_stream(codes.clamp(max=0) + size, None)
    with _raises(TypeError, r"codes\.long\(\)", tok=tok):
        tok.detokenize(codes.float())
    with _raises(ValueError, "0 frames", tok=tok):
        tok.detokenize(codes[:, :0])
    with _raises(ValueError, r"with k in", tok=tok):
        tok.detokenize(torch.cat([codes, codes[..., :1]], -1))
    if k == 1:
        with _raises(ValueError, r"codes\.unsqueeze\(-1\)", tok=tok):
            tok.detokenize(codes[..., 0])
    total = codes.shape[1] * tok.hop_length
    for length in (0, total + 1, 2.5):
        with _raises(ValueError, rf"length must be an int in \[1, {total}\]", tok=tok):
            tok.detokenize(codes, length=length)
    with torch.no_grad():
        assert tok.detokenize(codes.int(), length=speech.shape[-1]).shape == speech.shape


def test_silent_clip_is_valid(tok):
    """Silence tokenizes, and decodes to a finite clip of the right shape. Untrained weights do
    not decode silence to silence, but a stationary input must give stationary output: away
    from the clip's edges every frame has the same codes and the audio repeats every hop."""
    n = 200 * tok.hop_length + 3
    silent = torch.zeros(2, 1, n)
    codes = tok.tokenize(silent)
    frames = tok.num_frames(n)
    assert codes.shape == (2, frames, tok.num_codebooks)
    mid = codes[:, frames // 4 : 3 * frames // 4]
    assert (mid == mid[:, :1]).all(), "silence must give the same codes in every interior frame"
    with torch.no_grad():
        audio = tok.detokenize(codes, length=n)
    assert audio.shape == silent.shape and torch.isfinite(audio).all()
    inner = audio[..., n // 4 : 3 * n // 4]
    hop = tok.hop_length
    torch.testing.assert_close(inner[..., hop:], inner[..., :-hop], atol=1e-5, rtol=0)

    # Training on a batch with a silent item: finite loss and gradients.
    model = zoo.create_tokenizer(tok.architecture).train()
    x = torch.zeros(2, 1, 40 * hop + 5)
    out = model(x)
    loss = out.reconstruction.abs().mean() + out.quantizer.loss
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)

    if tok.supports_streaming:  # a silent stream, chunk by chunk, equals the whole clip
        got, state = [], None
        for s in range(0, n, 333):
            c, state = tok.tokenize_stream(silent[..., s : s + 333], state, final=s + 333 >= n)
            got.append(c)
        assert torch.equal(torch.cat(got, 1), codes)
