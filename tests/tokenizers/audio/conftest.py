"""Shared audio test inputs: a real recorded speech clip (see tests/fixtures/README.md)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest
import soundfile as sf
import torch

SPEECH_24K = Path(__file__).resolve().parents[2] / "fixtures" / "speech_front_center_24k.flac"


@lru_cache(maxsize=4)
def _read(sample_rate: int) -> torch.Tensor:
    wav, sr = sf.read(SPEECH_24K, dtype="float32")
    x = torch.from_numpy(wav)[None, None]
    if sr != sample_rate:
        import torchaudio.functional as AF

        x = AF.resample(x, sr, sample_rate)
    return x


def _load_speech(sample_rate: int = 24000) -> torch.Tensor:
    """The fixture clip ``(1, 1, samples)`` float32 in [-1, 1], resampled to ``sample_rate``."""
    return _read(sample_rate).clone()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def load_speech():
    """``load_speech(sample_rate=24000) -> (1, 1, samples)``: the real speech fixture clip."""
    return _load_speech
