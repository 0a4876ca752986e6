"""Reconstruction evaluation under one pinned protocol: data sources, the evaluation loop,
classical-codec baselines at matched rate (JPEG / WebP / AVIF for images, Opus for audio), result
files, tables and plots.

The command-line runners in ``eval/`` (``reconstruct.py``, ``rate_distortion.py``,
``compare.py``, ``to_model_card.py``) are thin wrappers over this package; the metrics
themselves live in :mod:`zoo.metrics`.
"""

from zoo.evaluation.audio_sources import (
    AudioRule,
    BadAudioError,
    open_audio_source,
)
from zoo.evaluation.protocol import (
    AUDIO_REQUIRED_FIELDS,
    RATE_DISTORTION_SCHEMA,
    RECONSTRUCTION_SCHEMA,
    REQUIRED_FIELDS,
    load_result,
    validate_result,
    write_json,
)
from zoo.evaluation.reconstruct import (
    EVALUATORS,
    evaluate_reconstruction,
    reconstruction_markdown,
)
from zoo.evaluation.reconstruct_audio import evaluate_audio_reconstruction  # registers "audio"
from zoo.evaluation.sources import (
    BadImageError,
    ResizeRule,
    SizeMismatchError,
    open_image_source,
)

__all__ = [
    "AUDIO_REQUIRED_FIELDS",
    "EVALUATORS",
    "RATE_DISTORTION_SCHEMA",
    "RECONSTRUCTION_SCHEMA",
    "REQUIRED_FIELDS",
    "AudioRule",
    "BadAudioError",
    "BadImageError",
    "ResizeRule",
    "SizeMismatchError",
    "evaluate_audio_reconstruction",
    "evaluate_reconstruction",
    "load_result",
    "open_audio_source",
    "open_image_source",
    "reconstruction_markdown",
    "validate_result",
    "write_json",
]
