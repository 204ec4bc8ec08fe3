"""Stalls of SCALE-Sim 2.0.2's double-buffered scratchpad (USER bandwidth), at the grain of its
prefetch sets instead of its addresses.

SCALE-Sim's read buffer (``scalesim/memory/read_buffer.py``) works on the operand's *fetch
sequence*: the im2col operand matrix, folded into blocks and flattened (anti-diagonals for the
streamed operand, rows for the stationary one; padding entries ``-1`` included), with every
repeated address kept. It cuts the sequence into ``L`` sets of ``E = ceil(size / 100)`` valid
entries. The active buffer is a window of ``A = ceil(size / 2 / E)`` consecutive sets (mod
``L``). A demanded address outside the window triggers a prefetch, which slides the window by
``P = min(ceil(size / 2 / E), L - A)`` sets and takes ``D + 1`` cycles, ``D = ceil(size / 2 /
bw)``, started right after the previous prefetch; the first window is filled before cycle 0. So
the ``e``-th prefetch of an operand completes at ``T_e = -1 + e (D + 1)`` and, if it is triggered
by the demand of (stall-free) line ``i_e``, the layer is late by ``T_e - i_e - 1`` from then on:

    stalls = max(0, max over both read operands and their prefetches e of (T_e - i_e - 1))

When the sequence fits the active window (``L <= A``) there is no prefetch. A demand behind the
window (a new column fold restarting the sequence, the output-stationary filter block repeated
for every row fold) slides the window forward around the circle until it comes back, which is
SCALE-Sim's re-fetch of a set that did not stay. Total cycles = the stall-free closed form
(:func:`xaigen.hardware.compute.gemm_cycles`) + stalls.

Repeated addresses: a convolution's im2col ifmap holds each input up to ``Fh * Fw`` times, and
SCALE-Sim counts a demand as a hit if *any* set holding that address is in the window. Without
repeats (GEMMs, 1x1 convolutions, weights) the walk jumps from prefetch to prefetch by binary
search. With them, a compiled scan serves the streamed ifmap entry by entry and looks up the
repeats' sets (the stationary ``is`` ifmap checks them at each fold start). Approximations: an
entry inside a diagonal whose two ends lie in the same set is judged by the ends; the output
write buffer, which drains ``bw`` words per cycle and only stalls when the array writes faster
than that, adds nothing.

Demand order per fold (``fc`` outer, ``fr`` inner), fold length ``F`` lines:

=========  ===================================  ===================================
dataflow   streamed operand (diagonals)          stationary operand (rows, fold start)
=========  ===================================  ===================================
``ws``     ifmap block ``fr``, from line ``R``   filter block ``fc``, rows of ``fr``
``os``     ifmap block ``fr``; filter block      --
           ``fc`` (repeated for every ``fr``)
``is``     filter block ``fr``, from line ``R``  ifmap block ``fc``, rows of ``fr``
=========  ===================================  ===================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class Conv:
    """Convolution geometry (SCALE-Sim's: padded input, no padding field), for repeated addresses."""

    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    stride_h: int
    stride_w: int

    @property
    def out_w(self) -> int:
        return math.ceil((self.ifmap_w - self.filter_w + self.stride_w) / self.stride_w)

    @property
    def out_h(self) -> int:
        return math.ceil((self.ifmap_h - self.filter_h + self.stride_h) / self.stride_h)

    @property
    def overlaps(self) -> bool:
        """Do neighbouring windows share inputs (is any address repeated in the im2col matrix)?"""
        return self.filter_h > self.stride_h or self.filter_w > self.stride_w


def _window(valid: int, buffer_bytes: int, bytes_per_cycle: float) -> np.ndarray | None:
    """SCALE-Sim's active window over the sets of an operand with ``valid`` entries in its fetch
    sequence, as the array the compiled walks update: [L, A, P, cycles per prefetch, start (an
    unwrapped set number), prefetches so far, stall so far]; None if the operand fits."""
    size = int(buffer_bytes)
    per_set = math.ceil(size / 100)
    sets = valid // per_set + 1
    active_size = math.ceil(size * 0.5)
    active = min(math.ceil(active_size / per_set), sets)
    step = min(math.ceil((size - active_size) / per_set), sets - active)
    if step <= 0:
        return None
    bandwidth = max(1, int(bytes_per_cycle))  # SCALE-Sim's words per line (1-byte words)
    return np.asarray([sets, active, step, math.ceil((size - active_size) / bandwidth) + 1, 0, 0, 0], dtype=np.int64)


def _ramp_array(n: np.ndarray, width: int) -> np.ndarray:
    """sum over x <= n of clamp(x, 0, width), for every element of ``n``."""
    inner = np.clip(n, 0, width)
    return inner * (inner + 1) // 2 + np.maximum(n - width, 0) * width


@dataclass(frozen=True)
class _Diagonals:
    """Valid entries of a stack of ``blocks`` blocks of ``rows`` x ``width`` (the last block
    ``last_width`` wide, padded), flattened by anti-diagonals, rows descending in a diagonal."""

    blocks: int
    rows: int
    width: int
    last_width: int

    def before_array(self, d: np.ndarray) -> np.ndarray:
        """Valid entries on the diagonals before each diagonal in ``d``:
        sum over rows r of clamp(d - r, 0, width(r))."""
        split = (self.blocks - 1) * self.rows
        return (_ramp_array(d, self.width) - _ramp_array(d - split, self.width)
                + _ramp_array(d - split, self.last_width) - _ramp_array(d - split - self.rows, self.last_width))

    @property
    def valid(self) -> int:
        return (self.blocks - 1) * self.rows * self.width + self.rows * self.last_width


def _geometry(conv: Conv) -> np.ndarray:
    """``conv`` as the array the compiled scans read."""
    return np.asarray([conv.ifmap_w, conv.filter_h, conv.filter_w, conv.channels, conv.stride_h, conv.stride_w,
                       conv.out_h, conv.out_w], dtype=np.int64)


@numba.njit(cache=True)
def _ramp_nb(n, width):
    if n < 0:
        return 0
    if n <= width:
        return n * (n + 1) // 2
    return width * (width + 1) // 2 + (n - width) * width


@numba.njit(cache=True)
def _before_nb(d, rows, blocks, width, last_width):
    split = (blocks - 1) * rows
    return (_ramp_nb(d, width) - _ramp_nb(d - split, width) + _ramp_nb(d - split, last_width)
            - _ramp_nb(d - split - rows, last_width))


@numba.njit(cache=True)
def _nearest_repeat_nb(i, j, own, geo, layout, per_set, win, before):
    """-1 if a repeat of im2col entry (pixel i, window index j) is in the window, else how many
    sets past the window's end the nearest of it and its repeats lies."""
    ifmap_w, fh, fw, ch, sh, sw, out_h, out_w = geo
    sets, active = win[0], win[1]
    first = win[4] % sets
    orow, ocol = i // out_w, i % out_w
    fy, rem = j // (fw * ch), j % (fw * ch)
    fx, c = rem // ch, rem % ch
    y, x = orow * sh + fy, ocol * sw + fx
    own_tap, taps = fy * fw + fx, fh * fw
    nearest = (own - first - active) % sets
    for step in range(1, taps):
        tap = own_tap - step if layout[0] else own_tap + step
        tap = tap - taps if tap >= taps else (tap + taps if tap < 0 else tap)
        fy2, fx2 = tap // fw, tap - (tap // fw) * fw
        dy, dx = y - fy2, x - fx2
        if dy < 0 or dx < 0:
            continue
        if sh == 1 and sw == 1:
            oy, ox = dy, dx
        else:
            if dy % sh != 0 or dx % sw != 0:
                continue
            oy, ox = dy // sh, dx // sw
        if oy >= out_h or ox >= out_w:
            continue
        i2, j2 = oy * out_w + ox, tap * ch + c
        if layout[0]:  # os: blocks of pixels, rows = window index
            block = i2 // layout[3]
            rho, c2 = block * layout[1] + j2, i2 - block * layout[3]
        else:  # ws: blocks of window indices, rows = pixels
            block = j2 // layout[3]
            rho, c2 = block * layout[1] + i2, j2 - block * layout[3]
        offset = (before[rho + c2] + c2) // per_set - first
        offset = offset + sets if offset < 0 else offset
        if offset < active:
            return -1
        nearest = min(nearest, offset - active)
    return nearest


@numba.njit(cache=True)
def _repeat_in_covered_block_nb(i, j, geo, layout, block_sets, win):
    """Is a repeat of (i, j) in a block that lies wholly inside the window (a sure hit)?"""
    ifmap_w, fh, fw, ch, sh, sw, out_h, out_w = geo
    by_pixel, width = layout[0], layout[3]
    sets, active, start = win[0], win[1], win[4]
    orow, ocol = i // out_w, i % out_w
    fy, rem = j // (fw * ch), j % (fw * ch)
    fx, c = rem // ch, rem % ch
    y, x = orow * sh + fy, ocol * sw + fx
    own, taps = fy * fw + fx, fh * fw
    # Neighbouring filter taps first: their repeats lie in the nearest blocks.
    for step in range(1, taps):
        tap = (own - step) % taps if by_pixel else (own + step) % taps
        fy2, fx2 = tap // fw, tap % fw
        dy, dx = y - fy2, x - fx2
        if dy < 0 or dy % sh != 0 or dy // sh >= out_h or dx < 0 or dx % sw != 0 or dx // sw >= out_w:
            continue
        i2, j2 = (dy // sh) * out_w + dx // sw, tap * ch + c
        b = (i2 if by_pixel else j2) // width
        first, last = block_sets[b, 0], block_sets[b, 1]
        if last - first < active and (first - start) % sets < active and (last - start) % sets < active:
            return True
    return False


@numba.njit(cache=True)
def _scan_fold_nb(block, geo, layout, per_set, win, before, block_sets, stamp, covered):
    """Serve one fold of a streamed ifmap entry by entry, sliding the window (``win``) on each
    miss; return max over the fold's prefetches k (1-based) of ``k * cycles - diagonal``."""
    by_pixel, rows, blocks, width, last_width = layout
    sets, active, step, cycles = win[0], win[1], win[2], win[3]
    out_h, out_w = geo[6], geo[7]
    margin_h, margin_w = -(-(geo[1] - 1) // geo[4]), -(-(geo[2] - 1) // geo[5])
    w = last_width if block == blocks - 1 else width
    first_prefetch, best = win[5], -(1 << 62)
    for delta in range(rows + w - 1):
        base = before[block * rows + delta]
        c_first, c_last = max(0, delta - rows + 1), min(delta, w - 1)
        set_first, set_last = (base + c_first) // per_set, (base + c_last) // per_set
        lag_first, lag_last = (set_first - win[4]) % sets, (set_last - win[4]) % sets
        if lag_first < active and lag_last < active and lag_first <= lag_last:
            continue  # the whole diagonal is in the window
        one_set = set_first == set_last
        for c in range(c_first, c_last + 1):
            if one_set and c != c_first and c != c_last:
                continue  # an inner entry in the same set as both ends: judged by them
            own = (base + c) // per_set
            if (own - win[4]) % sets < active:
                continue
            t = delta - c
            i, j = (block * width + c, t) if by_pixel else (t, block * width + c)
            # ws, pixel away from the border: every filter tap has a repeat, in blocks that
            # depend on the window index j alone, so the answer is cached per j and window.
            cacheable = not by_pixel and margin_h <= i // out_w < out_h - margin_h \
                and margin_w <= i % out_w < out_w - margin_w
            if cacheable and stamp[j] == win[5]:
                if covered[j]:
                    continue
            else:
                found = _repeat_in_covered_block_nb(i, j, geo, layout, block_sets, win)
                if cacheable:
                    stamp[j], covered[j] = win[5], found
                if found:
                    continue
            nearest = _nearest_repeat_nb(i, j, own, geo, layout, per_set, win, before)
            if nearest < 0:
                continue
            shifts = nearest // step + 1
            win[4] += shifts * step
            win[5] += shifts
            best = max(best, (win[5] - first_prefetch) * cycles - delta)
    return best


@numba.njit(cache=True)
def _stream_scan_nb(fold_blocks, fold_lines, geo, layout, per_set, win):
    """Serve a streamed ifmap fold by fold, entry by entry: an entry is a hit if its own set or a
    set holding a repeat of its address is in the window; ``win`` (see :func:`_window`) is
    updated in place. A fold met again with the
    window at the same place (mod L) repeats itself, so its outcome is remembered."""
    by_pixel, rows, blocks, width, last_width = layout
    sets, cycles = win[0], win[3]
    stamp = np.full(blocks * width, -1, dtype=np.int64)
    covered = np.zeros(blocks * width, dtype=np.bool_)
    before = np.empty(blocks * rows + width + 1, dtype=np.int64)  # valid entries before each diagonal
    for d in range(before.size):
        before[d] = _before_nb(d, rows, blocks, width, last_width)
    block_sets = np.empty((blocks, 2), dtype=np.int64)  # first and last set holding a block's entries
    for b in range(blocks):
        wb = last_width if b == blocks - 1 else width
        block_sets[b, 0] = before[b * rows] // per_set
        block_sets[b, 1] = (before[b * rows + rows + wb - 1] - 1) // per_set
    remember = blocks * sets <= 4_000_000
    memo = np.full((blocks if remember else 1, sets if remember else 1, 3), -1, dtype=np.int64)
    for f in range(fold_blocks.size):
        block, key = fold_blocks[f], win[4] % sets
        if remember and memo[block, key, 0] >= 0:
            count, best = memo[block, key, 0], memo[block, key, 1]
            win[4] += memo[block, key, 2]
            win[5] += count
        else:
            prefetches, start = win[5], win[4]
            best = _scan_fold_nb(block, geo, layout, per_set, win, before, block_sets, stamp, covered)
            count = win[5] - prefetches
            if remember:
                memo[block, key, 0], memo[block, key, 1], memo[block, key, 2] = count, best, win[4] - start
        if count > 0:
            win[6] = max(win[6], -1 + (win[5] - count) * cycles + best - fold_lines[f] - 1)


@numba.njit(cache=True)
def _demand_nb(win, local_set, base, circular, line):
    """Demand local set ``local_set`` at stall-free ``line``: in the sequence copy starting at
    unwrapped set ``base``, or (``circular``) in the first copy at or after the window start,
    SCALE-Sim's circular search. Slide the window (``win``, see :func:`_window`) until the set is
    in it, charging each prefetch; return the unwrapped set."""
    sets, active, step, cycles = win[0], win[1], win[2], win[3]
    if circular:
        unwrapped = local_set + max(0, -((local_set - win[4]) // sets)) * sets
    else:
        unwrapped = base + local_set
    if unwrapped >= win[4] + active:
        n = (unwrapped - win[4] - active) // step + 1
        win[4] += n * step
        win[5] += n
        win[6] = max(win[6], -1 + win[5] * cycles - line - 1)
    return unwrapped


@numba.njit(cache=True)
def _base_behind_nb(win, local_set):
    """(unwrapped number of set 0 of the latest sequence copy that starts at or before the
    window's end, whether ``local_set`` of that copy lies behind the window start)."""
    copy = local_set + ((win[4] + win[1] - 1 - local_set) // win[0]) * win[0]
    return copy - local_set, copy < win[4]


@numba.njit(cache=True)
def _stream_walk_nb(fold_blocks, fold_lines, before, rows, blocks, width, last_width, per_set, win):
    """Walk a streamed operand without repeated addresses fold by fold, jumping from one prefetch
    to the next (binary search for the diagonal whose demand leaves the window); ``before`` holds
    the valid entries before each diagonal."""
    for f in range(fold_blocks.size):
        block, line = fold_blocks[f], fold_lines[f]
        w = last_width if block == blocks - 1 else width
        last_delta = rows + w - 2
        start_set = before[block * rows] // per_set
        base, behind = _base_behind_nb(win, start_set)
        if behind:  # the block starts behind the window: slide it around the circle
            base = _demand_nb(win, start_set, 0, True, line) - start_set
        end_set = (before[block * rows + last_delta] + min(last_delta, w - 1)) // per_set
        low = 0
        while win[4] + win[1] - base <= end_set:
            target = win[4] + win[1] - base  # first local set outside the window
            high = last_delta
            while low < high:  # first diagonal whose demand reaches the target set
                mid = (low + high) // 2
                if (before[block * rows + mid] + min(mid, w - 1)) // per_set >= target:
                    high = mid
                else:
                    low = mid + 1
            _demand_nb(win, (before[block * rows + low] + min(low, w - 1)) // per_set, base, False, line + low)


@numba.njit(cache=True)
def _stationary_repeat_hit_nb(pixel, window_index, geo, height, width, col_folds, last_width, per_set, win):
    """Is a repeat of the ``is`` ifmap entry (pixel, window index) in the window? Its fetch
    sequence is row-major blocks of ``height`` window indices x ``width`` pixels."""
    ifmap_w, fh, fw, ch, sh, sw, out_h, out_w = geo
    orow, ocol = pixel // out_w, pixel % out_w
    fy, rem = window_index // (fw * ch), window_index % (fw * ch)
    fx, c = rem // ch, rem % ch
    y, x = orow * sh + fy, ocol * sw + fx
    for tap in range(fh * fw):
        dy, dx = y - tap // fw, x - tap % fw
        if dy < 0 or dx < 0 or dy % sh != 0 or dx % sw != 0 or dy // sh >= out_h or dx // sw >= out_w:
            continue
        i2, j2 = (dy // sh) * out_w + dx // sw, tap * ch + c
        block, col = i2 // width, i2 % width
        w = last_width if block == col_folds - 1 else width
        found = (block * height * width + j2 * w + col) // per_set
        if (found - win[4]) % win[0] < win[1]:
            return True
    return False


@numba.njit(cache=True)
def _stationary_walk_nb(row_folds, col_folds, fold_cycles, height, array_rows, width, last_width, per_set, win,
                        geo):
    """Row-major stationary operand, one block per column fold (``height`` x ``width``, the last
    ``last_width`` valid): fold (fc, fr) loads rows ``fr*R`` up to ``fr*R + R`` of block ``fc``
    from its first line on, highest row first, each row's entries in order. ``geo`` (see
    :func:`_geometry`) has ``geo[1] > 0`` when the operand is an ``is`` ifmap whose addresses
    repeat."""
    for fc in range(col_folds):
        w = last_width if fc == col_folds - 1 else width
        before_block = fc * height * width  # every earlier block is full width
        for fr in range(row_folds):
            first, top = fr * array_rows, min(fr * array_rows + array_rows, height)
            line = (fc * row_folds + fr) * fold_cycles
            _demand_nb(win, (before_block + (top - 1) * w) // per_set, 0, True, line)
            _demand_nb(win, (before_block + top * w - 1) // per_set, 0, True, line)
            base, behind = _base_behind_nb(win, (before_block + first * w) // per_set)
            if not behind:
                continue
            limit = (win[4] - base) * per_set  # entries before it are behind the window
            if geo[1] == 0:  # the first entry behind the window, rows descending: its row's first
                row = min(top - 2, (limit - 1 - before_block) // w)
                if row >= first:
                    _demand_nb(win, (before_block + row * w) // per_set, 0, True, line + top - 1 - row)
                continue
            for row in range(top - 2, first - 1, -1):
                missed = False
                for col in range(w):
                    position = before_block + row * w + col
                    if position < limit and not _stationary_repeat_hit_nb(
                            fc * width + col, row, geo, height, width, col_folds, last_width, per_set, win):
                        _demand_nb(win, position // per_set, 0, True, line + top - 1 - row)
                        missed = True
                        break
                if missed:
                    break


def _streamed(diag: _Diagonals, win: np.ndarray, fold_blocks: np.ndarray, fold_cycles: int, offset: int,
              per_set: int, conv: Conv | None, by_pixel: bool) -> int:
    """Stalls of a streamed operand (diagonal fetch order) whose fold ``f`` demands block
    ``fold_blocks[f]`` from line ``f * fold_cycles + offset``; ``conv`` when its addresses repeat
    (an ifmap: ``by_pixel`` for ``os``, whose blocks are pixel folds)."""
    lines = np.arange(fold_blocks.size, dtype=np.int64) * fold_cycles + offset
    if conv is not None:
        layout = np.asarray([int(by_pixel), diag.rows, diag.blocks, diag.width, diag.last_width], dtype=np.int64)
        _stream_scan_nb(fold_blocks, lines, _geometry(conv), layout, per_set, win)
    else:
        table = diag.before_array(np.arange(diag.blocks * diag.rows + diag.width + 1))
        _stream_walk_nb(fold_blocks, lines, table, diag.rows, diag.blocks, diag.width, diag.last_width, per_set, win)
    return int(win[6])


def starved_stall_cycles(m: int, k: int, n: int, rows: int, cols: int, dataflow: str,
                         ifmap_bytes: float, filter_bytes: float, bytes_per_cycle: float,
                         conv: Conv | None = None) -> int:
    """Stall cycles of an M x K x N GEMM on an R x C array with SCALE-Sim's buffers
    (``*_bytes``: whole buffer, both halves) and ``bytes_per_cycle`` per read buffer; ``conv``
    (the layer's geometry) lets repeated ifmap addresses hit."""
    conv = conv if conv is not None and conv.overlaps else None
    sr, sc, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[dataflow]
    row_folds, col_folds = math.ceil(sr / rows), math.ceil(sc / cols)
    fold_cycles = (rows + cols + t - 2) if dataflow == "os" else (2 * rows + cols + t - 2)
    last_rows, last_cols = sr - (row_folds - 1) * rows, sc - (col_folds - 1) * cols
    by_row_fold = np.tile(np.arange(row_folds, dtype=np.int64), col_folds)  # block of each fold, fc outer
    by_col_fold = np.repeat(np.arange(col_folds, dtype=np.int64), row_folds)
    stalls = 0
    if dataflow == "os":  # ifmap blocks = row folds (K x R), filter blocks = column folds (K x C)
        for blocks, width, last, size, fold_blocks, repeats in (
                (row_folds, rows, last_rows, ifmap_bytes, by_row_fold, conv),
                (col_folds, cols, last_cols, filter_bytes, by_col_fold, None)):
            diag = _Diagonals(blocks, t, width, last)
            win = _window(diag.valid, size, bytes_per_cycle)
            if win is not None:
                per_set = math.ceil(int(size) / 100)
                stalls = max(stalls, _streamed(diag, win, fold_blocks, fold_cycles, 0, per_set, repeats, True))
        return stalls
    # ws / is: streamed ws ifmap / is filter (blocks = row folds, T x R, one pass per column fold);
    # stationary ws filter / is ifmap (blocks = column folds, Sr x C, row-major).
    streamed_bytes, stationary_bytes = (ifmap_bytes, filter_bytes) if dataflow == "ws" else (filter_bytes, ifmap_bytes)
    diag = _Diagonals(row_folds, t, rows, last_rows)
    win = _window(diag.valid, streamed_bytes, bytes_per_cycle)
    if win is not None:
        per_set = math.ceil(int(streamed_bytes) / 100)
        repeats = conv if dataflow == "ws" else None
        stalls = _streamed(diag, win, by_row_fold, fold_cycles, rows, per_set, repeats, False)
    win = _window(sr * sc, stationary_bytes, bytes_per_cycle)
    if win is not None:
        per_set = math.ceil(int(stationary_bytes) / 100)
        geo = _geometry(conv) if conv is not None and dataflow == "is" else np.zeros(8, dtype=np.int64)
        _stationary_walk_nb(row_folds, col_folds, fold_cycles, sr, rows, cols, last_cols, per_set, win, geo)
        stalls = max(stalls, int(win[6]))
    return stalls
