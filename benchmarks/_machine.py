"""What the benchmarks share: the machine description in their reports and the report writer."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from zoo._io import atomic_write_json, atomic_write_text


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def preloaded_allocator() -> str:
    """A jemalloc / tcmalloc / mimalloc named in LD_PRELOAD, else PyTorch's CPU default."""
    preload = os.environ.get("LD_PRELOAD", "")
    for name in ("jemalloc", "tcmalloc", "mimalloc"):
        if name in preload:
            return f"{name} (LD_PRELOAD)"
    return "glibc malloc (PyTorch CPU default)"


def write_report(
    text: str, results: dict[str, Any], json_path: str | None, markdown_path: str | None
) -> None:
    """Print the Markdown ``text``; write ``results`` / ``text`` atomically where asked."""
    print(text, end="")
    if json_path:
        atomic_write_json(json_path, results)
    if markdown_path:
        atomic_write_text(markdown_path, text)
