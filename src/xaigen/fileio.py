"""File input and output at the boundary.

* Outputs are atomic: a result file is either complete or absent, never half-written (a full
  disk leaves the old file, or nothing, plus no temporary).
* Outputs never follow a symbolic link at the destination: a link placed where a result goes
  is refused, not written through (it could point anywhere the user can write).
* New files get the permissions the user's umask gives any file they create (``0666 & ~umask``),
  not the ``0600`` of a temporary file.
* Inputs that are not regular files are named for what they are (a directory, a FIFO, a broken
  link), and are never opened (reading a FIFO would block forever).
* A JSON input that names a key twice is refused (``json`` would keep the last silently).
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from xaigen.errors import InputError


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def require_file(path: str | Path) -> Path:
    """``path`` if it is (a link to) a regular file; otherwise an :class:`InputError` saying what it is."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        problem = "is a broken symbolic link" if path.is_symlink() else "no such file"
        raise InputError(path, problem) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(path, "is a symbolic link loop") from None
        if exc.errno == errno.ENOTDIR:
            raise InputError(path, "no such file (a parent is not a directory)") from None
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise InputError(path, f"is {_kind(mode)}, expected a file")
    return path


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    seen: set[str] = set()
    repeated: set[str] = set()
    for key, _ in pairs:  # one pass: a file may hold many keys
        if key in seen:
            repeated.add(key)
        seen.add(key)
    if repeated:
        raise ValueError(f"key {', '.join(map(repr, sorted(repeated)))} given more than once")
    return dict(pairs)


def loads_json_input(text: str, **kwargs: Any) -> Any:
    """``json.loads`` for a user's file: a key given twice in one object raises ``ValueError``."""
    return json.loads(text, object_pairs_hook=_unique_keys, **kwargs)


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (no window for other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _check_destination(path: Path) -> None:
    try:
        _check_writable_name(path)
    except OSError as exc:  # e.g. a name too long for the file system
        raise InputError(path, f"cannot write it ({exc.strerror or exc})") from None


def _check_writable_name(path: Path) -> None:
    if path.is_symlink():
        raise InputError(path, "is a symbolic link; refusing to write through it")
    if path.is_dir():
        raise InputError(path, "is a directory; expected a file name")
    parent = next((p for p in path.parents if p.exists() or p.is_symlink()), None)
    if parent is not None and not parent.is_dir():
        raise InputError(path, f"cannot create it: {parent} is not a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(path.parent, f"cannot create the directory ({exc.strerror or exc})") from None
    if not path.parent.is_dir():
        raise InputError(path.parent, "is not a directory")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``.

    The temporary file lives in the destination directory so the rename is atomic on POSIX;
    it gets the umask's permissions before the rename. Any failure (disk full, permission)
    removes it and raises :class:`InputError` naming ``path``.
    """
    path = Path(path)
    _check_destination(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(path.parent, f"cannot write here ({exc.strerror or exc})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(path, f"cannot write ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def open_append(path: str | Path) -> IO[str]:
    """``path`` opened for appending text (a log), created with the umask's permissions if absent.

    A symbolic link at ``path`` is refused (``O_NOFOLLOW``), never followed.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     0o666)  # O_NONBLOCK: a FIFO without a reader fails instead of blocking
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(path, "is a symbolic link; refusing to write through it") from None
        raise InputError(path, f"cannot write ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(path, "is not a regular file")
    return os.fdopen(fd, "a", encoding="utf-8")

