"""Fuzz ``tokenize`` / ``detokenize`` of every tiny registered variant (``*test*``, the ones the
contract tests build) with generated inputs: batch sizes, channel counts and sizes around the
valid ones (empty, one short, not a multiple, other fixed sizes), extra or missing axes, every
float dtype and some integer ones, values in and out of [-1, 1], NaN / Inf; ``num_tokens`` /
``num_codebooks`` / ``sample_rate`` / ``length`` arguments of every type; codes of every
integer dtype, shape and range. Each input works -- and then keeps the contract (shapes, int64
codes in range, finite reconstructions of the input's layout) -- or fails clearly."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from fuzzing import attempt, fuzz_test, strategies

import zoo

S = strategies()
st = S.st
NAMES = zoo.list_tokenizers("*test*")
MAX_SIDE = 64  # image sides and audio lengths stay small: many inputs per second
MAX_SAMPLES = 3000

pytestmark = pytest.mark.timeout(600)


@functools.cache
def tokenizer(name: str):
    torch.manual_seed(0)
    return zoo.create_tokenizer(name).eval()


def _default_size(tok) -> tuple[int, int]:
    """The image size whose token grid is ``token_shape()`` (as the contract tests use)."""
    if tok.input_size is not None:
        return tuple(tok.input_size)
    m = tok.input_multiple
    mh, mw = (m, m) if isinstance(m, int) else m
    gh, gw = tok.token_shape()
    return gh * mh, gw * mw


# ---------------------------------------------------------------------------------- inputs
@st.composite
def sizes_near(draw, good: int, multiple: int, smallest: int, cap: int) -> int:
    choices = [good, good, smallest, good + multiple, good - 1, good + 1, 1, 0, multiple]
    return min(cap, max(0, draw(st.sampled_from(choices))))


@st.composite
def image_input(draw, tok) -> torch.Tensor:
    h0, w0 = _default_size(tok)
    m = tok.input_multiple if isinstance(tok.input_multiple, int) else tok.input_multiple[0]
    sh, sw = tok.smallest_input_size()
    shape = [
        draw(st.sampled_from([1, 2, 1, 0])),
        draw(st.sampled_from([3, 3, 3, 1, 4, 0])),
        draw(sizes_near(h0, m, sh, MAX_SIDE)),
        draw(sizes_near(w0, m, sw, MAX_SIDE)),
    ]
    axes = draw(st.sampled_from(["ok"] * 6 + ["drop batch", "extra axis", "channels last"]))
    if axes == "drop batch":
        shape = shape[1:]
    elif axes == "extra axis":
        shape = [*shape[:2], 2, *shape[2:]]
    elif axes == "channels last":
        shape = [shape[0], shape[2], shape[3], shape[1]]
    return draw(_pixels(tuple(shape)))


@st.composite
def video_input(draw, tok) -> torch.Tensor:
    """Clips around the tokenizer's nominal size: frame counts it takes and not, odd frame
    sizes, the (B, T, C, H, W) layout, a 4-d image, no batch axis."""
    t0, s0 = tok.num_frames, tok.frame_size
    side = st.sampled_from([s0, s0, s0, s0 // 2, s0 + 1, s0 - 1, 1, 0])
    shape = [
        draw(st.sampled_from([1, 2, 1, 0])),
        draw(st.sampled_from([3, 3, 3, 1, 0])),
        draw(st.sampled_from([t0, t0, t0, 1, t0 + 1, t0 - 1, 2, 0])),
        min(MAX_SIDE, draw(side)),
        min(MAX_SIDE, draw(side)),
    ]
    axes = draw(st.sampled_from(["ok"] * 6 + ["frames first", "image", "drop batch"]))
    if axes == "frames first":
        shape = [shape[0], shape[2], shape[1], *shape[3:]]
    elif axes == "image":
        shape = [shape[0], shape[1], *shape[3:]]
    elif axes == "drop batch":
        shape = shape[1:]
    return draw(_pixels(tuple(shape)))


@st.composite
def _pixels(draw, shape: tuple[int, ...]) -> torch.Tensor:
    dtype = draw(st.sampled_from(S.float_dtypes * 4 + S.other_dtypes))
    if draw(st.integers(0, 3)):  # mostly valid values, so that most inputs get past the checks
        return draw(S.values(shape, dtype, low_high=(-1.0, 1.0)))
    return draw(S.values(shape, dtype))


@st.composite
def audio_input(draw, tok) -> torch.Tensor:
    hop = tok.hop_length
    length = draw(
        st.sampled_from([0, 1, hop - 1, hop, hop + 1, 7 * hop + 3, MAX_SAMPLES])
        | st.integers(0, MAX_SAMPLES)
    )
    shape = [
        draw(st.sampled_from([1, 2, 1, 0])),
        draw(st.sampled_from([tok.channels] * 4 + [tok.channels + 1, 0])),
        max(0, length),
    ]
    axes = draw(st.sampled_from(["ok"] * 6 + ["no batch", "no channels", "extra axis"]))
    if axes == "no batch":
        shape = shape[1:]
    elif axes == "no channels":
        shape = [shape[0], shape[2]]
    elif axes == "extra axis":
        shape = [1, *shape]
    return draw(_pixels(tuple(shape)))


JUNK_COUNTS = st.one_of(st.none(), st.integers(-2, 70), S.junk)


# ---------------------------------------------------------------------------------- checks
def _check_codes(tok, x: torch.Tensor, codes: torch.Tensor, k: int | None = None) -> None:
    assert isinstance(codes, torch.Tensor) and codes.dtype == torch.int64, codes.dtype
    assert codes.shape[0] == x.shape[0], (codes.shape, x.shape)
    ncb = tok.num_codebooks if k is None else k
    assert codes.shape[-1] == ncb, (codes.shape, ncb)
    if tok.modality == "audio":
        assert codes.ndim == 3 and codes.shape[1] == tok.num_frames(x.shape[-1]), codes.shape
    elif tok.modality == "video" and tok.grid_tokens:
        assert tuple(codes.shape[1:-1]) == tok.token_grid(*x.shape[2:]), (codes.shape, x.shape)
    elif tok.modality == "video":
        assert codes.ndim == 3, codes.shape
    else:
        assert codes.ndim == 2 + len(tok.token_shape()), codes.shape
    lo, hi = int(codes.min()), int(codes.max())
    assert 0 <= lo and hi < tok.codebook_size, f"codes in [{lo}, {hi}]"


def _check_reconstruction(tok, codes: torch.Tensor, y: torch.Tensor, x=None) -> None:
    assert isinstance(y, torch.Tensor) and y.dtype == tok._model_dtype(), y.dtype
    assert torch.isfinite(y).all(), "non-finite reconstruction"
    if tok.modality == "audio":
        assert tuple(y.shape) == (codes.shape[0], tok.channels, codes.shape[1] * tok.hop_length)
    elif x is not None:
        assert tuple(y.shape) == tuple(x.shape), (y.shape, x.shape)
    else:
        assert y.shape[:2] == (codes.shape[0], tok.in_channels), y.shape


def _round_trip(tok, x: torch.Tensor, kwargs: dict) -> tuple:
    with torch.no_grad():
        codes = tok.tokenize(x, **kwargs)
        return codes, tok.detokenize(codes)


# ---------------------------------------------------------------------------------- tests
def _tokenize(data) -> None:
    name = data.draw(st.sampled_from(NAMES), label="name")
    tok = tokenizer(name)
    kwargs = {}
    if tok.modality == "audio":
        x = data.draw(audio_input(tok), label="x")
        if data.draw(st.booleans(), label="num_codebooks?"):
            kwargs["num_codebooks"] = data.draw(
                st.sampled_from(tok.supported_num_codebooks()) | JUNK_COUNTS
            )
        if data.draw(st.booleans(), label="sample_rate?"):
            rates = [tok.sample_rate, tok.sample_rate, 8000, 11025, 44100, 0, -16000, 1, 10**9]
            kwargs["sample_rate"] = data.draw(st.sampled_from(rates) | S.junk)
            kwargs["resample"] = data.draw(st.booleans() | S.junk)
    else:
        inputs = video_input if tok.modality == "video" else image_input
        x = data.draw(inputs(tok), label="x")
        if data.draw(st.booleans(), label="num_tokens?"):
            kwargs["num_tokens"] = data.draw(st.integers(-1, tok.num_tokens + 1) | JUNK_COUNTS)
    what = f"{name}.tokenize(x {tuple(x.shape)} {x.dtype}, **{kwargs!r})"

    def check(result: tuple) -> None:
        codes, y = result
        k = kwargs.get("num_codebooks")
        _check_codes(tok, _resampled(tok, x, kwargs), codes, k)
        same_layout = tok.modality in ("image", "video")  # reconstructs the input's shape
        if same_layout and kwargs.get("num_tokens") not in (None, tok.num_tokens):
            assert codes.shape[1] == kwargs["num_tokens"], codes.shape
            _check_reconstruction(tok, codes, y, x)
        else:
            _check_reconstruction(tok, codes, y, x if same_layout else None)

    attempt(lambda: _round_trip(tok, x, kwargs), what=what, check=check)


def _resampled(tok, x: torch.Tensor, kwargs: dict) -> torch.Tensor:
    """A stand-in with the length ``x`` has at the model's rate (for the frame count)."""
    rate = kwargs.get("sample_rate", getattr(tok, "sample_rate", None))
    if rate == getattr(tok, "sample_rate", None):
        return x
    n = math.ceil(x.shape[-1] * tok.sample_rate / rate)
    return x.new_zeros(x.shape[0], x.shape[1], n)


test_tokenize = fuzz_test(_tokenize, 30)
test_tokenize_many = fuzz_test(_tokenize, 1500, slow=True)


@st.composite
def codes_input(draw, tok) -> torch.Tensor:
    if tok.modality == "audio":
        grid = [draw(st.sampled_from([1, 2, 5, 0, 40]))]
        k = draw(st.sampled_from([*tok.supported_num_codebooks(), 0, tok.num_codebooks + 1]))
    else:
        grid = list(tok.token_shape())
        if tok.flexible_length:
            grid = [draw(st.sampled_from([1, grid[0], grid[0] + 1, 0, 3]))]
        elif len(grid) == 2 and tok.input_size is None:  # fully convolutional: any grid
            grid = [draw(st.sampled_from([1, 2, g, g + 1, 0])) for g in grid]
        k = tok.num_codebooks if draw(st.integers(0, 4)) else draw(st.integers(0, 3))
    shape = [draw(st.sampled_from([1, 2, 1, 0])), *grid, k]
    if draw(st.integers(0, 6)) == 0:  # a missing or an extra axis
        shape = shape[1:] if draw(st.booleans()) else [*shape, 1]
    kind = draw(st.sampled_from(["valid"] * 4 + ["negative", "too large", "wide"]))
    bounds = {
        "valid": (0, tok.codebook_size),
        "negative": (-3, tok.codebook_size),
        "too large": (0, tok.codebook_size + 3),
        "wide": (-(2**40), 2**40),
    }[kind]
    dtype = draw(st.sampled_from(S.code_dtypes * 3 + [torch.float32, torch.bool]))
    return draw(S.values(tuple(shape), dtype, low_high=bounds))


def _detokenize(data) -> None:
    name = data.draw(st.sampled_from(NAMES), label="name")
    tok = tokenizer(name)
    codes = data.draw(codes_input(tok), label="codes")
    kwargs = {}
    if tok.modality == "audio" and data.draw(st.booleans(), label="length?"):
        kwargs["length"] = data.draw(st.integers(-1, 200) | JUNK_COUNTS)
    what = f"{name}.detokenize(codes {tuple(codes.shape)} {codes.dtype}, **{kwargs!r})"

    def check(y: torch.Tensor) -> None:
        if kwargs.get("length") is not None:
            assert y.shape[-1] == kwargs["length"], (y.shape, kwargs)
            full = tok.detokenize(codes)
            assert torch.equal(full[..., : kwargs["length"]], y), "length is not a trim"
        else:
            _check_reconstruction(tok, codes, y)
        ref = tok.detokenize(codes.long(), **kwargs)
        assert torch.equal(ref, y), "detokenize depends on the codes' dtype"

    with torch.no_grad():
        attempt(lambda: tok.detokenize(codes, **kwargs), what=what, check=check)


test_detokenize = fuzz_test(_detokenize, 30)
test_detokenize_many = fuzz_test(_detokenize, 1500, slow=True)


#: Audio streams (video streaming: tests/tokenizers/video, over chunkings of real clips).
STREAMING = [
    n
    for n in NAMES
    if tokenizer(n).modality == "audio" and getattr(tokenizer(n), "supports_streaming", False)
]


def _stream(data) -> None:
    """Chunked streaming equals the whole clip (a silent wrong result otherwise), whatever the
    chunk lengths (0 included); bad chunks fail clearly."""
    name = data.draw(st.sampled_from(STREAMING), label="name")
    tok = tokenizer(name)
    n = data.draw(st.integers(tok.hop_length, 60 * tok.hop_length), label="samples")
    x = torch.rand(1, tok.channels, n, generator=torch.Generator().manual_seed(n)) * 2 - 1
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=6), label="cuts"))
    chunks = [x[..., a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    bad = data.draw(st.sampled_from([None] * 4 + ["dtype", "channels", "nan", "after final"]))
    if bad == "dtype":
        chunks[0] = chunks[0].double()
    elif bad == "channels":
        chunks[-1] = torch.cat([chunks[-1], chunks[-1]], 1)
    elif bad == "nan":
        i = max(j for j, c in enumerate(chunks) if c.shape[-1])  # the last non-empty chunk
        chunks[i] = chunks[i].clone()
        chunks[i][..., -1] = float("nan")
    what = f"{name} streamed in chunks {[c.shape[-1] for c in chunks]} ({bad or 'valid'})"

    def run() -> tuple:
        state, codes = None, []
        for i, c in enumerate(chunks):
            out, state = tok.tokenize_stream(c, state, final=i == len(chunks) - 1)
            codes.append(out)
        if bad == "after final":
            tok.tokenize_stream(chunks[-1], state)
        codes = torch.cat(codes, 1)
        state, audio = None, []
        for i, piece in enumerate(codes.split(max(1, codes.shape[1] // 3), 1)):
            last = i == math.ceil(codes.shape[1] / max(1, codes.shape[1] // 3)) - 1
            out, state = tok.detokenize_stream(piece, state, final=last)
            audio.append(out)
        return codes, torch.cat(audio, -1)

    def check(result: tuple) -> None:
        codes, audio = result
        assert bad is None, f"a stream with a bad chunk ({bad}) was accepted"
        with torch.no_grad():
            ref = tok.tokenize(x)
            assert torch.equal(codes, ref), "streamed codes differ from tokenize(x)"
            y = tok.detokenize(ref)
        assert audio.shape == y.shape, (audio.shape, y.shape)
        assert torch.allclose(audio, y, atol=1e-4), float((audio - y).abs().max())

    attempt(run, what=what, check=check)


test_stream = fuzz_test(_stream, 10)
test_stream_many = fuzz_test(_stream, 500, slow=True)
