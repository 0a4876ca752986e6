"""Reconstruction evaluation under one pinned protocol: one evaluation loop and rate-distortion
driver (:mod:`.runner`, :mod:`.rate_distortion`) made image or audio by an :class:`Evaluator`
(:class:`ImageEvaluator`, :class:`AudioEvaluator`), data sources over :mod:`zoo.data`'s readers,
classical baselines at matched rate (:mod:`.baselines`: JPEG / WebP / AVIF, Opus), result files,
tables and plots.

Each modality of :mod:`zoo.modalities` holds its evaluator (``Modality.evaluator``); the
command-line runners in ``eval/`` (``reconstruct.py``, ``rate_distortion.py``, ``compare.py``,
``to_model_card.py``) look it up there. This package never imports :mod:`zoo.modalities`; the
metrics themselves live in :mod:`zoo.metrics`.
"""

from zoo.evaluation.audio import AUDIO_REQUIRED_FIELDS, AudioEvaluator
from zoo.evaluation.audio_sources import AudioRule, BadAudioError, open_audio_source
from zoo.evaluation.image import REQUIRED_FIELDS, ImageEvaluator
from zoo.evaluation.protocol import (
    RATE_DISTORTION_SCHEMA,
    RECONSTRUCTION_SCHEMA,
    load_result,
    validate_result,
    write_json,
)
from zoo.evaluation.runner import Batch, Evaluator, Run, check_evaluator
from zoo.evaluation.sources import (
    BadImageError,
    FolderSource,
    ResizeRule,
    SizeMismatchError,
    open_image_source,
)

__all__ = [
    "AUDIO_REQUIRED_FIELDS",
    "RATE_DISTORTION_SCHEMA",
    "RECONSTRUCTION_SCHEMA",
    "REQUIRED_FIELDS",
    "AudioEvaluator",
    "AudioRule",
    "BadAudioError",
    "BadImageError",
    "Batch",
    "Evaluator",
    "FolderSource",
    "ImageEvaluator",
    "ResizeRule",
    "Run",
    "SizeMismatchError",
    "check_evaluator",
    "load_result",
    "open_audio_source",
    "open_image_source",
    "validate_result",
    "write_json",
]
