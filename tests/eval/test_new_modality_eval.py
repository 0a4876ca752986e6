"""A new modality evaluates through eval/reconstruct.py with a minimal Evaluator: a made-up 1-D
"sensor signal" modality (its own tokenizer, .npy files in a folder, MSE / PSNR) registered in
this file only. The subclass implements data reading and metrics; the loop, bits, codebook
usage, skip-bad bookkeeping, the result record and the Markdown report are inherited."""

import json
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torchmetrics import Metric

import zoo.modalities.registry
import zoo.registry
from zoo.evaluation import Batch, Evaluator, FolderSource
from zoo.evaluation.sources import DataLog, portable_path
from zoo.modalities import Modality, register_modality
from zoo.quantizers import create_quantizer
from zoo.registry import register_tokenizer
from zoo.tokenizers.base import Tokenizer

LENGTH, PATCH = 64, 4


class SensorTokenizer(Tokenizer):
    """Means of 4-sample patches, FSQ-quantized to 16 levels: 16 tokens of 4 bits."""

    modality = "sensor"

    def __init__(self, *, levels: int = 16) -> None:
        super().__init__()
        self.quantizer = create_quantizer("fsq", levels=[levels])
        self.num_tokens = LENGTH // PATCH
        self.in_channels = 1

    def tokenize(self, x, num_tokens=None):
        return self.quantizer.encode(x.reshape(x.shape[0], -1, PATCH).mean(-1, keepdim=True))

    def detokenize(self, codes):
        q = self.quantizer.decode(codes)  # (B, tokens, 1)
        return q.repeat_interleave(PATCH, 1).reshape(codes.shape[0], 1, -1)


def sensor_test(**kwargs) -> SensorTokenizer:
    return SensorTokenizer(**kwargs)


class MeanSquaredError(Metric):
    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0), dist_reduce_fx="sum")

    def update(self, preds, target) -> None:
        self.total += (preds.double() - target.double()).pow(2).sum()
        self.count += target.numel()

    def compute(self):
        return self.total / self.count

    def describe(self) -> dict:
        return {"implementation": "mean squared error over all samples"}


class SignalPSNR(MeanSquaredError):
    def compute(self):
        return 10 * torch.log10(4.0 / super().compute())  # peak-to-peak 2 in [-1, 1]


class NpyFolder(FolderSource):
    extensions, noun = (".npy",), "signals"


class SensorEvaluator(Evaluator):
    """The minimal evaluator: where the data comes from, how it is read, which metrics."""

    name, items = "sensor", "signals"
    default_metrics = ("mse", "psnr")

    def open_data(self, spec, run):
        return NpyFolder(spec)

    def batches(self, run, source, *, log: DataLog, skip_bad, limit) -> Iterator[Batch]:
        for name, path in source.files[:limit]:
            x = torch.from_numpy(np.load(path)).float().reshape(1, 1, -1)
            log.manifest.append({"name": name, "sha256": portable_path(path)})
            yield Batch([name], x)

    def create_metrics(self, run, names, copies):
        metrics = {"mse": MeanSquaredError, "psnr": SignalPSNR}
        return [{n: metrics[n]() for n in names} for _ in range(copies)]


class SensorModality(Modality):
    name = "sensor"
    layout = "(B, 1, samples)"
    evaluator = SensorEvaluator()


@pytest.fixture
def sensor():
    """Register the tokenizer and the modality for this test only (the contract tests sweep
    every registered tokenizer)."""
    register_tokenizer(sensor_test)
    register_modality(SensorModality)
    yield
    zoo.registry._TOKENIZERS.pop("sensor_test")
    zoo.registry._PRETRAINED.pop("sensor_test", None)
    zoo.modalities.registry._MODALITIES.pop("sensor")


def test_a_new_modality_evaluates_through_the_runner(scripts, sensor, tmp_path):
    data = tmp_path / "signals"
    data.mkdir()
    t = np.linspace(0, 1, LENGTH, dtype=np.float32)
    for i in range(3):
        np.save(data / f"s{i}.npy", 0.8 * np.sin(2 * np.pi * (i + 1) * t))
    out = tmp_path / "sensor.json"
    argv = ["--model", "sensor_test", "--random-init", "--data", str(data), "--out", str(out),
            "--no-progress"]  # fmt: skip
    assert scripts["reconstruct"].main(argv) == 0
    result = json.loads(out.read_text())
    assert result["modality"] == "sensor" and result["data"]["num_samples"] == 3
    assert [e["name"] for e in result["data"]["manifest"]] == ["s0.npy", "s1.npy", "s2.npy"]
    (entry,) = result["results"]
    assert entry["bits_per_item"] == pytest.approx(16 * 4)  # 16 tokens of 4 bits
    assert 0 < entry["metrics"]["mse"] < 0.1 and entry["metrics"]["psnr"] > 15
    assert entry["codebook"]["num_codes"] == 3 * 16
    assert result["protocol"]["metric_names"] == ["mse", "psnr"]
    SensorEvaluator().validate(result)
    assert "| rate | bits/item | mse | PSNR |" in out.with_suffix(".md").read_text()
    # Options of the other modalities are refused for the new one.
    with pytest.raises(SystemExit, match="--resolution do\\(es\\) not apply to sensor"):
        scripts["reconstruct"].main([*argv[:-3], "--out", str(tmp_path / "b.json"),
                                     "--resolution", "32", "--no-progress"])  # fmt: skip
