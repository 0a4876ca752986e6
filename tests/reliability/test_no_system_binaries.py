"""A fresh machine runs the tests, demos and evaluation runners with what pyproject installs:
no system binary (opusenc, ffmpeg, sox, ...). The data builders that read Debian packages say
so in their --help and stop with the exact apt-get command when something is missing."""

import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from zoo.data import audio_corpus, photos
from zoo.evaluation.baselines.opus import match_opus_rate, opus_round_trip, opus_settings

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "speech_front_center_24k.flac"
#: Files allowed to start a program other than this Python, and why.
DECLARED_BINARIES: dict[str, str] = {}


def _no_programs(monkeypatch):
    """Nothing on PATH, and starting any program is an error."""
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)

    def refuse(*args, **kwargs):
        raise AssertionError(f"a program was started: {args[0] if args else kwargs}")

    for name in ("run", "Popen", "call", "check_call", "check_output"):
        monkeypatch.setattr(subprocess, name, refuse)


def test_opus_needs_no_system_binary(monkeypatch):
    _no_programs(monkeypatch)
    x, sr = sf.read(FIXTURE, dtype="float32")
    for rate, channels in ((16000, 1), (22050, 2)):  # 22.05 kHz: resampled to 48 kHz for libopus
        audio = np.tile(soxr.resample(x, sr, rate, quality="VHQ")[None], (channels, 1))
        coded = opus_round_trip(audio, rate, 16 * channels)
        assert coded.audio.shape == audio.shape and np.isfinite(coded.audio).all()
        err = coded.audio - audio
        assert 10 * math.log10((audio**2).sum() / (err**2).sum()) > 5  # it really is the speech
        m = match_opus_rate(audio, rate, 12 * channels)
        assert m.within_tolerance
    settings = opus_settings()
    assert settings["tools"].startswith("libopus 1.") and "FFmpeg" in settings["tools"]
    assert "vbr=off" in settings["encoder"]


def test_only_declared_files_start_programs():
    """Every subprocess in the package, runners, benchmarks and tests runs this Python."""
    files = [ROOT / "train.py"]
    for folder in ("zoo", "eval", "benchmarks", "tests"):
        files += sorted((ROOT / folder).rglob("*.py"))
    offenders = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        if rel == "tests/reliability/test_no_system_binaries.py" or rel in DECLARED_BINARIES:
            continue
        if re.search(r"os\.system\(|os\.popen\(|shutil\.which\(", text):
            offenders.append(f"{rel}: os.system / os.popen / shutil.which")
        if "subprocess" in text and "sys.executable" not in text:
            offenders.append(f"{rel}: subprocess without sys.executable")
    assert not offenders, offenders


def test_photo_builder_names_the_apt_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(photos, "_MATE", str(tmp_path / "nowhere"))
    missing = [s for s in photos.train_sources() if s.origin == "mate-backgrounds"]
    monkeypatch.setattr(photos, "train_sources", lambda collection="all": missing)
    with pytest.raises(FileNotFoundError) as err:
        photos._main(["build", str(tmp_path / "set")])
    assert photos.APT_HINT in str(err.value)
    assert photos.APT_HINT == (
        "apt-get install -y --no-install-recommends mate-backgrounds "
        "plasma-workspace-wallpapers lxqt-themes lomiri-wallpapers-16.04 "
        "lomiri-wallpapers-20.04 palapeli-data"
    )
    with pytest.raises(FileNotFoundError) as err:
        photos._main(["build", str(tmp_path / "set"), "--collection", "wallpapers35"])
    assert photos.APT_HINTS["wallpapers35"] in str(err.value)
    assert "lomiri" not in photos.APT_HINTS["wallpapers35"]
    assert not (tmp_path / "set").exists()  # stopped before writing anything
    for argv in (["--help"], ["build", "--help"]):
        with pytest.raises(SystemExit):
            photos._main(argv)
        assert photos.APT_HINT in capsys.readouterr().out


def test_audio_corpus_names_the_apt_command(monkeypatch, tmp_path, capsys):
    full = (
        "apt-get install -y --no-install-recommends tuxpaint-stamps-default warzone2100-music "
        "wesnoth-1.16-music timgm6mb-soundfont openttd-openmsx planetblupi-music-midi"
    )
    assert audio_corpus.apt_command() == full
    out = tmp_path / "corpus"
    # No SoundFont for the MIDI renders: named, with the command and the --no-midi way out.
    nowhere = str(tmp_path / "nowhere" / "*.ogg")
    monkeypatch.setitem(audio_corpus.MIDI_PACKAGES, "timgm6mb-soundfont", nowhere)
    with pytest.raises(FileNotFoundError) as err:
        audio_corpus._main(["build", str(out)])
    assert f"timgm6mb-soundfont (no {nowhere})" in str(err.value)
    assert full in str(err.value) and "--no-midi" in str(err.value)
    # No source packages at all (path roots moved away): every package is named.
    for table in (audio_corpus.PACKAGES, audio_corpus.MIDI_PACKAGES):
        for package in table:
            monkeypatch.setitem(table, package, nowhere)
    with pytest.raises(FileNotFoundError) as err:
        audio_corpus.build_audio_corpus(out, midi=False)
    message = str(err.value)
    for package in ("tuxpaint-stamps-default", "warzone2100-music", "wesnoth-1.16-music"):
        assert f"{package} (no {nowhere})" in message
    assert "timgm6mb" not in message  # --no-midi needs neither the SoundFont nor MIDI files
    assert audio_corpus.apt_command(midi=False) in message
    assert not out.exists()
    for argv in (["--help"], ["build", "--help"]):
        with pytest.raises(SystemExit):
            audio_corpus._main(argv)
        assert "apt-get install -y --no-install-recommends" in capsys.readouterr().out
