"""Classical video baselines (H.264 / AV1 through PyAV) on real clips: round trips, bits counted
from the packets, the CRF search for a bit budget, odd sizes, and no system binary."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from zoo.data.video import decode_video
from zoo.evaluation.baselines.video import (
    available_video_codecs,
    get_video_codec,
    match_video_rate,
    video_codec_settings,
    video_round_trip,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "video"
BIKES = decode_video(FIXTURES / "bikes_17f_160x68.mp4")  # real street footage, 17 frames


def _psnr(a, b):
    return 10 * np.log10(255**2 / ((a.astype(np.float64) - b) ** 2).mean())


def test_codecs_of_the_wheel():
    assert {"h264", "av1"} <= set(available_video_codecs())
    s = video_codec_settings("av1")
    assert s["encoder"] == "libsvtav1" and s["decoder"] == "libdav1d" and "FFmpeg" in s["tools"]
    with pytest.raises(ValueError, match="unknown video codec 'vp7'"):
        get_video_codec("vp7")


@pytest.mark.parametrize("codec", ["h264", "av1"])
def test_round_trip_rate_and_quality_follow_crf(codec):
    c = get_video_codec(codec)
    fine = video_round_trip(BIKES, codec, crf=c.crf_min + 10)
    coarse = video_round_trip(BIKES, codec, crf=c.crf_max - 10)
    for r in (fine, coarse):
        assert r.frames.shape == BIKES.shape and r.frames.dtype == np.uint8
        assert r.num_packets == 17 and r.bits == 8 * r.payload_bytes
    assert fine.bits > 2 * coarse.bits
    assert _psnr(fine.frames, BIKES) > _psnr(coarse.frames, BIKES) + 3
    assert _psnr(fine.frames, BIKES) > 33  # it really is the clip
    assert fine.kbps == pytest.approx(fine.bits / (17 / 25) / 1000)
    # A target bitrate (one-pass average) lands in the right range and orders the rates.
    lo = video_round_trip(BIKES, codec, bitrate_kbps=40)
    hi = video_round_trip(BIKES, codec, bitrate_kbps=160)
    assert lo.bits < hi.bits and 0.3 < hi.kbps / 160 < 3


def test_av1_is_repeatable():
    r = video_round_trip(BIKES, "av1", crf=40)
    again = video_round_trip(BIKES, "av1", crf=40)
    assert again.payload_bytes == r.payload_bytes
    np.testing.assert_array_equal(again.frames, r.frames)


def test_rate_matching():
    for codec in ("h264", "av1"):
        ref = video_round_trip(BIKES, codec, crf=30)
        m = match_video_rate(BIKES, codec, ref.bits * 1.02, tolerance=0.1)
        assert m.reachable and m.within_tolerance and abs(m.relative_error) <= 0.1
        assert m.coded.crf is not None
        low = match_video_rate(BIKES, codec, 800)  # 100 bytes for 17 frames: out of reach
        assert not low.reachable and low.coded.crf == get_video_codec(codec).crf_max
        half = match_video_rate(BIKES, codec, 800, scale=0.5)  # coding smaller spends less
        assert half.coded.bits < low.coded.bits
        assert half.coded.frames.shape == BIKES.shape
    with pytest.raises(ValueError, match="target_bits must be positive"):
        match_video_rate(BIKES, "h264", 0)


def test_odd_sizes_and_bad_arguments():
    odd = np.ascontiguousarray(BIKES[:9, :45, :77])
    r = video_round_trip(odd, "h264", crf=18)
    assert r.frames.shape == odd.shape and _psnr(r.frames, odd) > 30
    with pytest.raises(ValueError, match="exactly one of crf and bitrate_kbps"):
        video_round_trip(BIKES, "h264")
    with pytest.raises(ValueError, match=r"crf must be an integer in \[1, 63\]"):
        video_round_trip(BIKES, "av1", crf=0)
    with pytest.raises(ValueError, match=r"uint8 RGB clip \(T, H, W, 3\)"):
        video_round_trip(BIKES.astype(np.float32), "h264", crf=20)


def test_needs_no_system_binary(monkeypatch):
    """Everything runs inside PyAV's bundled FFmpeg: nothing on PATH is needed."""
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)  # no ffmpeg / x264 to be found
    for codec in ("h264", "av1"):
        m = match_video_rate(BIKES[:5], codec, 20000, tolerance=0.2)
        assert m.coded.frames.shape == BIKES[:5].shape
