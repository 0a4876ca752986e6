"""A made-up modality, 1-D sensor signals, in its own file only: the tokenizer family, the
modality (training defaults), its evaluator and its data module. Nothing in ``zoo`` names it;
:func:`register` adds it to the registries (and :func:`unregister` removes it again, so the
contract tests that sweep every registered tokenizer never see it).

Signals are ``(B, 1, samples)`` float in [-1, 1] stored as ``.npy`` files in a folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics import Metric

import zoo.modalities.registry
import zoo.registry
from zoo.evaluation import Batch, Evaluator, FolderSource
from zoo.evaluation.sources import DataLog, portable_path
from zoo.metrics import psnr
from zoo.modalities import Modality, register_modality
from zoo.registry import register_tokenizer
from zoo.tokenizers.base import Tokenizer, build_quantizer

PATCH = 4


# --------------------------------------------------------------------------- tokenizer family
class SensorTokenizer(Tokenizer):
    """Patches of 4 samples -> a linear encoder -> FSQ -> a linear decoder: one token per patch."""

    modality = "sensor"
    input_axes = ("samples",)
    input_layout = "(B, 1, samples)"

    def __init__(self, *, levels: list[int] | None = None, length: int = 64) -> None:
        super().__init__()
        levels = levels or [8, 8]
        self.in_channels = 1
        self.input_multiple = PATCH
        self.num_tokens = length // PATCH
        self.encoder = nn.Linear(PATCH, len(levels))
        self.decoder = nn.Linear(len(levels), PATCH)
        self.quantizer = build_quantizer("fsq", {"levels": levels}, len(levels), "sensor")

    def token_shape(self, num_tokens: int | None = None) -> tuple[int, ...]:
        return (self.num_tokens,)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x.reshape(x.shape[0], -1, PATCH))

    def decode(self, quantized: Tensor, num_tokens: int | None = None) -> Tensor:
        return self.decoder(quantized).reshape(quantized.shape[0], 1, -1)


def sensor_test(**kwargs: Any) -> SensorTokenizer:
    return SensorTokenizer(**kwargs)


# --------------------------------------------------------------------------- modality
class SignalMSE(Metric):
    key, label = "mse", "MSE"

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.total += (preds.double() - target.double()).pow(2).sum()
        self.count += target.numel()

    def compute(self) -> Tensor:
        return self.total / self.count

    def describe(self) -> dict:
        return {"implementation": "mean squared error over all samples"}


class SignalPSNR(SignalMSE):
    key, label = "psnr", "PSNR"

    def compute(self) -> Tensor:
        return 10 * torch.log10(4.0 / super().compute())  # peak to peak 2 in [-1, 1]


class NpyFolder(FolderSource):
    extensions, noun = (".npy",), "signals"


class SensorEvaluator(Evaluator):
    """The minimal evaluator: where the data comes from, how it is read, which metrics."""

    name, items = "sensor", "signals"
    default_metrics = ("mse", "psnr")

    def open_data(self, spec: Any, run: Any) -> Any:
        return NpyFolder(spec)

    def batches(self, run, source, *, log: DataLog, skip_bad, limit) -> Iterator[Batch]:
        for name, path in source.files[:limit]:
            x = torch.from_numpy(np.load(path)).float().reshape(1, 1, -1)
            log.manifest.append({"name": name, "sha256": portable_path(path)})
            yield Batch([name], x)

    def create_metrics(self, run: Any, names: Any, copies: int) -> list[dict[str, Metric]]:
        metrics = {"mse": SignalMSE, "psnr": SignalPSNR}
        return [{n: metrics[n]() for n in names} for _ in range(copies)]


class SensorModality(Modality):
    name = "sensor"
    layout = "(B, 1, samples)"
    default_losses = {"l2": 1.0}
    evaluator = SensorEvaluator()

    def quality(self, x_hat: Tensor, x: Tensor) -> tuple[str, Tensor]:
        return "psnr", psnr(x_hat, x).mean()


# --------------------------------------------------------------------------- data
class _Signals(Dataset):
    def __init__(self, folder: str) -> None:
        self.files = sorted(Path(folder).glob("*.npy"))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Tensor:
        return torch.from_numpy(np.load(self.files[i])).float().reshape(1, -1)


class SensorDataModule(pl.LightningDataModule):
    def __init__(self, *, folder: str, batch_size: int = 2) -> None:
        super().__init__()
        self.folder, self.batch_size = folder, batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_Signals(self.folder), batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(_Signals(self.folder), batch_size=self.batch_size)


# --------------------------------------------------------------------------- registration
def register() -> None:
    register_tokenizer(sensor_test)
    register_modality(SensorModality)


def unregister() -> None:
    zoo.registry._TOKENIZERS.pop("sensor_test", None)
    zoo.registry._PRETRAINED.pop("sensor_test", None)
    zoo.modalities.registry._MODALITIES.pop("sensor", None)


def write_signals(folder: Path, n: int = 3, length: int = 64) -> Path:
    """Smooth test signals (sines of 1..n periods): plumbing for a made-up modality."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.linspace(0, 1, length, dtype=np.float32)
    for i in range(n):
        np.save(folder / f"s{i}.npy", 0.8 * np.sin(2 * np.pi * (i + 1) * t))
    return folder
