"""Image datasets for tokenizer training: folders, pre-extracted crop caches, webdataset shards.

Every dataset yields float32 images ``(3, H, W)`` in [-1, 1] (batched by the default collate to
``(B, 3, H, W)``). Plain ``torch.utils.data`` code; the Lightning data module that assembles them
lives in :mod:`zoo.training.data`.

- :class:`RandomCropDataset`: random multi-scale crops of photos in a folder (training).
- :class:`FixedCropDataset`: the same crops every time, seeded per item (validation).
- :class:`CropCacheDataset`: crops pre-extracted once into a safetensors file by
  :func:`build_crop_cache`, so CPU training never decodes a 20 MP JPEG per step.
- :func:`webdataset_images`: shards split by node and by worker, shuffled through a buffer.

Train/validation splits are made by source photo (:func:`split_by_source`), never by crop, so
no validation crop overlaps a training crop.
"""

from __future__ import annotations

import io
import json
import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor
from torch.utils.data import Dataset, get_worker_info

from zoo._io import atomic_file
from zoo.data.bad_files import DECODE_ERRORS, BadFiles
from zoo.data.files import IMAGE_EXTENSIONS, list_files
from zoo.data.transforms import MultiScaleCrop, decode_rgb, to_model_range


def list_images(root: str | Path) -> list[Path]:
    """Image files under ``root`` (recursive), sorted by path so the order is reproducible."""
    return list_files(root, IMAGE_EXTENSIONS, who="list_images", noun="images")


def split_by_source(
    files: Sequence[str | Path], *, val_fraction: float, seed: int = 0
) -> tuple[list[Path], list[Path]]:
    """Split source photos (not crops) into train and validation lists.

    The split depends only on the set of file names and ``seed``: files are sorted, shuffled with
    ``random.Random(seed)``, and the first ``ceil(val_fraction * n)`` go to validation (at least
    one and at most ``n - 1`` when ``0 < val_fraction < 1``).

    Returns:
        ``(train_files, val_files)``, each sorted.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"split_by_source: val_fraction must be in [0, 1), got {val_fraction}")
    files = sorted(Path(f) for f in files)
    if len(set(files)) != len(files):
        raise ValueError("split_by_source: the file list contains duplicates")
    if val_fraction == 0.0:
        return files, []
    if len(files) < 2:
        raise ValueError(
            f"split_by_source: need >= 2 source images to split by source, got {len(files)}"
        )
    order = list(files)
    random.Random(seed).shuffle(order)
    n_val = min(max(1, math.ceil(val_fraction * len(files))), len(files) - 1)
    return sorted(order[n_val:]), sorted(order[:n_val])


def _worker_rng(base: int) -> random.Random:
    # torch.initial_seed() differs per DataLoader worker and per epoch (it is drawn from the main
    # process RNG, which Lightning's seed_everything seeds), so crops never repeat across workers;
    # the rank is mixed in because seed_everything gives every rank the same seed.
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    return random.Random(f"{base}:{rank}:{torch.initial_seed()}")


class RandomCropDataset(Dataset):
    """Random multi-scale crops of source photos, ``crops_per_image`` per photo per epoch.

    Args:
        files: source image paths.
        crop: the crop transform (scale range, size, flat-crop rejection).
        crops_per_image: dataset length is ``len(files) * crops_per_image``; item ``i`` is a fresh
            random crop of ``files[i % len(files)]``.
        skip_bad: an unreadable file (truncated, not an image) is logged, counted in
            ``bad_files`` and replaced by the next readable file, instead of raising
            :class:`~zoo.data.bad_files.BadSampleError` naming it.

    Items: float32 ``(3, crop.crop_size, crop.crop_size)`` in [-1, 1].
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        crop: MultiScaleCrop,
        crops_per_image: int = 1,
        *,
        skip_bad: bool = False,
    ) -> None:
        if not files:
            raise ValueError("RandomCropDataset: got an empty file list")
        self.files = [Path(f) for f in files]
        self.crop = crop
        self.crops_per_image = crops_per_image
        self.bad_files = BadFiles(skip_bad, "RandomCropDataset")
        self._rng: random.Random | None = None
        self._rng_seed: int | None = None

    def __len__(self) -> int:
        return len(self.files) * self.crops_per_image

    def __getitem__(self, i: int) -> Tensor:
        seed = torch.initial_seed()
        if self._rng is None or self._rng_seed != seed:
            self._rng, self._rng_seed = _worker_rng(0), seed
        return _crop_readable(self.files, i, self.bad_files, lambda img: self.crop(img, self._rng))


class FixedCropDataset(Dataset):
    """Deterministic crops for validation: item ``i`` is always the same crop.

    Item ``i`` is crop number ``i // len(files)`` of ``files[i % len(files)]``, drawn with a
    ``random.Random`` seeded by ``(seed, i)``; decoded crops are kept in memory after first use
    (validation sets are small).

    Items: float32 ``(3, crop.crop_size, crop.crop_size)`` in [-1, 1].
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        crop: MultiScaleCrop,
        crops_per_image: int = 1,
        *,
        seed: int = 0,
        skip_bad: bool = False,
    ) -> None:
        if not files:
            raise ValueError("FixedCropDataset: got an empty file list")
        self.files = [Path(f) for f in files]
        self.crop = crop
        self.crops_per_image = crops_per_image
        self.seed = seed
        self.bad_files = BadFiles(skip_bad, "FixedCropDataset")
        self._cache: dict[int, Tensor] = {}

    def __len__(self) -> int:
        return len(self.files) * self.crops_per_image

    def __getitem__(self, i: int) -> Tensor:
        if i not in self._cache:
            rng = random.Random(f"{self.seed}:{i}")
            self._cache[i] = _crop_readable(
                self.files, i, self.bad_files, lambda img: self.crop(img, rng), scale=False
            )
        return to_model_range(self._cache[i])


def _crop_readable(files: list[Path], i: int, bad: BadFiles, crop, *, scale: bool = True) -> Tensor:
    """``crop`` of ``files[i % len(files)]``; an unreadable file raises naming it, or (skipping)
    hands over to the next readable one. ``scale``: map the uint8 crop to [-1, 1]."""
    n = len(files)
    for step in range(n):
        path = files[(i + step) % n]
        if str(path) in bad.known:
            continue
        try:
            with Image.open(path) as img:
                out = crop(img)
        except DECODE_ERRORS as err:
            bad.handle(path, err)
            bad.known.add(str(path))
            continue
        return to_model_range(out) if scale else out
    raise bad.all_bad(n)


# --------------------------------------------------------------------------- crop cache

CACHE_KEY = "crops"


def build_crop_cache(
    files: Sequence[str | Path],
    out_path: str | Path,
    *,
    num_crops: int,
    crop: MultiScaleCrop,
    seed: int = 0,
) -> Path:
    """Extract ``num_crops`` random crops (spread evenly over ``files``) into one safetensors file.

    Each photo is decoded once (at the JPEG scale its largest crop scale needs) and cropped many
    times, so 20k crops of 128 px from the 35 wallpapers take about a minute on 2 cores.

    The file holds ``crops``: uint8 ``(num_crops, crop_size, crop_size, 3)`` in [0, 255] (HWC,
    the layout of decoded images), plus JSON metadata: seed, crop settings, source file names.

    Returns:
        ``out_path``.
    """
    files = sorted(Path(f) for f in files)
    if not files:
        raise ValueError("build_crop_cache: got an empty file list")
    if num_crops < len(files):
        raise ValueError(
            f"build_crop_cache: num_crops={num_crops} is fewer than the {len(files)} source images"
        )
    out = np.empty((num_crops, crop.crop_size, crop.crop_size, 3), dtype=np.uint8)
    per_file = [num_crops // len(files) + (k < num_crops % len(files)) for k in range(len(files))]
    k = 0
    for idx, (path, count) in enumerate(zip(files, per_file, strict=True)):
        rng = random.Random(f"{seed}:{idx}")
        try:
            with Image.open(path) as img:
                w, h = img.size
                top = max(crop.max_short_side, crop.crop_size) / min(w, h)
                img = decode_rgb(img, min_size=(w * top, h * top))
                # Crops are drawn on the decoded image with scales relative to its own size.
                for _ in range(count):
                    out[k] = crop(img, rng).permute(1, 2, 0).numpy()
                    k += 1
        except DECODE_ERRORS as err:  # a bare "image file is truncated" names no file
            BadFiles(False, "build_crop_cache").handle(path, err)
    meta = {
        "seed": seed,
        "crop_size": crop.crop_size,
        "min_short_side": crop.min_short_side,
        "max_short_side": crop.max_short_side,
        "min_gradient_energy": crop.min_gradient_energy,
        "flip": crop.flip,
        "sources": [p.name for p in files],
    }
    out_path = Path(out_path)
    with atomic_file(out_path) as tmp:  # never leave a half-written cache behind
        save_file({CACHE_KEY: torch.from_numpy(out)}, str(tmp), metadata={"zoo": json.dumps(meta)})
    return out_path


def _read_crop_cache(path: str | Path, who: str, *, tensor: bool) -> tuple[dict, Tensor | None]:
    """``(metadata, crops or None)`` of a crop cache; errors name the file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{who}: crop cache {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if not tensor:
                return meta, None
            if CACHE_KEY not in f.keys():
                raise ValueError(f"{who}: {path} has no {CACHE_KEY!r} tensor")
            return meta, f.get_tensor(CACHE_KEY)
    except SafetensorError as err:
        raise ValueError(
            f"{who}: cannot read crop cache {str(path)!r}: {err} (not a safetensors file, or a "
            "truncated or damaged one; build it again with zoo.data.build_crop_cache)"
        ) from err


def read_crop_cache_metadata(path: str | Path) -> dict:
    """The JSON metadata written by :func:`build_crop_cache`."""
    meta, _ = _read_crop_cache(path, "read_crop_cache_metadata", tensor=False)
    if "zoo" not in meta:
        raise ValueError(f"{path}: not a crop cache written by zoo.data.build_crop_cache")
    try:
        return json.loads(meta["zoo"])
    except ValueError as err:
        raise ValueError(f"{path}: damaged crop cache metadata: {err}") from err


class CropCacheDataset(Dataset):
    """Crops from a :func:`build_crop_cache` file, optionally re-cropped smaller and flipped.

    Args:
        path: the safetensors cache.
        crop_size: output side; defaults to the cached size. Smaller sizes take a random
            (``train=True``) or centred (``train=False``) window of each cached crop.
        train: random windows and horizontal flips; ``False`` gives fixed outputs.

    Items: float32 ``(3, crop_size, crop_size)`` in [-1, 1]. A latent cache
    (:mod:`zoo.data.latents`: float ``(N, h, w, C)``) gives its latents as float32
    ``(C, crop_size, crop_size)`` unchanged and is never flipped (it stores flipped copies instead).
    """

    def __init__(self, path: str | Path, *, crop_size: int | None = None, train: bool = True):
        _, self.crops = _read_crop_cache(path, "CropCacheDataset", tensor=True)
        self.latents = self.crops.dtype in (torch.float16, torch.bfloat16, torch.float32)
        if (
            self.crops.ndim != 4
            or not (self.latents or self.crops.dtype == torch.uint8)
            or (not self.latents and self.crops.shape[-1] != 3)
        ):
            raise ValueError(
                f"CropCacheDataset: expected uint8 crops (N, H, W, 3) or float latents "
                f"(N, h, w, C) in {str(path)!r}, got {self.crops.dtype} {tuple(self.crops.shape)}"
            )
        cached = self.crops.shape[1]
        self.crop_size = crop_size or cached
        if self.crop_size > cached:
            raise ValueError(
                f"CropCacheDataset: crop_size={self.crop_size} exceeds the cached crops "
                f"({cached} px)"
            )
        self.train = train
        self._rng: random.Random | None = None
        self._rng_seed: int | None = None

    def __len__(self) -> int:
        return self.crops.shape[0]

    def __getitem__(self, i: int) -> Tensor:
        x = self.crops[i].permute(2, 0, 1)
        c, size = self.crop_size, self.crops.shape[1]
        if self.train:
            seed = torch.initial_seed()
            if self._rng is None or self._rng_seed != seed:
                self._rng, self._rng_seed = _worker_rng(1), seed
            y0, x0 = self._rng.randint(0, size - c), self._rng.randint(0, size - c)
            x = x[:, y0 : y0 + c, x0 : x0 + c]
            if not self.latents and self._rng.random() < 0.5:
                x = x.flip(-1)
        else:
            o = (size - c) // 2
            x = x[:, o : o + c, o : o + c]
        if self.latents:
            return x.float().contiguous()
        return to_model_range(x.contiguous())


# --------------------------------------------------------------------------- webdataset


def webdataset_images(
    urls: str | list[str],
    *,
    crop: MultiScaleCrop,
    samples_per_epoch: int,
    shuffle_buffer: int = 1000,
    shard_shuffle: int = 100,
    seed: int = 0,
    skip_bad: bool = False,
) -> torch.utils.data.IterableDataset:
    """Stream random crops from webdataset shards (``.tar`` of ``key.jpg|jpeg|png|webp`` files).

    Shards are split by node (rank) and by DataLoader worker, so every shard is read by one worker
    of one rank per pass. The stream is repeated and cut to ``samples_per_epoch`` samples per
    worker (see :meth:`webdataset.WebDataset.with_epoch`): every rank then sees the same number of
    batches, which DDP needs to avoid hanging at the end of an epoch.

    Args:
        urls: shard URLs or a brace pattern (``"data/train-{000000..000127}.tar"``).
        crop: crop transform applied to every decoded image.
        samples_per_epoch: samples yielded by each worker per epoch.
        shuffle_buffer: sample shuffle buffer size (0 disables).
        shard_shuffle: shard shuffle buffer size (0 disables).
        skip_bad: skip (and log) samples whose image cannot be decoded instead of raising
            :class:`~zoo.data.bad_files.BadSampleError` naming the sample key and shard.

    Items: float32 ``(3, crop.crop_size, crop.crop_size)`` in [-1, 1].
    """
    import webdataset as wds

    pipeline = wds.WebDataset(
        urls,
        nodesplitter=wds.split_by_node,
        workersplitter=wds.split_by_worker,
        shardshuffle=shard_shuffle or False,
        seed=seed,
        empty_check=False,
    )
    if shuffle_buffer:
        pipeline = pipeline.shuffle(shuffle_buffer)
    state = _StreamCrop(crop, seed, skip_bad)
    return pipeline.map(state).select(lambda x: x is not None).with_epoch(samples_per_epoch)


class _StreamCrop:
    """Decode one webdataset sample dict and crop it (picklable for DataLoader workers)."""

    _KEYS = ("jpg", "jpeg", "png", "webp")

    def __init__(self, crop: MultiScaleCrop, seed: int, skip_bad: bool = False) -> None:
        self.crop = crop
        self.seed = seed
        self.bad_files = BadFiles(skip_bad, "webdataset_images")
        self._rng: random.Random | None = None

    def __call__(self, sample: dict) -> Tensor | None:
        if self._rng is None:
            info = get_worker_info()
            wid = info.id if info is not None else 0
            self._rng = _worker_rng(self.seed * 131 + wid)
        key = next((k for k in self._KEYS if k in sample), None)
        if key is None:
            return None  # a sample without an image (e.g. metadata-only) is skipped
        try:
            with Image.open(io.BytesIO(sample[key])) as img:
                return to_model_range(self.crop(img, self._rng))
        except DECODE_ERRORS as err:
            self.bad_files.handle(f"{sample.get('__key__')}.{key}", err, sample)
            return None  # skipped (handle raised otherwise)


def shard_count(urls: str | list[str]) -> int:
    """Number of shards a URL pattern or list expands to."""
    from webdataset.shardlists import expand_urls

    return len(expand_urls(urls)) if isinstance(urls, str) else len(urls)
