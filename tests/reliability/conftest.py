"""Reliability tests: the fuzz tests' input count, printed once at the end of the run.

``fuzz: N inputs tried, C clear errors, W worked, U unexpected (...)``: every input a fuzz test
tried (hypothesis examples, shrinking included), counted by ``fuzzing.attempt``. Under
pytest-xdist each worker sends its counts to the controller, which prints the total.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzzing  # noqa: E402


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = getattr(session.config, "workeroutput", None)
    if out is not None:  # an xdist worker: hand the counts to the controller
        out["fuzz_counts"] = dict(fuzzing.TALLY.counts)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    counts = getattr(node, "workeroutput", {}).get("fuzz_counts")
    if counts:
        fuzzing.TALLY.merge(counts)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if fuzzing.TALLY.tried:
        terminalreporter.write_line(fuzzing.TALLY.summary())
        for line in fuzzing.TALLY.examples[:10]:
            terminalreporter.write_line(f"  {line[:300]}")
