"""`zoo.codec` streams: chunked encode/decode equal the whole-file result, memory stays flat."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors import safe_open

import zoo
from zoo.codec import decode_file, encode_file
from zoo.data.audio import read_audio
from zoo.tokenizers.audio.chunked import ChunkedDecoder, ChunkedEncoder

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "tests" / "fixtures" / "audio" / "frog_desc_fr.flac"  # 1.45 s, 16 kHz
MUSIC = ROOT / "tests" / "fixtures" / "audio" / "music_wesnoth_4s_16k.flac"


def _saved(tmp_path_factory, name: str, **kwargs) -> Path:
    torch.manual_seed(0)
    tok = zoo.create_tokenizer(name, **kwargs).eval()
    path = tmp_path_factory.mktemp("model") / name
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def causal_16k(tmp_path_factory):
    return _saved(tmp_path_factory, "seanet_test", sample_rate=16000)  # the fixture's rate


@pytest.fixture(scope="module")
def causal_8k(tmp_path_factory):
    return _saved(tmp_path_factory, "seanet_test")  # 8 kHz: the codec resamples


def _codes(path: Path) -> torch.Tensor:
    with safe_open(str(path), framework="pt") as f:
        return f.get_tensor("codes")


@pytest.mark.parametrize("model", ["causal_16k", "causal_8k"])
def test_chunked_encode_decode_equal_whole_file(model, request, tmp_path):
    folder = request.getfixturevalue(model)
    tok = zoo.load(str(folder))
    x = read_audio(SPEECH, sample_rate=tok.sample_rate, channels=1)  # the whole file at once
    with torch.no_grad():
        whole_codes = tok.tokenize(x[None])
        whole_audio = tok.detokenize(whole_codes, length=x.shape[-1])[0].clamp(-1, 1).numpy()
    tokens = tmp_path / "t.safetensors"
    meta = encode_file(SPEECH, tokens, model=str(folder), chunk_seconds=0.0371)  # odd blocks
    assert int(meta["length"]) == x.shape[-1]
    assert torch.equal(_codes(tokens), whole_codes)
    out = tmp_path / "t.wav"
    decode_file(tokens, out, chunk_seconds=0.013)
    audio, rate = sf.read(out, dtype="float32", always_2d=True)
    assert rate == tok.sample_rate and audio.shape == (x.shape[-1], 1)
    assert np.abs(audio[:, 0] - whole_audio).max() <= 1 / 32767 + 1e-5  # 16-bit rounding


def test_decode_resamples_block_by_block_like_the_whole_file(causal_8k, tmp_path):
    from zoo.data.audio import resample

    tokens, out = tmp_path / "t.safetensors", tmp_path / "t16.flac"
    encode_file(SPEECH, tokens, model=str(causal_8k))
    decode_file(tokens, out, sample_rate=16000, chunk_seconds=0.02)
    tok = zoo.load(str(causal_8k))
    meta_len = int(sf.info(str(SPEECH)).frames // 2)
    with torch.no_grad():
        ref = tok.detokenize(_codes(tokens), length=meta_len)[0].clamp(-1, 1)
    ref = resample(ref, 8000, 16000)[0].numpy()
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 16000 and audio.shape == ref.shape
    assert np.abs(audio - ref).max() <= 1 / 32767 + 1e-5


def test_windowed_path_of_non_streaming_models():
    """WavTokenizer has no streaming API: overlapping windows, codes kept from each window's own
    frames and audio crossfaded; one window covering the clip is exactly the whole-clip result."""
    torch.manual_seed(0)
    tok = zoo.create_tokenizer("wavtokenizer_test").eval()
    assert not tok.supports_streaming
    x = read_audio(SPEECH, sample_rate=8000, channels=1)[None]
    with torch.no_grad():
        whole = tok.tokenize(x)
        whole_audio = tok.detokenize(whole)
    for window, context in ((100.0, 1.0), (0.2, 0.05)):
        enc = ChunkedEncoder(tok, window_seconds=window, context_seconds=context)
        codes = torch.cat([enc.feed(c, final=False) for c in x.split(333, -1)], 1)
        codes = torch.cat([codes, enc.feed(None, final=True)], 1)
        assert codes.shape == whole.shape
        dec = ChunkedDecoder(tok, window_seconds=window, context_seconds=context)
        parts = [dec.feed(c, final=False) for c in whole.split(7, 1)]
        audio = torch.cat([*parts, dec.feed(None, final=True)], -1)
        assert audio.shape == whole_audio.shape and torch.isfinite(audio).all()
        if window > 2:  # one window: the whole-clip computation
            assert torch.equal(codes, whole) and torch.allclose(audio, whole_audio)
        else:  # many windows: most codes agree, the audio follows the whole-clip decode
            assert (codes == whole).float().mean() > 0.9
            err = (audio - whole_audio).pow(2).mean() / whole_audio.pow(2).mean()
            assert err < 0.1


def _tiled_wav(path: Path, seconds: float) -> None:
    clip, rate = sf.read(MUSIC, dtype="float32")
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_16") as f:
        for done in range(0, round(seconds * rate), len(clip)):
            f.write(clip[: round(seconds * rate) - done])


_PEAK = """
import resource, sys, zoo.codec
model, wav, tokens, out = sys.argv[1:]
zoo.codec.encode_file(wav, tokens, model=model, chunk_seconds=1.0)
zoo.codec.decode_file(tokens, out, chunk_seconds=1.0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB
"""


@pytest.mark.parametrize("seconds", [120, pytest.param(600, marks=pytest.mark.slow)])
def test_peak_memory_does_not_grow_with_file_length(seconds, tmp_path_factory, tmp_path):
    """Encode + decode of a long file peak within a few MiB of a 20-second one, in a fresh
    process each (the whole-file code grew by ~1.3 MiB per second of audio on this model, and
    by ~5 MiB per second on the shipped one). 1-second blocks keep the test quick: the
    allocator's high-water mark settles after a few dozen blocks of any size."""
    model = _saved(tmp_path_factory, "seanet_test", strides=[4, 5, 8])  # 50 frames/s at 8 kHz
    peaks = {}
    for n in (20, seconds):
        wav, tokens, out = (tmp_path / f"{n}{ext}" for ext in (".wav", ".st", ".out.wav"))
        _tiled_wav(wav, n)
        argv = [sys.executable, "-c", _PEAK, str(model), str(wav), str(tokens), str(out)]
        res = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        assert sf.info(str(out)).frames == n * 8000
        peaks[n] = int(res.stdout.split()[-1]) / 1024
    assert peaks[seconds] - peaks[20] < 8, peaks
