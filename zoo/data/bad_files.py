"""Unreadable training files: an error that names the file, or a logged skip.

A truncated JPEG or FLAC deep in a training set used to stop an epoch with
``OSError: image file is truncated`` and no file name. Datasets route every decoding error
through :class:`BadFiles`: by default it raises :class:`BadSampleError` naming the file (and the
webdataset sample key and shard); with ``skip_bad=True`` it logs a warning naming the file once,
counts it, and the dataset moves on to another file (as ``--skip-bad`` does for evaluation).

Counts are per process: with DataLoader workers each worker keeps its own (and logs its own
warnings), since datasets are copied into the workers.
"""

from __future__ import annotations

import logging

log = logging.getLogger("zoo.data")

#: What decoding a corrupt file raises: PIL (OSError, UnidentifiedImageError, SyntaxError,
#: DecompressionBombError), soundfile (LibsndfileError is a RuntimeError), numpy/zlib/EOF.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    RuntimeError,
    SyntaxError,
    EOFError,
    IndexError,
)
try:  # PIL's decompression-bomb error derives from Exception only
    from PIL import Image

    DECODE_ERRORS += (Image.DecompressionBombError,)
except ImportError:  # pragma: no cover - Pillow is a dependency
    pass


class BadSampleError(ValueError):
    """A training file or webdataset sample that cannot be decoded; the message names it."""


def describe(name: object, sample: dict | None = None) -> str:
    """``'path'``, or ``sample 'key' (member 'key.jpg' of shard 'url')`` for webdataset."""
    if sample is None:
        return repr(str(name))
    where = f" of shard {sample['__url__']!r}" if "__url__" in sample else ""
    return f"sample {sample.get('__key__')!r} (member {str(name)!r}{where})"


class BadFiles:
    """The raise-or-skip policy of one dataset (see the module docstring).

    Args:
        skip_bad: skip unreadable files (logged, counted) instead of raising.
        who: the dataset's name, for messages.

    Attributes:
        skipped: ``{file or sample: error message}`` of the files skipped in this process.
    """

    def __init__(self, skip_bad: bool, who: str) -> None:
        self.skip_bad = bool(skip_bad)
        self.who = who
        self.skipped: dict[str, str] = {}
        self.known: set[str] = set()  # files already found unreadable (not retried)

    @property
    def count(self) -> int:
        """Files skipped so far (in this process)."""
        return len(self.skipped)

    def handle(self, name: object, err: BaseException, sample: dict | None = None) -> None:
        """Raise :class:`BadSampleError` naming ``name``, or record and log it when skipping."""
        what = describe(name, sample)
        if not self.skip_bad:
            raise BadSampleError(
                f"{self.who}: cannot decode {what}: {type(err).__name__}: {err}; remove or "
                "repair the file, or pass skip_bad=True to skip unreadable files"
            ) from err
        if what not in self.skipped:
            self.skipped[what] = f"{type(err).__name__}: {err}"
            log.warning(
                "%s: skipping unreadable %s (%s: %s); %d file(s) skipped so far",
                self.who,
                what,
                type(err).__name__,
                err,
                len(self.skipped),
            )

    def all_bad(self, total: int) -> BadSampleError:
        """The error when every one of ``total`` files turned out unreadable."""
        return BadSampleError(
            f"{self.who}: all {total} files are unreadable (skipped: "
            f"{', '.join(list(self.skipped)[:5])}{' ...' if self.count > 5 else ''})"
        )
