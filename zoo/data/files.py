"""The folder walk every reader of the package uses: training datasets (``zoo.data``) and the
evaluation sources (``zoo.evaluation``) list their files here, so both see the same files in the
same order."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif")


def list_files(root: str | Path, extensions: Sequence[str], *, who: str, noun: str) -> list[Path]:
    """Files under ``root`` (recursive) whose suffix (any case) is in ``extensions``, sorted by
    path so the order is reproducible. FileNotFoundError naming ``who`` when ``root`` is not a
    directory or holds no such file (``noun``: what they are, for the message)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{who}: {str(root)!r} is not a directory")
    suffixes = {e.lower() for e in extensions}
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise FileNotFoundError(f"{who}: {str(root)!r} holds no {noun} ({', '.join(extensions)})")
    return files
