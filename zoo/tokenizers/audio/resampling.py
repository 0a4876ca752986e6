"""Sample-rate checks shared by every resampler of the package, run before anything is
allocated: a mislabelled rate (1 Hz) asks for thousands of output samples per input one (22 GB
for a 10-second clip), and torchaudio's sinc kernel for rates with a small common divisor
(44101 -> 16000 Hz) has ``new x orig`` taps.
"""

from __future__ import annotations

import math
from typing import Any

#: Largest up- or downsampling factor any resampler here accepts (8 kHz -> 512 kHz at most):
#: a mislabelled rate (1 Hz) would otherwise ask for thousands of output samples per input one.
MAX_RESAMPLE_RATIO = 64
#: Most samples one resampling call may produce (2**31, 8 GiB of float32).
MAX_RESAMPLED_SAMPLES = 1 << 31
#: Largest sinc kernel (values) of ``torchaudio.functional.resample``: rates with a small common
#: divisor (44101 -> 16000 Hz) need one of ``new x orig`` taps (here 2.8 GB).
MAX_RESAMPLE_KERNEL = 1 << 25


def check_resample_rates(
    orig_rate: Any, new_rate: Any, *, who: str, num_samples: int | None = None
) -> tuple[int, int]:
    """``(orig_rate, new_rate)`` as ints, or a ValueError naming both rates, before anything is
    allocated: rates must be positive whole numbers of Hz, their ratio within
    ``1 / MAX_RESAMPLE_RATIO .. MAX_RESAMPLE_RATIO``, and the output of ``num_samples`` input
    samples at most ``MAX_RESAMPLED_SAMPLES``."""
    rates = []
    for name, rate in (("input", orig_rate), ("output", new_rate)):
        ok = not isinstance(rate, bool) and isinstance(rate, int | float)
        if not ok or not math.isfinite(rate) or rate <= 0 or rate != int(rate):
            raise ValueError(
                f"{who}: the {name} sample rate must be a positive whole number of Hz, got "
                f"{rate!r} (resampling {orig_rate!r} Hz -> {new_rate!r} Hz)"
            )
        rates.append(int(rate))
    orig, new = rates
    ratio = new / orig
    if not 1 / MAX_RESAMPLE_RATIO <= ratio <= MAX_RESAMPLE_RATIO:
        raise ValueError(
            f"{who}: resampling {orig} Hz -> {new} Hz is a factor of {ratio:.4g}, outside the "
            f"supported 1/{MAX_RESAMPLE_RATIO} .. {MAX_RESAMPLE_RATIO}; check the sample rates "
            f"({min(orig, new)} Hz is not a usual audio rate)"
        )
    if num_samples is not None and math.ceil(num_samples * ratio) > MAX_RESAMPLED_SAMPLES:
        raise ValueError(
            f"{who}: resampling {num_samples} samples from {orig} Hz to {new} Hz would give "
            f"{math.ceil(num_samples * ratio)} samples, more than {MAX_RESAMPLED_SAMPLES} in one "
            "call; process the audio in chunks (python -m zoo.codec streams files of any length)"
        )
    return orig, new


def check_torchaudio_resample(
    orig_rate: int, new_rate: int, *, who: str, num_samples: int | None = None
) -> None:
    """:func:`check_resample_rates`, plus the size of ``torchaudio.functional.resample``'s
    kernel (``new / g`` rows of ``orig / g + 2 * width`` taps, ``g`` the rates' gcd)."""
    orig, new = check_resample_rates(orig_rate, new_rate, who=who, num_samples=num_samples)
    g = math.gcd(orig, new)
    o, n = orig // g, new // g
    taps = n * (o + 2 * math.ceil(6 * o / (min(o, n) * 0.99)))
    if taps > MAX_RESAMPLE_KERNEL:
        raise ValueError(
            f"{who}: resampling {orig} Hz -> {new} Hz with torchaudio needs a {taps}-value kernel "
            f"(the rates share only a factor of {g}); resample with soxr first "
            f"(zoo.data.audio.resample(x[0], {orig}, {new})), or check the input rate"
        )
