"""A broad, deterministic bad-input sweep over every public entry point (issue 9, section 5).

    .venv/bin/python tests/reliability/sweep.py              # everything, a few minutes on CPU
    .venv/bin/python tests/reliability/sweep.py quantizers   # some sections only
    .venv/bin/python tests/reliability/sweep.py --list       # the section names

Where the hypothesis fuzz tests (``test_fuzz_*.py``) draw a few dozen inputs per run, this
walks systematic grids: every argument of every quantizer set to every kind of junk; latents and
codes of every shape class x dtype x value class; every tiny tokenizer with every input class;
saved folders and token files with every key spoiled and the bytes cut, flipped and zeroed at
many places; the data readers on corrupt copies of the real fixtures; and the command lines
(``zoo.codec``, ``eval/reconstruct.py``, ``zoo.demo``, ``python -m zoo``) with bad files and
options. Each input is classified by ``fuzzing.attempt`` and the counts are printed::

    section      tried  clear  worked  wrong  obscure  lost
    ...
    total         9012   7011    2001      0        0     0

``wrong`` = silent wrong result, ``obscure`` = an error of another type, without a message, or
not naming the file, ``lost`` = a pre-existing file changed or a temporary file left behind.
The unexpected ones are listed after the table; the exit status is 1 if there are any.
"""

# Every lambda below is called at once by Sweep.run, inside its loop iteration.
# ruff: noqa: B023

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import math
import random
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import fuzzing  # noqa: E402
from fuzzing import KINDS, Tally, attempt  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
AUDIO = sorted((FIXTURES / "audio").glob("*.flac"))

JUNK = [None, True, False, 0, -1, -(2**8), 2**31, 2**40, 2**63, 10**30, float("nan"),
        float("inf"), float("-inf"), -1.0, 0.5, 2.5, 1e300, "", "8", "x", "l2", "é", [], [1],
        ["a"], [[2]], [2.5], [None], {}, {"dim": 4}, b"\xff"]  # fmt: skip


class Sweep:
    """One section's tally and the unexpected inputs it met."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tally = Tally()
        self.notes: list[str] = []

    def run(self, fn: Callable, what: str, **kw) -> fuzzing.Outcome:
        # The summary is per section; fuzzing.TALLY (the pytest one) is left alone.
        out = attempt(fn, what=what, tally=self.tally, raise_unexpected=False, **kw)
        if self.tally.tried % 500 == 0:
            print(f"  {self.name}: {self.tally.tried} inputs ...", file=sys.stderr, flush=True)
        if out.kind not in ("clear", "worked"):
            self.notes.append(f"[{out.kind}] {out.note}")
        return out


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="zoo-sweep-") as d:
        yield Path(d)


def corruptions(data: bytes, rng: random.Random, n: int = 12) -> Iterator[tuple[str, bytes]]:
    """Cut, bit-flipped, zeroed, spliced, emptied and garbage versions of ``data``."""
    size = len(data)
    yield "empty", b""
    yield "garbage", bytes(rng.getrandbits(8) for _ in range(200))
    for frac in (0.01, 0.1, 0.5, 0.9, 0.999):
        yield f"cut at {frac:g}", data[: int(size * frac)]
    for k in range(n):
        b = bytearray(data)
        hi = min(size, 64) if k % 2 else size  # half of them in the header
        for _ in range(1 + k % 4):
            i = rng.randrange(hi)
            b[i] ^= 1 << rng.randrange(8)
        yield f"bit flips #{k}", bytes(b)
    for k in range(3):
        b = bytearray(data)
        i = rng.randrange(size)
        b[i : i + 512] = bytes(len(b[i : i + 512]))
        yield f"zeroed #{k}", bytes(b)
    i = rng.randrange(size)
    yield "spliced", data[:i] + b"\x00\xffjunk" + data[i:]
    if data[:4] == b"fLaC":  # a header that lies about the length (STREAMINFO total samples)
        for claim in (0, 1, 2**30, 2**36 - 1):
            b = bytearray(data)
            bits = (int.from_bytes(b[18:26], "big") & ~((1 << 36) - 1)) | claim
            b[18:26] = bits.to_bytes(8, "big")
            yield f"claims {claim} samples", bytes(b)


# ---------------------------------------------------------------------------------- quantizers
def sweep_quantizers(sw: Sweep) -> None:
    import torch

    import zoo
    from zoo.quantizers import create_quantizer
    from zoo.quantizers.base import get_quantizer_class

    for name in zoo.list_quantizers():
        cls = get_quantizer_class(name)
        base = dict(cls.example_kwargs)
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        for p in params:  # every argument set to every junk value
            for value in JUNK:
                kw = {**base, p: value}
                sw.run(lambda kw=kw: create_quantizer(name, **kw), f"{name}(**{kw!r})")
            kw = {k: v for k, v in base.items() if k != p}
            sw.run(lambda kw=kw: create_quantizer(name, **kw), f"{name} without {p}")
        sw.run(lambda: create_quantizer(name, **base, nope=1), f"{name}(nope=1)")

        torch.manual_seed(0)
        q = create_quantizer(name, **base)
        if q.requires_fit:
            q.fit(torch.randn(256, q.dim))
        shapes = [(q.dim,), (0, q.dim), (3, 0, q.dim), (2, 5, q.dim), (1, 1, 1, 1, q.dim),
                  (2, 5, q.dim + 1), (2, 5, 1), (2, 5, 0), (), (4,)]  # fmt: skip
        dtypes = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64,
                  torch.uint8, torch.bool, torch.complex64]  # fmt: skip
        fills = {"normal": 1.0, "tiny": 1e-30, "huge": 1e30, "nan": math.nan, "inf": math.inf}
        for mode in ("train", "eval"):
            q.train(mode == "train")
            for shape in shapes:
                for dtype in dtypes:
                    for fill, scale in fills.items():
                        z = torch.randn(shape, generator=torch.Generator().manual_seed(1))
                        if fill in ("nan", "inf") and z.numel():
                            z.view(-1)[0] = scale
                        elif fill not in ("nan", "inf"):
                            z = z * scale
                        z = z.to(dtype)
                        what = f"{name} {mode} forward(z {tuple(shape)} {dtype} {fill})"
                        sw.run(lambda z=z: q(z), what, check=_quantized_ok(q, z))
        q.eval()
        code_dtypes = [*fuzzing.strategies().code_dtypes, torch.float32, torch.bool]
        k, size = q.num_codebooks, q.codebook_size
        for lead in [(), (0,), (3,), (2, 4), (0, 3)]:
            for kk in (k, k + 1, max(0, k - 1), 0):
                ranges = [(0, size, "valid"), (-3, 0, "negative"),
                          (size, size + 3, "too large"), (2**40, 2**41, "huge")]  # fmt: skip
                for lo, hi, label in ranges:
                    base_codes = torch.randint(lo, hi, (*lead, kk), dtype=torch.int64)
                    for dtype in code_dtypes:
                        c = base_codes.to(dtype)
                        what = f"{name}.decode(codes {tuple(c.shape)} {dtype} {label})"
                        sw.run(lambda c=c: q.decode(c), what, check=_decoded_ok(q, c))


def _quantized_ok(q, z):
    import torch

    def check(out) -> None:
        assert out.quantized.shape == z.shape and out.quantized.dtype == z.dtype
        assert out.codes.dtype == torch.int64 and out.codes.shape == (
            *z.shape[:-1],
            q.num_codebooks,
        )
        if out.codes.numel():
            assert 0 <= int(out.codes.min()) and int(out.codes.max()) < q.codebook_size
        assert torch.isfinite(out.quantized.float()).all(), "non-finite quantized values"

    return check


def _decoded_ok(q, codes):
    import torch

    def check(out) -> None:
        assert out.shape == (*codes.shape[:-1], q.dim) and out.dtype == torch.float32
        assert torch.isfinite(out).all()
        assert torch.equal(q.decode(codes.long()), out), "depends on the codes' dtype"

    return check


# ---------------------------------------------------------------------------------- tokenizers
def sweep_tokenizers(sw: Sweep) -> None:
    import torch

    import zoo

    for name in zoo.list_tokenizers("*test*"):
        torch.manual_seed(0)
        tok = zoo.create_tokenizer(name).eval()
        if tok.modality == "audio":
            hop, c = tok.hop_length, tok.channels
            shapes = [(1, c, 0), (1, c, 1), (1, c, hop - 1), (1, c, hop), (2, c, 7 * hop + 3),
                      (0, c, 100), (1, c + 1, 100), (1, 0, 100), (c, 100), (100,),
                      (1, 1, c, 100)]  # fmt: skip
            extra = [{}, {"sample_rate": tok.sample_rate}, {"sample_rate": 44100},
                     {"sample_rate": 44100, "resample": True}, {"sample_rate": 0},
                     {"sample_rate": 2.5, "resample": True}, {"resample": True},
                     {"num_codebooks": 1}, {"num_codebooks": 0}, {"num_codebooks": 99},
                     {"num_codebooks": "2"}, {"num_tokens": 3}]  # fmt: skip
        else:
            if tok.input_size is not None:
                h, w = tok.input_size
            else:
                m = tok.input_multiple if isinstance(tok.input_multiple, int) else 8
                h, w = (g * m for g in tok.token_shape())
            sh, sw_ = tok.smallest_input_size()
            shapes = [(1, 3, h, w), (2, 3, h, w), (1, 3, sh, sw_), (1, 3, h + 1, w),
                      (1, 3, h, w - 1), (1, 3, 0, w), (1, 3, 1, 1), (0, 3, h, w), (1, 1, h, w),
                      (1, 4, h, w), (1, h, w, 3), (3, h, w), (1, 3, 2, h, w),
                      (1, 3, 2 * h, 2 * w)]  # fmt: skip
            extra = [{}, {"num_tokens": None}, {"num_tokens": 1}, {"num_tokens": 0},
                     {"num_tokens": tok.num_tokens + 1}, {"num_tokens": 2.0},
                     {"num_tokens": "4"}, {"num_tokens": True}]  # fmt: skip
        dtypes = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.uint8,
                  torch.int16]  # fmt: skip
        fills = ["valid", "255", "nan", "inf", "2x"]
        for shape in shapes:
            for dtype in dtypes:
                for fill in fills:
                    x = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
                    if fill == "255":
                        x = (x + 1) * 127.5
                    elif fill == "2x":
                        x = x * 2
                    elif fill in ("nan", "inf") and x.numel():
                        x.view(-1)[-1] = float(fill)
                    x = x.to(dtype)
                    what = f"{name}.tokenize(x {tuple(shape)} {dtype} {fill})"
                    sw.run(lambda x=x: _tok_round_trip(tok, x, {}), what,
                           check=_tokens_ok(tok, x))  # fmt: skip
        good = (2, c, 7 * hop + 3) if tok.modality == "audio" else (2, 3, h, w)
        x0 = torch.rand(good) * 2 - 1
        for kw in extra:
            what = f"{name}.tokenize(x {tuple(x0.shape)}, **{kw!r})"
            sw.run(lambda kw=kw: _tok_round_trip(tok, x0, kw), what)
        with torch.no_grad():
            codes = tok.tokenize(x0)
        variants = {
            "as is": codes,
            "first item": codes[:1],
            "no batch": codes[0],
            "empty batch": codes[:0],
            "no tokens": codes[:, :0],
            "one token": codes[:, :1],
            "extra codebook": torch.cat([codes, codes[..., :1]], -1),
            "no codebook axis": codes[..., 0],
            "extra axis": codes[..., None],
            "negative": codes - 1,
            "too large": codes + tok.codebook_size,
            "huge": codes + 2**40,
        }
        if tok.modality == "image" and len(tok.token_shape()) == 2:
            variants["bigger grid"] = torch.cat([codes, codes], 1)
        code_dtypes = [torch.int64, torch.int32, torch.int16, torch.uint8, torch.uint16,
                       torch.uint64, torch.float32, torch.bool]  # fmt: skip
        for label, c in variants.items():
            for dtype in code_dtypes:
                cc = c.to(dtype)
                what = f"{name}.detokenize(codes {label} {tuple(cc.shape)} {dtype})"
                sw.run(lambda cc=cc: _no_grad(tok.detokenize, cc), what,
                       check=_reconstruction_ok(tok, cc))  # fmt: skip
        if tok.modality == "audio":
            for length in (None, 0, 1, -1, 10**9, 2.5, "3", True):
                what = f"{name}.detokenize(codes, length={length!r})"
                sw.run(lambda length=length: _no_grad(tok.detokenize, codes, length=length), what)


def _no_grad(fn, *args, **kw):
    import torch

    with torch.no_grad():
        return fn(*args, **kw)


def _tok_round_trip(tok, x, kw):
    import torch

    with torch.no_grad():
        codes = tok.tokenize(x, **kw)
        return codes, tok.detokenize(codes)


def _tokens_ok(tok, x):
    import torch

    def check(result) -> None:
        codes, y = result
        assert codes.dtype == torch.int64 and codes.shape[0] == x.shape[0]
        assert 0 <= int(codes.min()) and int(codes.max()) < tok.codebook_size
        assert torch.isfinite(y).all(), "non-finite reconstruction"
        if tok.modality == "image":
            assert y.shape == x.shape, (y.shape, x.shape)

    return check


def _reconstruction_ok(tok, codes):
    import torch

    def check(y) -> None:
        assert torch.isfinite(y).all(), "non-finite reconstruction"
        assert y.shape[0] == codes.shape[0]
        assert torch.equal(_no_grad(tok.detokenize, codes.long()), y), "depends on the dtype"

    return check


# ---------------------------------------------------------------------------------- zoo.load
def _saved_models(d: Path) -> dict[str, Path]:
    import torch

    import zoo

    out = {}
    for name in ("vqgan_test", "seanet_test", "titok_test"):
        torch.manual_seed(0)
        out[name] = d / "models" / name
        zoo.create_tokenizer(name).save_pretrained(out[name])
    return out


def sweep_load(sw: Sweep) -> None:
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    import zoo

    rng = random.Random(0)
    with scratch() as root:
        models = _saved_models(root)
        for name, src in models.items():
            config = json.loads((src / "config.json").read_text())
            weights = (src / "model.safetensors").read_bytes()

            def load_with(cfg_bytes: bytes | None, w_bytes: bytes | None, what: str) -> None:
                with scratch() as d:
                    folder = d / name
                    folder.mkdir()
                    if cfg_bytes is not None:
                        (folder / "config.json").write_bytes(cfg_bytes)
                    if w_bytes is not None:
                        (folder / "model.safetensors").write_bytes(w_bytes)
                    files = [folder, folder / "config.json", folder / "model.safetensors"]
                    sw.run(lambda: zoo.load(str(folder)), f"zoo.load({name}: {what})",
                           files=files, protect=[folder])  # fmt: skip

            text = json.dumps(config).encode()
            load_with(text, None, "no weights")
            load_with(None, weights, "no config")
            for key in sorted(config):
                for value in JUNK[:-1]:  # bytes are not JSON
                    cfg = {**config, key: value}
                    load_with(json.dumps(cfg).encode(), weights, f"config {key}={value!r}")
                cfg = {k: v for k, v in config.items() if k != key}
                load_with(json.dumps(cfg).encode(), weights, f"config without {key}")
            for other in ([], 3, "x", None, [config]):
                load_with(json.dumps(other).encode(), weights, f"config.json = {other!r:.20}")
            load_with(json.dumps(config).encode("utf-16"), weights, "UTF-16 config")
            for label, blob in corruptions(text, rng, n=6):
                load_with(blob, weights, f"config {label}")
            for label, blob in corruptions(weights, rng):
                load_with(text, blob, f"weights {label}")
            with safe_open(str(src / "model.safetensors"), framework="pt") as f:
                tensors = {k: f.get_tensor(k) for k in f.keys()}
            first = sorted(tensors)[0]
            spoiled = {
                "missing tensor": {k: v for k, v in tensors.items() if k != first},
                "extra tensor": {**tensors, "extra": torch.zeros(2)},
                "reshaped tensor": {**tensors, first: tensors[first].reshape(-1)[:-1].clone()},
                "float16": {k: v.half() for k, v in tensors.items()},
                "int64": {k: v.long() for k, v in tensors.items()},
                "no tensors": {"x": torch.zeros(1)},
            }
            for label, t in spoiled.items():
                with scratch() as d:
                    save_file(t, str(d / "w.st"))
                    load_with(text, (d / "w.st").read_bytes(), f"weights with {label}")
        for spec in ["", "nope", "vqgan_test.nope", "hf-hub:", "hf-hub:a", "hf-hub:a/b/c",
                     "./no/such", str(root / "models"), "\x00", None, 3, b"x"]:  # fmt: skip
            sw.run(lambda spec=spec: zoo.load(spec), f"zoo.load({spec!r})")


# ---------------------------------------------------------------------------------- token files
def sweep_token_files(sw: Sweep) -> None:
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    from zoo.codec import _main, encode_file

    rng = random.Random(1)
    with scratch() as root:
        models = _saved_models(root)
        clip = root / "clip.wav"
        wav, sr = _read(AUDIO[1])
        _write(clip, wav[: sr // 2], sr)
        good = root / "good.st"
        encode_file(clip, good, model=str(models["seanet_test"]))
        with safe_open(str(good), framework="pt") as f:
            codes, meta = f.get_tensor("codes"), dict(f.metadata())

        def decode(tensors: dict | None, metadata: dict | None, raw: bytes | None, what: str,
                   extra: tuple = (), existing: bool = False) -> None:  # fmt: skip
            with scratch() as d:
                path = d / "in.st"
                if raw is not None:
                    path.write_bytes(raw)
                else:
                    tensors = {k: v.contiguous() for k, v in tensors.items()}
                    save_file(tensors, str(path), metadata=metadata)
                out = d / "out.wav"
                if existing:
                    out.write_bytes(b"precious")
                argv = ["decode", str(path), str(out), *extra]

                def check(rc: int) -> None:
                    import soundfile as sf

                    frames = sf.info(str(out)).frames
                    if "--sample-rate" not in extra and metadata and metadata["length"].isdigit():
                        assert frames == int(metadata["length"]), (frames, metadata["length"])

                sw.run(lambda: _main(argv), f"zoo.codec decode ({what})",
                       files=[path, out, *[e for e in extra if e.startswith("--")]],
                       protect=[path] + ([] if "--overwrite" in extra else [out]), folders=[d],
                       cli=True, check=check)  # fmt: skip

        for key in sorted(meta):
            decode({"codes": codes}, {k: v for k, v in meta.items() if k != key}, None,
                   f"no {key}")  # fmt: skip
            for value in ["", "0", "-1", "1", "abc", "1e3", "99999999999", "٣", "2.5", " 8",
                          str(2**64), str(models["vqgan_test"]), "nope"]:  # fmt: skip
                decode({"codes": codes}, {**meta, key: value}, None, f"{key}={value!r}")
        for dtype in (torch.int32, torch.int16, torch.uint8, torch.uint64, torch.float32,
                      torch.bool):  # fmt: skip
            decode({"codes": codes.to(dtype)}, meta, None, f"codes {dtype}")
        for label, c in {"2-d": codes[0], "4-d": codes[None], "0 frames": codes[:, :0],
                         "k=0": codes[..., :0], "k=1": codes[..., :1], "batch 2":
                         torch.cat([codes, codes]), "k=8": torch.cat([codes, codes], -1),
                         "negative": codes - 1, "too large": codes + 16}.items():  # fmt: skip
            decode({"codes": c}, meta, None, f"codes {label}")
        decode({"tokens": codes}, meta, None, "tensor renamed")
        decode({"codes": codes}, meta, None, "as written")
        decode({"codes": codes}, meta, None, "output exists", existing=True)
        decode({"codes": codes}, meta, None, "--overwrite", ("--overwrite",), existing=True)
        for label, blob in corruptions(good.read_bytes(), rng):
            decode(None, None, blob, label)
        for rate in ("0", "-1", "1", "10", "x", "16000", "192000", "1000000"):
            decode({"codes": codes}, meta, None, f"--sample-rate {rate}", ("--sample-rate", rate))
        decode({"codes": codes}, meta, None, "--model nope", ("--model", "nope"))
        decode(
            {"codes": codes}, meta, None, "--model vqgan", ("--model", str(models["vqgan_test"]))
        )


def _read(path: Path):
    import soundfile as sf

    return sf.read(path, dtype="float32", always_2d=True)


def _write(path: Path, wav, sr: int) -> None:
    import soundfile as sf

    sf.write(path, wav, sr)


# ---------------------------------------------------------------------------------- data readers
def sweep_data(sw: Sweep) -> None:
    import numpy as np
    import skimage.data
    from PIL import Image

    from zoo.data.audio import FixedClipDataset, RandomClipDataset, read_audio
    from zoo.data.image import (
        CropCacheDataset,
        FixedCropDataset,
        RandomCropDataset,
        build_crop_cache,
        list_images,
    )
    from zoo.data.transforms import MultiScaleCrop

    rng = random.Random(2)
    photos = {}
    for name, arr, fmt in [("astronaut.jpg", skimage.data.astronaut()[::4, ::4], "JPEG"),
                           ("coffee.png", skimage.data.coffee()[::5, ::5], "PNG"),
                           ("camera.png", skimage.data.camera()[::8, ::8], "PNG")]:  # fmt: skip
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(arr)).save(buf, fmt)
        photos[name] = buf.getvalue()
    crop = MultiScaleCrop(crop_size=16, min_short_side=16, max_short_side=40)
    for name, blob in photos.items():
        for label, bad in corruptions(blob, rng, n=8):
            for kind in ("fixed", "random", "cache"):
                with scratch() as d:
                    for other, b in photos.items():
                        (d / other).write_bytes(bad if other == name else b)

                    def run(kind=kind, d=d):
                        files = list_images(d)
                        if kind == "cache":
                            path = build_crop_cache(files, d / "c.st", num_crops=6, crop=crop)
                            ds = CropCacheDataset(path, crop_size=8)
                        else:
                            cls = FixedCropDataset if kind == "fixed" else RandomCropDataset
                            ds = cls(files, crop)
                        return [ds[i] for i in range(len(ds))]

                    sw.run(run, f"{kind} crops, {name} {label}", files=[d / name],
                           protect=[d / n for n in photos], folders=[d])  # fmt: skip
    with scratch() as d:
        cache = build_crop_cache(
            [d / n for n in _write_all(d, photos)], d / "c.st", num_crops=6, crop=crop
        )
        for label, bad in corruptions(cache.read_bytes(), rng):
            (d / "bad.st").write_bytes(bad)
            sw.run(lambda: CropCacheDataset(d / "bad.st")[0], f"crop cache {label}",
                   files=[d / "bad.st"])  # fmt: skip
    for src in AUDIO[:3]:
        for label, bad in corruptions(src.read_bytes(), rng):
            for kind in ("read_audio", "fixed", "random"):
                with scratch() as d:
                    path = d / src.name
                    path.write_bytes(bad)
                    good = d / "good.flac"
                    good.write_bytes(AUDIO[-1].read_bytes())

                    def run(kind=kind, path=path, good=good):
                        if kind == "read_audio":
                            return [read_audio(path, sample_rate=8000, channels=1)]
                        cls = FixedClipDataset if kind == "fixed" else RandomClipDataset
                        ds = cls([good, path], sample_rate=8000, clip_samples=4000)
                        return [ds[i] for i in range(min(len(ds), 8))]

                    sw.run(run, f"{kind}, {src.name} {label}", files=[path],
                           protect=[path, good], folders=[d])  # fmt: skip


def _write_all(d: Path, blobs: dict[str, bytes]) -> list[str]:
    for name, blob in blobs.items():
        (d / name).write_bytes(blob)
    return list(blobs)


# ---------------------------------------------------------------------------------- CLIs
def sweep_cli(sw: Sweep) -> None:
    import importlib.util

    from zoo.__main__ import main as zoo_main
    from zoo.codec import _main as codec_main
    from zoo.demo import main as demo_main

    spec = importlib.util.spec_from_file_location("zoo_eval_reconstruct",
                                                  ROOT / "eval" / "reconstruct.py")  # fmt: skip
    reconstruct = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reconstruct)
    rng = random.Random(3)
    with scratch() as root:
        models = _saved_models(root)
        seanet = str(models["seanet_test"])
        wav, sr = _read(AUDIO[1])
        clip = root / "clip.wav"
        _write(clip, wav[: sr // 2], sr)
        # encode: corrupt inputs
        for label, bad in corruptions(clip.read_bytes(), rng):
            for suffix in (".wav", ".flac"):
                with scratch() as d:
                    path = d / f"in{suffix}"
                    path.write_bytes(bad)
                    out = d / "out.st"
                    argv = ["encode", str(path), str(out), "--model", seanet]
                    sw.run(lambda argv=argv: codec_main(argv), f"zoo.codec encode {label}",
                           files=[path, out], protect=[path], folders=[d], cli=True)  # fmt: skip
        # encode/decode: options and paths
        with scratch() as d:
            (d / "old.st").write_bytes(b"precious")
            (d / "dir").mkdir()
            sets = [
                ["encode", str(clip), str(d / "old.st"), "--model", seanet],
                ["encode", str(clip), str(clip), "--model", seanet, "--overwrite"],
                ["encode", str(clip), str(d / "dir"), "--model", seanet],
                ["encode", str(clip), str(d / "no" / "such" / "x.st"), "--model", seanet],
                ["encode", str(d / "dir"), str(d / "a.st"), "--model", seanet],
                ["encode", str(clip), str(d / "b.st"), "--model", "nope"],
                ["encode", str(clip), str(d / "c.st"), "--model", str(models["vqgan_test"])],
                ["decode", str(d / "old.st"), str(d / "x.wav")],
                ["decode", str(clip), str(d / "x.wav")],
            ]
            for opt in ("--num-codebooks", "--sample-rate"):
                for value in ("0", "-1", "x", "", "1.5", "99", "2"):
                    cmd = "encode" if opt == "--num-codebooks" else "decode"
                    sets.append([cmd, str(clip), str(d / "y.st"), "--model", seanet, opt, value])
            sets += [[], ["encode"], ["nope"], ["encode", "a"], ["--model"], ["-x", "encode"]]
            for argv in sets:
                names = _cli_names(argv)
                sw.run(lambda argv=argv: codec_main(argv), f"zoo.codec {argv}", files=names,
                       protect=[clip, d / "old.st"], folders=[d, root], cli=True)  # fmt: skip
        # eval/reconstruct.py
        with scratch() as d:
            photos = d / "photos"
            photos.mkdir()
            import numpy as np
            from PIL import Image

            Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(photos / "a.png")
            (photos / "b.png").write_bytes(b"not a png")
            (d / "old.json").write_text("{}")
            vq = str(models["vqgan_test"])
            base = ["--model", vq, "--data", str(photos), "--metrics", "psnr", "--no-progress"]
            sets = [
                [*base, "--out", str(d / "old.json")],
                [*base, "--out", str(d / "r.md")],
                [*base, "--out", str(photos / "a.png")],
                [*base, "--out", str(d / "r1.json")],
                [*base, "--out", str(d / "r2.json"), "--skip-bad"],
                [*base, "--out", str(d / "r3.json"), "--save-reconstructions", str(photos)],
                [*base, "--out", str(d / "r4.json"), "--num-codebooks", "2"],
                [*base, "--out", str(d / "r5.json"), "--resolution", "0"],
                [*base, "--out", str(d / "r6.json"), "--limit", "x"],
                [*base, "--out", str(d / "r7.json"), "--num-tokens", "3", "--skip-bad"],
                ["--model", "nope", "--data", str(photos), "--out", str(d / "r8.json")],
                ["--model", vq, "--data", str(d / "none"), "--out", str(d / "r9.json")],
                [
                    "--model",
                    seanet,
                    "--data",
                    str(photos),
                    "--out",
                    str(d / "ra.json"),
                    "--metrics",
                    "si_sdr",
                ],  # fmt: skip
                ["--model", vq, "--out", str(d / "rb.json")],
                [*base, "--out", str(d / "rc.json"), "--metrics", "nope", "--skip-bad"],
            ]
            for argv in sets:
                names = _cli_names(argv, photos)
                sw.run(lambda argv=argv: reconstruct.main(argv), f"eval/reconstruct.py {argv}",
                       files=names, protect=[photos, d / "old.json"], folders=[d, photos],
                       cli=True)  # fmt: skip
        # zoo.demo and python -m zoo
        with scratch() as d:
            (d / "old.png").write_bytes(b"precious")
            ti = str(models["titok_test"])
            quick = ["--compare", "", "--codec", "", "--photos", "astronaut"]
            sets = [
                ["--model", ti, *quick, "--out", str(d / "old.png")],
                ["--model", ti, *quick, "--out", str(d / "a.png")],
                ["--model", ti, *quick, "--out", str(d / "b.png"), "--num-tokens", "x"],
                ["--model", ti, *quick, "--out", str(d / "c.png"), "--num-tokens", "0"],
                ["--model", ti, *quick, "--out", str(d / "e.png"), "--scale", "0"],
                ["--model", ti, *quick, "--out", str(d / "f.png"), "--photos", "nope"],
                ["--model", ti, *quick, "--out", str(d / "g.png"), "--photos", ","],
                ["--model", seanet, *quick, "--out", str(d / "h.png")],
                ["--model", "nope", *quick, "--out", str(d / "i.png")],
                ["--model", ti, *quick, "--out", ti],
                ["--model", ti, *quick, "--out", str(d / "j.png"), "--codec", "nope"],
            ]
            for argv in sets:
                names = _cli_names(argv)
                sw.run(lambda argv=argv: demo_main(argv), f"zoo.demo {argv}", files=names,
                       protect=[d / "old.png", models["titok_test"]], folders=[d],
                       cli=True)  # fmt: skip
        for argv in [[], ["list"], ["list", "["], ["list", "nope*"], ["info"], ["info", "nope"],
                     ["info", "vqgan_test.nope"], ["info", ""], ["nope"],
                     ["info", "seanet_cpu_16khz.speech_music"]]:  # fmt: skip
            sw.run(lambda argv=argv: zoo_main(argv), f"python -m zoo {argv}",
                   files=_cli_names(argv), cli=True)  # fmt: skip


def _cli_names(argv: list[str], *folders: Path) -> list[str]:
    """What an error about ``argv`` may name: its options and values (a name's parts before
    and after a dot too) and the files in ``folders``."""
    names = [a for a in argv if len(a) > 2] + (["''"] if "" in argv else [])
    names += [part for a in names if "." in a and "/" not in a for part in a.split(".")]
    names += [str(f) for d in folders for f in d.iterdir()]
    return names


SECTIONS = {
    "quantizers": sweep_quantizers,
    "tokenizers": sweep_tokenizers,
    "load": sweep_load,
    "token_files": sweep_token_files,
    "data": sweep_data,
    "cli": sweep_cli,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("sections", nargs="*", help=f"some of {', '.join(SECTIONS)} (default: all)")
    p.add_argument("--list", action="store_true", help="print the section names")
    p.add_argument("--show", type=int, default=40, help="unexpected inputs to list")
    args = p.parse_args(argv)
    if args.list:
        print("\n".join(SECTIONS))
        return 0
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        p.error(f"unknown sections {unknown}; choose from {list(SECTIONS)}")
    import logging

    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    logging.getLogger("zoo.data").setLevel(logging.ERROR)
    sweeps = []
    for name in args.sections or list(SECTIONS):
        sw = Sweep(name)
        torch.manual_seed(0)
        t0 = time.perf_counter()
        SECTIONS[name](sw)
        print(f"{name}: {sw.tally.tried} inputs in {time.perf_counter() - t0:.0f} s", flush=True)
        sweeps.append(sw)
    cols = ("tried", *KINDS)
    print(f"\n{'section':<12}" + "".join(f"{c:>9}" for c in cols))
    total = Tally()
    for sw in sweeps:
        c = sw.tally.counts
        print(f"{sw.name:<12}{sw.tally.tried:>9}" + "".join(f"{c[k]:>9}" for k in KINDS))
        total.merge(c)
    print(f"{'total':<12}{total.tried:>9}" + "".join(f"{total.counts[k]:>9}" for k in KINDS))
    print("(wrong = silent wrong result, obscure = obscure traceback, lost = lost data)")
    notes = [n for sw in sweeps for n in sw.notes]
    if notes:
        print(f"\n{len(notes)} unexpected (first {min(len(notes), args.show)}):")
        for n in notes[: args.show]:
            print(f"  {n[:500]}")
    return 1 if notes else 0


if __name__ == "__main__":
    sys.exit(main())
