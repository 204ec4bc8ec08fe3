"""Small shared helpers: value-ordered product tables and convolution output sizes."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from xaigen.multipliers.multiplier import Multiplier


def value_ordered_table(multiplier: Multiplier) -> np.ndarray:
    """int32[256, 256] table indexed by ``value - vmin`` on both axes (vmin = -128 or 0)."""
    return _value_ordered(multiplier.signed, multiplier.table.tobytes())


@lru_cache(maxsize=64)
def _value_ordered(signed: bool, table_bytes: bytes) -> np.ndarray:
    table = np.frombuffer(table_bytes, dtype=np.int32).reshape(256, 256)
    order = np.arange(256)
    if signed:
        order = (order + 128) % 256  # value-ordered index i -> bit pattern of value i - 128
    out = np.ascontiguousarray(table[np.ix_(order, order)])
    out.setflags(write=False)
    return out


def vmin(multiplier: Multiplier) -> int:
    """Smallest operand value: -128 (signed) or 0 (unsigned)."""
    return -128 if multiplier.signed else 0


def conv_output_size(size: int, kernel: int, stride: int, dilation: int) -> int:
    """Output length of a convolution over an (already padded) input of length ``size``."""
    return (size - dilation * (kernel - 1) - 1) // stride + 1
