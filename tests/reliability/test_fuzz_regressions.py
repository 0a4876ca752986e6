"""Regression tests for the defects the fuzz tests (``test_fuzz_*.py``) found, one per defect,
each with the input that failed and the clear behaviour that replaced the obscure one."""

from __future__ import annotations

import re

import pytest
import torch

import zoo
from zoo.quantizers import create_quantizer
from zoo.quantizers.base import get_quantizer_class


@pytest.mark.parametrize("name", zoo.list_quantizers())
def test_decoding_zero_codes_gives_zero_vectors(name):
    # Was: RuntimeError "cannot reshape tensor of 0 elements into shape [0, -1, k]".
    q = create_quantizer(name, **get_quantizer_class(name).example_kwargs).eval()
    if q.requires_fit:
        q.fit(torch.randn(64, q.dim))
    for lead in [(0,), (0, 3), (2, 0), (0, 0, 5)]:
        codes = torch.zeros(*lead, q.num_codebooks, dtype=torch.long)
        out = q.decode(codes)
        assert out.shape == (*lead, q.dim) and out.dtype == torch.float32


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("dimwise", {"dim": 2**31}),
        ("fsq", {"levels": [3, 3], "dim": 2**31}),
        ("vq", {"dim": 2**29, "codebook_size": 2}),
    ],
)
def test_absurd_dims_are_refused_before_allocating(name, kwargs):
    # Was: an attempt to allocate 8-48 GiB (a RuntimeError from the allocator, or the OOM killer).
    with pytest.raises(ValueError, match=r"dim=\d+ channels per token is more than any latent"):
        create_quantizer(name, **kwargs)


# ---------------------------------------------------------------------------------- zoo.load
@pytest.fixture(scope="module")
def seanet_folder(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("saved") / "seanet_test"
    zoo.create_tokenizer("seanet_test").save_pretrained(folder)
    return folder


def _copy(folder, dst):
    dst.mkdir()
    for f in folder.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_damaged_weights_file_is_named(seanet_folder, tmp_path):
    # Was: safetensors' SafetensorError ("invalid JSON in header"), naming no file.
    folder = _copy(seanet_folder, tmp_path / "tok")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    for bad in (data[: len(data) // 2], data[:7], b"\x00" * 64, data[:8] + b"[" + data[9:]):
        weights.write_bytes(bad)
        with pytest.raises(ValueError, match=r"cannot read weights '.*model.safetensors'"):
            zoo.load(str(folder))


def test_non_utf8_config_is_named(seanet_folder, tmp_path):
    # Was: UnicodeDecodeError "'utf-8' codec can't decode byte 0xff", naming no file.
    folder = _copy(seanet_folder, tmp_path / "tok")
    text = (folder / "config.json").read_text()
    (folder / "config.json").write_bytes(text.encode("utf-16"))
    with pytest.raises(ValueError, match=r"config.json' is not UTF-8 text"):
        zoo.load(str(folder))


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("activation", None, TypeError),  # was AttributeError: 'NoneType' has no 'lower'
        ("quantizer_kwargs", [], TypeError),
    ],
)
def test_config_values_of_the_wrong_type_name_the_file(seanet_folder, tmp_path, key, value, error):
    import json

    folder = _copy(seanet_folder, tmp_path / "tok")
    config = json.loads((folder / "config.json").read_text())
    config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(error, match=r"cannot build 'seanet_test' from the arguments in its config"):
        zoo.load(str(folder))
    with pytest.raises((TypeError, ValueError), match=r"and the overrides \['encoder_filters'\]"):
        zoo.load(str(folder), encoder_filters=None)


# ---------------------------------------------------------------------------------- resampling
def test_resampling_a_full_scale_recording_is_not_refused(seanet_folder, tmp_path):
    # Was: "expected samples in [-1, 1], got peak 1.156": band-limiting a clip that reaches
    # full scale (this recording peaks at 1.0) overshoots; the encoder refused a valid file.
    from pathlib import Path

    import soundfile as sf

    from zoo.codec import encode_file

    clip = Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "frog-1_desc_es.flac"
    wav, sr = sf.read(clip, dtype="float32", always_2d=True)
    assert float(abs(wav).max()) == 1.0 and sr == 16000
    tok = zoo.load(str(seanet_folder))  # 8 kHz
    codes = tok.tokenize(torch.from_numpy(wav.T.copy())[None], sample_rate=sr, resample=True)
    assert codes.shape[1] == tok.num_frames(len(wav) // 2)
    meta = encode_file(clip, tmp_path / "t.st", model=str(seanet_folder))
    assert int(meta["length"]) == len(wav) // 2
    # an input out of range is still refused, before resampling
    with pytest.raises(ValueError, match=r"expected samples in \[-1, 1\], got peak 2"):
        tok.tokenize(torch.from_numpy(wav.T.copy())[None] * 2, sample_rate=sr, resample=True)


# ---------------------------------------------------------------------------------- detokenize
GRID_2D = [
    n
    for n in zoo.list_tokenizers("*test*")
    if zoo.create_tokenizer(n).modality == "image"
    and len(zoo.create_tokenizer(n).token_shape()) == 2
]


@pytest.mark.parametrize("name", GRID_2D)
def test_an_empty_token_grid_is_refused_by_name(name):
    # Was (vqgan_test, emu3_test): RuntimeError from a convolution ("Kernel size can't be greater
    # than actual input size", "negative output size"). (Audio codes may have 0 frames in a
    # stream chunk; detokenize refuses them with its own message.)
    tok = zoo.create_tokenizer(name).eval()
    for grid in [(0, 2), (2, 0), (0, 0)]:
        codes = torch.zeros(1, *grid, tok.num_codebooks, dtype=torch.long)
        with pytest.raises(ValueError, match=r"empty token grid, codes of shape"):
            tok.detokenize(codes)


# ---------------------------------------------------------------------------------- zoo.codec
def _codec(*argv: str) -> tuple[int, str]:
    import contextlib
    import io

    from zoo.codec import _main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = _main(list(argv))
    return rc, err.getvalue()


@pytest.fixture(scope="module")
def token_file(seanet_folder, tmp_path_factory):
    from pathlib import Path

    from zoo.codec import encode_file

    clip = Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "frog-1_desc_fr.flac"
    out = tmp_path_factory.mktemp("tokens") / "clip.st"
    encode_file(clip, out, model=str(seanet_folder))
    return out


def _respelled(token_file, dst, codes=None, **meta):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(token_file), framework="pt") as f:
        old_codes, old_meta = f.get_tensor("codes"), f.metadata()
    save_file({"codes": old_codes if codes is None else codes}, str(dst), {**old_meta, **meta})
    return dst


def test_token_file_errors_name_the_file(token_file, seanet_folder, tmp_path):
    # Were: messages about codes, models or architectures that named no file.
    from safetensors import safe_open

    with safe_open(str(token_file), framework="pt") as f:
        codes = f.get_tensor("codes")
    cases = [
        (
            _respelled(token_file, tmp_path / "range.st", codes=codes.clamp(max=15) + 1),
            r"'.*range.st' holds codes .* cannot decode: .*codes must lie in \[0, 16\)",
        ),
        (
            _respelled(token_file, tmp_path / "noweights.st", model="vqgan_test"),
            r"'.*noweights.st' was made by model 'vqgan_test', which does not load here "
            r"\(.*no pretrained weights.*\); decode with --model",
        ),
        (
            _respelled(token_file, tmp_path / "arch.st", architecture="dac_test"),
            r"the tokens in '.*arch.st' were made by a 'dac_test' model",
        ),
    ]
    for path, match in cases:
        rc, err = _codec("decode", str(path), str(tmp_path / "o.wav"))
        assert rc == 2 and "Traceback" not in err, err
        assert re.search(match, err), err
        assert not (tmp_path / "o.wav").exists()


# ---------------------------------------------------------------------------------- zoo.demo
@pytest.mark.parametrize(
    ("photos", "match"),
    [
        ("", r"got ''"),
        (",", r"got ','"),
        ("astronaut,nope", r"got 'astronaut,nope' \('nope' unknown\)"),
    ],
)
def test_demo_photos_are_checked_before_anything_runs(photos, match, tmp_path, capsys):
    # Was: RuntimeError "stack expects a non-empty TensorList" for an empty --photos, and a
    # ValueError traceback after loading the model for an unknown name.
    from zoo.demo import main

    with pytest.raises(SystemExit) as exc:
        main(["--model", "nope", "--photos", photos, "--out", str(tmp_path / "d.png")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert re.search(r"--photos takes comma-separated names of bundled photos, " + match, err)
    assert "choose from astronaut, chelsea" in err and not (tmp_path / "d.png").exists()


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("seanet_test", "lstm_layers"),
        ("vqgan_test", "num_res_blocks"),
        ("titok_test", "encoder_depth"),
        ("titok_test", "decoder_depth"),
    ],
)
def test_absurd_layer_counts_are_refused_at_once(name, key):
    # Was: a loop building layers until memory ran out (a hang), e.g. for a damaged config.json.
    import time

    for value in (2**31, 2**63, 10**30):
        t0 = time.perf_counter()
        with pytest.raises(ValueError, match=rf"argument '{key}'={value} is beyond any size"):
            zoo.create_tokenizer(name, **{key: value})
        assert time.perf_counter() - t0 < 5
    with pytest.raises(ValueError, match=r"argument 'strides'=\[2, 4294967296\] is beyond"):
        zoo.create_tokenizer("seanet_test", strides=[2, 2**32])


# ---------------------------------------------------------------------------------- crop cache
def test_crop_cache_errors_name_the_file(tmp_path):
    # Were: PIL's bare "image file is truncated" from build_crop_cache, and safetensors'
    # SafetensorError from CropCacheDataset / read_crop_cache_metadata, naming no file.
    import numpy as np
    from PIL import Image

    from zoo.data.bad_files import BadSampleError
    from zoo.data.image import CropCacheDataset, build_crop_cache, read_crop_cache_metadata
    from zoo.data.transforms import MultiScaleCrop

    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(tmp_path / name)
    crop = MultiScaleCrop(crop_size=16, min_short_side=16, max_short_side=32)
    cache = build_crop_cache(sorted(tmp_path.glob("*.png")), tmp_path / "c.st", num_crops=4,
                             crop=crop)  # fmt: skip
    data = (tmp_path / "b.png").read_bytes()
    (tmp_path / "b.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadSampleError, match=r"build_crop_cache: cannot decode '.*b.png'"):
        build_crop_cache([tmp_path / "a.png", tmp_path / "b.png"], tmp_path / "d.st",
                         num_crops=4, crop=crop)  # fmt: skip
    assert not (tmp_path / "d.st").exists()
    blob = cache.read_bytes()
    (tmp_path / "cut.st").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"CropCacheDataset: cannot read crop cache '.*cut.st'"):
        CropCacheDataset(tmp_path / "cut.st")
    with pytest.raises(ValueError, match=r"cannot read crop cache '.*cut.st'"):
        read_crop_cache_metadata(tmp_path / "cut.st")
    with pytest.raises(FileNotFoundError, match=r"crop cache '.*none.st' does not exist"):
        CropCacheDataset(tmp_path / "none.st")


# ---------------------------------------------------------------------------------- read_audio
def _flac_claiming(src, dst, total_samples: int):
    """A copy of FLAC file ``src`` whose STREAMINFO claims ``total_samples`` samples."""
    data = bytearray(src.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO first
    # bytes 18..25: sample rate (20 bits), channels - 1 (3), bits - 1 (5), total samples (36)
    bits = int.from_bytes(data[18:26], "big")
    bits = (bits & ~((1 << 36) - 1)) | total_samples
    data[18:26] = bits.to_bytes(8, "big")
    dst.write_bytes(bytes(data))
    return dst


def test_read_audio_does_not_trust_the_header_length(tmp_path):
    # Was: a damaged FLAC whose header claims 2**30 samples made soundfile allocate 4 GiB up
    # front (MemoryError, or the memory actually taken), before failing to decode.
    from pathlib import Path

    import soundfile as sf

    from zoo.data.audio import read_audio

    src = Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "frog-1_desc_fr.flac"
    liar = _flac_claiming(src, tmp_path / "liar.flac", 2**30)
    assert sf.info(str(liar)).frames == 2**30
    from fuzzing import memory_guard

    with memory_guard(256 << 20), pytest.raises(ValueError, match=r"cannot decode '.*liar.flac'"):
        read_audio(liar, sample_rate=16000, channels=1)
    # the real file reads as before, whole or a window
    x = read_audio(src, sample_rate=16000, channels=1)
    assert x.shape == (1, sf.info(str(src)).frames)
    assert torch.equal(read_audio(src, sample_rate=16000, channels=1, start=100, frames=50),
                       x[:, 100:150])  # fmt: skip


def test_codec_encode_does_not_trust_the_header_length(seanet_folder, tmp_path):
    # Was: the codes buffer sized from a damaged header claiming 2**34 samples (a 32 GiB
    # allocation) before a single block was decoded.
    from pathlib import Path

    from fuzzing import memory_guard

    src = Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "frog-1_desc_fr.flac"
    liar = _flac_claiming(src, tmp_path / "liar.flac", 2**34)
    with memory_guard(512 << 20):
        rc, err = _codec("encode", str(liar), str(tmp_path / "o.st"), "--model", str(seanet_folder))
    assert rc == 2 and "liar.flac" in err and "allocate" not in err, err
    assert not (tmp_path / "o.st").exists()


def test_codec_encode_of_audio_that_ends_early_names_the_file(seanet_folder, tmp_path, monkeypatch):
    # Was: "tokenizer 'seanet_test': the stream ended after 0 samples, shorter than one frame"
    # naming no file, for a corrupt file (FLAC bytes named .ogg, found by the fuzz tests) whose
    # header announced audio that libsndfile then returned none of. Simulated here: the decoder
    # yields one empty, final block.
    from pathlib import Path

    import numpy as np

    import zoo.codec

    clip = Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "frog-1_desc_fr.flac"
    empty = np.zeros((0, 1), dtype=np.float32)
    monkeypatch.setattr(zoo.codec, "_blocks", lambda f, path, block: iter([(empty, True)]))
    rc, err = _codec("encode", str(clip), str(tmp_path / "o.st"), "--model", str(seanet_folder))
    assert rc == 2, err
    assert re.search(r"cannot encode '.*frog-1_desc_fr.flac' \(0.00 s decoded of the 0.77 s", err)
    assert "shorter than one frame" in err and not (tmp_path / "o.st").exists()
