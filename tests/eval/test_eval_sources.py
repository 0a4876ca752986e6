"""Evaluation data: folders, shards and the bundled photos; the resize rule; bad input."""

import hashlib
import io
import tarfile

import numpy as np
import pytest
from eval_helpers import write_photos
from PIL import Image

from zoo.evaluation.sources import (
    BadImageError,
    DataLog,
    ResizeRule,
    SizeMismatchError,
    iter_image_batches,
    open_image_source,
    skimage_photos,
)


def _run(source, rule, *, skip_bad=False, batch_size=2):
    log = DataLog()
    it = iter_image_batches(source, rule, batch_size=batch_size, skip_bad=skip_bad, log=log)
    batches = list(it)
    return batches, log


def test_folder_source_manifest_and_center_crop(tmp_path):
    files = write_photos(tmp_path / "photos")
    batches, log = _run(open_image_source(tmp_path / "photos"), ResizeRule((48, 48)))
    assert [n for b in batches for n in b.names] == sorted(files)
    assert all(b.images.dtype.is_floating_point is False for b in batches)
    assert {tuple(b.images.shape[1:]) for b in batches} == {(3, 48, 48)}
    by_name = {e["name"]: e for e in log.manifest}
    for name, data in files.items():
        assert by_name[name]["sha256"] == hashlib.sha256(data).hexdigest()
    assert by_name["sub/coffee.png"]["width"] == 120 and by_name["sub/coffee.png"]["height"] == 80
    assert log.enlarged == 0 and log.skipped == []
    # The grayscale photo became three equal channels.
    cam = batches[0].images[batches[0].names.index("camera.png")]
    assert (cam[0] == cam[1]).all() and (cam[1] == cam[2]).all()
    # Center crop of the 80 x 120 photo equals PIL's resize (short side) + central crop.
    img = Image.open(tmp_path / "photos" / "sub/coffee.png").resize((72, 48), Image.BICUBIC)
    want = np.asarray(img.crop((12, 0, 60, 48)))
    got = next(b for b in batches if "sub/coffee.png" in b.names)
    got = got.images[got.names.index("sub/coffee.png")].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(got, want)


def test_enlarging_is_counted_and_mixed_sizes_need_the_rule(tmp_path):
    write_photos(tmp_path / "photos")
    _, log = _run(open_image_source(tmp_path / "photos"), ResizeRule((100, 100)))
    assert log.enlarged == 2  # coffee (80 px high) and camera (64 px) had to be enlarged
    with pytest.raises(SizeMismatchError, match=r"astronaut\.jpg: is 128x128.*expected 64x64"):
        _run(open_image_source(tmp_path / "photos"), ResizeRule((64, 64), "none"))


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    with pytest.raises(FileNotFoundError, match="holds no images"):
        open_image_source(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such folder or shard"):
        open_image_source(tmp_path / "missing")


def test_truncated_and_unreadable_files_are_named_and_skipped_only_on_request(tmp_path):
    files = write_photos(tmp_path / "photos")
    data = files["astronaut.jpg"]
    (tmp_path / "photos" / "astronaut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "photos" / "fake.png").write_text("this is not a PNG")
    with pytest.raises(BadImageError, match=r"astronaut\.jpg: cannot decode.*--skip-bad"):
        _run(open_image_source(tmp_path / "photos"), ResizeRule((32, 32)))
    batches, log = _run(open_image_source(tmp_path / "photos"), ResizeRule((32, 32)), skip_bad=True)
    assert sorted(e["name"] for e in log.skipped) == ["astronaut.jpg", "fake.png"]
    assert all("cannot decode" in e["error"] for e in log.skipped)
    assert sorted(n for b in batches for n in b.names) == ["camera.png", "sub/coffee.png"]
    # Nothing readable at all is an error even with skip_bad.
    for name in ("camera.png", "sub/coffee.png"):
        (tmp_path / "photos" / name).write_bytes(b"\x89PNG\r\n")
    with pytest.raises(BadImageError, match="all 4 files were unreadable"):
        _run(open_image_source(tmp_path / "photos"), ResizeRule((32, 32)), skip_bad=True)


def test_webdataset_shards(tmp_path):
    files = write_photos(tmp_path / "photos")
    for i, chunk in enumerate((["astronaut.jpg"], ["sub/coffee.png", "camera.png"])):
        with tarfile.open(tmp_path / f"shard-{i:03d}.tar", "w") as tar:
            for name in chunk:
                key = name.split("/")[-1].rsplit(".", 1)[0]
                for member, payload in (
                    (f"{key}.{name.rsplit('.', 1)[1]}", files[name]),
                    (f"{key}.json", b'{"label": 1}'),
                ):
                    info = tarfile.TarInfo(member)
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
    source = open_image_source(str(tmp_path / "shard-{000..001}.tar"))
    assert source.kind == "shards" and len(source.shards) == 2
    batches, log = _run(source, ResizeRule((32, 32)))
    assert [e["name"] for e in log.manifest] == [
        "shard-000.tar/astronaut.jpg",
        "shard-001.tar/coffee.png",
        "shard-001.tar/camera.png",
    ]
    assert log.manifest[0]["sha256"] == hashlib.sha256(files["astronaut.jpg"]).hexdigest()
    assert set(source.describe()["shard_sha256"]) == {"shard-000.tar", "shard-001.tar"}
    with pytest.raises(FileNotFoundError, match="shards not found"):
        open_image_source(str(tmp_path / "shard-{000..003}.tar"))


def test_bundled_photos_are_real_and_hashed():
    source = open_image_source("skimage")
    names = [n for n, _, _ in skimage_photos()]
    assert len(source) == 9 and "grace_hopper.jpg" in names and "motorcycle_left.png" in names
    batches, log = _run(source, ResizeRule((64, 64)), batch_size=4)
    assert sum(len(b.names) for b in batches) == 9
    for (_, path, _), entry in zip(skimage_photos(), log.manifest, strict=True):
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # Real photos, not flat synthetic images: plenty of distinct grey levels in every one.
    for b in batches:
        for img in b.images:
            assert len(np.unique(img.numpy())) > 100
    assert len(log.manifest_sha256()) == 64


def test_resize_rule_validation():
    with pytest.raises(ValueError, match="resize rule"):
        ResizeRule((32, 32), "stretch")
    with pytest.raises(ValueError, match="interpolation"):
        ResizeRule((32, 32), "center-crop", "nearest")
    assert "center crop" in ResizeRule((32, 48)).describe()["rule"]
