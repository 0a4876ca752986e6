"""Image crops, flat-crop rejection, source-photo splits, crop caches and webdataset shards."""

import io
import random
import tarfile

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from zoo.data import (
    CropCacheDataset,
    FixedCropDataset,
    MultiScaleCrop,
    RandomCropDataset,
    build_crop_cache,
    gradient_energy,
    list_images,
    read_crop_cache_metadata,
    split_by_source,
    to_model_range,
    webdataset_images,
)
from zoo.training import ImageDataModule


def _save_photos(folder, n, size=(64, 48)):
    folder.mkdir(parents=True, exist_ok=True)
    photos = [
        skimage.data.astronaut(),
        skimage.data.chelsea(),
        skimage.data.coffee(),
        skimage.data.rocket(),
        skimage.data.hubble_deep_field(),
        skimage.data.retina(),
    ]
    paths = []
    for i in range(n):
        im = Image.fromarray(photos[i % len(photos)]).resize(size, Image.Resampling.BICUBIC)
        p = folder / f"photo{i:02d}.{'png' if i % 2 else 'jpg'}"
        im.save(p)
        paths.append(p)
    return paths


def _half_flat(size=96):
    """Left half flat grey, right half real texture (astronaut)."""
    tex = np.array(Image.fromarray(skimage.data.astronaut()).resize((size, size)))
    tex[:, : size // 2] = 128
    return Image.fromarray(tex)


def test_gradient_energy_separates_flat_from_texture():
    flat = torch.full((3, 32, 32), 77, dtype=torch.uint8)
    assert gradient_energy(flat) == 0.0
    tex = np.array(Image.fromarray(skimage.data.astronaut()).resize((32, 32)))
    assert gradient_energy(tex) > 0.05  # HWC arrays are accepted too
    checker = torch.zeros(3, 8, 8, dtype=torch.uint8)
    checker[:, ::2, ::2] = 255
    checker[:, 1::2, 1::2] = 255
    assert gradient_energy(checker) == pytest.approx(2.0)


def test_crop_rejects_flat_regions():
    img = _half_flat()
    kwargs = dict(crop_size=16, min_short_side=96, max_short_side=96, flip=False)
    plain = MultiScaleCrop(**kwargs, min_gradient_energy=0.0)
    picky = MultiScaleCrop(**kwargs, min_gradient_energy=0.02, max_tries=20)
    rng = random.Random(0)
    plain_e = [gradient_energy(plain(img, rng)) for _ in range(40)]
    picky_e = [gradient_energy(picky(img, rng)) for _ in range(40)]
    assert min(plain_e) < 1e-3  # without rejection some crops land in the flat half
    assert min(picky_e) >= 0.02


def test_crop_scale_range_and_output_format():
    # A vertical ramp: a crop spanning the whole (resized) short side goes from dark to bright.
    ramp = np.repeat(np.linspace(0, 255, 40, dtype=np.float32)[:, None], 80, axis=1)
    img = Image.fromarray(np.stack([ramp] * 3, -1).astype(np.uint8))
    crop = MultiScaleCrop(crop_size=8, min_short_side=8, max_short_side=8, flip=False)
    out = crop(img, random.Random(0))
    assert out.shape == (3, 8, 8) and out.dtype == torch.uint8
    assert out[0, 0].float().mean() < 30 and out[0, -1].float().mean() > 225
    # At a large scale the same crop sees only a thin band of the ramp.
    zoomed = MultiScaleCrop(crop_size=8, min_short_side=400, max_short_side=400, flip=False)
    z = zoomed(img, random.Random(0)).float()
    assert (z[0, -1].mean() - z[0, 0].mean()).abs() < 40
    x = to_model_range(out)
    assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    with pytest.raises(TypeError, match="uint8"):
        to_model_range(x)
    with pytest.raises(ValueError, match="min_short_side"):
        MultiScaleCrop(crop_size=8, min_short_side=10, max_short_side=5)


def test_split_by_source_is_by_photo_and_reproducible(tmp_path):
    files = [tmp_path / f"img{i}.jpg" for i in range(10)]
    train, val = split_by_source(files, val_fraction=0.25, seed=3)
    assert len(val) == 3 and len(train) == 7
    assert not set(train) & set(val) and set(train) | set(val) == set(files)
    # Depends on the set of files and the seed, not on the input order.
    assert split_by_source(list(reversed(files)), val_fraction=0.25, seed=3) == (train, val)
    others = {tuple(split_by_source(files, val_fraction=0.25, seed=s)[1]) for s in range(6)}
    assert len(others) > 1
    assert split_by_source(files, val_fraction=0.0) == (sorted(files), [])
    with pytest.raises(ValueError, match="val_fraction"):
        split_by_source(files, val_fraction=1.0)
    with pytest.raises(ValueError, match=">= 2 source images"):
        split_by_source(files[:1], val_fraction=0.5)


def test_datamodule_splits_folder_by_source_photo(tmp_path):
    _save_photos(tmp_path / "photos", 8)
    dm = ImageDataModule(
        image_dir=str(tmp_path / "photos"),
        val_fraction=0.25,
        crop_size=16,
        min_short_side=24,
        max_short_side=48,
        crops_per_image=3,
        val_crops_per_image=2,
        batch_size=4,
    )
    dm.setup("fit")
    train_files, val_files = set(dm.train_dataset.files), set(dm.val_dataset.files)
    assert len(val_files) == 2 and len(train_files) == 6
    assert not train_files & val_files
    assert len(dm.train_dataset) == 18 and len(dm.val_dataset) == 4
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (4, 3, 16, 16) and batch.dtype == torch.float32
    assert batch.min() >= -1 and batch.max() <= 1
    # Validation crops are fixed: the same item twice, and in a fresh module.
    v1 = next(iter(dm.val_dataloader()))
    dm2 = ImageDataModule(
        image_dir=str(tmp_path / "photos"),
        val_fraction=0.25,
        crop_size=16,
        min_short_side=24,
        max_short_side=48,
        val_crops_per_image=2,
        batch_size=4,
    )
    dm2.setup("fit")
    torch.testing.assert_close(next(iter(dm2.val_dataloader())), v1)


def test_datamodule_source_arguments(tmp_path):
    with pytest.raises(ValueError, match="exactly one training source"):
        ImageDataModule()
    with pytest.raises(ValueError, match="exactly one training source"):
        ImageDataModule(train_dir="a", train_cache="b")
    with pytest.raises(ValueError, match="at most one validation source"):
        ImageDataModule(image_dir="a", val_dir="b")
    with pytest.raises(FileNotFoundError, match="no images"):
        (tmp_path / "empty").mkdir()
        list_images(tmp_path / "empty")


def test_random_crops_differ_and_fixed_crops_repeat(tmp_path):
    files = _save_photos(tmp_path, 2, size=(96, 64))
    crop = MultiScaleCrop(crop_size=16, min_short_side=32, max_short_side=64)
    rand = RandomCropDataset(files, crop, crops_per_image=4)
    assert not torch.equal(rand[0], rand[2])  # same photo, new crop
    fixed = FixedCropDataset(files, crop, crops_per_image=2, seed=1)
    assert torch.equal(fixed[1], FixedCropDataset(files, crop, crops_per_image=2, seed=1)[1])
    assert not torch.equal(fixed[0], fixed[2])


def test_crop_cache_roundtrip(tmp_path):
    files = _save_photos(tmp_path / "src", 3, size=(80, 60))
    crop = MultiScaleCrop(crop_size=16, min_short_side=32, max_short_side=60, flip=False)
    path = build_crop_cache(files, tmp_path / "cache.safetensors", num_crops=10, crop=crop, seed=5)
    meta = read_crop_cache_metadata(path)
    assert meta["crop_size"] == 16 and meta["seed"] == 5 and len(meta["sources"]) == 3
    # Reproducible from the seed.
    again = build_crop_cache(files, tmp_path / "again.safetensors", num_crops=10, crop=crop, seed=5)
    assert path.read_bytes() == again.read_bytes()
    train = CropCacheDataset(path, crop_size=12, train=True)
    val = CropCacheDataset(path, crop_size=12, train=False)
    assert len(train) == 10
    assert train[0].shape == (3, 12, 12) and train[0].min() >= -1 and train[0].max() <= 1
    assert torch.equal(val[3], val[3])
    full = CropCacheDataset(path, train=False)
    torch.testing.assert_close(val[3], full[3][:, 2:14, 2:14])
    with pytest.raises(ValueError, match="exceeds the cached crops"):
        CropCacheDataset(path, crop_size=32)
    with pytest.raises(ValueError, match="fewer than"):
        build_crop_cache(files, tmp_path / "x.safetensors", num_crops=2, crop=crop)


def _write_shards(folder, num_shards, per_shard):
    folder.mkdir()
    photo = Image.fromarray(skimage.data.coffee()).resize((48, 32))
    for s in range(num_shards):
        with tarfile.open(folder / f"shard-{s:03d}.tar", "w") as tar:
            for i in range(per_shard):
                buf = io.BytesIO()
                photo.rotate(10 * (s * per_shard + i)).save(buf, format="PNG")
                info = tarfile.TarInfo(f"s{s}_{i:03d}.png")
                info.size = buf.tell()
                buf.seek(0)
                tar.addfile(info, buf)
    return str(folder / f"shard-{{000..{num_shards - 1:03d}}}.tar")


def test_webdataset_stream(tmp_path):
    urls = _write_shards(tmp_path / "shards", num_shards=3, per_shard=4)
    crop = MultiScaleCrop(crop_size=16, min_short_side=32, max_short_side=48)
    ds = webdataset_images(urls, crop=crop, samples_per_epoch=7, shuffle_buffer=4)
    items = list(ds)
    assert len(items) == 7  # cut to the epoch length (the stream repeats the shards)
    assert all(x.shape == (3, 16, 16) and -1 <= x.min() and x.max() <= 1 for x in items)
    dm = ImageDataModule(
        train_shards=urls,
        crop_size=16,
        min_short_side=32,
        max_short_side=48,
        samples_per_epoch=10,
        batch_size=5,
    )
    dm.setup("fit")
    batches = list(dm.train_dataloader())
    assert [b.shape for b in batches] == [(5, 3, 16, 16)] * 2
    too_many_workers = ImageDataModule(train_shards=urls, num_workers=4)
    with pytest.raises(ValueError, match="cannot feed"):
        too_many_workers.setup("fit")
