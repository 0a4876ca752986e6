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


# ---------------------------------------------------------------------------- image inputs


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_images_of_any_float_dtype_are_computed_in_the_model_dtype(dtype):
    torch.manual_seed(0)
    tok = zoo.create_tokenizer("vqgan_test").eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    x_low = x.to(dtype)
    assert torch.equal(tok.tokenize(x_low), tok.tokenize(x_low.float()))
    out = tok(x_low)
    assert out.reconstruction.dtype == torch.float32  # the model's dtype, as documented
    assert tok.detokenize(tok.tokenize(x_low)).dtype == torch.float32


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (
            torch.zeros(1, 3, 32, 32, dtype=torch.uint8),
            TypeError,
            r"convert it to float in \[-1, 1\]",
        ),
        (torch.zeros(1, 3, 32, 32, dtype=torch.int32), TypeError, r"got dtype torch.int32"),
        (torch.zeros(1, 3, 32, 32, dtype=torch.bool), TypeError, r"floating-point image tensor"),
        (torch.zeros(1, 3, 32, 32, device="meta"), ValueError, r"got a meta tensor .* no data"),
    ],
)
def test_non_float_and_meta_images_are_rejected(x, error, match):
    tok = zoo.create_tokenizer("vqgan_test").eval()
    with pytest.raises(error, match=match):
        tok.tokenize(x)
    with pytest.raises(error, match=match):
        tok(x)


def test_minimum_input_size_follows_the_architecture():
    """Every tiny image variant runs at its smallest input size and names it for smaller ones."""
    for name in zoo.list_tokenizers("*test*"):
        tok = zoo.create_tokenizer(name).eval()
        if tok.modality != "image":
            continue
        h, w = tok.smallest_input_size()
        tok.tokenize(torch.zeros(1, 3, h, w))
        if tok.input_size is None:
            with pytest.raises(ValueError, match=rf"H/W must be at least \({h}, {w}\)"):
                tok.tokenize(torch.zeros(1, 3, h, w - tok.input_multiple))
    # vqgan_test: f4, and GroupNorm with one channel per group on the 1 x 1 grid of a 4 px input
    assert zoo.create_tokenizer("vqgan_test").smallest_input_size() == (8, 8)


# ---------------------------------------------------------------------------- training data


def _photos(folder: Path, n: int) -> list[Path]:
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    arrays = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    paths = []
    for i in range(n):
        path = folder / f"photo{i}.jpg"
        Image.fromarray(arrays[i % 3]).resize((96, 72)).save(path, quality=90)
        paths.append(path)
    return paths


def _image_module(folder: Path, **kw):
    from zoo.training.data import ImageDataModule

    args = dict(train_dir=str(folder), crop_size=32, min_short_side=32, max_short_side=48)
    args.update(min_gradient_energy=0.0, crops_per_image=1, batch_size=2)
    return ImageDataModule(**dict(args, **kw))


def test_batch_larger_than_the_training_set_is_an_error(tmp_path):
    _photos(tmp_path / "p", 3)
    dm = _image_module(tmp_path / "p", batch_size=4)
    dm.setup("fit")
    with pytest.raises(ValueError, match=r"has 3 items, fewer than batch_size=4.*at most 3.*"
                       r"crops_per_image"):  # fmt: skip
        dm.train_dataloader()
    ok = _image_module(tmp_path / "p", batch_size=3)
    ok.setup("fit")
    assert len(ok.train_dataloader()) == 1


def test_audio_batch_larger_than_the_training_set_is_an_error():
    from zoo.training.data import AudioDataModule

    dm = AudioDataModule(train_dir=str(FIXTURES), sample_rate=16000, clip_seconds=0.5,
                         clips_per_second=0.1, batch_size=64)  # fmt: skip
    dm.setup("fit")
    with pytest.raises(ValueError, match=r"training set has \d+ items, fewer than batch_size=64"):
        dm.train_dataloader()


def test_webdataset_epoch_smaller_than_a_batch_is_an_error(tmp_path):
    import webdataset as wds

    with wds.TarWriter(str(tmp_path / "s-000.tar")) as w:
        for i, p in enumerate(_photos(tmp_path / "p", 2)):
            w.write({"__key__": f"k{i}", "jpg": p.read_bytes()})
    dm = _image_module(None, train_dir=None, train_shards=str(tmp_path / "s-000.tar"),
                       samples_per_epoch=3, batch_size=4)  # fmt: skip
    dm.setup("fit")
    with pytest.raises(ValueError, match=r"samples_per_epoch=3 gives each of the 1 webdataset"):
        dm.train_dataloader()


def _cut(path: Path, fraction: float = 0.4) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def test_truncated_jpeg_is_named_or_skipped(tmp_path, caplog):
    from zoo.data import RandomCropDataset
    from zoo.data.bad_files import BadSampleError
    from zoo.data.image import FixedCropDataset
    from zoo.data.transforms import MultiScaleCrop

    photos = _photos(tmp_path, 3)
    _cut(photos[1])
    crop = MultiScaleCrop(crop_size=32, min_short_side=32, max_short_side=48,
                          min_gradient_energy=0.0)  # fmt: skip
    with pytest.raises(BadSampleError, match=r"cannot decode '.*photo1.jpg': OSError: image file "
                       r"is truncated.*skip_bad=True"):  # fmt: skip
        RandomCropDataset(photos, crop)[1]
    ds = RandomCropDataset(photos, crop, crops_per_image=2, skip_bad=True)
    with caplog.at_level("WARNING", logger="zoo.data"):
        items = [ds[i] for i in range(len(ds))]
    assert all(x.shape == (3, 32, 32) for x in items)
    assert ds.bad_files.count == 1 and "photo1.jpg" in next(iter(ds.bad_files.skipped))
    assert sum("skipping unreadable '" in r.message and "photo1.jpg" in r.message
               for r in caplog.records) == 1  # fmt: skip
    fixed = FixedCropDataset(photos, crop, skip_bad=True)
    assert fixed[1].shape == (3, 32, 32) and fixed.bad_files.count == 1


def test_truncated_flac_is_named_or_skipped(tmp_path, caplog):
    import shutil

    from zoo.data.audio import FixedClipDataset, RandomClipDataset
    from zoo.data.bad_files import BadSampleError

    files = [
        shutil.copy(FIXTURES / n, tmp_path / n) for n in ("frog_desc_fr.flac", "frog_desc_es.flac")
    ]
    _cut(Path(files[0]), 0.5)  # the header still says 1.45 s; decoding fails half-way
    kw = dict(sample_rate=16000, clip_samples=16000, min_rms_db=-200.0)
    ds = RandomClipDataset(files, **kw)
    with pytest.raises(BadSampleError, match=r"cannot decode '.*frog_desc_fr.flac'.*skip_bad"):
        for i in range(len(ds)):
            ds[i]
    ds = RandomClipDataset(files, skip_bad=True, **kw)
    with caplog.at_level("WARNING", logger="zoo.data"):
        clips = [ds[i] for i in range(len(ds))]
    assert all(c.shape == (1, 16000) for c in clips) and ds.bad_files.count == 1
    assert any("frog_desc_fr.flac" in r.message for r in caplog.records)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype="float32"), 16000)
    kw.pop("min_rms_db")
    with pytest.raises(BadSampleError, match=r"empty.wav'.*empty \(0 samples\)"):
        FixedClipDataset([empty, *files], **kw)
    fixed = FixedClipDataset([empty, *files], skip_bad=True, **kw)
    assert len(fixed.source.files) == 2 and fixed.bad_files.count == 1


def test_truncated_webdataset_members_name_key_and_shard(tmp_path):
    import webdataset as wds

    from zoo.data.audio import webdataset_audio
    from zoo.data.bad_files import BadSampleError
    from zoo.data.image import webdataset_images
    from zoo.data.transforms import MultiScaleCrop

    photos = _photos(tmp_path / "p", 2)
    flac = (FIXTURES / "frog_desc_fr.flac").read_bytes()
    shard = tmp_path / "s-000.tar"
    with wds.TarWriter(str(shard)) as w:
        w.write({"__key__": "good", "jpg": photos[0].read_bytes(), "flac": flac})
        w.write({"__key__": "bad", "jpg": photos[1].read_bytes()[:3000], "flac": flac[:5000]})
    crop = MultiScaleCrop(crop_size=32, min_short_side=32, max_short_side=48,
                          min_gradient_energy=0.0)  # fmt: skip
    images = dict(crop=crop, samples_per_epoch=2, shuffle_buffer=0, shard_shuffle=0)
    with pytest.raises(BadSampleError, match=r"sample 'bad' \(member 'bad.jpg' of shard '.*s-000"):
        list(webdataset_images(str(shard), **images))
    assert len(list(webdataset_images(str(shard), skip_bad=True, **images))) == 2
    audio = dict(sample_rate=16000, clip_samples=8000, samples_per_epoch=2, shuffle_buffer=1,
                 shard_shuffle=0)  # fmt: skip
    with pytest.raises(BadSampleError, match=r"sample 'bad' \(member 'bad.flac' of shard"):
        list(webdataset_audio(str(shard), **audio))
    assert len(list(webdataset_audio(str(shard), skip_bad=True, **audio))) == 2


# ---------------------------------------------------------------------------- saved tokenizers


@pytest.fixture(scope="module")
def saved_vqgan(tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "vqgan"
    zoo.create_tokenizer("vqgan_test").save_pretrained(path)
    return path


def _damaged_copy(src: Path, dst: Path, damage) -> Path:
    import shutil

    shutil.copytree(src, dst)
    damage(dst)
    return dst


def _edit_config(**changes):
    import json

    def damage(d: Path) -> None:
        config = json.loads((d / "config.json").read_text())
        (d / "config.json").write_text(json.dumps(dict(config, **changes)))

    return damage


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda d: _cut(d / "model.safetensors", 0.3), r"'.*model.safetensors'.*truncated"),
        (lambda d: (d / "model.safetensors").write_bytes(b""), r"'.*model.safetensors'"),
        (lambda d: (d / "model.safetensors").write_bytes(b"\xff" * 64), r"'.*model.safetensors'"),
        (
            lambda d: (d / "config.json").write_bytes(b'{"architecture": "\xff"}'),
            r"config.json' "
            r"is not UTF-8",
        ),  # fmt: skip
        (
            lambda d: (d / "config.json").write_text('{"architecture": '),
            r"config.json' is not valid",
        ),
        (_edit_config(ch="16"), r"argument 'ch' must be int, got '16' \(str\)"),
        (_edit_config(ch_mult="122"), r"argument 'ch_mult' must be list\[int\] \| None, got '122'"),
        (_edit_config(image_size=32.5), r"argument 'image_size' must be int, got 32.5"),
    ],
)
def test_damaged_saved_tokenizer_names_the_file_or_key(damage, match, saved_vqgan, tmp_path):
    folder = _damaged_copy(saved_vqgan, tmp_path / "copy", damage)
    with pytest.raises((ValueError, TypeError), match=match):
        zoo.load(str(folder))


def test_constructor_arguments_are_type_checked():
    with pytest.raises(TypeError, match=r"VQGAN: argument 'num_res_blocks' must be int, got '1'"):
        zoo.create_tokenizer("vqgan_test", num_res_blocks="1")
    with pytest.raises(TypeError, match=r"argument 'quantizer_kwargs' must be dict"):
        zoo.create_tokenizer("seanet_test", quantizer_kwargs=[1])
    zoo.create_tokenizer("vqgan_test", dropout=0)  # an int where a float belongs is fine


# ---------------------------------------------------------------------------- size knobs


def _parser_exits(parse, argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--batch-size", "0"], r"--batch-size: must be a whole number in \[1, 4096\], got 0"),
        (["--limit", "-1"], r"--limit: must be a whole number >= 1, got -1"),
        (["--resolution", "100000"], r"--resolution: expected SIZE or HxW with sizes in 1..16384"),
        (["--max-seconds", "nan"], r"--max-seconds: must be a finite number in \(0, 86400\]"),
    ],
)
def test_eval_size_knobs_are_range_checked(argv, match, capsys):
    import argparse

    from zoo.evaluation import AudioEvaluator, ImageEvaluator
    from zoo.evaluation.cli import add_data_arguments

    p = argparse.ArgumentParser()
    add_data_arguments(p, [ImageEvaluator(), AudioEvaluator()])
    assert re.search(match, _parser_exits(p.parse_args, ["--data", "x", *argv], capsys))


@pytest.mark.parametrize(
    ("module", "argv", "match"),
    [
        ("zoo.demo", ["--scale", "0"], r"--scale"),
        ("zoo.demo", ["--scale", "100000"], r"--scale"),
        ("zoo.codec", ["encode", "a.wav", "b.st", "--num-codebooks", "0"], r"whole number >= 1"),
        ("zoo.codec", ["decode", "b.st", "a.wav", "--sample-rate", "-1"], r"whole number >= 1"),
        ("zoo.data.photos", ["cache", "out", "--crop-size", "0"], r"--crop-size: must be"),
        ("zoo.data.audio_corpus", ["build", "out", "--sample-rate", "1"], r"--sample-rate: must"),
    ],
)
def test_cli_size_knobs_are_range_checked(module, argv, match, capsys):
    import importlib

    mod = importlib.import_module(module)
    main = getattr(mod, "main", None) or mod._main
    assert re.search(match, _parser_exits(main, argv, capsys))


@pytest.mark.parametrize(
    ("rate", "match"),
    [
        (1, r"resampling 1 Hz -> 8000 Hz is a factor of 8000, outside the supported 1/64 .. 64"),
        (44101, r"44101 Hz -> 8000 Hz with torchaudio needs a \d+-value kernel.*soxr"),
    ],
)
def test_absurd_resampling_is_refused_before_allocating(rate, match):
    from zoo.data.audio import resample

    tok = zoo.create_tokenizer("seanet_test").eval()
    with pytest.raises(ValueError, match=match):
        tok.tokenize(torch.zeros(1, 1, 160_000), sample_rate=rate, resample=True)
    with pytest.raises(ValueError, match=r"resample: resampling 1 Hz -> 16000 Hz"):
        resample(torch.zeros(1, 160_000), 1, 16000)
    with pytest.raises(ValueError, match=r"input sample rate must be a positive whole number"):
        resample(torch.zeros(1, 10), 0, 16000)


@pytest.mark.parametrize(
    ("name", "kwargs", "flag"),
    [
        ("vq", {"dim": 4, "codebook_size": 8, "kmeans_init": "false"}, "kmeans_init"),
        ("vq", {"dim": 4, "codebook_size": 8, "rotation_trick": 1}, "rotation_trick"),
        ("lfq", {"dim": 8, "entropy_in_eval": None}, "entropy_in_eval"),
    ],
)
def test_quantizer_flags_must_be_booleans(name, kwargs, flag):
    # bool("false") is True: a string flag from a hand-written config must not flip a switch.
    with pytest.raises(ValueError, match=rf"{flag} must be true or false, got {flag}="):
        create_quantizer(name, **kwargs)
