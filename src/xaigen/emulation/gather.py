"""Table-gather convolution for high-rank tables: ``acc[n, o, p] = sum_k T[a_k(p), w_k(o)]``.

First choice is the C kernel of :mod:`.native` (``csrc/gather.c``): with AVX-512BW it keeps the
table column ``T[:, w]`` of one weight in eight registers (256 int16; tables beyond int16 are
stored minus 32768 and the offset is added back) and looks up 32 activation codes per
``vpermt2w`` step. Images are put side by side in blocks of at least ``MIN_POSITIONS`` output
positions, so a column loaded into registers serves a long run even on 8x8 feature maps. The
layers feed it from :func:`quantize_pad` (quantize and pad in one C pass, no float codes) and let
it add the zero-point corrections ``coef[o] * sum_k a_k + bias[o]`` itself, in int32. It runs on
images split over ``torch.get_num_threads()`` threads: torch's own OpenMP workers where the library
shares torch's runtime (:func:`.native.shares_torch_openmp`), each with its own column buffer,
else a pool of Python threads (the GIL is released in the call). The numba kernel below is the
fallback.

Numba fallback loop order (per image, in parallel over images): a per-image im2col of the byte codes
``cols[k, p]`` (at most a few hundred KiB, L2-resident); then, for a tile of ``TILE`` output
positions and each output channel ``o``, the accumulator tile stays in a local array while ``k``
runs: the table *column* of the weight ``w_k(o)``, ``T[:, w]`` (256 int32 = 1 KiB, contiguous in the
transposed table), is gathered by the contiguous activation codes ``cols[k, tile]``. The inner loop
is a plain indexed gather over consecutive positions, which LLVM turns into AVX-512/AVX2 gathers.

Accumulators are int32: exact while ``K * max|T| < 2^31`` (checked by :func:`fits_int32`).
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
import torch

from xaigen.emulation import native
from xaigen.emulation.native import gather_library, run_kernel, run_split, workers_for

TILE = 512  # output positions per accumulator tile (2 KiB of int32)
MIN_POSITIONS = 512  # the C kernel puts ceil(512 / (Ho * Wo)) images side by side in one block


@numba.njit(cache=True, nogil=True)
def _im2col(codes, n, group, cin_g, kh, kw, stride, dilation, ho, wo, cols):  # pragma: no cover
    """cols[k, i * wo + j] = codes[n, group * cin_g + c, i * sh + di * dh, j * sw + dj * dw]."""
    for c in range(cin_g):
        for di in range(kh):
            for dj in range(kw):
                k = (c * kh + di) * kw + dj
                for i in range(ho):
                    src = codes[n, group * cin_g + c, i * stride[0] + di * dilation[0]]
                    base = i * wo
                    for j in range(wo):
                        cols[k, base + j] = src[j * stride[1] + dj * dilation[1]]


@numba.njit(parallel=True, cache=True, nogil=True)
def _gather_conv(codes, weights, table_t, kernel, stride, dilation, groups, out_hw, out):  # pragma: no cover
    """codes uint8[N, C, Hp, Wp] and weights uint8[O, Cin_g * kh * kw] (value-ordered indices, input
    already padded), table_t int32[256 (w), 256 (a)], out int32[N, O, Ho * Wo]."""
    n_size = codes.shape[0]
    o_size, k_size = weights.shape
    cin_g = codes.shape[1] // groups
    ho, wo = out_hw
    length = ho * wo
    og = o_size // groups
    for n in numba.prange(n_size):
        cols = np.empty((k_size, length), dtype=np.uint8)
        acc = np.empty(TILE, dtype=np.int32)
        for g in range(groups):
            _im2col(codes, n, g, cin_g, kernel[0], kernel[1], stride, dilation, ho, wo, cols)
            _gather_tiles(cols, weights, table_t, g * og, (g + 1) * og, length, acc, out[n])


@numba.njit(cache=True, nogil=True)
def _gather_tiles(cols, weights, table_t, o_first, o_last, length, acc, out):  # pragma: no cover
    """out[o, p] = sum_k table_t[weights[o, k], cols[k, p]] for o in [o_first, o_last), tile by tile."""
    k_size = cols.shape[0]
    for start in range(0, length, TILE):
        stop = min(start + TILE, length)
        for o in range(o_first, o_last):
            acc[:] = 0
            for k in range(k_size):
                column = table_t[weights[o, k]]
                codes_k = cols[k, start:stop]
                for p in range(stop - start):
                    acc[p] += column[codes_k[p]]
            out[o, start:stop] = acc[: stop - start]


@numba.njit(parallel=True, cache=True, nogil=True)
def _im2col_batch(codes, group, cin_g, kernel, stride, dilation, out_hw, cols):  # pragma: no cover
    """cols[n] = the im2col of image n (see :func:`_im2col`), images in parallel."""
    for n in numba.prange(codes.shape[0]):
        _im2col(codes, n, group, cin_g, kernel[0], kernel[1], stride, dilation, out_hw[0], out_hw[1], cols[n])


@lru_cache(maxsize=64)
def _transposed(table_bytes: bytes) -> np.ndarray:
    table = np.frombuffer(table_bytes, dtype=np.int32).reshape(256, 256)
    return np.ascontiguousarray(table.T)


def fits_int32(table: np.ndarray, fan_in: int) -> bool:
    """Whether every partial sum of ``fan_in`` table entries fits int32."""
    return fan_in * int(np.abs(table).max()) < 2**31


@lru_cache(maxsize=64)
def _int16_table(table_bytes: bytes) -> tuple[np.ndarray | None, int]:
    """The transposed table as int16 (minus 32768 where it only fits uint16), or (None, 0)."""
    table_t = _transposed(table_bytes)
    low, high = int(table_t.min()), int(table_t.max())
    if low >= -(2**15) and high < 2**15:
        return table_t.astype(np.int16), 0
    if low >= 0 and high < 2**16:
        return (table_t - 2**15).astype(np.int16), 2**15
    return None, 0


def _native_conv(lib, codes: np.ndarray, weights: np.ndarray, table_bytes: bytes, geometry: np.ndarray,
                 out: np.ndarray, corrections: tuple[np.ndarray, np.ndarray] | None) -> None:
    """The C kernel (im2col per image into a per-thread buffer, then the gather) over all images,
    split into one contiguous range per torch thread; ``weights`` are one group's [og, K];
    ``corrections``: the group's (sum_coef, out_bias) int32 vectors or None."""
    table16, offset = _int16_table(table_bytes)
    table_t = _transposed(table_bytes)
    t16 = table16.ctypes.data if table16 is not None else None
    coef, bias = (c.ctypes.data for c in corrections) if corrections is not None else (None, None)
    col_bytes = weights.shape[1] * int(geometry[10] * geometry[11]) * int(geometry[15])

    args = (geometry.ctypes.data, weights.ctypes.data, weights.shape[0], t16, offset, table_t.ctypes.data, coef, bias)
    if native.openmp_threads():
        workers = workers_for(codes.shape[0])
        cols = np.empty(workers * col_bytes, dtype=np.uint8)  # one block per thread (csrc/gather.c)
        lib.xaigen_gather_conv_all(codes.ctypes.data, codes.shape[0], workers, *args, cols.ctypes.data, col_bytes,
                                   out.ctypes.data)
        return

    def run(first: int, last: int) -> None:
        cols = np.empty(col_bytes, dtype=np.uint8)
        lib.xaigen_gather_conv(codes.ctypes.data, first, last, *args, cols.ctypes.data, out.ctypes.data)

    run_split(codes.shape[0], run)


def quantize_pad(x: torch.Tensor, scale: float, zero: int, code_range: tuple[int, int], vmin: int,
                 padding: tuple[int, int], pad_code: int) -> np.ndarray | None:
    """Value-ordered codes ``clamp(rint(x / s) + z) - vmin`` as uint8 [N, C, H + 2 top, W + 2 left],
    the border holding ``pad_code - vmin``, in one C pass (None without the compiled kernel)."""
    lib = gather_library()
    if lib is None:
        return None
    n, c, h, w = x.shape
    top, left = padding
    planes = np.ascontiguousarray(x.detach().to(torch.float32).numpy()).reshape(n * c, h, w)
    codes = np.empty((n, c, h + 2 * top, w + 2 * left), dtype=np.uint8)
    run_kernel("xaigen_quantize_pad", (planes.ctypes.data,), n * c,
               (h, w, top, left, scale, float(zero), float(code_range[0]), float(code_range[1]), float(vmin),
                pad_code - vmin, codes.ctypes.data), work=planes.size)
    return codes


def conv2d(codes: np.ndarray, weights: np.ndarray, table: np.ndarray, stride, dilation, groups: int,
           out_hw: tuple[int, int], corrections: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """int32[N, O, Ho * Wo] accumulators; ``codes`` uint8[N, C, Hp, Wp] (padded), ``weights``
    uint8[O, Cin_g, kh, kw], ``table`` int32[256, 256] value-ordered (row: activation). The caller
    checks :func:`fits_int32`. ``corrections`` = (sum_coef, out_bias), int32[O] each, adds
    ``sum_coef[o] * sum_k codes_k + out_bias[o]`` to every accumulator (C kernel only: the caller
    checks that :func:`gather_library` exists and that the corrected sums fit int32)."""
    o_size, cin_g, kh, kw = weights.shape
    n, length = codes.shape[0], out_hw[0] * out_hw[1]
    codes = np.ascontiguousarray(codes)
    flat_weights = np.ascontiguousarray(weights.reshape(o_size, -1))
    out = np.empty((n, o_size, length), dtype=np.int32)
    table_bytes = np.ascontiguousarray(table, dtype=np.int32).tobytes()
    lib = gather_library()
    if lib is None:
        assert corrections is None, "corrections need the compiled kernel"
        _gather_conv(codes, flat_weights, _transposed(table_bytes), (kh, kw), tuple(stride), tuple(dilation), groups,
                     tuple(out_hw), out)
        return out
    og = o_size // groups
    for g in range(groups):
        geometry = np.array([codes.shape[1], codes.shape[2], codes.shape[3], cin_g, kh, kw, *stride, *dilation,
                             *out_hw, g * cin_g, g * og, o_size, -(-MIN_POSITIONS // length)], dtype=np.int64)
        group_weights = np.ascontiguousarray(flat_weights[g * og : (g + 1) * og])
        part = None if corrections is None else \
            tuple(np.ascontiguousarray(c[g * og : (g + 1) * og], dtype=np.int32) for c in corrections)
        _native_conv(lib, codes, group_weights, table_bytes, geometry, out, part)
    return out
