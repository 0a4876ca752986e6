"""Reconstruction evaluation under one pinned protocol: data sources, the evaluation loop,
classical-codec baselines at matched rate, result files, tables and plots.

The command-line runners in ``eval/`` (``reconstruct.py``, ``rate_distortion.py``,
``compare.py``, ``to_model_card.py``) are thin wrappers over this package; the metrics
themselves live in :mod:`zoo.metrics`.
"""

from zoo.evaluation.protocol import (
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
from zoo.evaluation.sources import (
    BadImageError,
    ResizeRule,
    SizeMismatchError,
    open_image_source,
)

__all__ = [
    "EVALUATORS",
    "RATE_DISTORTION_SCHEMA",
    "RECONSTRUCTION_SCHEMA",
    "REQUIRED_FIELDS",
    "BadImageError",
    "ResizeRule",
    "SizeMismatchError",
    "evaluate_reconstruction",
    "load_result",
    "open_image_source",
    "reconstruction_markdown",
    "validate_result",
    "write_json",
]
