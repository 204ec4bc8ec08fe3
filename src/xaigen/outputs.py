"""The output directory of a job: checked before any work, locked while a job writes into it.

A job writes only into its ``--out`` directory. Before the long work starts we refuse what would
make it fail late or write somewhere else: a path under a file, a dangling or looping symbolic
link, an unwritable directory, an output name that is a directory or a symbolic link (writing
through a link would change a file outside ``--out``). While the job runs it holds an exclusive
lock on ``<out>/.xaigen.lock``, so a second job on the same directory stops at once instead of
corrupting the first one's study.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from xaigen.errors import InputError

RUN_OUTPUTS = ("results.json", "report.html", "run.log", "optuna.db")
NAS_OUTPUTS = ("nas.json", "nas.html", "run.log", "nas.db")
REPORT_OUTPUTS = ("report.html", "nas.html")  # xaigen report
REPORT_FOLDERS = ("figures", "tables")  # every report's PNG + SVG figures and CSV tables
LOCK_NAME = ".xaigen.lock"
COMPLETED_NAMES = ("results.json", "nas.json")  # a completed job's (or seed's) results


def check_output_dir(out: Path, outputs: Iterable[str], folders: Iterable[str] = REPORT_FOLDERS) -> None:
    """Raise :class:`InputError` unless ``out`` can be created or written, its output names
    are plain files or absent, and its output folders are plain directories (not links) or absent."""
    out = Path(out)
    try:
        _check_output_dir(out, outputs, folders)
    except OSError as exc:  # a name too long, a file system that refuses it (/proc): one line, not a traceback
        raise InputError(out, f"cannot use it as the output directory ({exc.strerror or exc})") from None


def _check_output_dir(out: Path, outputs: Iterable[str], folders: Iterable[str]) -> None:
    if out.is_symlink() and not out.exists():
        try:
            out.resolve(strict=True)
        except RuntimeError:
            raise InputError(out, "output directory is a symbolic link loop") from None
        except OSError:
            raise InputError(out, "output directory is a dangling symbolic link") from None
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(out, f"cannot create the output directory: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(out, "output directory is not writable")
    for name in (*outputs, LOCK_NAME):
        path = out / name
        if path.is_symlink():
            raise InputError(path, "is a symbolic link; refusing to write through it")
        if path.exists() and not path.is_file():
            raise InputError(path, "exists and is not a regular file")
    for name in folders:
        path = out / name
        if path.is_symlink():
            raise InputError(path, "is a symbolic link; refusing to write through it")
        if path.exists() and not path.is_dir():
            raise InputError(path, "exists and is not a directory")


@contextmanager
def locked_output_dir(out: Path, outputs: Iterable[str] = ()) -> Iterator[Path]:
    """Create ``out`` and hold its lock for the duration; a held lock is an :class:`InputError`.

    If the job stops on bad input (:class:`InputError`) before it completed any result, what it
    created goes again: in a directory it created, its outputs, lock, report folders and
    ``seed-<k>`` folders, then the directory if that leaves it empty; in an existing directory,
    those of ``outputs`` that were absent (the lock file stays: removing it would let two later
    jobs lock two different files). Completed results (``results.json`` or ``nas.json``, also a
    seed's when a later seed fails) and any other stop (a kill, an interrupt) keep everything, for
    the job to resume."""
    out = Path(out)
    created_dir = not out.exists()
    absent = [name for name in outputs if not (out / name).exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        raise InputError(out, f"cannot create the output directory ({exc.strerror or exc})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                fd = -1
                raise InputError(out, "another xaigen job is writing into this output directory") from None
            raise
        yield out
    except InputError:
        if fd >= 0:
            _remove_created(out, created_dir, absent)
        raise
    finally:
        if fd >= 0:
            os.close(fd)  # closing releases the lock


def _remove_created(out: Path, created_dir: bool, absent: list[str]) -> None:
    """Undo what a job that stopped on bad input created in ``out`` (best effort: it only tidies)."""
    completed = [out / name for name in COMPLETED_NAMES] + [p / "results.json" for p in out.glob("seed-*")]
    if any(path.exists() for path in completed):
        return
    names = list(absent)
    if created_dir:  # the lock file goes only with a directory the job made (see locked_output_dir)
        names += [LOCK_NAME, *REPORT_FOLDERS, *(p.name for p in out.glob("seed-*"))]
    for name in names:
        path = out / name
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
    if created_dir:
        try:
            out.rmdir()  # only if nothing else (another job's folder, say) is in it
        except OSError:
            pass
