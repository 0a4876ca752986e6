"""The metric registry: keys, labels, directions and modalities come from the metric classes,
the legacy tables are views of it, and a new modality's metric needs no edit to zoo.metrics."""

from typing import ClassVar

import pytest
import torch

import zoo.metrics as zm
from zoo.metrics import registry
from zoo.metrics._utils import MeanMetric


def test_tables_are_views_of_the_registered_classes():
    assert zm.list_metrics("image") == ["psnr", "ssim", "ms_ssim", "lpips", "fid", "fd_efflite0"]
    assert zm.list_metrics("image", default=True) == ["psnr", "ssim", "fd_efflite0"]
    assert zm.list_metrics("audio", default=True) == list(zm.DEFAULT_METRICS["audio"])
    assert set(zm.IMAGE_METRICS) | set(zm.AUDIO_METRICS) <= set(zm.list_metrics())
    assert tuple(zm.IMAGE_METRICS) == tuple(zm.list_metrics("image"))
    for key in zm.list_metrics():
        info = zm.metric_info(key)
        assert info.key == key == info.cls.key
        assert zm.METRIC_LABELS[key] == info.label == info.cls.label
        assert zm.HIGHER_IS_BETTER[key] is info.higher_is_better is info.cls.higher_is_better
        assert key in zm.METRIC_NAMES[info.modality]
    assert zm.metric_info("fid").label == "rFID" and zm.metric_info("fid").cls is zm.FID
    assert zm.metric_info("pesq").modality == "audio"
    assert tuple(zm.NO_REFERENCE_METRICS) == ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak")
    with pytest.raises(KeyError, match="unknown metric 'rfid'"):
        zm.metric_info("rfid")


def test_a_new_modality_registers_its_metric_in_its_own_file():
    @registry.register_metric
    class FrameMeanError(MeanMetric):
        key: ClassVar[str] = "test_frame_error"
        label: ClassVar[str] = "Frame error"
        higher_is_better: ClassVar[bool] = False
        modality: ClassVar[str] = "test_video"
        default: ClassVar[bool] = True

        @classmethod
        def create(cls, build):
            return cls()

        def update(self, preds, target):
            self._add((preds - target).abs().flatten(1).mean(1))

    try:
        assert zm.list_metrics("test_video") == ["test_frame_error"]
        assert zm.METRIC_LABELS["test_frame_error"] == "Frame error"
        assert zm.DEFAULT_METRICS["test_video"] == ("test_frame_error",)
        assert zm.metric_modality(["test_frame_error"]) == "test_video"
        (a, b) = zm.create_metrics(["test_frame_error"], copies=2)
        a["test_frame_error"].update(torch.ones(2, 3), torch.zeros(2, 3))
        assert float(a["test_frame_error"].compute()) == 1.0 and b is not a
        with pytest.raises(ValueError, match="sample_rate applies to audio metrics"):
            zm.create_metrics("test_video", ["test_frame_error"], sample_rate=16000)
        with pytest.raises(ValueError, match="already taken"):

            @registry.register_metric
            class Other(FrameMeanError):
                pass

    finally:
        registry._REGISTRY.pop("test_frame_error")
    assert "test_video" not in zm.METRIC_NAMES


def test_register_metric_refuses_incomplete_classes():
    class NoKey(MeanMetric):
        label = "x"
        higher_is_better = True
        modality = "image"

        @classmethod
        def create(cls, build):
            return cls()

    with pytest.raises(TypeError, match="must set the class attributes key"):
        registry.register_metric(NoKey)
