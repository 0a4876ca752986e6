"""The shared quantizer library: one file per method, one interface, one registry.

>>> from zoo.quantizers import create_quantizer
>>> q = create_quantizer("fsq", levels=[8, 5, 5, 5])
"""

from zoo.outputs import QuantizerOutput
from zoo.quantizers.base import (
    Quantizer,
    collect_metrics,
    create_quantizer,
    get_quantizer_class,
    list_quantizers,
    metrics_requested,
    register_quantizer,
)

# Importing the method modules registers them.
from zoo.quantizers import fsq  # noqa: E402,F401  isort: skip
from zoo.quantizers import dimwise, grouped, residual  # noqa: E402,F401  isort: skip
from zoo.quantizers import bsq, lfq  # noqa: E402,F401  isort: skip
from zoo.quantizers import vq  # noqa: E402,F401  isort: skip

__all__ = [
    "Quantizer",
    "QuantizerOutput",
    "collect_metrics",
    "create_quantizer",
    "get_quantizer_class",
    "list_quantizers",
    "metrics_requested",
    "register_quantizer",
]
