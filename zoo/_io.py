"""Writing files so that no data is ever lost by accident.

Every file and folder the package writes goes through here:

- :func:`atomic_file` / :func:`atomic_write_bytes` / :func:`atomic_write_text` /
  :func:`atomic_write_json`: the content goes to a temporary sibling (``.<name>.tmp-<pid>-<rand>``,
  same folder, so same filesystem), is flushed to disk, and replaces the target with one
  ``os.replace``. Readers see the old file or the new one, never a truncated one; on an error the
  temporary file is removed and the old file is untouched.
- :func:`atomic_dir`: a folder (``save_pretrained``, exports) is written complete into a temporary
  sibling and then takes the target's place (see its docstring for the exact steps).
- :func:`sha256_file`: the hash that manifests and result files record of a file.
- :func:`check_output_paths`: command-line tools refuse to write over one of their inputs, and
  over an existing file unless asked to (``--overwrite``).

A process killed with SIGKILL cannot clean up after itself: it leaves its ``.<name>.tmp-<pid>-*``
sibling behind (the target itself is intact). The next atomic write to the same target removes
temporaries whose process is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "OutputPathError",
    "atomic_dir",
    "atomic_file",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_cli_outputs",
    "check_output_paths",
    "refuse_urls",
    "sha256_file",
]

StrPath = str | os.PathLike


# ---------------------------------------------------------------------------------------- names
def _temp_sibling(path: Path, kind: str = "tmp") -> Path:
    """``dir/.name.<kind>-<pid>-<random><suffix>``: hidden, recognisable, same folder and suffix
    (writers such as ``savefig`` or ``soundfile`` pick the format from the suffix)."""
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or we cannot tell: keep its files
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def clean_stale_temporaries(path: StrPath) -> list[Path]:
    """Remove the temporaries that killed writers left next to ``path``; returns them.

    Only siblings named ``.<name>.tmp-<pid>-*`` / ``.<name>.old-<pid>-*`` whose process no
    longer runs are removed (a writer that is still running keeps its own). A previous folder
    that a writer killed in the middle of the two-rename swap of :func:`atomic_dir` left aside
    (``.old-``, with nothing at ``path``) is renamed back to ``path`` instead.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(tmp|old)-(\d+)-[0-9a-f]+")
    removed = []
    for entry in path.parent.iterdir():
        m = pattern.match(entry.name)
        if m and not _pid_alive(int(m.group(2))):
            if m.group(1) == "old" and not (path.exists() or path.is_symlink()):
                os.rename(entry, path)
                continue
            _remove(entry)
            removed.append(entry)
    return removed


def _follow_link(path: Path) -> Path:
    """A symlink's target (the link itself stays, pointing at the new content)."""
    return path.resolve() if path.is_symlink() else path


def _fsync_file(path: Path) -> None:
    with contextlib.suppress(OSError), open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    if sys.platform.startswith("win"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------------------- files
@contextlib.contextmanager
def atomic_file(path: StrPath, *, clean_stale: bool = True) -> Iterator[Path]:
    """Yield a temporary sibling path to write; on success it replaces ``path`` atomically.

    ``with atomic_file("rd.png") as tmp: fig.savefig(tmp)``. Parent folders are created. On an
    exception the temporary file is removed and ``path`` is left as it was. ``clean_stale=False``
    skips the look for killed writers' temporaries (one listing of the folder), for writers of
    many files into one folder.
    """
    path = _follow_link(Path(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if clean_stale:
        clean_stale_temporaries(path)
    tmp = _temp_sibling(path)
    try:
        yield tmp
        if not tmp.is_file():
            raise FileNotFoundError(f"atomic_file: nothing was written to {str(tmp)!r}")
        _fsync_file(tmp)
        _copy_mode(path, tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        _remove(tmp)


def _default_mode() -> int:
    """The permissions of a new file opened for writing: ``0o666`` less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _readable(tmp: Path) -> None:
    """A file some writer created owner-only (safetensors writes ``0o600``) gets the usual
    permissions of a new file, so saved weights are not unreadable to everyone else."""
    if sys.platform.startswith("win"):
        return
    with contextlib.suppress(OSError):
        if tmp.stat().st_mode & 0o077 == 0:
            os.chmod(tmp, _default_mode())


def _copy_mode(path: Path, tmp: Path) -> None:
    """Give ``tmp`` the permissions of the ``path`` it replaces (a new file: see
    :func:`_readable`)."""
    if sys.platform.startswith("win"):
        return
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        _readable(tmp)
        return
    with contextlib.suppress(OSError):
        os.chmod(tmp, mode)


def atomic_write_bytes(path: StrPath, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: StrPath, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_file`)."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: StrPath, obj: Any, *, indent: int | None = 2, **kwargs: Any) -> Path:
    """``json.dumps(obj)`` + newline to ``path`` atomically; serialising errors leave ``path``
    untouched (nothing is opened before the text exists)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, **kwargs) + "\n")


# ---------------------------------------------------------------------------------------- folders
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the OS or
    filesystem cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, f"renameat2({str(a)!r}, {str(b)!r}, RENAME_EXCHANGE)", str(b))


def _move_in_file_by_file(src: Path, dst: Path) -> None:
    """Move every entry of ``src`` into ``dst``, each with one ``os.replace``, leaving the other
    entries of ``dst`` alone."""
    for entry in sorted(src.iterdir()):
        target = dst / entry.name
        if entry.is_dir() and not entry.is_symlink():
            if target.is_dir() and not target.is_symlink():
                _move_in_file_by_file(entry, target)
                continue
            if target.exists() or target.is_symlink():
                _remove(target)
        os.replace(entry, target)


@contextlib.contextmanager
def atomic_dir(path: StrPath) -> Iterator[Path]:
    """Yield an empty temporary sibling folder to fill; on success it takes ``path``'s place.

    - ``path`` does not exist: the filled folder is renamed to ``path`` (one step).
    - ``path`` holds only entries that the new folder also has (a previous save): the two
      folders are swapped in one step (Linux ``renameat2(RENAME_EXCHANGE)``), then the old one
      is deleted, so a crash at any moment leaves the complete old folder or the complete new
      one at ``path``. Where the OS or filesystem cannot swap, the old folder is renamed aside
      (``.<name>.old-<pid>-*``) and the new one renamed in; a crash between the two renames is
      repaired by the next write to ``path`` (:func:`clean_stale_temporaries` renames it back).
    - ``path`` also holds other files (a git clone, a run folder): they are left alone and each
      new entry replaces its namesake with one ``os.replace``.

    On an exception nothing at ``path`` changes and the temporary folder is removed.
    """
    path = _follow_link(Path(path))
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{str(path)!r} exists and is not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path)
    tmp = _temp_sibling(path)
    tmp.mkdir()
    old: Path | None = None
    try:
        yield tmp
        for f in tmp.rglob("*"):
            if f.is_file():
                _fsync_file(f)
                _readable(f)
        _fsync_dir(tmp)
        if not path.exists():
            os.rename(tmp, path)
        elif {e.name for e in path.iterdir()} <= {e.name for e in tmp.iterdir()}:
            if _exchange(tmp, path):
                old = tmp  # the swap put the previous folder here
            else:
                old = _temp_sibling(path, "old")
                os.rename(path, old)
                os.rename(tmp, path)
        else:
            _move_in_file_by_file(tmp, path)
        _fsync_dir(path.parent)
    finally:
        _remove(tmp)
        if old is not None:
            _remove(old)


# ---------------------------------------------------------------------------------------- checks
class OutputPathError(FileExistsError):
    """An output path that would overwrite one of the inputs, another output, or an existing file
    without ``--overwrite``."""


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        with contextlib.suppress(OSError):
            return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_output_paths(
    outputs: Sequence[StrPath],
    *,
    inputs: Sequence[StrPath] = (),
    overwrite: bool = False,
    flag: str = "--overwrite",
) -> None:
    """Raise :class:`OutputPathError` unless every output may be written.

    An output may never be one of the ``inputs`` (compared as files: resolved paths, and
    ``os.path.samefile`` where both exist) nor another output; it may be an existing file only
    with ``overwrite`` (the error names ``flag``, the option that sets it).
    """
    outs = [Path(o) for o in outputs]
    for o in outs:
        for i in inputs:
            if _same_file(o, Path(i)):
                raise OutputPathError(
                    f"output {str(o)!r} is the input {str(i)!r}: writing it would destroy the "
                    "input; choose another output path"
                )
    for k, o in enumerate(outs):
        for other in outs[:k]:
            if _same_file(o, other):
                raise OutputPathError(
                    f"two outputs of this command are the same file, {str(other)!r} and "
                    f"{str(o)!r}; choose another output path"
                )
    if not overwrite:
        existing = [str(o) for o in outs if o.exists() or o.is_symlink()]
        if existing:
            raise OutputPathError(
                f"{', '.join(repr(e) for e in existing)} already exist"
                f"{'s' if len(existing) == 1 else ''}; pass {flag} to replace "
                f"{'it' if len(existing) == 1 else 'them'}, or choose another path"
            )


def check_cli_outputs(
    prog: str,
    outputs: Sequence[StrPath],
    *,
    inputs: Sequence[StrPath] = (),
    overwrite: bool = False,
    flag: str = "--overwrite",
) -> None:
    """:func:`check_output_paths` for a command-line tool: SystemExit naming ``prog``."""
    try:
        check_output_paths(outputs, inputs=inputs, overwrite=overwrite, flag=flag)
    except OutputPathError as err:
        raise SystemExit(f"{prog}: {err}") from None


_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def refuse_urls(path: StrPath, what: str = "checkpoint") -> str:
    """``str(path)``, or ValueError when it is a URL (``http://``, ``s3://``, ...).

    Checkpoint loaders (Lightning's among them) fetch URLs and unpickle what comes back; a
    checkpoint is read from a local file only.
    """
    s = os.fspath(path)
    if isinstance(s, bytes):
        s = os.fsdecode(s)
    if _URL.match(s):
        raise ValueError(
            f"{what} {s!r} is a URL; only local files are read (a downloaded checkpoint could run "
            "code when unpickled). Download it yourself, check it, and pass the local path."
        )
    return s


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
