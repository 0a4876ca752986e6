"""PESQ, STOI and DNSMOS on real speech: known values for identical clips, ordering under
real band-limiting, agreement with the packages called directly, and clear errors (silent
references, NaN, clips too short, mismatched shapes); registration in zoo.metrics."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from pesq import pesq
from pystoi import stoi
from speechmos import dnsmos

from zoo.metrics import (
    AUDIO_METRICS,
    DEFAULT_METRICS,
    HIGHER_IS_BETTER,
    METRIC_LABELS,
    PESQ,
    SISDR,
    STOI,
    DNSMOSOverall,
    MelDistance,
    create_metrics,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "speech_front_center_24k.flac"
SR = 24000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """1.28 s of real speech ("Front center"), 24 kHz mono float64."""
    data, sr = sf.read(FIXTURE, dtype="float64")
    assert sr == SR
    return data


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)).float()[None, None]


def _low_pass(x: np.ndarray, rate: int) -> np.ndarray:
    """Band-limit to rate / 2 by resampling down and back up (soxr, steep anti-alias filter)."""
    y = soxr.resample(soxr.resample(x, SR, rate, quality="VHQ"), rate, SR, quality="VHQ")
    return y[: len(x)]


def _value(metric, preds, target) -> float:
    metric.reset()
    metric.update(preds, target)
    return float(metric.compute())


def test_pesq_identical_is_top_of_scale_and_band_limiting_lowers_it(speech):
    metric = PESQ(sample_rate=SR)
    clean = _t(speech)
    assert _value(metric, clean, clean) == pytest.approx(4.644, abs=0.01)
    # Wideband PESQ looks at 50-7000 Hz: a 4 kHz, then 2 kHz, then 1 kHz bandwidth scores lower.
    scores = [_value(metric, _t(_low_pass(speech, r)), clean) for r in (8000, 4000, 2000)]
    assert 4.0 > scores[0] > scores[1] > scores[2] >= 1.0, scores
    # Same number as the pesq package called on the 16 kHz signals directly (the metric sees
    # the float32 tensors).
    f32 = lambda x: x.astype(np.float32).astype(np.float64)  # noqa: E731
    ref16 = soxr.resample(f32(speech), SR, 16000, quality="VHQ")
    deg16 = soxr.resample(f32(_low_pass(speech, 4000)), SR, 16000, quality="VHQ")
    assert scores[1] == pytest.approx(pesq(16000, ref16, deg16, "wb"), abs=1e-6)
    info = metric.describe()
    assert info["label"] == "PESQ-WB" and info["resampling"] == "soxr VHQ 24000 -> 16000 Hz"


def test_pesq_at_8khz_resamples_and_batches(speech):
    """An 8 kHz model's clips are measured as wideband speech at 16 kHz; a batch of two clips
    (and a stereo clip, one value per channel) averages per clip and channel."""
    s8 = soxr.resample(speech, SR, 8000, quality="VHQ")
    half = soxr.resample(_low_pass(speech, 4000), SR, 8000, quality="VHQ")  # 2 kHz band
    metric = PESQ(sample_rate=8000)
    clean, degraded = _t(s8), _t(half)
    a, b = _value(metric, clean, clean), _value(metric, degraded, clean)
    assert a > 4.0 and b < a
    batch = _value(metric, torch.cat([clean, degraded]), torch.cat([clean, clean]))
    assert batch == pytest.approx((a + b) / 2, abs=1e-6)
    stereo = _value(metric, torch.cat([clean, degraded], 1), torch.cat([clean, clean], 1))
    assert stereo == pytest.approx(batch, abs=1e-6) and int(metric.count) == 2


def test_stoi_monotone_in_bandwidth_and_matches_pystoi(speech):
    metric = STOI(sample_rate=SR)
    clean = _t(speech)
    assert _value(metric, clean, clean) == pytest.approx(1.0, abs=1e-6)
    scores = [_value(metric, _t(_low_pass(speech, r)), clean) for r in (4000, 2000, 1000)]
    assert 1.0 > scores[0] > scores[1] > scores[2] > 0.3, scores
    f32 = lambda x: x.astype(np.float32).astype(np.float64)  # noqa: E731
    direct = stoi(f32(speech), f32(_low_pass(speech, 2000)), SR)
    assert scores[1] == pytest.approx(direct, abs=1e-9)


def test_dnsmos_scores_reconstructions_in_mos_range(speech):
    sets = create_metrics("audio", ["dnsmos"], copies=1, sample_rate=SR)
    (metrics,) = sets
    assert list(metrics) == ["dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak"]
    clean = _t(speech)
    muffled = _t(_low_pass(speech, 2000))  # 1 kHz bandwidth
    calls = []
    scorer = metrics["dnsmos_ovrl"].scorer
    model = scorer._get_model()
    scorer._model = lambda x, sr, personalized: calls.append(len(x)) or model(x, sr, personalized)
    clean_scores = {k: _value(m, clean, clean) for k, m in metrics.items()}
    assert len(calls) == 1, "the three DNSMOS metrics must share one model run per batch"
    muffled_scores = {k: _value(m, muffled, clean) for k, m in metrics.items()}
    for scores in (clean_scores, muffled_scores):
        assert all(1.0 <= v <= 5.0 for v in scores.values()), scores
    # Removing everything above 1 kHz degrades the speech signal's judged quality.
    assert muffled_scores["dnsmos_sig"] < clean_scores["dnsmos_sig"]
    # The numbers of speechmos' own entry point on the 16 kHz clip.
    x16 = soxr.resample(speech.astype(np.float32).astype(np.float64), SR, 16000, quality="VHQ")
    direct = dnsmos.run(np.clip(x16, -1, 1).astype(np.float32), 16000)
    for key, out in (
        ("dnsmos_ovrl", "ovrl_mos"),
        ("dnsmos_sig", "sig_mos"),
        ("dnsmos_bak", "bak_mos"),
    ):
        assert clean_scores[key] == pytest.approx(float(direct[out]), abs=1e-4)
    info = metrics["dnsmos_sig"].describe()
    assert len(info["weights_sha256"]) == 64 and info["speechmos_output"] == "sig_mos"
    assert "none" in info["reference"]


def test_silent_reference_is_an_error(speech):
    silent = torch.zeros(1, 1, len(speech))
    for metric in (SISDR(), PESQ(sample_rate=SR), STOI(sample_rate=SR)):
        with pytest.raises(ValueError, match=r"clips \[0\] is silent.*undefined"):
            metric.update(_t(speech), silent)
    # The distances and the no-reference DNSMOS are defined against silence.
    MelDistance(sample_rate=SR).update(_t(speech), silent)
    with pytest.raises(ValueError, match="PESQ: the reconstruction .* digital silence"):
        PESQ(sample_rate=SR).update(silent, _t(speech))


def test_bad_input_errors(speech):
    clean = _t(speech)
    nan = clean.clone()
    nan[..., 100] = float("nan")
    with pytest.raises(ValueError, match=r"STOI: preds holds 1 NaN/Inf samples \(clips \[0\]\)"):
        STOI(sample_rate=SR).update(nan, clean)
    with pytest.raises(ValueError, match="PESQ: target holds 1 NaN/Inf"):
        PESQ(sample_rate=SR).update(clean, nan)
    with pytest.raises(ValueError, match=r"PESQ: clips need at least 6024 samples \(PESQ needs"):
        PESQ(sample_rate=SR).update(clean[..., :4800], clean[..., :4800])  # 0.2 s
    with pytest.raises(ValueError, match="STOI: clip 0 holds fewer than 30 STFT frames"):
        STOI(sample_rate=SR).update(clean[..., 6000:13200], clean[..., 6000:13200])  # 0.3 s
    with pytest.raises(ValueError, match="PESQ: preds and target shapes differ"):
        PESQ(sample_rate=SR).update(clean[..., :-1], clean)
    with pytest.raises(ValueError, match=r"DNSMOSOverall: preds must be a \(B, C, samples\)"):
        DNSMOSOverall(sample_rate=SR).update(clean[0], clean[0])


def test_registered_in_zoo_metrics():
    assert set(AUDIO_METRICS) <= set(METRIC_LABELS) and set(AUDIO_METRICS) <= set(HIGHER_IS_BETTER)
    assert HIGHER_IS_BETTER["pesq"] and not HIGHER_IS_BETTER["mel_distance"]
    assert METRIC_LABELS["dnsmos_ovrl"] == "DNSMOS OVRL"
    (inferred,) = create_metrics(["pesq", "stoi", "si_sdr"], sample_rate=16000)
    assert isinstance(inferred["pesq"], PESQ) and inferred["stoi"].sample_rate == 16000
    sets = create_metrics("audio", list(DEFAULT_METRICS["audio"]), copies=2, sample_rate=8000)
    assert sets[0]["pesq"] is not sets[1]["pesq"] and "dnsmos_ovrl" not in sets[0]
    with pytest.raises(ValueError, match="mix modalities"):
        create_metrics(["pesq", "psnr"])
    with pytest.raises(ValueError, match=r"unknown metrics \['pesq_nb'\]"):
        create_metrics(["pesq_nb"])
    with pytest.raises(ValueError, match="sample_rate applies to audio metrics"):
        create_metrics("image", ["psnr"], sample_rate=16000)
    with pytest.raises(ValueError, match="duplicate metric names"):
        create_metrics(["dnsmos", "dnsmos_sig"])
