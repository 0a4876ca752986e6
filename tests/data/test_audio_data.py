"""Audio datasets: decoding, resampling, loudness, group splits, clips, webdataset shards.

Real recordings only (tests/fixtures/audio: Tux Paint speech in three languages, a Wesnoth
music excerpt; tests/fixtures/speech_front_center_24k.flac)."""

import io
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from zoo.data.audio import (
    FixedClipDataset,
    RandomClipDataset,
    list_audio,
    normalize_loudness,
    read_audio,
    rms_db,
    split_by_group,
    webdataset_audio,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AUDIO = FIXTURES / "audio"
SPEECH_24K = FIXTURES / "speech_front_center_24k.flac"


def test_list_audio_finds_the_fixtures_and_rejects_empty_folders(tmp_path):
    files = list_audio(AUDIO)
    assert len(files) == 7 and files == sorted(files)
    with pytest.raises(FileNotFoundError, match="no audio files"):
        list_audio(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        list_audio(tmp_path / "missing")


def test_read_audio_resamples_and_converts_channels():
    x = read_audio(SPEECH_24K, sample_rate=16000, channels=1)
    assert x.shape == (1, 20480) and x.dtype == torch.float32  # 30720 samples at 24 kHz
    # The same speech at 16 kHz has the same level (soxr keeps the passband).
    y = read_audio(SPEECH_24K, sample_rate=24000, channels=1)
    assert abs(rms_db(x) - rms_db(y)) < 0.2
    stereo = read_audio(SPEECH_24K, sample_rate=24000, channels=2)
    assert stereo.shape == (2, 30720) and torch.equal(stereo[0], stereo[1])
    # A window at the native rate reads only those frames, identical to slicing the whole file.
    w = read_audio(SPEECH_24K, sample_rate=24000, channels=1, start=1000, frames=500)
    assert torch.equal(w, y[:, 1000:1500])


def test_read_audio_names_an_undecodable_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="cannot decode"):
        read_audio(bad, sample_rate=16000, channels=1)


def test_loudness_normalisation_hits_the_target_and_keeps_silence():
    x = read_audio(AUDIO / "frog_desc_fr.flac", sample_rate=16000, channels=1)
    y = normalize_loudness(x, -20.0)
    assert abs(rms_db(y) - (-20.0)) < 0.5 or float(y.abs().max()) == pytest.approx(0.99, abs=1e-4)
    assert float(y.abs().max()) <= 0.99 + 1e-6
    quiet = normalize_loudness(x, -35.0)
    assert abs(rms_db(quiet) - (-35.0)) < 0.01
    silence = torch.zeros(1, 100)
    assert torch.equal(normalize_loudness(silence), silence)


def test_split_by_regex_groups_speech_by_language_and_music_by_track():
    files = list_audio(AUDIO)
    train, val = split_by_group(files, group_by=r"_desc_(\w+)\.flac$|(music\w+)", val_fraction=0.4)
    key = lambda f: f.stem.rsplit("_", 1)[1] if "_desc_" in f.name else f.stem  # noqa: E731
    assert {key(f) for f in train}.isdisjoint({key(f) for f in val})
    assert sorted(train + val) == files and len(val) >= 0.4 * len(files)
    with pytest.raises(ValueError, match="does not capture"):
        split_by_group(files, group_by=r"_desc_(\w+)\.flac$")  # the music file


def test_split_by_group_language_preset(tmp_path):
    speech = [f for f in list_audio(AUDIO) if "_desc_" in f.name]
    train, val = split_by_group(speech, group_by="language", val_fraction=0.3, seed=1)
    lang = lambda f: f.stem.rsplit("_", 1)[1]  # noqa: E731
    assert train and val and not ({lang(f) for f in train} & {lang(f) for f in val})
    assert sorted(train + val) == sorted(speech)
    with pytest.raises(ValueError, match="language"):
        split_by_group(list_audio(AUDIO), group_by="language")  # the music file has no language
    with pytest.raises(ValueError, match="one group"):
        split_by_group(speech[:1], group_by="parent")


def test_random_clips_cover_files_by_duration_and_are_normalised():
    files = list_audio(AUDIO)
    ds = RandomClipDataset(files, sample_rate=16000, clip_samples=4000, clips_per_second=2.0)
    durations = [sf.info(str(f)).duration for f in files]
    assert len(ds) == sum(max(1, math.ceil(d * 2.0)) for d in durations)
    torch.manual_seed(0)
    clips = [ds[i] for i in range(len(ds))]
    assert all(c.shape == (1, 4000) for c in clips)
    levels = [rms_db(c) for c in clips]
    # Every clip is at -20 dBFS unless its peak limit (0.99) had to pull it lower.
    assert all(lv <= -20.0 + 0.01 for lv in levels) and np.median(levels) > -21.0


def test_short_files_are_padded_with_silence_not_dropped():
    f = AUDIO / "frog-1_desc_fr.flac"  # 0.77 s
    ds = FixedClipDataset([f], sample_rate=16000, clip_samples=16000, loudness_db=None)
    x = read_audio(f, sample_rate=16000, channels=1)
    clip = ds[0]
    assert clip.shape == (1, 16000)
    assert torch.equal(clip[:, : x.shape[1]], x) and not clip[:, x.shape[1] :].any()


def test_fixed_clips_are_deterministic_and_spread_over_the_file():
    music = AUDIO / "music_wesnoth_4s_16k.flac"
    a = FixedClipDataset([music], sample_rate=16000, clip_samples=8000, clips_per_file=3)
    b = FixedClipDataset([music], sample_rate=16000, clip_samples=8000, clips_per_file=3)
    assert [s for _, s in a.items] == [0, 28000, 56000]
    for i in range(len(a)):
        assert torch.equal(a[i], b[i])


def test_empty_file_is_reported(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(ValueError, match="empty"):
        RandomClipDataset([empty], sample_rate=16000, clip_samples=100)


def test_webdataset_shards_yield_clips(tmp_path):
    import webdataset as wds

    shard = tmp_path / "shard-000000.tar"
    with wds.TarWriter(str(shard)) as sink:
        for i, f in enumerate(list_audio(AUDIO)):
            sink.write({"__key__": f"s{i:03d}", "flac": f.read_bytes()})
    ds = webdataset_audio(
        str(shard), sample_rate=24000, clip_samples=6000, samples_per_epoch=10, shuffle_buffer=4
    )
    clips = list(iter(ds))
    assert len(clips) == 10 and all(c.shape == (1, 6000) for c in clips)
    assert all(torch.isfinite(c).all() and c.abs().max() <= 1.0 for c in clips)
    bad = tmp_path / "bad-000000.tar"
    with wds.TarWriter(str(bad)) as sink:
        sink.write({"__key__": "x", "txt": b"hello"})
    with pytest.raises(ValueError, match="no audio entry"):
        list(iter(webdataset_audio(str(bad), sample_rate=16000, clip_samples=10,
                                   samples_per_epoch=1)))  # fmt: skip


def test_read_audio_from_bytes():
    data = io.BytesIO((AUDIO / "frog_desc_es.flac").read_bytes())
    x = read_audio(data, sample_rate=16000, channels=1)
    assert x.shape[0] == 1 and x.shape[1] == sf.info(str(AUDIO / "frog_desc_es.flac")).frames


def test_split_by_parent_folder_keeps_speakers_apart(tmp_path):
    # Files in nested speaker folders split by parent folder.
    for spk in ("a", "b", "c"):
        (tmp_path / spk).mkdir()
        for f in list(AUDIO.glob("frog*_desc_fr.flac")):
            shutil.copy(f, tmp_path / spk / f.name)
    train, val = split_by_group(list_audio(tmp_path), group_by="parent", val_fraction=0.3)
    assert {f.parent.name for f in train}.isdisjoint({f.parent.name for f in val})
    assert len(val) == 2 and len(train) == 4
