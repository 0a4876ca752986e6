"""Every class of bad input gets a clear error (naming the argument, file or key and the fix),
or works: one test per class (issue 9)."""

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import zoo
from zoo.codec import decode_file, encode_file
from zoo.quantizers import create_quantizer

# ---------------------------------------------------------------------------- codes dtypes


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.uint16])
def test_codes_in_small_integer_dtypes_decode(dtype):
    # 256 codes: in uint8 the bound 256 wraps to 0, which rejected every valid code.
    q = create_quantizer("fsq", levels=[16, 16]).eval()
    codes = q.encode(torch.randn(2, 50, 2) * 3)
    codes[0, 0, 0] = 255
    assert torch.equal(q.decode(codes.to(dtype)), q.decode(codes))
    with pytest.raises(
        ValueError, match=r"codes must lie in \[0, 256\), got values in \[256, 256\]"
    ):
        q.decode(torch.full((1, 1), 256, dtype=torch.int16))


@pytest.mark.parametrize("name", ["seanet_test", "vqgan_test"])
def test_tokenizers_accept_any_integer_codes(name):
    torch.manual_seed(0)
    tok = zoo.create_tokenizer(name).eval()
    x = torch.rand(1, tok.in_channels, *((64,) if tok.modality == "audio" else (32, 32))) * 2 - 1
    codes = tok.tokenize(x)
    ref = tok.detokenize(codes)
    for dtype in (torch.uint8, torch.int16, torch.int32):
        assert torch.equal(tok.detokenize(codes.to(dtype)), ref)
    with pytest.raises(TypeError, match="integer codes"):
        tok.detokenize(codes.float())
    if tok.modality == "audio":
        out, _ = tok.detokenize_stream(codes.to(torch.uint8), final=True)
        assert torch.allclose(out, ref, atol=1e-5)
        with pytest.raises(
            ValueError, match=r"codes must lie in \[0, 16\), got values in \[300, 300\]; use codes"
        ):
            tok.detokenize(torch.full_like(codes, 300, dtype=torch.int16))


# ---------------------------------------------------------------------------- quantizer configs


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("fsq", {"levels": [2] * 70}, r"levels=\[70 values\] give a codebook .*70.0 bits.*grouped"),
        ("fsq", {"levels": [2.7, 5]}, r"FSQ: levels\[0\] must be >= 2 \(an int\), got .*2.7"),
        ("fsq", {"levels": "85"}, r"FSQ: levels must be a non-empty list of ints, got levels='85'"),
        ("fsq", {"levels": [8, 5], "dim": 0}, r"FSQ: dim must be >= 1 \(an int\), got dim=0"),
        ("fsq", {"levels": None}, r"FSQ: levels must be a non-empty list of ints, got levels=None"),
        ("fsq", {"levels": []}, r"FSQ: levels must be a non-empty list"),
        ("vq", {"dim": 4, "codebook_size": "16"}, r"VQ: codebook_size must be >= 2.*'16'"),
        ("vq", {"dim": 4, "codebook_size": 2**40}, r"VQ: a codebook of 1099511627776 x 4"),
        (
            "vq",
            {"dim": 4, "codebook_size": 8, "ema": 1.5},
            r"VQ: ema must be a decay in \(0, 1\) or None, got ema=1.5",
        ),
        ("vq", {"dim": 4, "codebook_size": 8, "commitment_weight": None}, "commitment_weight"),
        ("lfq", {"dim": "8"}, r"LFQ: dim must be >= 1 \(an int\), got dim='8'"),
        ("lfq", {"dim": None}, r"LFQ: dim must be >= 1 \(an int\), got dim=None"),
        ("bsq", {"dim": 0}, r"BSQ: dim must be >= 1 \(an int\), got dim=0"),
        ("lfq", {"dim": 8, "temperature": float("nan")}, r"temperature must be > 0"),
        ("lfq", {"dim": 8, "entropy_loss_weight": -1}, r"entropy_loss_weight must be >= 0"),
        (
            "residual",
            {"quantizer": "fsq", "num_quantizers": 2.5, "quantizer_kwargs": {"levels": [3]}},
            r"num_quantizers must be in \[1, 1024\] \(an int\), got num_quantizers=2.5",
        ),
        (
            "residual",
            {"quantizer": None, "num_quantizers": 2},
            r"quantizer must be named by a string, one of \[.*'fsq'",
        ),
        (
            "residual",
            {"quantizer": "fsq", "num_quantizers": 2, "scales": [1, "x"]},
            r"scales\[1\] must be a number",
        ),
        ("grouped", {"quantizer": "fsq", "groups": "2"}, r"groups must be in \[1, 4096\]"),
        ("grouped", {"quantizer": "fsqq", "groups": 2}, r"unknown quantizer 'fsqq'"),
        ("dimwise", {"dim": 4, "bits": 6.5}, r"bits must be in \[1, 16\] \(an int\), got bits=6.5"),
        ("dimwise", {"dim": 4, "range_sigma": "5"}, r"range_sigma must be a number > 0"),
    ],
)
def test_quantizer_arguments_are_validated(name, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        create_quantizer(name, **kwargs)


@pytest.mark.parametrize("name", [None, 3, ["fsq"]])
def test_quantizer_name_must_be_a_string(name):
    with pytest.raises(TypeError, match="quantizer must be named by a string"):
        create_quantizer(name)


def test_integral_floats_from_yaml_still_work():
    assert create_quantizer("fsq", levels=[8.0, 5, 5]).codebook_size == 200
    assert create_quantizer("vq", dim=4.0, codebook_size=16).codebook_size == 16


# ---------------------------------------------------------------------------- zoo.codec inputs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
SPEECH = FIXTURES / "frog_desc_fr.flac"


@pytest.fixture(scope="module")
def codec_model(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "seanet_test"
    zoo.create_tokenizer("seanet_test").save_pretrained(path)
    return str(path)


def _truncated(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def _run_codec(*argv: str) -> tuple[int, str]:
    import contextlib
    import io

    from zoo.codec import _main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = _main(list(argv))
    return rc, err.getvalue()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda d: d / "missing.wav", r"input '.*missing.wav' does not exist"),
        (lambda d: d, r"input '.*' is a folder"),
        (
            lambda d: (d / "text.wav").write_text("not audio") and d / "text.wav",
            r"cannot read '.*"
            r"text.wav' as audio .*reads WAV, FLAC",
        ),  # fmt: skip
        (lambda d: (d / "empty.wav").write_bytes(b"") or d / "empty.wav", r"is empty \(0 bytes\)"),
        (
            lambda d: _truncated(SPEECH, d / "cut.flac"),
            r"cannot decode '.*cut.flac' after .* s of "
            r"1.45 s: .*truncated or corrupt",
        ),  # fmt: skip
    ],
)
def test_codec_bad_audio_inputs_exit_2_naming_the_file(make, match, codec_model, tmp_path):
    bad = make(tmp_path)
    rc, err = _run_codec("encode", str(bad), str(tmp_path / "out.st"), "--model", codec_model)
    assert rc == 2 and re.match(r"error: zoo\.codec: ", err) and "Traceback" not in err
    assert re.search(match, err), err
    assert not (tmp_path / "out.st").exists()


def test_codec_zero_length_and_cut_wav(codec_model, tmp_path):
    sf.write(tmp_path / "zero.wav", np.zeros(0, dtype="float32"), 16000)
    rc, err = _run_codec("encode", str(tmp_path / "zero.wav"), str(tmp_path / "a.st"),
                         "--model", codec_model)  # fmt: skip
    assert rc == 2 and "holds no audio (0 samples)" in err
    # libsndfile reads a cut-off WAV to its end without complaint: warn, encode what is there.
    sf.write(tmp_path / "full.wav", sf.read(SPEECH)[0], 16000)
    cut = _truncated(tmp_path / "full.wav", tmp_path / "cut.wav")
    with pytest.warns(UserWarning, match=r"cut.wav' looks truncated: its header announces"):
        meta = encode_file(cut, tmp_path / "b.st", model=codec_model)
    assert 0 < int(meta["length"]) < sf.info(str(SPEECH)).frames // 2 + 1


def test_codec_token_file_errors(codec_model, tmp_path):
    good = tmp_path / "good.st"
    encode_file(SPEECH, good, model=codec_model)
    with safe_open(str(good), framework="pt") as f:
        codes, meta = f.get_tensor("codes"), f.metadata()
    no_model = tmp_path / "no_model.st"
    save_file(
        {"codes": codes}, str(no_model), metadata={k: v for k, v in meta.items() if k != "model"}
    )
    text = tmp_path / "text.st"
    text.write_text("hello")
    cut = _truncated(good, tmp_path / "cut.st", 0.6)
    cases = [
        (no_model, r"is not a zoo token file \(or a damaged one\): metadata missing \['model'\]"),
        (text, r"cannot read token file '.*text.st'.*not a safetensors file, or it is truncated"),
        (cut, r"cannot read token file '.*cut.st'"),
        (tmp_path / "none.st", r"token file '.*none.st' does not exist"),
    ]
    for path, match in cases:
        rc, err = _run_codec("decode", str(path), str(tmp_path / "o.wav"))
        assert rc == 2 and re.search(match, err) and "Traceback" not in err, err
    for rate in ("0", "-8000", "abc"):
        with pytest.raises(SystemExit) as exc:
            _run_codec("decode", str(good), str(tmp_path / "o.wav"), "--sample-rate", rate)
        assert exc.value.code == 2
    rc, err = _run_codec("decode", str(good), str(tmp_path / "o.wav"), "--sample-rate", "1")
    assert rc == 2 and "resampling 8000 Hz -> 1 Hz is a factor of 0.000125" in err
    with pytest.raises(ValueError, match="output sample rate must be a positive whole number"):
        decode_file(good, tmp_path / "o.wav", sample_rate=0)
