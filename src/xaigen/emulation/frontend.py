"""Vectorized quantize-and-lookup front end of the int8 kernels.

One pass over a float32 activation tensor computes, for every element ``x`` and factor ``r``,

    q = clamp(rint(x / s) + z, qmin, qmax)          (the layer's 8-bit code, as :func:`quantize`)
    out[..., c * R + r] = table[q - vmin, r]        (the factor ``u_r(q)`` as an unsigned byte)

and writes it channels-last (``[N, H, W, C * R]``), the layout oneDNN's int8 convolution reads
without a reorder. Convolution inputs are written into a pre-padded buffer whose border holds
``table[pad_code - vmin, r]``, so padding is exact for any zero-point and any factor. IEEE float32
division and round-half-to-even equal ``torch.round(x / s)``; codes that are already integers
pass through unchanged with ``s = 1, z = 0``.

A convolution's stacked input (R bytes per activation: 21 MB for one of ResNet-20's 16-channel
layers at rank 5 and batch 256) can go to a per-thread scratch buffer that is reused from layer
to layer (``scratch=True``), because a fresh array of that size costs a page fault, and the
kernel's zeroing of the page, on every 4 KiB first touched. Measured on ResNet-20 with
``mul8s_1KVA`` (rank 5, batch 256, 2 threads, interleaved in one process): a forward's median
263-268 ms against 293-309 ms with fresh arrays in 3 of 4 comparisons, 345 against 333 ms in the
fourth (``benchmarks/results/emulation-2026-11-28-amd-avx512vnni-ab-scratch-inprocess.txt``).
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache

import numba
import numpy as np
import torch

from xaigen.emulation.native import gather_library, run_kernel


@numba.njit(parallel=True, cache=True, nogil=True)
def _lookup_flat(x, scale, zero, qmin, qmax, vmin, table, out, rows_in, rows_out, top, offset):  # pragma: no cover
    """x float32[N * rows_in, L] -> out uint8[N * rows_out, ...]: row ``n * rows_in + i`` lands in
    row ``n * rows_out + top + i`` from column ``offset`` on, element ``e`` at ``e * R + r``.

    Two passes per row: the codes (a branch-free loop that vectorizes), then the table lookup.
    """
    rows, length = x.shape
    rank = table.shape[1]
    for p in numba.prange(rows):
        src = x[p]
        dst = out[(p // rows_in) * rows_out + top + p % rows_in]
        index = np.empty(length, dtype=np.int32)
        for e in range(length):
            index[e] = np.int32(min(max(np.rint(src[e] / scale) + zero, qmin), qmax)) - vmin
        if rank == 1:
            for e in range(length):
                dst[offset + e] = table[index[e], 0]
        else:
            for e in range(length):
                for r in range(rank):
                    dst[offset + e * rank + r] = table[index[e], r]


@numba.njit(parallel=True, cache=True, nogil=True)
def _fill_border(out, pad_row, top, left):  # pragma: no cover - compiled
    """Write ``pad_row`` (uint8[C * R]) into every border position of ``out`` [N, Hp, Wp, C * R]."""
    n_size, height, width, _ = out.shape
    for ni in numba.prange(n_size * height):
        n, i = ni // height, ni % height
        if i < top or i >= height - top:
            for j in range(width):
                out[n, i, j, :] = pad_row
        else:
            for j in range(left):
                out[n, i, j, :] = pad_row
                out[n, i, width - 1 - j, :] = pad_row


def _as_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().numpy()


WORDS = {2: np.uint16, 4: np.uint32, 8: np.uint64}


@lru_cache(maxsize=64)
def _table8(table_bytes: bytes, rank: int) -> np.ndarray:
    """The factor bytes uint8[256, R] with every row zero-padded to 8 bytes (16 for R > 8: one word per code)."""
    table = np.frombuffer(table_bytes, dtype=np.uint8).reshape(256, rank)
    return np.ascontiguousarray(np.pad(table, ((0, 0), (0, (8 if rank <= 8 else 16) - rank))))


def _lookup(rows: np.ndarray, scale, zero, code_range, vmin, table, out2d, rows_in, rows_out, top, offset,
            border: np.ndarray | None = None) -> bool:
    """The C front end (one 8- or 16-byte word per code, any R <= 16, rows split over torch's threads), else
    the numba kernel; there, for R = 2, 4, 8 the R bytes of a code move as ONE 16/32/64-bit word.
    ``border`` (the padding bytes of one whole output row): the C kernel also writes the padding,
    each thread that of its own rows. Returns whether it wrote the padding given (False: the caller
    still has ``border`` to write; without a ``border`` the answer does not matter)."""
    rank = table.shape[1]
    lib = gather_library()
    if lib is not None and rank <= 16:
        table8 = _table8(table.tobytes(), rank)
        args = (rows.shape[1], rows_in, rows_out, top, offset, out2d.shape[1], float(scale), float(zero),
                float(code_range[0]), float(code_range[1]), float(vmin), table8.ctypes.data, rank, out2d.ctypes.data,
                None if border is None else border.ctypes.data)
        run_kernel("xaigen_lookup_rows", (rows.ctypes.data,), rows.shape[0], args, work=rows.size)
        return rows.shape[0] > 0  # no input row, no thread: the padding is all that is left to write
    if rank in WORDS:
        table, out2d, offset = table.view(WORDS[rank]), out2d.view(WORDS[rank]), offset // rank
    _lookup_flat(rows, np.float32(scale), np.float32(zero), np.float32(code_range[0]), np.float32(code_range[1]),
                 vmin, table, out2d, rows_in, rows_out, top, offset)
    return False


_SCRATCH = threading.local()


def _scratch(shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 array of ``shape`` in this thread's scratch buffer, grown (never shrunk) to the
    largest size asked for; it is overwritten by this thread's next call."""
    size = math.prod(shape)
    buffer = getattr(_SCRATCH, "buffer", None)
    if buffer is None or buffer.size < size:
        buffer = _SCRATCH.buffer = np.empty(size, dtype=np.uint8)
    return buffer[:size].reshape(shape)


def lookup_conv_input(x: torch.Tensor, scale: float, zero: int, code_range: tuple[int, int], vmin: int,
                      table: np.ndarray, padding: tuple[int, int], pad_code: int,
                      scratch: bool = False) -> torch.Tensor:
    """Padded, factor-stacked uint8 input [N, C * R, H + 2 top, W + 2 left] in channels-last memory.

    ``x`` is float32 [N, C, H, W] (contiguous or channels-last); ``table`` uint8[256, R] is indexed
    by ``code - vmin``; the border holds ``table[pad_code - vmin]`` (the layer pads with that code).
    ``scratch``: the result lives in this thread's scratch buffer (module doc), valid only until
    this thread's next ``scratch=True`` call: for a caller that consumes it at once.
    """
    n, c, h, w = x.shape
    rank = table.shape[1]
    top, left = padding
    shape = (n, h + 2 * top, w + 2 * left, c * rank)
    out = _scratch(shape) if scratch else np.empty(shape, dtype=np.uint8)
    # no copy when x already is channels-last, as the outputs of the int8 layers are
    rows = x.detach().to(torch.float32).permute(0, 2, 3, 1).contiguous().reshape(n * h, w * c)
    pixel = np.ascontiguousarray(np.tile(table[pad_code - vmin], c))  # one padding position's C * R bytes
    border = np.tile(pixel, w + 2 * left) if top or left else None
    padded = _lookup(_as_numpy(rows), scale, zero, code_range, vmin, np.ascontiguousarray(table),
                     out.reshape(n * (h + 2 * top), (w + 2 * left) * c * rank), h, h + 2 * top, top, left * c * rank,
                     border)
    if border is not None and not padded:
        _fill_border(out, pixel, top, left)
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def lookup_rows(x: torch.Tensor, scale: float, zero: int, code_range: tuple[int, int], vmin: int,
                table: np.ndarray) -> torch.Tensor:
    """Factor-stacked uint8 rows [M, K * R] of a float32 matrix ``x`` [M, K] (column ``k * R + r``)."""
    x = x.detach().to(torch.float32).contiguous()
    out = np.empty((x.shape[0], x.shape[1] * table.shape[1]), dtype=np.uint8)
    _lookup(_as_numpy(x), scale, zero, code_range, vmin, np.ascontiguousarray(table), out, 1, 1, 0, 0)
    return torch.from_numpy(out)
