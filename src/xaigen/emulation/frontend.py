"""Vectorized quantize-and-lookup front end of the int8 kernels.

One pass over a float32 activation tensor computes, for every element ``x`` and factor ``r``,

    q = clamp(rint(x / s) + z, qmin, qmax)          (the layer's 8-bit code, as :func:`quantize`)
    out[..., c * R + r] = table[q - vmin, r]        (the factor ``u_r(q)`` as an unsigned byte)

and writes it channels-last (``[N, H, W, C * R]``), the layout oneDNN's int8 convolution reads
without a reorder. Convolution inputs are written into a pre-padded buffer whose border holds
``table[pad_code - vmin, r]``, so padding is exact for any zero-point and any factor. IEEE float32
division and round-half-to-even equal ``torch.round(x / s)``; codes that are already integers
pass through unchanged with ``s = 1, z = 0``.
"""

from __future__ import annotations

import numba
import numpy as np
import torch


@numba.njit(parallel=True, cache=True, nogil=True)
def _lookup_rows(x, scale, zero, qmin, qmax, vmin, table, out):  # pragma: no cover - compiled
    """x float32[P, C] (channels last) -> out uint8[P, C * R]; flat, branch-free inner loop."""
    positions, channels = x.shape
    rank = table.shape[1]
    for p in numba.prange(positions):
        for c in range(channels):
            q = min(max(np.rint(x[p, c] / scale) + zero, qmin), qmax)
            row = int(q) - vmin
            for r in range(rank):
                out[p, c * rank + r] = table[row, r]


@numba.njit(parallel=True, cache=True, nogil=True)
def _lookup_planes(x, scale, zero, qmin, qmax, vmin, table, out, top, left):  # pragma: no cover
    """x float32[N, C, H, W] (contiguous planes) -> out uint8[N, H + 2 top, W + 2 left, C * R]."""
    n_size, channels, height, width = x.shape
    rank = table.shape[1]
    for nc in numba.prange(n_size * channels):
        n, c = nc // channels, nc % channels
        for i in range(height):
            for j in range(width):
                q = min(max(np.rint(x[n, c, i, j] / scale) + zero, qmin), qmax)
                row = int(q) - vmin
                for r in range(rank):
                    out[n, i + top, j + left, c * rank + r] = table[row, r]


@numba.njit(parallel=True, cache=True, nogil=True)
def _lookup_nhwc(x, scale, zero, qmin, qmax, vmin, table, out, top, left):  # pragma: no cover
    """x float32[N, H, W, C] (channels-last storage) -> out uint8[N, H + 2 top, W + 2 left, C * R]."""
    n_size, height, width, channels = x.shape
    rank = table.shape[1]
    for ni in numba.prange(n_size * height):
        n, i = ni // height, ni % height
        for j in range(width):
            for c in range(channels):
                q = min(max(np.rint(x[n, i, j, c] / scale) + zero, qmin), qmax)
                row = int(q) - vmin
                for r in range(rank):
                    out[n, i + top, j + left, c * rank + r] = table[row, r]


@numba.njit(parallel=True, cache=True, nogil=True)
def _fill_border(out, pad_row, top, left):  # pragma: no cover - compiled
    """Write ``pad_row`` (uint8[C * R]) into every border position of ``out`` [N, Hp, Wp, C * R]."""
    n_size, height, width, _ = out.shape
    for ni in numba.prange(n_size * height):
        n, i = ni // height, ni % height
        inner_row = top <= i < height - top
        for j in range(width):
            if inner_row and left <= j < width - left:
                continue
            out[n, i, j, :] = pad_row


def _as_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().numpy()


def lookup_conv_input(x: torch.Tensor, scale: float, zero: int, code_range: tuple[int, int], vmin: int,
                      table: np.ndarray, padding: tuple[int, int], pad_code: int) -> torch.Tensor:
    """Padded, factor-stacked uint8 input [N, C * R, H + 2 top, W + 2 left] in channels-last memory.

    ``x`` is float32 [N, C, H, W] (contiguous or channels-last); ``table`` uint8[256, R] is indexed
    by ``code - vmin``; the border holds ``table[pad_code - vmin]`` (the layer pads with that code).
    """
    n, c, h, w = x.shape
    rank = table.shape[1]
    top, left = padding
    out = np.empty((n, h + 2 * top, w + 2 * left, c * rank), dtype=np.uint8)
    args = (np.float32(scale), np.float32(zero), np.float32(code_range[0]), np.float32(code_range[1]), vmin, table)
    if x.dtype != torch.float32:
        x = x.to(torch.float32)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        _lookup_nhwc(_as_numpy(x.permute(0, 2, 3, 1)), *args, out, top, left)
    else:
        _lookup_planes(_as_numpy(x.contiguous()), *args, out, top, left)
    if top or left:
        _fill_border(out, np.ascontiguousarray(np.tile(table[pad_code - vmin], c)), top, left)
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def lookup_rows(x: torch.Tensor, scale: float, zero: int, code_range: tuple[int, int], vmin: int,
                table: np.ndarray) -> torch.Tensor:
    """Factor-stacked uint8 rows [M, K * R] of a float32 matrix ``x`` [M, K] (column ``k * R + r``)."""
    x = x.detach().to(torch.float32).contiguous()
    out = np.empty((x.shape[0], x.shape[1] * table.shape[1]), dtype=np.uint8)
    _lookup_rows(_as_numpy(x), np.float32(scale), np.float32(zero), np.float32(code_range[0]),
                 np.float32(code_range[1]), vmin, table, out)
    return torch.from_numpy(out)
