"""argparse ``type=`` converters that range-check numbers, so a size knob given ``0``, ``-3`` or
``10**9`` stops at the command line with ``error: argument --x: ...`` (exit 2) instead of
failing deep inside, or allocating without bound.

    p.add_argument("--batch-size", type=int_in(1, 4096), default=16)
    p.add_argument("--max-seconds", type=float_in(0, 86400, low_open=True))
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _span(low: float | None, high: float | None, low_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}]"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"<= {high:g}" if high is not None else "a number"


def int_in(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """A converter to an int in ``[low, high]`` (either bound may be None)."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"must be a whole number {_span(low, high, False)}, got {value}"
            )
        return value

    convert.__name__ = "int"  # argparse names the type in some messages
    return convert


def float_in(
    low: float | None = None, high: float | None = None, *, low_open: bool = False
) -> Callable[[str], float]:
    """A converter to a finite float in ``[low, high]`` (``(low, high]`` with ``low_open``)."""

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        bad = not math.isfinite(value)
        bad |= low is not None and (value <= low if low_open else value < low)
        bad |= high is not None and value > high
        if bad:
            raise argparse.ArgumentTypeError(
                f"must be a finite number {_span(low, high, low_open)}, got {text}"
            )
        return value

    convert.__name__ = "float"
    return convert
