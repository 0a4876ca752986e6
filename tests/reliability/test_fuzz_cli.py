"""Fuzz the command lines in-process through their ``main(argv)``: ``python -m zoo.codec``
(encode of corrupt copies of real recordings, bad options), ``eval/reconstruct.py`` (bad data
folders, options, output paths), ``python -m zoo.demo`` and ``python -m zoo`` (argument
parsing, bad models). Each run exits 0, or with status 2 / a message that names the file or the
option at fault -- never a traceback -- and no existing file is overwritten without
``--overwrite`` (an input never is), with no temporary file left behind."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from fuzzing import attempt, fuzz_test, strategies
from PIL import Image
from test_fuzz_files import corrupted

import zoo

S = strategies()
st = S.st
ROOT = Path(__file__).resolve().parents[2]
AUDIO = sorted((ROOT / "tests" / "fixtures" / "audio").glob("*.flac"))

pytestmark = pytest.mark.timeout(900)


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"zoo_eval_{name}", ROOT / "eval" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for name in ("seanet_test", "vqgan_test", "titok_test"):
        torch.manual_seed(0)
        out[name] = tmp_path_factory.mktemp(name) / name
        zoo.create_tokenizer(name).save_pretrained(out[name])
    return out


@contextlib.contextmanager
def scratch():
    with tempfile.TemporaryDirectory(prefix="zoo-fuzz-cli-") as d:
        yield Path(d)


def _short_clip(src: Path, dst: Path, seconds: float = 0.4) -> Path:
    wav, sr = sf.read(src, dtype="float32", always_2d=True)
    sf.write(dst, wav[: int(sr * seconds)], sr)
    return dst


OPTION_JUNK = st.sampled_from(["", "0", "-1", "1", "abc", "2.5", "1e9", "nan", "-", "--x"])


# ---------------------------------------------------------------------------------- zoo.codec
def _codec_encode(data, models) -> None:
    from zoo.codec import _main

    with scratch() as d:
        src = data.draw(st.sampled_from(AUDIO), label="recording")
        clip = _short_clip(src, d / "clip.wav")
        how = data.draw(st.sampled_from(["good", "corrupt", "corrupt", "missing", "folder"]))
        if how == "corrupt":
            name = data.draw(st.sampled_from(["clip.wav", "clip.flac", "clip.ogg", "clip"]))
            blob = clip.read_bytes() if name.endswith(".wav") else src.read_bytes()
            clip.unlink()
            clip = d / name
            clip.write_bytes(data.draw(corrupted(blob), label="corrupt bytes"))
        elif how == "missing":
            clip.unlink()
        elif how == "folder":
            clip = d
        out = d / data.draw(st.sampled_from(["t.st", "t.safetensors", "clip.wav", "x/t.st"]))
        existing = out.name != "clip.wav" and data.draw(st.booleans(), label="output exists")
        if existing:
            out.parent.mkdir(exist_ok=True)
            out.write_bytes(b"precious")
        argv = ["encode", str(clip), str(out), "--model", str(models["seanet_test"])]
        names: list = [clip, out]
        if data.draw(st.booleans(), label="--num-codebooks?"):
            argv += ["--num-codebooks", data.draw(st.sampled_from(["1", "4", "5"]) | OPTION_JUNK)]
            names.append("--num-codebooks")
        if data.draw(st.integers(0, 5)) == 0:
            argv[3:5] = ["--model", data.draw(st.sampled_from(["nope", "vqgan_test", ""]))]
            names.append(argv[4] or "''")
        overwrite = data.draw(st.booleans(), label="--overwrite")
        if overwrite:
            argv.append("--overwrite")

        def check(rc: int) -> None:
            from zoo.codec import read_token_file

            codes, meta = read_token_file(out)
            assert codes.shape[0] == 1 and codes.shape[-1] >= 1, codes.shape

        protect = [p for p in d.iterdir() if p.is_file() and (p != out or not overwrite)]
        attempt(lambda: _main(argv), what=f"python -m zoo.codec {' '.join(argv)}", files=names,
                protect=protect, folders=[d], check=check, cli=True)  # fmt: skip


test_codec_encode = fuzz_test(_codec_encode, 10)
test_codec_encode_many = fuzz_test(_codec_encode, 500, slow=True)


def _codec_argv(data) -> None:
    """Argument parsing only: argv put together from the options' vocabulary (the paths do
    not exist, so nothing is read or written)."""
    from zoo.codec import _main

    words = ["encode", "decode", "a.wav", "b.st", "--model", "--num-codebooks", "--sample-rate",
             "--overwrite", "--help", "-h", "x", "3", "-1", "", "--nope"]  # fmt: skip
    argv = data.draw(st.lists(st.sampled_from(words), max_size=7), label="argv")
    with scratch() as d:
        argv = [str(d / w) if w in ("a.wav", "b.st") else w for w in argv]

        def check(rc: int) -> None:
            raise AssertionError(f"exited {rc} without input files")

        if "--help" in argv or "-h" in argv:
            with pytest.raises(SystemExit) as exc, contextlib.redirect_stdout(io.StringIO()):
                _main(argv)
            assert exc.value.code in (0, 2)
            return
        attempt(lambda: _main(argv), what=f"python -m zoo.codec {argv}", folders=[d],
                check=check, cli=True)  # fmt: skip


test_codec_argv = fuzz_test(_codec_argv, 40)
test_codec_argv_many = fuzz_test(_codec_argv, 2000, slow=True)


# ---------------------------------------------------------------------------------- eval/
def _photo_bytes() -> dict[str, bytes]:
    import skimage.data

    out = {}
    for name, arr, fmt in [("astronaut.jpg", skimage.data.astronaut()[::8, ::8], "JPEG"),
                           ("coffee.png", skimage.data.coffee()[::10, ::10], "PNG")]:  # fmt: skip
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(arr)).save(buf, fmt)
        out[name] = buf.getvalue()
    return out


PHOTOS = _photo_bytes()


def _reconstruct(data, models) -> None:
    main = _script("reconstruct").main
    modality = data.draw(st.sampled_from(["image", "audio"]), label="modality")
    with scratch() as d:
        folder = d / "data"
        folder.mkdir()
        if modality == "image":
            for name, blob in PHOTOS.items():
                (folder / name).write_bytes(blob)
            model = str(models[data.draw(st.sampled_from(["vqgan_test", "titok_test"]))])
        else:
            for src in AUDIO[:2]:
                _short_clip(src, folder / f"{src.stem}.wav", 0.3)
            model = str(models["seanet_test"])
        victims = sorted(folder.iterdir())
        bad = data.draw(st.sampled_from([None, None, *victims]), label="corrupt file")
        if bad is not None:
            bad.write_bytes(data.draw(corrupted(bad.read_bytes()), label="corrupt bytes"))
        out = d / data.draw(st.sampled_from(["r.json", "r.json", "r.md", "r", "data/r.json"]))
        existing = data.draw(st.booleans(), label="output exists")
        if existing:
            out.parent.mkdir(exist_ok=True)
            out.write_bytes(b"precious")
        argv = ["--model", model, "--data", str(folder), "--out", str(out), "--no-progress"]
        argv += ["--metrics", "psnr" if modality == "image" else "si_sdr"]
        if modality == "audio":
            argv += ["--max-seconds", "0.2"]
        names: list = [out, folder, *victims]
        for _ in range(data.draw(st.integers(0, 2), label="extra options")):
            opt = data.draw(st.sampled_from(["--limit", "--num-tokens", "--resolution",
                                             "--batch-size", "--num-codebooks", "--max-seconds",
                                             "--metrics", "--resize", "--skip-bad",
                                             "--save-reconstructions", "--random-init",
                                             "--data", "--model", "--nope"]))  # fmt: skip
            names.append(opt)
            if opt in ("--skip-bad", "--random-init", "--nope"):
                argv.append(opt)
            elif opt == "--save-reconstructions":
                argv += [opt, str(data.draw(st.sampled_from([folder, d / "rec", d])))]
            elif opt in ("--data", "--model"):
                value = data.draw(st.sampled_from(["skimage", "nope", str(d / "none"), ""]))
                argv += [opt, value]
                names.append(value or "''")
            else:
                argv += [opt, data.draw(OPTION_JUNK | st.sampled_from(["2", "8,16", "32"]))]
        overwrite = data.draw(st.booleans(), label="--overwrite")
        if overwrite:
            argv.append("--overwrite")

        def check(rc: int) -> None:
            import json

            info = json.loads(out.read_text())["data"]
            assert info["num_samples"] >= 1, info
            data_arg = argv[len(argv) - argv[::-1].index("--data")]  # the last --data wins
            if "--limit" not in argv and data_arg == str(folder):
                # every file evaluated or listed as skipped: none dropped silently
                assert info["num_samples"] + info["num_skipped"] == len(victims), info

        protect = [f for f in victims if f != out or not overwrite]
        protect += [out] if existing and not overwrite else []
        attempt(lambda: main(argv), what=f"eval/reconstruct.py {' '.join(argv)}", files=names,
                protect=protect, folders=[d, folder], check=check, cli=True)  # fmt: skip


test_reconstruct = fuzz_test(_reconstruct, 6)
test_reconstruct_many = fuzz_test(_reconstruct, 300, slow=True)


# ---------------------------------------------------------------------------------- zoo.demo
def _demo(data, models) -> None:
    from zoo.demo import main

    with scratch() as d:
        out = d / data.draw(st.sampled_from(["demo.png", "demo.png", "x/demo.png", "demo"]))
        existing = data.draw(st.booleans(), label="output exists")
        if existing:
            out.parent.mkdir(exist_ok=True)
            out.write_bytes(b"precious")
        model = data.draw(
            st.sampled_from([str(models["titok_test"])] * 3 + [str(models["seanet_test"]),
                            "nope", str(d / "none"), "", "vqgan_test"]), label="model"
        )  # fmt: skip
        argv = ["--model", model, "--compare", "", "--codec", "", "--out", str(out)]
        names: list = [out, model or "''", "--model"]
        options = {
            "--photos": st.sampled_from(["astronaut", "astronaut,nope", "", ",", "coffee,coffee"]),
            "--num-tokens": st.sampled_from(["2", "2,8", "0", "9", "x", "", "8,-1"]),
            "--scale": st.sampled_from(["1", "0", "9", "x", "-2"]),
            "--codec": st.sampled_from(["", "jpeg", "webp", "nope"]),
            "--compare": st.sampled_from(["", "nope", str(models["seanet_test"])]),
        }
        for opt in data.draw(st.lists(st.sampled_from(sorted(options)), max_size=3, unique=True)):
            argv += [opt, data.draw(options[opt], label=opt)]
            names += [opt, argv[-1] or "''"]
        if "--photos" not in argv:
            argv += ["--photos", "astronaut"]
        overwrite = data.draw(st.booleans(), label="--overwrite")
        if overwrite:
            argv.append("--overwrite")

        def check(rc: int) -> None:
            assert rc == 0 and Image.open(out).format == "PNG"

        protect = [out] if existing and not overwrite else []
        attempt(lambda: main(argv), what=f"python -m zoo.demo {argv}", files=names,
                protect=protect, folders=[d, out.parent], check=check, cli=True)  # fmt: skip


test_demo = fuzz_test(_demo, 15)
test_demo_many = fuzz_test(_demo, 400, slow=True)


# ---------------------------------------------------------------------------------- python -m zoo
def _zoo_main(data) -> None:
    from zoo.__main__ import main

    words = ["list", "info", "--pretrained", "*", "titok*", "vqgan_test", "vqgan_test.nope",
             "nope", "", "[", "seanet_cpu_16khz.speech_music", "-h", "--x"]  # fmt: skip
    argv = data.draw(st.lists(st.sampled_from(words), max_size=4), label="argv")
    argv = [a for a in argv if a != "-h"]
    attempt(lambda: main(argv), what=f"python -m zoo {argv}", files=argv, cli=True)


test_zoo_main = fuzz_test(_zoo_main, 15)
test_zoo_main_many = fuzz_test(_zoo_main, 500, slow=True)
