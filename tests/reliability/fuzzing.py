"""What the fuzz tests (``test_fuzz_*.py``) and ``sweep.py`` share: the outcome of one input.

Every generated input must either work, or raise one of the documented error types with a
message that says what is wrong (issue 9, section 5):

- ``TypeError`` / ``ValueError`` (the project's ``CodecError``, ``BadImageError``,
  ``SizeMismatchError`` are ValueErrors) for bad arguments, tensors and file contents;
- ``OSError`` subclasses (``FileNotFoundError``, ``IsADirectoryError``, the output checks'
  ``OutputPathError``, ...) for files that are missing, unreadable or must not be written;
- ``SystemExit`` from a command line: status 2 with the message on stderr (argparse, and
  ``zoo.codec``'s ``error: ...``), or a message as the exit code (``raise SystemExit("...")``).

Where the input is a file, the message must name it (its path or file name). Anything else --
``KeyError``, ``IndexError``, ``AttributeError``, a bare ``RuntimeError`` from deep inside torch,
an empty message -- is an *obscure* error; a result that violates the entry point's contract is
a *silent wrong result*; a pre-existing file whose bytes changed, or a temporary file left
behind, is *lost data*. :func:`attempt` classifies one call and counts it in :data:`TALLY`,
which ``conftest.py`` prints at the end of the run.

Every call runs under :func:`memory_guard`: an allocation beyond ``MEMORY_BUDGET`` fails (and
is reported as an obscure error) instead of swapping out the machine.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import resource
import signal
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Errors the project documents for bad input (subclasses included).
CLEAR_ERRORS: tuple[type[BaseException], ...] = (TypeError, ValueError, OSError)
#: Outcome kinds, in the order the summary prints them.
KINDS = ("clear", "worked", "wrong", "obscure", "lost")
#: Extra memory one fuzzed call may allocate.
MEMORY_BUDGET = 1 << 30
#: CPU time one fuzzed call may take before it counts as a hang (CPU time, not wall time: the
#: machines running this are often loaded).
CPU_SECONDS = 60.0


@dataclass
class Tally:
    """Counts of outcomes per kind, plus the first few unexpected ones for the report."""

    counts: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    @property
    def tried(self) -> int:
        return sum(self.counts[k] for k in KINDS)

    @property
    def unexpected(self) -> int:
        return self.counts["wrong"] + self.counts["obscure"] + self.counts["lost"]

    def add(self, kind: str, note: str = "") -> None:
        self.counts[kind] += 1
        if kind not in ("clear", "worked") and note and len(self.examples) < 50:
            self.examples.append(f"[{kind}] {note}")

    def merge(self, counts: dict[str, int]) -> None:
        self.counts.update(counts)

    def summary(self) -> str:
        c = self.counts
        return (
            f"fuzz: {self.tried} inputs tried, {c['clear']} clear errors, {c['worked']} worked, "
            f"{self.unexpected} unexpected ({c['wrong']} silent wrong results, {c['obscure']} "
            f"obscure errors, {c['lost']} lost data)"
        )


#: The session's tally (one per process; pytest-xdist workers send theirs to the controller).
TALLY = Tally()


class Unexpected(AssertionError):
    """A fuzzed input that neither worked nor failed clearly; the message says which and why."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


@dataclass
class Outcome:
    kind: str  # "clear" or "worked" (unexpected kinds raise Unexpected)
    value: Any = None
    error: BaseException | None = None
    stderr: str = ""
    note: str = ""  # why an unexpected outcome is one


# ---------------------------------------------------------------------------------- memory
def _vm_data() -> int:
    with open("/proc/self/status") as f:
        m = re.search(r"VmData:\s+(\d+) kB", f.read())
    return int(m.group(1)) * 1024 if m else 0


@contextlib.contextmanager
def memory_guard(budget: int = MEMORY_BUDGET) -> Iterator[None]:
    """Fail allocations of more than ``budget`` bytes beyond what the process holds now
    (``RLIMIT_DATA``; Linux counts anonymous mappings, so torch's allocator gets ENOMEM)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
        want = _vm_data() + budget
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (want, hard))
    except (OSError, ValueError):  # no /proc or no rlimits: run unguarded
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


class Hang(Exception):  # noqa: N818 - what it is
    """A call that ran past its CPU-time limit."""


@contextlib.contextmanager
def cpu_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`Hang` in the calling code after ``seconds`` of process CPU time
    (``ITIMER_VIRTUAL``: it leaves pytest-timeout's wall-clock ``SIGALRM`` alone). Main thread
    only; elsewhere it does nothing."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_timer(signum, frame):
        raise Hang(f"no result after {seconds:g} s of CPU time")

    old = signal.signal(signal.SIGVTALRM, on_timer)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, old)


# ---------------------------------------------------------------------------------- files
def snapshot(paths: Iterable[str | os.PathLike]) -> dict[Path, bytes | None]:
    """Bytes of every file under ``paths`` (files or folders; None for a missing path)."""
    out: dict[Path, bytes | None] = {}
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file():
                    out[f] = f.read_bytes()
        else:
            out[p] = p.read_bytes() if p.is_file() else None
    return out


def changed_files(before: dict[Path, bytes | None]) -> list[str]:
    """Files of a :func:`snapshot` that existed and now differ or are gone."""
    bad = []
    for p, data in before.items():
        if data is not None and (not p.is_file() or p.read_bytes() != data):
            bad.append(str(p))
    return bad


def leftover_temporaries(folders: Iterable[str | os.PathLike]) -> list[str]:
    """Temporary siblings of ``zoo._io``'s atomic writers left in ``folders``."""
    pattern = re.compile(r"^\..+\.(tmp|old)-\d+-[0-9a-f]+")
    out = []
    for d in map(Path, folders):
        if d.is_dir():
            out += [str(f) for f in d.iterdir() if pattern.match(f.name)]
    return out


# ---------------------------------------------------------------------------------- outcomes
def _names_a_file(message: str, files: Iterable[str | os.PathLike]) -> bool:
    """``message`` names one of ``files`` (path or file name) or, for an option such as
    ``--num-codebooks``, the option (also spelled ``num_codebooks``)."""
    for f in files:
        s = os.fspath(f)
        if s.startswith("--"):
            if s in message or s[2:].replace("-", "_") in message:
                return True
            continue
        p = Path(s)
        if s in message or (p.name and p.name in message):
            return True
    return False


def _describe(err: BaseException) -> str:
    tb = traceback.extract_tb(err.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return f"{type(err).__name__}{where}: {str(err)[:400]!r}"


def _check_clear(
    err: BaseException, stderr: str, files: tuple, what: str, cli_status: int | None = None
) -> str | None:
    """Why ``err`` (or a CLI's exit status with ``stderr``) is not a clear error, else None."""
    if isinstance(err, SystemExit) or cli_status is not None:
        code = cli_status if cli_status is not None else err.code
        if isinstance(code, str):
            message = code
        elif code == 2:
            message = stderr
        else:
            return f"{what}: exit status {code!r} (expected 2, or a message)"
        if "Traceback (most recent call last)" in message:
            return f"{what}: a traceback in the error output: {message[-400:]!r}"
    elif isinstance(err, CLEAR_ERRORS) and not isinstance(err, (KeyError, IndexError)):
        message = str(err)
    else:
        return f"{what}: {_describe(err)}"
    if not message.strip():
        return f"{what}: {type(err).__name__} with an empty message"
    usage = isinstance(err, SystemExit) and message.lstrip().startswith("usage:")
    if files and not usage and not _names_a_file(message, files):  # (argparse: bad arguments)
        shown = message[-400:] if cli_status is not None else _describe(err)
        return f"{what}: the message does not name the file ({shown!r})"
    return None


def attempt(
    fn: Callable[[], Any],
    *,
    what: str = "",
    files: Iterable[str | os.PathLike] = (),
    protect: Iterable[str | os.PathLike] = (),
    folders: Iterable[str | os.PathLike] = (),
    check: Callable[[Any], None] | None = None,
    cli: bool = False,
    tally: Tally | None = None,
    raise_unexpected: bool = True,
    cpu_seconds: float | None = CPU_SECONDS,
) -> Outcome:
    """Call ``fn()`` once and classify it.

    Args:
        what: a description of the input, used in failure messages.
        files: the input files; a clear error must name one of them (path or file name).
        protect: files/folders whose bytes must not change (inputs, existing outputs).
        folders: folders where no temporary file may be left behind.
        check: called with the result when ``fn`` returns; raises AssertionError on a contract
            violation (a silent wrong result).
        cli: ``fn`` is a ``main(argv)``: its stdout/stderr are captured, and a returned status
            of 2 is an error exit (message on stderr).
        raise_unexpected: raise :class:`Unexpected` (so hypothesis shrinks it) instead of
            returning an outcome of kind "wrong"/"obscure"/"lost".
        cpu_seconds: CPU time after which the call is stopped and counts as obscure (a hang).
    """
    tally = TALLY if tally is None else tally
    files, folders = tuple(files), tuple(folders)
    before = snapshot(protect)
    err_buf = io.StringIO()
    kind, note, outcome = "worked", "", Outcome("worked")
    try:
        with contextlib.ExitStack() as stack:
            if cli:
                stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
                stack.enter_context(contextlib.redirect_stderr(err_buf))
            with memory_guard(), cpu_limit(cpu_seconds):
                value = fn()
        outcome.value = value
        if cli and isinstance(value, int) and value != 0:
            problem = _check_clear(
                RuntimeError(), err_buf.getvalue(), files, what, cli_status=value
            )
            outcome = Outcome("clear", value, None, err_buf.getvalue())
            kind, note = ("obscure", problem) if problem else ("clear", "")
        elif check is not None:
            try:
                check(value)
            except AssertionError as e:
                kind, note = "wrong", f"{what}: {e}"
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - classifying every error is the point
        if isinstance(e, Unexpected):
            raise
        problem = _check_clear(e, err_buf.getvalue(), files, what)
        outcome = Outcome("clear", None, e, err_buf.getvalue())
        kind, note = ("obscure", problem) if problem else ("clear", "")
    lost = changed_files(before) + leftover_temporaries(folders)
    if lost and kind in ("clear", "worked"):
        kind, note = "lost", f"{what}: changed or left behind: {lost}"
    tally.add(kind, note)
    if kind not in ("clear", "worked"):
        if raise_unexpected:
            raise Unexpected(kind, note) from outcome.error
        return Outcome(kind, outcome.value, outcome.error, outcome.stderr, note)
    outcome.kind = kind
    return outcome


# ---------------------------------------------------------------------------------- strategies
# Built lazily so that sweep.py and conftest.py import this module without hypothesis/torch cost.
def strategies():
    """The hypothesis strategies shared by the fuzz tests (a namespace)."""
    import types

    import torch
    from hypothesis import strategies as st

    huge_ints = st.sampled_from([2**31, 2**32 + 1, 2**40, 2**62, 2**63, 2**64, 10**30])
    junk = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**8), 0),
        huge_ints,
        st.sampled_from([float("nan"), float("inf"), float("-inf"), -1.0, 0.0, 0.5, 2.5, 1e300]),
        st.sampled_from(["", "8", "x", "l2", "msb", "none", "fsq", "é"]),
        st.sampled_from([[], [1], ["a"], [[2]], [2.5], [None], (3, 3)]),
        st.sampled_from([{}, {"dim": 4}, {"levels": "x"}]),
        st.just(b"\xff"),
    )
    float_dtypes = [torch.float32, torch.float16, torch.bfloat16, torch.float64]
    other_dtypes = [torch.int64, torch.int32, torch.uint8, torch.bool, torch.complex64]
    code_dtypes = [
        torch.int64,
        torch.int32,
        torch.int16,
        torch.int8,
        torch.uint8,
        torch.uint16,
        torch.uint32,
        torch.uint64,
    ]

    @st.composite
    def values(draw, shape, dtype, *, low_high=None):
        """A tensor of ``shape`` and ``dtype`` from a drawn seed, scale and NaN/Inf sprinkle
        (hypothesis draws a handful of numbers, torch makes the elements)."""
        seed = draw(st.integers(0, 2**31 - 1))
        g = torch.Generator().manual_seed(seed)
        n = math.prod(shape)
        if dtype.is_floating_point or dtype.is_complex:
            scale = draw(st.sampled_from([0.0, 1e-30, 1e-3, 0.5, 1.0, 10.0, 1e4, 1e30]))
            lo, hi = low_high or (-1.0, 1.0)
            x = (torch.rand(n, generator=g, dtype=torch.float64) * (hi - lo) + lo) * (
                scale if low_high is None else 1.0
            )
            special = draw(st.sampled_from([None, None, None, "nan", "inf", "-inf"]))
            if special and n:
                i = draw(st.integers(0, n - 1))
                x[i] = float(special)
            return x.reshape(shape).to(dtype)
        lo, hi = low_high or (-(2**15), 2**15)
        x = torch.randint(int(lo), int(hi), (n,), generator=g, dtype=torch.int64)
        return x.reshape(shape).to(dtype)

    return types.SimpleNamespace(
        st=st,
        junk=junk,
        huge_ints=huge_ints,
        float_dtypes=float_dtypes,
        other_dtypes=other_dtypes,
        code_dtypes=code_dtypes,
        values=values,
    )


def fuzz_settings(max_examples: int):
    """hypothesis settings of one fuzz test: ``max_examples`` inputs and no wall-clock deadline
    (on a loaded machine it would flake): :func:`attempt` stops an input after
    :data:`CPU_SECONDS` of CPU time, and pytest-timeout bounds the whole test."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
        print_blob=True,
    )


def fuzz_test(body: Callable[[Any], None], max_examples: int, *, slow: bool = False):
    """A pytest test running ``body(data, *fixtures)`` (``data``: hypothesis ``st.data()``; the
    other parameters are pytest fixtures, module- or session-scoped) on ``max_examples``
    generated inputs; ``slow`` marks the many-examples variant."""
    import functools

    import pytest
    from hypothesis import given
    from hypothesis import strategies as st

    @functools.wraps(body)
    def test(*args, **kwargs) -> None:
        body(*args, **kwargs)

    test.__name__ = test.__qualname__ = body.__name__.lstrip("_") + ("_many" if slow else "")
    test.__doc__ = body.__doc__
    test = fuzz_settings(max_examples)(given(data=st.data())(test))
    return pytest.mark.slow(test) if slow else test
