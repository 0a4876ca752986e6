"""Audio evaluation end to end on real speech: eval/reconstruct.py with the tiny SEANet codec at
every bitrate it supports (JSON protocol record, saved WAVs re-measured, Markdown), the clip
rule, the built-in speech source, bad input, Opus at matched bitrate (eval/rate_distortion.py),
the leaderboard and model-card entries."""

import hashlib
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from PIL import Image

import zoo
from zoo.data.audio import language_of
from zoo.evaluation import (
    AUDIO_REQUIRED_FIELDS,
    AudioEvaluator,
    AudioRule,
    BadAudioError,
    load_result,
    open_audio_source,
)
from zoo.evaluation.audio_sources import ALSA_DIR, decode_audio
from zoo.evaluation.baselines.opus import (
    match_opus_rate,
    opus_round_trip,
    parse_ogg_opus,
    require_opus,
)
from zoo.evaluation.report import model_card_eval_results
from zoo.metrics import PESQ, SISDR

FIXTURE = Path(__file__).parents[1] / "fixtures" / "speech_front_center_24k.flac"
MODEL = "seanet_test"  # 8 kHz, hop 8, 1-4 residual codebooks of 16 entries: 4-16 kbps


def _get(obj, dotted):
    for part in dotted.split("."):
        obj = obj[part]
    return obj


def write_speech_clips(folder: Path) -> None:
    """Two real speech clips: the 24 kHz mono FLAC fixture, and its second half as a 44.1 kHz
    stereo 16-bit WAV in a subfolder (exercising resampling and the stereo mix-down)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE, folder / "front_center.flac")
    x, sr = sf.read(FIXTURE, dtype="float64")
    half = soxr.resample(x[len(x) // 3 :], sr, 44100, quality="VHQ")
    (folder / "sub").mkdir(exist_ok=True)
    sf.write(folder / "sub" / "stereo.wav", np.stack([half, 0.8 * half], 1), 44100, "PCM_16")


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("speech")
    write_speech_clips(folder)
    return folder


@pytest.fixture(scope="module")
def audio_result(scripts, speech_dir, tmp_path_factory) -> Path:
    """eval/reconstruct.py --model seanet_test --random-init on the two clips, all bitrates."""
    out = tmp_path_factory.mktemp("audio_recon")
    argv = ["--model", MODEL, "--random-init", "--data", str(speech_dir),
            "--metrics", "mel_distance,si_sdr,pesq,stoi",
            "--save-reconstructions", str(out / "wav"), "--out", str(out / "seanet.json"),
            "--no-progress"]  # fmt: skip
    assert scripts["reconstruct"].main(argv) == 0
    return out / "seanet.json"


def test_result_is_a_full_protocol_record(audio_result, speech_dir):
    result = load_result(audio_result)
    AudioEvaluator().validate(result)
    for path in AUDIO_REQUIRED_FIELDS:
        assert _get(result, path) is not None or path in ("data.skipped", "protocol.max_seconds")
    tok = zoo.create_tokenizer(MODEL)
    assert result["modality"] == "audio" and result["tokenizer"]["random_init"] is True
    assert result["tokenizer"]["architecture"] == MODEL
    assert result["tokenizer"]["supported_num_codebooks"] == [1, 2, 3, 4]
    # The clips, with their file hashes and original formats.
    manifest = {e["name"]: e for e in result["data"]["manifest"]}
    assert sorted(manifest) == ["front_center.flac", "sub/stereo.wav"]
    stereo = manifest["sub/stereo.wav"]
    assert stereo["sample_rate"] == 44100 and stereo["channels"] == 2
    assert manifest["front_center.flac"]["sample_rate"] == 24000
    assert manifest["front_center.flac"]["seconds"] == pytest.approx(1.28)
    digest = hashlib.sha256((speech_dir / "sub/stereo.wav").read_bytes()).hexdigest()
    assert stereo["sha256"] == digest
    proto = result["protocol"]
    assert (proto["sample_rate"], proto["channels"], proto["num_codebooks"]) == (
        8000,
        1,
        [1, 2, 3, 4],
    )
    assert proto["resampler"].startswith("soxr VHQ") and proto["max_seconds"] is None
    assert set(result["metrics"]) == {"mel_distance", "si_sdr", "pesq", "stoi", "codebook"}
    # One entry per supported bitrate: nominal kbps from the tokenizer, measured kbps from the
    # code bits of whole frames over the set's duration.
    samples = [round(e["seconds"] * 8000) for e in result["data"]["manifest"]]
    for entry, k in zip(result["results"], (1, 2, 3, 4), strict=True):
        assert entry["num_codebooks"] == k
        assert entry["bitrate_kbps"] == pytest.approx(tok.bitrate(k) / 1000) == 4 * k
        frames = sum(math.ceil(n / tok.hop_length) for n in samples)
        expected = frames * k * 4 / (sum(samples) / 8000) / 1000  # 4 bits per 16-entry code
        assert entry["measured_bitrate_kbps"] == pytest.approx(expected, rel=1e-9)
        assert entry["codebook"]["num_codes"] == frames
        assert 1.0 <= entry["metrics"]["pesq"] <= 4.65 and 0 <= entry["metrics"]["stoi"] <= 1
    md = audio_result.with_suffix(".md").read_text()
    assert "| codebooks | kbps | measured kbps | Mel distance | SI-SDR | PESQ-WB | STOI |" in md
    assert "random weights" in md and "2 clips" in md
    # Every protocol field is enforced.
    broken = json.loads(audio_result.read_text())
    del broken["protocol"]["sample_rate"]
    del broken["results"][1]["measured_bitrate_kbps"]
    with pytest.raises(ValueError, match=r"protocol\.sample_rate.*results\[1\]\.measured_bitrate"):
        AudioEvaluator().validate(broken)


def test_saved_wavs_are_exactly_what_was_measured(audio_result, speech_dir):
    """SI-SDR and PESQ of the JSON are recomputed from the saved WAVs and the clip rule."""
    result = load_result(audio_result)
    wav_dir = audio_result.parent / "wav" / "codebooks_2"
    rule = AudioRule(8000, 1)
    sisdr, pesq = SISDR(), PESQ(sample_rate=8000)
    for name in ("front_center.flac", "sub/stereo.wav"):
        original = rule.apply(*decode_audio((speech_dir / name).read_bytes(), name), name)
        saved = name if name.endswith(".wav") else name + ".wav"
        rec, sr = sf.read(wav_dir / saved, dtype="float32", always_2d=True)
        assert sr == 8000 and rec.shape == (original.shape[1], 1)
        x, y = torch.from_numpy(original)[None], torch.from_numpy(rec.T.copy())[None]
        sisdr.update(y, x)
        pesq.update(y, x)
    metrics = result["results"][1]["metrics"]
    assert float(sisdr.compute()) == pytest.approx(metrics["si_sdr"], abs=1e-9)
    assert float(pesq.compute()) == pytest.approx(metrics["pesq"], abs=1e-9)


def test_clip_rule_channels_rate_and_crop():
    x, sr = sf.read(FIXTURE, dtype="float32", always_2d=True)
    stereo = np.concatenate([x, 0.5 * x], 1)
    mono = AudioRule(16000, 1).apply(stereo, sr, "s")
    assert mono.shape == (1, round(len(x) * 16000 / sr))
    ref = soxr.resample(0.75 * x, sr, 16000, quality="VHQ").T
    np.testing.assert_allclose(mono, ref, atol=1e-6)  # mean of the channels, then resampled
    dup = AudioRule(sr, 2, max_seconds=0.5).apply(x, sr, "m")
    assert dup.shape == (2, sr // 2) and np.array_equal(dup[0], dup[1])
    with pytest.raises(BadAudioError, match="s: has 3 channels; a 2-channel model"):
        AudioRule(sr, 2).apply(np.concatenate([stereo, x], 1), sr, "s")
    with pytest.raises(ValueError, match="max_seconds must be positive"):
        AudioRule(sr, 1, max_seconds=0)


def test_builtin_speech_source():
    src = open_audio_source("speech")
    names = [n for n, _ in src.files]
    assert names and not any("Noise" in n for n in names)
    if ALSA_DIR.is_dir():
        assert sum(n.startswith("alsa/") for n in names) == 8
        assert open_audio_source("alsa").describe()["kind"] == "alsa"
    tux = [n for n in names if n.startswith("tuxpaint/")]
    # At most two per language, by the source's own rule (zoo.data.audio.language_of; a name
    # it cannot parse, e.g. Tux Paint's "inukshuk-photo_desc_da.ogg.ogg", counts on its own).
    langs = [language_of(n) or n for n in tux]
    assert all(langs.count(lang) <= 2 for lang in langs)
    assert src.describe()["licenses"][names[0]].startswith("GPL-2")
    with pytest.raises(FileNotFoundError, match="'speech' \\(the built-in real speech\\)"):
        open_audio_source("/nonexistent/folder")


def test_bad_clips_are_reported_by_name(scripts, speech_dir, tmp_path):
    data = tmp_path / "clips"
    write_speech_clips(data)
    sf.write(data / "a_silent.wav", np.zeros(8000, np.float32), 8000, "FLOAT")
    base = ["--model", MODEL, "--random-init", "--data", str(data), "--metrics", "si_sdr",
            "--no-progress", "--num-codebooks", "4"]  # fmt: skip
    with pytest.raises(BadAudioError, match=r"a_silent\.wav: is digital silence.*--skip-bad"):
        scripts["reconstruct"].main([*base, "--out", str(tmp_path / "a.json")])
    (data / "a_silent.wav").unlink()
    nan = np.full(8000, 0.1, np.float32)
    nan[10] = np.nan
    sf.write(data / "b_nan.wav", nan, 8000, "FLOAT")
    with pytest.raises(BadAudioError, match=r"b_nan\.wav: holds 1 NaN/Inf samples"):
        scripts["reconstruct"].main([*base, "--out", str(tmp_path / "b.json")])
    (data / "b_nan.wav").unlink()
    x, sr = sf.read(FIXTURE, dtype="float32")
    sf.write(data / "c_short.wav", x[6000 : 6000 + sr // 10], sr)  # 0.1 s: too short for PESQ
    (data / "d_broken.flac").write_bytes(FIXTURE.read_bytes()[:100])
    pesq_args = [*base[:-4], "pesq", "--no-progress", "--num-codebooks", "4"]
    with pytest.raises(BadAudioError, match=r"c_short\.wav: 800 samples .* shorter than the 2008"):
        scripts["reconstruct"].main([*pesq_args, "--out", str(tmp_path / "c.json")])
    (data / "c_short.wav").rename(data / "e_short.wav")
    with pytest.raises(BadAudioError, match=r"d_broken\.flac: cannot decode audio"):
        scripts["reconstruct"].main([*pesq_args, "--out", str(tmp_path / "d.json")])
    (data / "front_center.flac").unlink()  # keep the run short: one usable clip
    assert (
        scripts["reconstruct"].main([*pesq_args, "--skip-bad", "--out", str(tmp_path / "e.json")])
        == 0
    )
    result = load_result(tmp_path / "e.json")
    assert [e["name"] for e in result["data"]["skipped"]] == ["d_broken.flac", "e_short.wav"]
    assert [e["name"] for e in result["data"]["manifest"]] == ["sub/stereo.wav"]
    # Options of the other modality, and bitrates the model does not have.
    with pytest.raises(SystemExit, match="--resolution do\\(es\\) not apply to audio"):
        scripts["reconstruct"].main(
            [*base, "--resolution", "32", "--out", str(tmp_path / "f.json")]
        )
    with pytest.raises(ValueError, match=r"--num-codebooks \[5\]: .* supports \[1, 2, 3, 4\]"):
        scripts["reconstruct"].main([*base[:-1], "5", "--out", str(tmp_path / "g.json")])


def _speech_8k() -> np.ndarray:
    x, sr = sf.read(FIXTURE, dtype="float32")
    return soxr.resample(x, sr, 8000, quality="VHQ")[None]


def test_opus_hits_the_bitrate_and_more_bits_sound_better():
    require_opus()  # PyAV (bundling FFmpeg with libopus) is a dependency of the package
    audio = _speech_8k()
    coded = opus_round_trip(audio, 8000, 12)
    assert coded.audio.shape == audio.shape and coded.audio.dtype == np.float32
    # Hard CBR: every 20 ms packet has bitrate * 20 ms / 8 bytes.
    assert coded.payload_bytes == coded.num_packets * 30
    assert coded.num_packets == math.ceil((audio.shape[1] / 8000 + 312 / 48000) / 0.02)
    assert coded.file_kbps > coded.payload_kbps
    scores = []
    for kbps in (6, 10, 16):
        m = match_opus_rate(audio, 8000, kbps, tolerance=0.05)
        assert m.reachable and m.within_tolerance, (kbps, m.coded.payload_kbps)
        assert abs(m.coded.payload_kbps - kbps) <= 0.05 * kbps
        metric = SISDR()
        metric.update(torch.from_numpy(m.coded.audio)[None], torch.from_numpy(audio)[None])
        scores.append(float(metric.compute()))
    assert scores[0] < scores[1] < scores[2], scores
    low = match_opus_rate(audio, 8000, 3)  # below Opus' 6 kbps
    assert not low.reachable and not low.within_tolerance and low.coded.setting_kbps == 6
    with pytest.raises(ValueError, match="not an Ogg stream"):
        parse_ogg_opus(b"RIFF....")


def test_missing_pyav_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    with pytest.raises(ImportError, match="pip install av"):
        opus_round_trip(_speech_8k(), 8000, 12)


@pytest.fixture(scope="module")
def audio_rd(scripts, audio_result, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("audio_rd") / "rd.json"
    argv = ["--results", str(audio_result), "--opus-sweep", "6,16", "--out", str(out),
            "--no-progress"]  # fmt: skip
    assert scripts["rate_distortion"].main(argv) == 0
    return out


def test_opus_rate_distortion(audio_rd, audio_result):
    rd = load_result(audio_rd)
    tok = load_result(audio_result)
    assert rd["modality"] == "audio" and list(rd["codecs"]) == ["opus"]
    assert rd["data"]["manifest_sha256"] == tok["data"]["manifest_sha256"]
    opus = rd["codecs"]["opus"]
    rates = [r["measured_bitrate_kbps"] for r in tok["results"]]
    assert [m["target_kbps"] for m in opus["matched"]] == pytest.approx(sorted(rates))
    for m in opus["matched"]:
        if m["target_kbps"] < 6:  # the 4 kbps point is below Opus' range
            assert m["num_unreachable"] == 2 and m["fraction_within_tolerance"] == 0
        else:
            assert m["fraction_within_tolerance"] == 1.0
            assert abs(m["payload_kbps"] - m["target_kbps"]) <= 0.05 * m["target_kbps"]
    sweep = opus["sweep"]
    assert [e["setting_kbps"] for e in sweep] == [6, 16]
    assert sweep[0]["payload_kbps"] < sweep[1]["payload_kbps"]
    assert sweep[0]["metrics"]["pesq"] < sweep[1]["metrics"]["pesq"]
    assert sweep[0]["metrics"]["si_sdr"] < sweep[1]["metrics"]["si_sdr"]
    assert len(rd["comparison"]) == 4
    # Random weights lose to Opus wherever Opus reaches the rate.
    for row in rd["comparison"]:
        if row["rate_matched"]:
            assert row["tokenizer_is"]["pesq"] == "behind"
    md = audio_rd.with_suffix(".md").read_text()
    assert "# Rate-distortion: audio tokenizers vs Opus" in md and "## Verdict" in md
    assert "could not match this rate" in md and "![rate-distortion](rd.png)" in md
    with Image.open(audio_rd.with_suffix(".png")) as im:
        assert im.size[0] > 500 and im.size[1] > 200


def test_leaderboard_and_model_card(scripts, audio_result, audio_rd, tmp_path):
    out = tmp_path / "board.md"
    argv = [str(audio_result), str(audio_rd), "--sort", "pesq", "--out", str(out)]
    assert scripts["compare"].main(argv) == 0
    text = out.read_text()
    assert "Sorted by PESQ-WB (higher is better)" in text and "| kbps |" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    pesq = [float(r.split("|")[7]) for r in rows]  # #, method, setting, kbps, mel, SI-SDR, PESQ
    assert pesq == sorted(pesq, reverse=True) and any("Opus" in r for r in rows)
    assert "different protocols" not in text
    result = load_result(audio_result)
    (entry,) = model_card_eval_results(AudioEvaluator(), result, dataset_name="speech-2")
    assert entry["dataset"] == "speech-2 (2 clips, 2 s)"
    pesq4 = load_result(audio_result)["results"][0]["metrics"]["pesq"]
    assert entry["metrics"]["PESQ-WB @8kHz, 4 kbps"] == pytest.approx(pesq4)
    assert "codebook usage @8kHz, 16 kbps" in entry["metrics"]
    with pytest.raises(ValueError, match="different modalities"):
        scripts["compare"].main(
            [str(audio_result), str(_image_result(tmp_path)), "--out", str(out), "--overwrite"]
        )


def _image_result(tmp_path: Path) -> Path:
    """A minimal valid image result (the schema only), for the mixed-modality check."""
    from zoo.evaluation import REQUIRED_FIELDS

    result: dict = {}
    for path in REQUIRED_FIELDS:
        node = result
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = "x"
    result.update(schema="tokenizer-zoo/reconstruction/v1", modality="image", metrics={})
    result["protocol"].update(resolution=[32, 32], resize={"mode": "none"}, png_round_trip=True)
    result["data"]["manifest_sha256"] = "0" * 64
    result["results"] = [
        {"num_tokens": 1, "bits_per_image": 1.0, "bits_per_pixel": 0.1, "metrics": {"psnr": 1.0},
         "codebook": {}}
    ]  # fmt: skip
    path = tmp_path / "image.json"
    path.write_text(json.dumps(result))
    return path
