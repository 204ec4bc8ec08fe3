"""Reading ``.npy`` files and ``.npz`` members without trusting their headers.

``numpy.load`` allocates whatever shape a header declares (a 130-byte ``.npy`` can ask for
37 GiB) and decompresses a whole ``.npz`` member before anyone sees its shape. Here the header
is read first and checked by the caller (``check(shape, dtype)`` returns a problem or None);
only then are exactly ``prod(shape) * itemsize`` bytes read, so memory is bounded by what the
caller accepts, never by the file. Object arrays (pickles) are refused before any data is read.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npformat

from xaigen.errors import InputError

MAX_NPZ_MEMBERS = 10_000
Check = Callable[[tuple, np.dtype], "str | None"]
_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError)


def _header(fp: BinaryIO) -> tuple[tuple, bool, np.dtype]:
    version = npformat.read_magic(fp)
    if version == (1, 0):
        return npformat.read_array_header_1_0(fp)
    if version == (2, 0):
        return npformat.read_array_header_2_0(fp)
    raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")


def read_array(fp: BinaryIO, check: Check, source: str | Path, where: str | None = None) -> np.ndarray:
    """The array in the ``.npy`` stream ``fp``, after ``check`` accepted its header."""
    try:
        shape, fortran, dtype = _header(fp)
    except _READ_ERRORS as exc:
        raise InputError(source, f"not a readable .npy array ({exc})", where) from None
    if dtype.hasobject:
        raise InputError(source, f"holds Python objects (dtype {dtype}); only plain arrays are read", where)
    problem = check(shape, dtype)
    if problem:
        raise InputError(source, problem, where)
    nbytes = math.prod(shape) * dtype.itemsize
    try:
        data = fp.read(nbytes)
        trailing = fp.read(1)  # reaching the end also makes zipfile verify the member's CRC
    except _READ_ERRORS as exc:
        raise InputError(source, f"cannot be read ({exc})", where) from None
    if len(data) != nbytes:
        raise InputError(source, f"truncated: {len(data)} bytes of data, the header declares {nbytes}", where)
    if trailing:
        raise InputError(source, f"has data after the {nbytes} bytes its header declares", where)
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return array.copy()


def read_npy(path: Path, check: Check) -> np.ndarray:
    """The array of a ``.npy`` file, header checked before any allocation."""
    try:
        with path.open("rb") as fp:
            return read_array(fp, check, path)
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None


def npz_members(path: Path, check: Check) -> Iterator[tuple[str, np.ndarray]]:
    """``(name, array)`` for each member of a ``.npz`` file, every header checked before reading."""
    try:
        archive = zipfile.ZipFile(path)
    except _READ_ERRORS as exc:
        raise InputError(path, f"not a readable .npz file ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_NPZ_MEMBERS:
            raise InputError(path, f"has {len(infos)} members, at most {MAX_NPZ_MEMBERS} are read")
        for info in infos:
            if not info.filename.endswith(".npy") or info.is_dir():
                raise InputError(path, "is not a .npy array", f"member '{info.filename}'")
            key = info.filename[:-4]
            try:
                with archive.open(info) as fp:
                    yield key, read_array(fp, check, path, key)
            except _READ_ERRORS as exc:
                raise InputError(path, f"array '{key}' cannot be read ({exc})") from None
