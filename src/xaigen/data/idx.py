"""Reader for the IDX format of (Fashion-)MNIST (LeCun), plain or gzip-compressed.

Layout: 2 zero bytes, a type byte (0x08 = uint8), the number of dimensions, then one big-endian
uint32 per dimension, then the data in C order.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from xaigen.errors import InputError

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` is decompressed)."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(path, f"cannot read IDX file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise InputError(path, "not an IDX file (expected magic 0x0000 and a known type byte)", "byte 0")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(path, f"truncated header: {ndim} dimensions need {header} bytes", "header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_TYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise InputError(path, f"has {len(raw)} bytes, expected {expected} for shape {shape}", "data")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
