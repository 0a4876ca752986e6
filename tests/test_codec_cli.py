"""`python -m zoo.codec`: audio file -> token file -> audio file."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
from safetensors import safe_open

import zoo
from zoo.codec import decode_file, encode_file

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "tests" / "fixtures" / "audio" / "frog_desc_fr.flac"  # 1.45 s, 16 kHz


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    tok = zoo.create_tokenizer("seanet_test")  # 8 kHz, hop 8, 4 codebooks
    tok.eval()
    path = tmp_path_factory.mktemp("model") / "seanet_test"
    tok.save_pretrained(path)
    return path


def test_encode_decode_roundtrip(model_dir, tmp_path):
    tokens = tmp_path / "speech.tokens.safetensors"
    meta = encode_file(SPEECH, tokens, model=str(model_dir), num_codebooks=2)
    n = sf.info(str(SPEECH)).frames // 2  # 16 kHz -> the model's 8 kHz
    assert meta["length"] == str(n) and meta["num_codebooks"] == "2"
    with safe_open(str(tokens), framework="pt") as f:
        codes = f.get_tensor("codes")
    assert codes.shape == (1, -(-n // 8), 2) and codes.dtype == torch.int64
    out = tmp_path / "speech.wav"
    decode_file(tokens, out)
    data, sr = sf.read(out)
    assert sr == 8000 and data.shape == (n,)
    # The decoded file is what the model's own detokenize gives (to 16-bit rounding).
    tok = zoo.load(str(model_dir))
    with torch.no_grad():
        ref = tok.detokenize(codes, length=n)[0, 0].clamp(-1, 1).numpy()
    assert abs(data - ref).max() < 1.0 / 32767 + 1e-6
    out16 = tmp_path / "speech16.flac"
    decode_file(tokens, out16, sample_rate=16000)
    assert sf.info(str(out16)).samplerate == 16000


def test_cli_runs_as_a_module(model_dir, tmp_path):
    tokens = tmp_path / "t.safetensors"
    cmd = [sys.executable, "-m", "zoo.codec", "encode", str(SPEECH), str(tokens),
           "--model", str(model_dir)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout)["num_codebooks"] == "4"


def test_bad_inputs_name_the_problem(model_dir, tmp_path):
    short = tmp_path / "short.wav"
    sf.write(short, [0.1, -0.1, 0.2], 16000)
    with pytest.raises(ValueError, match="shorter than one frame"):
        encode_file(short, tmp_path / "x.safetensors", model=str(model_dir))
    not_tokens = tmp_path / "other.safetensors"
    from safetensors.torch import save_file

    save_file({"codes": torch.zeros(1, 2, 1, dtype=torch.long)}, str(not_tokens))
    with pytest.raises(ValueError, match="not a token file"):
        decode_file(not_tokens, tmp_path / "y.wav")
    with pytest.raises(ValueError, match="not an audio tokenizer"):
        zoo.create_tokenizer("vqgan_test").save_pretrained(tmp_path / "img")
        img = tmp_path / "img"
        encode_file(SPEECH, tmp_path / "z.safetensors", model=str(img))
