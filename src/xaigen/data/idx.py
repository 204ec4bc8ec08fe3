"""Reader for the IDX format of (Fashion-)MNIST (LeCun), plain or gzip-compressed.

Layout: 2 zero bytes, a type byte (0x08 = uint8), the number of dimensions, then one big-endian
uint32 per dimension, then the data in C order.

The header is read first and the declared size ``prod(shape) * itemsize`` (exact integer
arithmetic, no overflow) is checked against :data:`MAX_DATA_BYTES` and, for a plain file, its
size on disk, before any data is read. A ``.gz`` file is decompressed as a stream and only the
declared number of bytes is ever held, so a decompression bomb cannot exhaust memory.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from xaigen.errors import InputError
from xaigen.fileio import require_file

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MAX_DATA_BYTES = 512 * 2**20  # Fashion-MNIST's largest file holds 47 MB
_READ_ERRORS = (OSError, EOFError, zlib.error)  # gzip.BadGzipFile is an OSError


def _read_exactly(stream, n: int, path: Path, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise InputError(path, f"truncated: {what} needs {n} bytes, the file has {len(data)}", what)
    return data


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` is decompressed)."""
    path = require_file(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as stream:
            return _read_stream(stream, path)
    except _READ_ERRORS as exc:
        raise InputError(path, f"cannot read IDX file ({exc})") from None


def _read_stream(stream, path: Path) -> np.ndarray:
    magic = stream.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _TYPES:
        raise InputError(path, "not an IDX file (expected magic 0x0000 and a known type byte)", "byte 0")
    ndim = magic[3]
    dims = _read_exactly(stream, 4 * ndim, path, "header")
    shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
    dtype = np.dtype(_TYPES[magic[2]])
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_DATA_BYTES:
        raise InputError(path, f"header declares shape {shape}: {nbytes} bytes, more than the "
                         f"{MAX_DATA_BYTES} an IDX data set may hold", "header")
    if path.suffix != ".gz" and path.stat().st_size != 4 + 4 * ndim + nbytes:
        raise InputError(path, f"has {path.stat().st_size} bytes, expected {4 + 4 * ndim + nbytes} "
                         f"for shape {shape}", "data")
    data = _read_exactly(stream, nbytes, path, "data")
    if stream.read(1):
        raise InputError(path, f"has more data than the {nbytes} bytes its header declares for shape {shape}", "data")
    return np.frombuffer(data, dtype=dtype).reshape(shape)
