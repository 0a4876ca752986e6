"""Evaluation data: image sources (folder, webdataset shards, bundled photos) and the resize rule.

A source yields ``(name, bytes)`` pairs in a fixed order; :func:`iter_image_batches` decodes and
preprocesses them into uint8 batches and records a manifest (name, sha256 of the file bytes,
original size) of every image used and every file skipped, so a result file states exactly which
data it measured.

Sources (:func:`open_image_source`):

- a folder: every ``.jpg .jpeg .png .webp .bmp .tif .tiff`` file below it, sorted by path (the
  walk of :func:`zoo.data.files.list_files`, decoded by :func:`zoo.data.transforms.decode_image`);
- webdataset shards: a ``.tar`` path or a brace pattern ``data/val-{000..009}.tar``; each sample's
  first image member (``key.jpg|jpeg|png|webp``), in shard order;
- ``"skimage"``: real photos bundled with scikit-image (astronaut, camera as grayscale -> RGB,
  chelsea, coffee, hubble_deep_field, retina, rocket, stereo_motorcycle left view) and
  matplotlib's grace_hopper.jpg; CC0 / public domain, available offline.

Preprocessing (:class:`ResizeRule`): ``center-crop`` resizes so that the image covers the target
(the short side, for a square target) with PIL bicubic filtering (antialiased when shrinking) and
takes the central crop, the usual ImageNet evaluation rule; ``none`` uses images as they are and
requires every image to have the target size. Images are converted to RGB (grayscale replicated,
alpha dropped); EXIF orientation is not applied (as torchvision's ``ImageFolder`` does not).
"""

from __future__ import annotations

import hashlib
import math
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from zoo.data.bad_files import BadSampleError
from zoo.data.files import IMAGE_EXTENSIONS, list_files
from zoo.data.transforms import decode_image as _decode_rgb

RESIZE_RULES = ("center-crop", "none")


class BadImageError(ValueError):
    """An input file that cannot be read or decoded; the message names the file."""


# --------------------------------------------------------------------------- sources
class ImageSource:
    """An ordered collection of encoded items: iterate for ``(name, bytes | error)``, the error
    (``bad_error``) naming an unreadable item."""

    kind: str = ""
    bad_error: type[ValueError] = BadImageError

    def __init__(self, spec: str) -> None:
        self.spec = spec

    def __iter__(self) -> Iterator[tuple[str, bytes | ValueError]]:  # pragma: no cover
        raise NotImplementedError  # abstract: each source kind yields its own items

    def __len__(self) -> int:  # pragma: no cover - sources with a known length override it
        raise TypeError(f"{type(self).__name__} has no length")

    def has_len(self) -> bool:
        try:
            len(self)
        except TypeError:
            return False
        return True

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "spec": self.spec}


class FileListSource(ImageSource):
    """Items given as ``(name, path)`` pairs (folders and bundled data), of any modality."""

    def __init__(self, spec: str, files: list[tuple[str, Path]]) -> None:
        super().__init__(spec)
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[tuple[str, bytes | ValueError]]:
        for name, path in self.files:
            try:
                yield name, path.read_bytes()
            except OSError as err:
                yield name, self.bad_error(f"{name}: cannot read {str(path)!r}: {err}")


class FolderSource(FileListSource):
    """Every file below a folder whose suffix is in ``extensions`` (the walk of
    :func:`zoo.data.files.list_files`), sorted by relative path."""

    kind = "folder"
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS
    noun = "images"

    def __init__(self, folder: str | Path) -> None:
        root = Path(folder)
        files = list_files(root, self.extensions, who=f"{self.noun} folder", noun=self.noun)
        super().__init__(str(folder), [(p.relative_to(root).as_posix(), p) for p in files])
        self.root = root

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": portable_path(self.root)}


def portable_path(path: str | Path) -> str:
    """``path`` relative to the working directory when it lies under it (so result files
    written from a checkout do not record this machine's absolute paths), else absolute."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(resolved)


def skimage_photos() -> list[tuple[str, Path, str]]:
    """``(name, path, license)`` of the bundled real photos (see the module docstring)."""
    import matplotlib
    import skimage

    sk = Path(skimage.__file__).parent / "data"
    mpl = Path(matplotlib.get_data_path()) / "sample_data"
    # Licenses as stated in scikit-image's skimage.data docstrings.
    photos = [
        ("astronaut.png", sk / "astronaut.png", "public domain (NASA)"),
        ("camera.png", sk / "camera.png", "CC0 (Lav Varshney)"),
        ("chelsea.png", sk / "chelsea.png", "CC0 (Stefan van der Walt)"),
        ("coffee.png", sk / "coffee.png", "CC0 (Rachel Michetti)"),
        ("hubble_deep_field.jpg", sk / "hubble_deep_field.jpg", "public domain (NASA)"),
        ("retina.jpg", sk / "retina.jpg", "CC0 (Mikael Häggström)"),
        ("rocket.jpg", sk / "rocket.jpg", "public domain (SpaceX)"),
        (
            "motorcycle_left.png",
            sk / "motorcycle_left.png",
            "Middlebury 2014 stereo benchmark, as redistributed by scikit-image",
        ),
        ("grace_hopper.jpg", mpl / "grace_hopper.jpg", "public domain (US Navy)"),
    ]
    missing = [str(p) for _, p, _ in photos if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"bundled photos missing: {missing}; reinstall scikit-image and matplotlib"
        )
    return photos


class SkimageSource(FileListSource):
    """The bundled real photos of scikit-image and matplotlib (offline, CC0 / public domain)."""

    kind = "skimage"

    def __init__(self) -> None:
        photos = skimage_photos()
        super().__init__("skimage", [(name, path) for name, path, _ in photos])
        self.licenses = {name: lic for name, _, lic in photos}

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "description": "photos bundled with scikit-image (8) and matplotlib (grace_hopper)",
            "licenses": self.licenses,
        }


class ShardSource(ImageSource):
    """webdataset shards (local ``.tar`` files): the first image member of every sample."""

    kind = "shards"
    _IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")

    def __init__(self, spec: str) -> None:
        super().__init__(spec)
        from webdataset.shardlists import expand_urls

        self.shards = [Path(u) for u in expand_urls(spec)]
        missing = [str(s) for s in self.shards if not s.is_file()]
        if missing:
            raise FileNotFoundError(
                f"webdataset shards not found: {missing[:5]}"
                + (f" ({len(missing)} in all)" if len(missing) > 5 else "")
                + " (only local .tar files are read)"
            )

    def __iter__(self) -> Iterator[tuple[str, bytes | BadImageError]]:
        for shard in self.shards:
            try:
                tar = tarfile.open(shard)
            except (OSError, tarfile.TarError) as err:
                yield shard.name, BadImageError(f"{shard.name}: cannot open shard: {err}")
                continue
            with tar:
                seen: set[str] = set()
                try:
                    for member in tar:
                        if not member.isfile():
                            continue
                        base = member.name.rsplit("/", 1)[-1]
                        stem, _, ext = base.partition(".")
                        key = member.name[: len(member.name) - len(base)] + stem
                        if ext.lower() not in self._IMAGE_EXTS or key in seen:
                            continue
                        seen.add(key)
                        name = f"{shard.name}/{key}.{ext}"
                        f = tar.extractfile(member)
                        yield (
                            name,
                            f.read()
                            if f is not None
                            else BadImageError(f"{name}: unreadable tar member"),
                        )
                except (OSError, tarfile.TarError) as err:
                    yield shard.name, BadImageError(f"{shard.name}: corrupt shard: {err}")

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "shards": [str(s.resolve()) for s in self.shards],
            "shard_sha256": {s.name: _sha256(s.read_bytes()) for s in self.shards},
        }


def open_image_source(spec: str | Path) -> ImageSource:
    """A folder, ``.tar`` shard(s) (brace patterns allowed), or ``"skimage"``."""
    s = str(spec)
    if s == "skimage":
        return SkimageSource()
    if Path(s).is_dir():
        return FolderSource(s)
    if s.endswith(".tar") or ("{" in s and ".tar" in s):
        return ShardSource(s)
    if Path(s).exists():
        raise ValueError(
            f"--data {s!r}: expected a folder of images, webdataset .tar shards, or 'skimage'"
        )
    raise FileNotFoundError(
        f"--data {s!r}: no such folder or shard; expected a folder of images, webdataset .tar "
        "shards (brace patterns allowed), or 'skimage' (the bundled real photos)"
    )


# --------------------------------------------------------------------------- preprocessing
@dataclass(frozen=True)
class ResizeRule:
    """How every image is brought to ``resolution`` ``(H, W)`` (see the module docstring)."""

    resolution: tuple[int, int]
    mode: str = "center-crop"
    interpolation: str = "bicubic"

    def __post_init__(self) -> None:
        if self.mode not in RESIZE_RULES:
            raise ValueError(f"resize rule must be one of {RESIZE_RULES}, got {self.mode!r}")
        if self.interpolation not in _FILTERS:
            raise ValueError(
                f"interpolation must be one of {sorted(_FILTERS)}, got {self.interpolation!r}"
            )
        h, w = self.resolution
        if h < 1 or w < 1:
            raise ValueError(f"resolution must be positive, got {self.resolution}")

    def apply(self, img: Image.Image, name: str) -> tuple[Image.Image, bool]:
        """The preprocessed RGB image and whether it had to be enlarged."""
        h, w = self.resolution
        if self.mode == "none":
            if img.size != (w, h):
                raise SizeMismatchError(
                    f"{name}: is {img.size[1]}x{img.size[0]} (HxW), expected {h}x{w} with "
                    "--resize none; use --resize center-crop to resize and crop, or pass "
                    "--resolution matching the data"
                )
            return img, False
        iw, ih = img.size
        scale = max(h / ih, w / iw)
        nw, nh = max(w, round(iw * scale)), max(h, round(ih * scale))
        if (nw, nh) != (iw, ih):
            img = img.resize((nw, nh), _FILTERS[self.interpolation])
        left, top = int(round((nw - w) / 2.0)), int(round((nh - h) / 2.0))
        return img.crop((left, top, left + w, top + h)), scale > 1

    def describe(self) -> dict[str, Any]:
        h, w = self.resolution
        rule = (
            f"resize to cover {h}x{w} (PIL {self.interpolation}, antialiased when shrinking), "
            "then center crop"
            if self.mode == "center-crop"
            else f"none: every image must be {h}x{w}"
        )
        return {
            "resolution": [h, w],
            "mode": self.mode,
            "interpolation": self.interpolation if self.mode != "none" else None,
            "rule": rule,
            "color": "RGB (grayscale replicated, alpha dropped); EXIF orientation not applied",
        }


_FILTERS = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "lanczos": Image.Resampling.LANCZOS,
}


class SizeMismatchError(ValueError):
    """An image whose size does not fit the resize rule ``none``."""


def decode_image(data: bytes, name: str) -> Image.Image:
    """Fully decode ``data`` as an RGB PIL image (:func:`zoo.data.transforms.decode_image`);
    BadImageError naming ``name`` otherwise."""
    try:
        return _decode_rgb(data, name)
    except BadSampleError as err:
        raise BadImageError(str(err)) from err


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- batching
@dataclass
class DataLog:
    """What the data loop saw: the manifest of used images and the skipped files."""

    manifest: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    enlarged: int = 0

    def manifest_sha256(self) -> str:
        """sha256 over the ordered ``name:sha256`` lines: one id for the exact image set."""
        lines = "".join(f"{e['name']}:{e['sha256']}\n" for e in self.manifest)
        return _sha256(lines.encode())


@dataclass
class ImageBatch:
    """Names and uint8 pixels ``(B, 3, H, W)`` in [0, 255] of a batch."""

    names: list[str]
    images: Tensor


def iter_image_batches(
    source: ImageSource,
    rule: ResizeRule,
    *,
    batch_size: int,
    skip_bad: bool,
    log: DataLog,
    limit: int | None = None,
) -> Iterator[ImageBatch]:
    """Decode, preprocess and batch the images of ``source``, filling ``log``.

    Unreadable or truncated files raise BadImageError naming the file, unless ``skip_bad``: then
    they are listed in ``log.skipped`` and left out. Images that do not fit ``rule`` raise
    SizeMismatchError. ``limit`` stops after that many images.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    def read(name: str, data: bytes) -> tuple[np.ndarray, dict[str, Any]]:
        img = decode_image(data, name)
        width, height = img.size
        img, enlarged = rule.apply(img, name)
        log.enlarged += int(enlarged)
        return np.asarray(img, dtype=np.uint8), {"width": width, "height": height}

    names: list[str] = []
    images: list[np.ndarray] = []
    items = read_items(source, read, skip_bad=skip_bad, log=log, limit=limit, error=BadImageError,
                       unusable="unreadable", noun="images")  # fmt: skip
    for name, image in items:
        names.append(name)
        images.append(image)
        if len(names) == batch_size:
            yield ImageBatch(names, _stack(images))
            names, images = [], []
    if names:
        yield ImageBatch(names, _stack(images))


def read_items(
    source: ImageSource,
    read: Any,
    *,
    skip_bad: bool,
    log: DataLog,
    limit: int | None,
    error: type[ValueError],
    unusable: str,
    noun: str,
) -> Iterator[tuple[str, Any]]:
    """``(name, item)`` for the items of any source, ``read(name, bytes) -> (item, manifest
    fields)``, filling ``log``: an ``error`` naming the file stops the run (with the hint to pass
    --skip-bad), or with ``skip_bad`` is listed in ``log.skipped``; ``limit`` stops after that
    many items; no usable item at all is an ``error``."""
    count = 0
    for name, data in source:
        if limit is not None and count >= limit:
            break
        try:
            if isinstance(data, Exception):
                raise data
            item, fields = read(name, data)
        except error as err:
            if not skip_bad:
                raise error(f"{err} (pass --skip-bad to skip {unusable} files)") from err
            log.skipped.append({"name": name, "error": str(err)})
            continue
        log.manifest.append({"name": name, "sha256": _sha256(data), **fields})
        count += 1
        yield name, item
    if count == 0:
        what = f"all {len(log.skipped)} files were {unusable}" if log.skipped else f"no {noun}"
        raise error(f"data {source.spec!r}: {what}; nothing to evaluate")


def _stack(images: list[np.ndarray]) -> Tensor:
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def num_batches(source: ImageSource, batch_size: int, limit: int | None = None) -> int | None:
    """Batches the loop will yield (None when the source length is unknown)."""
    if not source.has_len():
        return None if limit is None else math.ceil(limit / batch_size)
    n = len(source) if limit is None else min(limit, len(source))
    return math.ceil(n / batch_size)
