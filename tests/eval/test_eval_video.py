"""Video evaluation end to end on the real clips of tests/fixtures/video: eval/reconstruct.py with
the tiny causal 3D tokenizer (JSON protocol record, bits per clip, saved PNG frames re-measured,
Markdown) and the flexible-length LARP (token counts), frame counts and options refused before
any data is read, and eval/rate_distortion.py against H.264 and AV1 at matched bits per clip."""

import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.evaluation import load_result
from zoo.evaluation.report import model_card_eval_results
from zoo.evaluation.sources import DataLog
from zoo.evaluation.video import VIDEO_REQUIRED_FIELDS, VideoEvaluator
from zoo.evaluation.video_sources import (
    BadVideoError,
    ClipRule,
    iter_video_clips,
    open_video_source,
)
from zoo.metrics.video import TemporalFlicker, VideoPSNR
from zoo.modalities import get_modality

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "video"
CLIPS = sorted(p.name for p in FIXTURES.iterdir() if p.suffix == ".mp4")
SIZE = 64  # causal3d_test is fully convolutional: 2 x 16 x 16 tokens per 5-frame clip
FSQ_BITS = math.log2(5 * 4 * 3)


def _get(obj, dotted):
    for part in dotted.split("."):
        obj = obj[part]
    return obj


@pytest.fixture(scope="module")
def c3d_result(scripts, tmp_path_factory) -> Path:
    """eval/reconstruct.py --model causal3d_test --random-init on the fixture clips, default
    metrics, frames saved."""
    out = tmp_path_factory.mktemp("video_recon")
    argv = ["--model", "causal3d_test", "--random-init", "--data", str(FIXTURES),
            "--frame-size", str(SIZE), "--save-reconstructions", str(out / "png"),
            "--out", str(out / "c3d.json"), "--no-progress"]  # fmt: skip
    assert scripts["reconstruct"].main(argv) == 0
    return out / "c3d.json"


def test_video_modality_has_the_evaluator():
    assert isinstance(get_modality("video").evaluator, VideoEvaluator)


def test_result_is_a_full_protocol_record(c3d_result):
    result = load_result(c3d_result)
    VideoEvaluator().validate(result)
    for path in VIDEO_REQUIRED_FIELDS:
        assert _get(result, path) is not None or path == "data.skipped", path
    assert result["modality"] == "video" and result["tokenizer"]["random_init"] is True
    tok = result["tokenizer"]
    assert tok["architecture"] == "causal3d_test" and tok["num_frames"] == 5
    assert tok["valid_num_frames"][:4] == [1, 5, 9, 13]
    # The clips, by name and file hash, with their own frame counts, sizes and rates.
    manifest = result["data"]["manifest"]
    assert [e["name"] for e in manifest] == CLIPS and result["data"]["skipped"] == []
    for e in manifest:
        assert e["sha256"] == hashlib.sha256((FIXTURES / e["name"]).read_bytes()).hexdigest()
        assert e["num_frames"] == 17 and e["fps"] == 25.0
    assert {(e["height"], e["width"]) for e in manifest} == {(64, 64), (68, 160)}
    proto = result["protocol"]
    assert (proto["num_frames"], proto["frame_size"], proto["fps"]) == (5, SIZE, 25.0)
    assert proto["png_round_trip"] is True and proto["value_range"] == [-1.0, 1.0]
    assert proto["metric_names"] == ["video_psnr", "video_ssim", "flicker", "fd_efflite0_frames"]
    # One rate point: the tokens of a 5 x 64 x 64 clip, bits from the FSQ's bits per token.
    (entry,) = result["results"]
    tokens = 2 * (SIZE // 4) ** 2
    assert entry["num_tokens"] == tokens and proto["num_tokens"] == [tokens]
    assert entry["bits_per_clip"] == pytest.approx(tokens * FSQ_BITS)
    assert entry["bits_per_pixel"] == pytest.approx(tokens * FSQ_BITS / (5 * SIZE * SIZE))
    assert entry["kbps"] == pytest.approx(tokens * FSQ_BITS / (5 / 25) / 1000)
    assert entry["codebook"]["num_codes"] == len(CLIPS) * tokens
    assert set(entry["metrics"]) == set(proto["metric_names"])
    assert all(math.isfinite(v) for v in entry["metrics"].values())
    fd = result["metrics"]["fd_efflite0_frames"]
    assert fd["num_real"] == fd["num_fake"] == len(CLIPS) * 5  # one sample per frame
    md = c3d_result.with_suffix(".md").read_text()
    assert "| tokens | bits/clip | bpp | kbps | PSNR | SSIM | Flicker |" in md
    assert "random weights" in md and "4 clips" in md
    # Every protocol field is enforced.
    broken = json.loads(c3d_result.read_text())
    del broken["protocol"]["num_frames"]
    del broken["results"][0]["bits_per_clip"]
    with pytest.raises(ValueError, match=r"protocol\.num_frames.*results\[0\]\.bits_per_clip"):
        VideoEvaluator().validate(broken)
    # Leaderboard and model-card hooks take the result.
    card = model_card_eval_results(VideoEvaluator(), result)[0]
    assert card["dataset"].endswith("(4 clips)")
    assert card["metrics"][f"bits per pixel @5x{SIZE}px"] == pytest.approx(entry["bits_per_pixel"])


def test_saved_frames_are_exactly_what_was_measured(c3d_result):
    """PSNR and flicker of the JSON, recomputed from the saved PNG frames and the originals."""
    result = load_result(c3d_result)
    png = c3d_result.parent / "png"
    assert sorted(p.name for p in png.iterdir()) == [n.removesuffix(".mp4") for n in CLIPS]
    psnr, flicker = VideoPSNR(), TemporalFlicker()
    clips = iter_video_clips(open_video_source(FIXTURES), ClipRule(5, SIZE), skip_bad=False,
                             log=DataLog())  # fmt: skip
    for clip in clips:
        files = sorted((png / clip.name.removesuffix(".mp4")).iterdir())
        assert [f.name for f in files] == [f"{i:05d}.png" for i in range(5)]
        rec = torch.from_numpy(np.stack([np.array(Image.open(f)) for f in files]))
        rec = rec.permute(3, 0, 1, 2).unsqueeze(0)  # (1, 3, T, H, W) uint8
        psnr.update(rec, clip.frames.unsqueeze(0))
        flicker.update(rec, clip.frames.unsqueeze(0))
    metrics = result["results"][0]["metrics"]
    assert float(psnr.compute()) == pytest.approx(metrics["video_psnr"], abs=1e-9)
    assert float(flicker.compute()) == pytest.approx(metrics["flicker"], abs=1e-9)


def test_flexible_length_tokenizer_at_token_counts(scripts, tmp_path):
    out = tmp_path / "larp.json"
    argv = ["--model", "larp_test", "--random-init", "--data", str(FIXTURES), "--num-tokens",
            "2,8", "--metrics", "video_psnr,flicker", "--limit", "2", "--out", str(out),
            "--no-progress", "--save-reconstructions", str(tmp_path / "png")]  # fmt: skip
    assert scripts["reconstruct"].main(argv) == 0
    result = load_result(out)
    VideoEvaluator().validate(result)
    proto = result["protocol"]
    assert (proto["num_frames"], proto["frame_size"], proto["num_tokens"]) == (4, 16, [2, 8])
    assert result["tokenizer"]["flexible_length"] is True
    assert [e["name"] for e in result["data"]["manifest"]] == CLIPS[:2]
    for entry, k in zip(result["results"], (2, 8), strict=True):
        assert entry["num_tokens"] == k
        assert entry["bits_per_clip"] == pytest.approx(k * FSQ_BITS)
        assert entry["bits_per_pixel"] == pytest.approx(k * FSQ_BITS / (4 * 16 * 16))
        assert all(math.isfinite(v) for v in entry["metrics"].values())
    # One folder of frames per clip under each token count.
    assert len(list((tmp_path / "png" / "tokens_8" / CLIPS[0].removesuffix(".mp4")).iterdir())) == 4


def test_bad_frame_counts_are_refused_before_reading(scripts, tmp_path, capsys):
    """A count the tokenizer does not take fails (as a usage error of eval/reconstruct.py) with
    the counts that work, before --data is even opened (here it does not exist)."""
    base = ["--random-init", "--data", str(tmp_path / "nowhere"), "--out",
            str(tmp_path / "x.json"), "--no-progress"]  # fmt: skip

    def refused(argv, pattern):
        with pytest.raises(SystemExit) as err:
            scripts["reconstruct"].main(argv)
        assert err.value.code == 2
        assert re.search(pattern, capsys.readouterr().err.replace("\n", " ")), pattern

    refused(
        ["--model", "causal3d_test", "--num-frames", "6", *base],
        r"--num-frames 6: .* takes clips of 1, 5, 9, 13, 17, .*nearest valid counts: 5 or 9",
    )
    refused(
        ["--model", "larp_test", "--num-frames", "5", *base],
        r"--num-frames 5: .* takes clips of 4 frames",
    )
    refused(
        ["--model", "larp_test", "--frame-size", "32", *base],
        r"expected frames of 16 x 16, got 32 x 32",
    )
    fvd = ["--model", "causal3d_test", "--fvd-weights", "i3d.pt", *base, "--data", str(FIXTURES)]
    with pytest.raises(ValueError, match="fvd: the I3D network needs clips of at least 9 frames"):
        scripts["reconstruct"].main(fvd)
    with pytest.raises(ValueError, match="not flexible-length"):
        scripts["reconstruct"].main(["--model", "causal3d_test", "--num-tokens", "4", *base])
    with pytest.raises(FileNotFoundError, match="expected a folder of video files"):
        scripts["reconstruct"].main(["--model", "causal3d_test", *base])
    assert not (tmp_path / "x.json").exists()


def test_other_modalities_options_are_refused(scripts, titok_dir, tmp_path):
    base = ["--data", str(FIXTURES), "--out", str(tmp_path / "x.json"), "--no-progress"]
    video = ["--model", "causal3d_test", "--random-init", *base]
    for flag, value in (("--resolution", "32"), ("--max-seconds", "1"), ("--batch-size", "2")):
        with pytest.raises(SystemExit, match=f"{flag} do\\(es\\) not apply to video"):
            scripts["reconstruct"].main([*video, flag, value])
    # ... and the video options for an image tokenizer.
    with pytest.raises(SystemExit, match=r"--num-frames do\(es\) not apply to image"):
        scripts["reconstruct"].main(["--model", str(titok_dir), *base, "--num-frames", "5"])
    with pytest.raises(SystemExit, match=r"--crf-sweep do\(es\) not apply to image"):
        scripts["rate_distortion"].main(
            ["--model", str(titok_dir), *base, "--crf-sweep", "30"]
        )  # fmt: skip


def test_rate_distortion_against_h264_and_av1(scripts, c3d_result, tmp_path):
    """At 64 px the tokenizer's ~3 kbit per clip is below what x264 can code (its settings SEI
    alone is ~5 kbit): every clip is reported unreachable; SVT-AV1 matches every clip."""
    out = tmp_path / "rd.json"
    argv = ["--results", str(c3d_result), "--codecs", "h264,av1", "--video-scales", "1",
            "--metrics", "video_psnr,video_ssim,flicker", "--crf-sweep", "30,51,63",
            "--tolerance", "0.1", "--out", str(out), "--no-progress"]  # fmt: skip
    assert scripts["rate_distortion"].main(argv) == 0
    rd = load_result(out)
    result = load_result(c3d_result)
    assert rd["modality"] == "video" and set(rd["codecs"]) == {"h264", "av1"}
    assert rd["data"]["manifest_sha256"] == result["data"]["manifest_sha256"]
    assert rd["protocol"]["rate_tolerance"] == 0.1 and rd["protocol"]["num_frames"] == 5
    target = result["results"][0]["bits_per_clip"]
    for codec, res in rd["codecs"].items():
        (m,) = res["matched"]
        assert m["target_bits_per_clip"] == pytest.approx(target) and m["num_clips"] == 4
        assert 0 <= m["fraction_within_tolerance"] <= 1
        assert all(math.isfinite(v) for v in m["metrics"].values())
        sweep = [e["crf"] for e in res["sweep"]]
        assert sweep == ([30, 51] if codec == "h264" else [30, 51, 63])  # inside each range
        bits = [e["bits_per_clip"] for e in res["sweep"]]
        assert bits[0] > bits[-1]  # a higher CRF spends fewer bits
    h264, av1 = rd["codecs"]["h264"]["matched"][0], rd["codecs"]["av1"]["matched"][0]
    assert h264["num_unreachable"] == 4 and h264["fraction_within_tolerance"] == 0
    assert h264["crf_min"] == h264["crf_max"] == 51 and h264["bits_per_clip"] > 5000 > target
    assert av1["num_unreachable"] == 0 and av1["fraction_within_tolerance"] == 1
    assert abs(av1["bits_per_clip"] - target) <= 0.1 * target
    assert "~1%" in rd["codecs"]["h264"]["settings"]["reproducibility"]
    rows = {r["codec"]: r for r in rd["comparison"]}
    assert set(rows) == {"h264", "av1"} and len(rd["comparison"]) == 2
    assert rows["av1"]["rate_matched"] is True and rows["h264"]["rate_matched"] is False
    assert set(rows["av1"]["tokenizer_is"]) == {"video_psnr", "video_ssim", "flicker"}
    md = out.with_suffix(".md").read_text()
    assert "| H.264 | CRF 51-51 |" in md and "0% (4 unreachable)" in md
    assert "| AV1 | CRF" in md and "100%" in md
    assert "vs H.264: the codec could not match this rate for every clip" in md
    assert out.with_suffix(".png").stat().st_size > 0
    # The leaderboard reads it (tokenizer and codec sweep rows).
    board = tmp_path / "board.md"
    assert scripts["compare"].main([str(out), str(c3d_result), "--out", str(board)]) == 0
    assert "CRF 63" in board.read_text()


def test_evaluator_is_the_one_eval_uses():
    tok = zoo.create_tokenizer("causal3d_test")
    assert get_modality(tok).evaluator.name == tok.modality == "video"


def test_bad_and_short_clips_are_reported_by_name(scripts, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in CLIPS[:2]:
        (folder / name).write_bytes((FIXTURES / name).read_bytes())
    data = (folder / CLIPS[0]).read_bytes()
    (folder / CLIPS[0]).write_bytes(data[: len(data) // 3])
    base = ["--model", "causal3d_test", "--random-init", "--data", str(folder), "--metrics",
            "video_psnr", "--no-progress"]  # fmt: skip
    with pytest.raises(BadVideoError, match=rf"{CLIPS[0]}.*--skip-bad"):
        scripts["reconstruct"].main([*base, "--out", str(tmp_path / "a.json")])
    assert (
        scripts["reconstruct"].main([*base, "--skip-bad", "--out", str(tmp_path / "b.json")]) == 0
    )
    result = load_result(tmp_path / "b.json")
    assert [e["name"] for e in result["data"]["skipped"]] == [CLIPS[0]]
    assert [e["name"] for e in result["data"]["manifest"]] == [CLIPS[1]]
    # Files shorter than the clip: named, with what to do.
    (folder / CLIPS[0]).unlink()
    with pytest.raises(BadVideoError, match=rf"{CLIPS[1]}: too short: 17 decodable frame"):
        scripts["reconstruct"].main(
            [*base, "--num-frames", "21", "--out", str(tmp_path / "c.json")]
        )
