"""The photo-set builder: manifest (hashes, licenses), missing-package errors, crop cache CLI."""

import json
from pathlib import Path

import pytest
import skimage.data
from PIL import Image

from zoo.data import photos
from zoo.data.image import read_crop_cache_metadata


def _fake_sources(tmp_path):
    src = tmp_path / "installed"
    src.mkdir()
    out = []
    for i, arr in enumerate(
        [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.rocket()]
    ):
        p = src / f"p{i}.jpg"
        Image.fromarray(arr).resize((120, 90)).save(p)
        out.append(photos.PhotoSource(f"t{i}.jpg", str(p), "train", "GPL-2+", "fake-package"))
    return out


def test_val_sources_ship_with_python_packages():
    val = photos.val_sources()
    assert len(val) == 8
    assert all(Path(s.path).is_file() and s.split == "val" and s.license for s in val)
    assert len(photos.train_sources("wallpapers35")) == 35
    everything = photos.train_sources()
    assert len(everything) == 55 and everything[:35] == photos.train_sources("wallpapers35")
    assert len({s.name for s in everything}) == 55  # no two photos share a file name
    with pytest.raises(ValueError, match="collection must be one of"):
        photos.train_sources("more")


def test_build_photo_set_writes_manifest(tmp_path, monkeypatch):
    fake = _fake_sources(tmp_path)
    monkeypatch.setattr(photos, "train_sources", lambda collection: fake)
    out = tmp_path / "set"
    manifest_path = photos.build_photo_set(out)
    m = json.loads(manifest_path.read_text())
    assert m["num_train"] == 3 and m["num_val"] == 8
    entry = next(e for e in m["files"] if e["file"] == "train/t1.jpg")
    assert entry["sha256"] == photos.sha256_file(fake[1].path)
    assert entry["license"] == "GPL-2+" and (entry["width"], entry["height"]) == (120, 90)
    assert photos.verify_photo_set(out) == []

    # The cache command crops the training folder only.
    rc = photos._main(["cache", str(out), "--num-crops", "6", "--crop-size", "16",
                       "--min-short-side", "32", "--max-short-side", "64"])  # fmt: skip
    assert rc == 0
    meta = read_crop_cache_metadata(out / "crops_16.safetensors")
    assert sorted(meta["sources"]) == ["t0.jpg", "t1.jpg", "t2.jpg"]

    (out / "train" / "t0.jpg").write_bytes(b"changed")
    assert photos.verify_photo_set(out) == ["train/t0.jpg"]


def test_missing_wallpapers_name_the_apt_packages(tmp_path, monkeypatch):
    missing = [photos.PhotoSource("x.jpg", "/nonexistent/x.jpg", "train", "GPL-2+", "pkg")]
    monkeypatch.setattr(photos, "train_sources", lambda collection: missing)
    with pytest.raises(FileNotFoundError, match="mate-backgrounds plasma-workspace-wallpapers"):
        photos.build_photo_set(tmp_path / "set")
