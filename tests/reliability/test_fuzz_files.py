"""Fuzz what the package reads from disk: ``zoo.load`` folders (config.json and
model.safetensors missing, garbled, truncated, non-UTF-8, of the wrong types), token files of
``zoo.codec decode`` (metadata missing or odd, codes of other dtypes / shapes / ranges, bytes
cut or flipped), and the training datasets of ``zoo.data`` on corrupt copies of real images and
recordings. Each file works, or the error names it (see ``fuzzing.py``); nothing read is
modified."""

from __future__ import annotations

import contextlib
import copy
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from fuzzing import attempt, fuzz_test, strategies
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

import zoo

S = strategies()
st = S.st
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AUDIO = sorted((FIXTURES / "audio").glob("*.flac"))
MODELS = ("titok_test", "vqgan_test", "seanet_test")

pytestmark = pytest.mark.timeout(600)


# ---------------------------------------------------------------------------------- bytes
@st.composite
def corrupted(draw, data: bytes) -> bytes:
    """``data`` cut short, with bits flipped, a range zeroed, garbage spliced in, or gone; a
    FLAC file may also claim another length in its header."""
    n = len(data)
    kinds = ["truncate", "truncate", "flip", "flip", "zero", "splice", "empty", "garbage",
             "header"] + (["length"] if data[:4] == b"fLaC" else [])  # fmt: skip
    how = draw(st.sampled_from(kinds))
    b = bytearray(data)
    if how == "length":  # STREAMINFO's 36-bit total sample count (bytes 18..25, low bits)
        claim = draw(st.sampled_from([0, 1, 2**20, 2**30, 2**35, 2**36 - 1]))
        bits = (int.from_bytes(b[18:26], "big") & ~((1 << 36) - 1)) | claim
        b[18:26] = bits.to_bytes(8, "big")
        return bytes(b)
    if how == "truncate":
        return bytes(b[: draw(st.integers(0, max(0, n - 1)))])
    if how in ("flip", "header"):
        hi = min(n, 64) if how == "header" else n
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, hi - 1))
            b[i] ^= 1 << draw(st.integers(0, 7))
        return bytes(b)
    if how == "zero":
        i = draw(st.integers(0, n - 1))
        j = draw(st.integers(i, min(n, i + 4096)))
        b[i:j] = bytes(j - i)
        return bytes(b)
    if how == "splice":
        i = draw(st.integers(0, n))
        return bytes(b[:i]) + draw(st.binary(min_size=1, max_size=64)) + bytes(b[i:])
    if how == "empty":
        return b""
    return draw(st.binary(min_size=1, max_size=256))


@contextlib.contextmanager
def scratch():
    with tempfile.TemporaryDirectory(prefix="zoo-fuzz-") as d:
        yield Path(d)


# ---------------------------------------------------------------------------------- zoo.load
@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for name in MODELS:
        torch.manual_seed(0)
        out[name] = tmp_path_factory.mktemp(name) / name
        zoo.create_tokenizer(name).save_pretrained(out[name])
    return out


JSON_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**8), 2**8),
    st.sampled_from([2**31, 2**63, 10**30, 1e300, -1.5, 0.5]),
    st.text(max_size=8),
    st.lists(st.integers(-2, 70), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@st.composite
def config_bytes(draw, config: dict) -> bytes:
    """The folder's config.json, spoiled: keys dropped / set to junk / unknown keys added, the
    architecture replaced, another JSON type, non-UTF-8 or garbled bytes."""
    how = draw(st.sampled_from(["values", "values", "values", "architecture", "type",
                                "encoding", "bytes"]))  # fmt: skip
    cfg = copy.deepcopy(config)
    if how == "values":
        for _ in range(draw(st.integers(1, 3))):
            op = draw(st.sampled_from(["junk", "junk", "drop", "unknown"]))
            keys = sorted(k for k in cfg if k != "architecture")
            if op == "junk" and keys:
                cfg[draw(st.sampled_from(keys))] = draw(JSON_JUNK)
            elif op == "drop" and keys:
                cfg.pop(draw(st.sampled_from(keys)))
            else:
                cfg[draw(st.sampled_from(["dim", "foo", "quantizer", "x"]))] = draw(JSON_JUNK)
    elif how == "architecture":
        arch = ["", "nope", "vqgan_test.tag", "Titok_Test", "seanet_test", None, 3, ["x"]]
        if draw(st.booleans()):
            cfg["architecture"] = draw(st.sampled_from(arch))
        else:
            cfg.pop("architecture")
    elif how == "type":
        return json.dumps(draw(st.sampled_from([[], [cfg], 3, "x", None]))).encode()
    text = json.dumps(cfg)
    if how == "encoding":
        return text.encode("utf-16") if draw(st.booleans()) else b"\xff\xfe" + text.encode()
    if how == "bytes":
        return draw(corrupted(text.encode()))
    return text.encode()


@st.composite
def weights_file(draw, path: Path) -> bytes | dict:
    """model.safetensors spoiled: raw bytes cut/flipped/garbage, or a well-formed file whose
    tensors are missing, extra, reshaped, of another dtype, or whose metadata is odd."""
    data = path.read_bytes()
    if draw(st.booleans()):
        return draw(corrupted(data))
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    keys = sorted(tensors)
    meta = {"format": "pt"}
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["drop", "extra", "reshape", "dtype", "meta", "empty"]))
        k = draw(st.sampled_from(keys))
        if op == "drop":
            tensors.pop(k, None)
        elif op == "extra":
            tensors[draw(st.sampled_from(["extra.weight", k + "_x"]))] = torch.zeros(2)
        elif op == "reshape" and k in tensors:
            t = tensors[k]
            tensors[k] = t.reshape(-1) if t.ndim > 1 else torch.zeros(t.numel() + 1)
        elif op == "dtype" and k in tensors:
            dtype = draw(st.sampled_from([torch.float16, torch.bfloat16, torch.float64,
                                          torch.int64, torch.uint8, torch.bool]))  # fmt: skip
            tensors[k] = tensors[k].to(dtype)
        elif op == "meta":
            meta = draw(st.sampled_from([{}, {"format": "tf"}, {"format": "x" * 300}]))
        elif op == "empty":
            tensors = {}
    return {"tensors": tensors, "metadata": meta}


def _write_weights(path: Path, spec: bytes | dict) -> None:
    if isinstance(spec, bytes):
        path.write_bytes(spec)
    else:
        tensors = {k: v.contiguous() for k, v in spec["tensors"].items()}
        save_file(tensors, str(path), metadata=spec["metadata"])


def _load_folder(data, saved) -> None:
    name = data.draw(st.sampled_from(MODELS), label="model")
    src = saved[name]
    config = json.loads((src / "config.json").read_text())
    with scratch() as d:
        folder = d / name
        folder.mkdir()
        parts = data.draw(
            st.sampled_from(["none", "config", "config", "weights", "both", "missing", "dirs"])
        )
        cfg_bytes = (src / "config.json").read_bytes()
        weights: bytes | dict = (src / "model.safetensors").read_bytes()
        if parts in ("config", "both"):
            cfg_bytes = data.draw(config_bytes(config), label="config.json")
        if parts in ("weights", "both"):
            weights = data.draw(weights_file(src / "model.safetensors"), label="weights")
        (folder / "config.json").write_bytes(cfg_bytes)
        _write_weights(folder / "model.safetensors", weights)
        if parts == "missing":
            (folder / data.draw(st.sampled_from(["config.json", "model.safetensors"]))).unlink()
        elif parts == "dirs":
            victim = folder / data.draw(st.sampled_from(["config.json", "model.safetensors"]))
            victim.unlink()
            victim.mkdir()
        how = data.draw(st.sampled_from(["str", "path", "overrides"]), label="call")
        if how == "overrides":
            key = data.draw(st.sampled_from(sorted(config) + ["nope"]), label="override")
            kw = {key: data.draw(JSON_JUNK, label="value")}
            fn = lambda: zoo.load(str(folder), **kw)  # noqa: E731
        else:
            arg = str(folder) if how == "str" else folder
            fn = lambda: zoo.load(arg)  # noqa: E731

        def check(tok) -> None:
            assert isinstance(tok, zoo.Tokenizer) and not tok.training

        attempt(
            fn,
            what=f"zoo.load({name} folder with {parts} spoiled, via {how})",
            files=[folder, folder / "config.json", folder / "model.safetensors"],
            protect=[folder],
            check=check,
        )


test_load_folder = fuzz_test(_load_folder, 25)
test_load_folder_many = fuzz_test(_load_folder, 1000, slow=True)


def test_load_names_and_paths(saved, tmp_path):
    """Names and paths that are not tokenizers: a clear error each."""
    (tmp_path / "file.txt").write_text("x")
    specs = ["", " ", "nope", "vqgan_test.nope", "hf-hub:", "hf-hub:a", "hf-hub:a/b/c",
             "hf-hub:a/b@", str(tmp_path / "missing"), str(tmp_path / "file.txt"), "./x/y",
             str(tmp_path), "\x00", "a" * 5000, None, 3, b"vqgan_test", ["vqgan_test"]]  # fmt: skip
    for spec in specs:
        attempt(lambda spec=spec: zoo.load(spec), what=f"zoo.load({spec!r:.60})")


# ---------------------------------------------------------------------------------- token files
@pytest.fixture(scope="module")
def token_file(saved, tmp_path_factory) -> Path:
    from zoo.codec import encode_file

    d = tmp_path_factory.mktemp("tokens")
    clip = d / "clip.wav"
    wav, sr = sf.read(AUDIO[0], dtype="float32", always_2d=True)
    sf.write(clip, wav[: sr // 2], sr)  # half a second: decoding is quick
    encode_file(clip, d / "clip.tokens.safetensors", model=str(saved["seanet_test"]))
    return d / "clip.tokens.safetensors"


ODD_META = ["", "0", "-1", "1", "abc", "1e3", "99999999999", "٣", "2.5", " 8000", str(2**64)]


@st.composite
def token_file_spec(draw, path: Path, saved: dict[str, Path]) -> bytes | dict:
    if draw(st.integers(0, 3)) == 0:
        return draw(corrupted(path.read_bytes()))
    with safe_open(str(path), framework="pt") as f:
        codes, meta = f.get_tensor("codes"), dict(f.metadata())
    tensors = {"codes": codes}
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["meta drop", "meta value", "meta value", "model", "dtype",
                                   "shape", "values", "rename", "extra"]))  # fmt: skip
        if "codes" not in tensors and op in ("dtype", "shape", "values", "rename"):
            continue
        if op == "meta drop":
            meta.pop(draw(st.sampled_from(sorted(meta))), None)
        elif op == "meta value":
            key = draw(st.sampled_from(sorted(meta)))
            meta[key] = draw(st.sampled_from(ODD_META))
        elif op == "model":
            meta["model"] = draw(st.sampled_from(
                [str(saved["vqgan_test"]), "nope", "", "vqgan_test", "dac_test", "/nonexistent",
                 str(saved["seanet_test"] / "config.json")]))  # fmt: skip
        elif op == "dtype":
            dtype = draw(st.sampled_from(S.code_dtypes + [torch.float32, torch.bool]))
            tensors["codes"] = tensors["codes"].to(dtype)
        elif op == "shape" and tensors["codes"].ndim == 3:
            c = tensors["codes"]
            tensors["codes"] = draw(st.sampled_from([
                c[0], c[None], c[:, :0], c[..., :0], c[..., :1], torch.cat([c, c], 0),
                torch.cat([c, c], -1), c.reshape(-1)]))  # fmt: skip
        elif op == "values":
            c = tensors["codes"].to(torch.int64, copy=True)  # small dtypes hold no odd values
            if c.numel():
                c.view(-1)[draw(st.integers(0, c.numel() - 1))] = draw(
                    st.sampled_from([-1, 16, 255, 2**31, -(2**40)])
                )
            tensors["codes"] = c
        elif op == "rename":
            tensors = {"tokens": tensors.pop("codes"), **tensors}
        else:
            tensors["extra"] = torch.zeros(3)
    return {"tensors": tensors, "metadata": meta}


def _decode_token_file(data, token_file, saved) -> None:
    from zoo.codec import _main

    spec = data.draw(token_file_spec(token_file, saved), label="token file")
    with scratch() as d:
        path = d / "in.tokens.safetensors"
        _write_weights(path, spec)
        out = d / data.draw(st.sampled_from(["out.wav", "out.flac", "out.xyz", "out"]))
        existing = data.draw(st.booleans(), label="output exists")
        if existing:
            out.write_bytes(b"precious")
        argv = ["decode", str(path), str(out)]
        names = [path, out]  # what an error may name: a file, or the option at fault
        if data.draw(st.booleans(), label="--sample-rate?"):
            names.append("--sample-rate")
            argv += ["--sample-rate", data.draw(st.sampled_from(["8000", "16000", "0", "-1",
                                                                  "abc", "1", "10"]))]  # fmt: skip
        overwrite = data.draw(st.booleans(), label="--overwrite")
        if overwrite:
            argv.append("--overwrite")

        def check(rc: int) -> None:
            assert rc == 0
            info = sf.info(str(out))
            meta = spec["metadata"] if isinstance(spec, dict) else {}
            if "--sample-rate" not in argv and meta.get("length", "").isdigit():
                assert info.frames == int(meta["length"]), (info.frames, meta["length"])

        attempt(
            lambda: _main(argv),
            what=f"python -m zoo.codec {' '.join(argv)}",
            files=names,
            protect=[path] + ([out] if existing and not overwrite else []),
            folders=[d],
            check=check,
            cli=True,
        )


test_decode_token_file = fuzz_test(_decode_token_file, 15)
test_decode_token_file_many = fuzz_test(_decode_token_file, 1000, slow=True)


# ---------------------------------------------------------------------------------- datasets
@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    """Real photos (scikit-image) as JPEG, PNG and grayscale PNG bytes."""
    import io

    import skimage.data

    out = {}
    for name, arr, fmt in [
        ("astronaut.jpg", skimage.data.astronaut()[::4, ::4], "JPEG"),
        ("coffee.png", skimage.data.coffee()[::5, ::5], "PNG"),
        ("camera.png", skimage.data.camera()[::8, ::8], "PNG"),
    ]:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(arr)).save(buf, fmt)
        out[name] = buf.getvalue()
    return out


def _image_dataset(data, photos) -> None:
    from zoo.data.image import FixedCropDataset, RandomCropDataset, list_images
    from zoo.data.transforms import MultiScaleCrop

    name = data.draw(st.sampled_from(sorted(photos)), label="photo")
    bad = data.draw(corrupted(photos[name]), label="corrupt bytes")
    kind = data.draw(st.sampled_from(["fixed", "random"]), label="dataset")
    with scratch() as d:
        for other, blob in photos.items():
            (d / other).write_bytes(bad if other == name else blob)
        crop = MultiScaleCrop(crop_size=16, min_short_side=16, max_short_side=40)

        def run():
            files = list_images(d)
            cls = FixedCropDataset if kind == "fixed" else RandomCropDataset
            ds = cls(files, crop, crops_per_image=1)
            return [ds[i] for i in range(len(ds))]

        def check(items) -> None:
            for x in items:
                assert x.shape == (3, 16, 16) and x.dtype == torch.float32
                assert torch.isfinite(x).all() and float(x.abs().max()) <= 1.0

        attempt(run, what=f"{kind} crops of {name} corrupted", files=[d / name], protect=[d],
                check=check)  # fmt: skip


test_image_dataset = fuzz_test(_image_dataset, 20)
test_image_dataset_many = fuzz_test(_image_dataset, 1000, slow=True)


def _audio_dataset(data) -> None:
    from zoo.data.audio import FixedClipDataset, RandomClipDataset, read_audio

    src = data.draw(st.sampled_from(AUDIO), label="recording")
    bad = data.draw(corrupted(src.read_bytes()), label="corrupt bytes")
    kind = data.draw(st.sampled_from(["fixed", "random", "read_audio"]), label="reader")
    rate = data.draw(st.sampled_from([16000, 8000, 24000]), label="rate")
    with scratch() as d:
        path = d / src.name
        path.write_bytes(bad)
        good = d / "good.flac"
        good.write_bytes(AUDIO[0].read_bytes())

        def run():
            if kind == "read_audio":
                return [read_audio(path, sample_rate=rate, channels=1)]
            if kind == "fixed":
                ds = FixedClipDataset([good, path], sample_rate=rate, clip_samples=4000)
            else:
                ds = RandomClipDataset([good, path], sample_rate=rate, clip_samples=4000)
            return [ds[i] for i in range(min(len(ds), 6))]

        def check(items) -> None:
            for x in items:
                assert x.ndim == 2 and x.shape[0] == 1 and x.dtype == torch.float32
                assert torch.isfinite(x).all(), "non-finite samples"

        attempt(run, what=f"{kind} of {src.name} corrupted at {rate} Hz", files=[path],
                protect=[d], check=check)  # fmt: skip


test_audio_dataset = fuzz_test(_audio_dataset, 20)
test_audio_dataset_many = fuzz_test(_audio_dataset, 1000, slow=True)
