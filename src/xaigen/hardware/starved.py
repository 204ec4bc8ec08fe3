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

_MAX_CHECKED = 4096  # entries whose repeats are looked up at one behind-the-window demand


@dataclass
class _Window:
    """SCALE-Sim's active window over one operand's sets, in unwrapped set numbers."""

    sets: int  # L
    active: int  # A
    step: int  # P
    cycles_per_prefetch: int  # D + 1
    start: int = 0
    prefetches: int = 0
    stall: int = 0  # max(T_e - i_e - 1) so far

    def base_behind(self, local_set: int) -> tuple[int, bool]:
        """(unwrapped number of set 0 of the latest sequence copy that starts at or before the
        window's end, whether ``local_set`` of that copy lies behind the window start)."""
        copy = local_set + ((self.start + self.active - 1 - local_set) // self.sets) * self.sets
        return copy - local_set, copy < self.start

    def inside(self, sets: np.ndarray) -> np.ndarray:
        """Which local set numbers are in the window (it wraps around the circle of L sets)."""
        return ((sets - self.start) % self.sets) < self.active

    def miss(self, sets: np.ndarray, line: int) -> None:
        """A demanded address, held in the local sets ``sets`` (all its repeats), is not in the
        window: slide it until the first of them comes in (SCALE-Sim's ``while not hit``)."""
        ahead = (sets - self.start - self.active) % self.sets  # how far past the window's end
        n = int(ahead.min()) // self.step + 1
        self.start += n * self.step
        self.prefetches += n
        self.stall = max(self.stall, -1 + self.prefetches * self.cycles_per_prefetch - line - 1)

    def demand(self, local_set: int, pass_base: int | None, line: int) -> int:
        """Demand set ``local_set`` (0..L-1) at stall-free ``line``; return the unwrapped set used.
        ``pass_base``: unwrapped number of the sequence copy to use, or None for the first copy
        at or after the window start (SCALE-Sim's circular search)."""
        if pass_base is None:
            unwrapped = local_set + max(0, math.ceil((self.start - local_set) / self.sets)) * self.sets
        else:
            unwrapped = pass_base + local_set
        if unwrapped >= self.start + self.active:
            n = (unwrapped - self.start - self.active) // self.step + 1
            self.start += n * self.step
            self.prefetches += n
            done = -1 + self.prefetches * self.cycles_per_prefetch
            self.stall = max(self.stall, done - line - 1)
        return unwrapped

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

    def repeats(self, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every im2col entry (pixel i', window index j') holding the address of entry (i, j):
        arrays of shape (n, Fh * Fw) and a mask of the valid ones."""
        fw_c = self.filter_w * self.channels
        orow, ocol = np.divmod(i, self.out_w)
        fy, rem = np.divmod(j, fw_c)
        fx, ch = np.divmod(rem, self.channels)
        y, x = orow * self.stride_h + fy, ocol * self.stride_w + fx
        fy2, fx2 = np.divmod(np.arange(self.filter_h * self.filter_w), self.filter_w)
        dy, dx = y[:, None] - fy2[None, :], x[:, None] - fx2[None, :]
        orow2, ry = np.divmod(dy, self.stride_h)
        ocol2, rx = np.divmod(dx, self.stride_w)
        valid = (ry == 0) & (rx == 0) & (dy >= 0) & (dx >= 0) & (orow2 < self.out_h) & (ocol2 < self.out_w)
        return orow2 * self.out_w + ocol2, (fy2 * self.filter_w + fx2)[None, :] * self.channels + ch[:, None], valid


class _Duplicates:
    """Answers "is this ifmap entry's address anywhere in the window?" for one fetch-sequence
    layout: ``ws`` (diagonals, blocks = window-index folds), ``os`` (diagonals, blocks = pixel
    folds) or ``is`` (rows, blocks = pixel folds)."""

    def __init__(self, conv: Conv, layout: str, block_rows: int, block_width: int, diag: _Diagonals | None = None,
                 blocks: int = 1, last_width: int = 0):
        self.conv, self.layout, self.block_rows, self.width = conv, layout, block_rows, block_width
        self.diag, self.blocks, self.last_width = diag, blocks, last_width

    def _to_gemm(self, rho: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        block, r = np.divmod(rho, self.block_rows)
        if self.layout == "ws":
            return r, block * self.width + c
        return block * self.width + c, r  # os and is: blocks of pixels

    def _positions(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        if self.layout == "ws":
            block, c = np.divmod(j, self.width)
            rho = block * self.block_rows + i
        else:
            block, c = np.divmod(i, self.width)
            rho = block * self.block_rows + j
        if self.layout == "is":
            widths = np.where(block == self.blocks - 1, self.last_width, self.width)
            return block * self.block_rows * self.width + j * widths + c
        return self.diag.before_array(rho + c) + c

    def lookup(self, rho: np.ndarray, c: np.ndarray, window: _Window, per_set: int):
        """(hit per entry, local sets of every repeat of its address, which repeats are valid)."""
        i, j = self._to_gemm(np.asarray(rho), np.asarray(c))
        i2, j2, valid = self.conv.repeats(i, j)
        sets = self._positions(np.where(valid, i2, 0), np.where(valid, j2, 0)) // per_set
        return (window.inside(sets) & valid).any(axis=1), sets, valid

    def hits(self, rho: np.ndarray, c: np.ndarray, window: _Window, per_set: int) -> np.ndarray:
        return self.lookup(rho, c, window, per_set)[0]



def _window(valid: int, buffer_bytes: int, bytes_per_cycle: float) -> _Window | None:
    """The window of an operand with ``valid`` entries in its fetch sequence, or None if it fits."""
    size = int(buffer_bytes)
    per_set = math.ceil(size / 100)
    sets = valid // per_set + 1
    active_size = math.ceil(size * 0.5)
    active = min(math.ceil(active_size / per_set), sets)
    step = min(math.ceil((size - active_size) / per_set), sets - active)
    if step <= 0:
        return None
    bandwidth = max(1, int(bytes_per_cycle))  # SCALE-Sim's words per line (1-byte words)
    return _Window(sets, active, step, math.ceil((size - active_size) / bandwidth) + 1)


def _ramp(n: int, width: int) -> int:
    """sum over x <= n of clamp(x, 0, width)."""
    if n < 0:
        return 0
    if n <= width:
        return n * (n + 1) // 2
    return width * (width + 1) // 2 + (n - width) * width


def _ramp_array(n: np.ndarray, width: int) -> np.ndarray:
    """:func:`_ramp` of every element of ``n``."""
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

    def before(self, d: int) -> int:
        """Valid entries on diagonals before ``d``: sum over rows r of clamp(d - r, 0, w(r))."""
        split = (self.blocks - 1) * self.rows
        full = _ramp(d, self.width) - _ramp(d - split, self.width)
        last = _ramp(d - split, self.last_width) - _ramp(d - split - self.rows, self.last_width)
        return full + last

    def before_array(self, d: np.ndarray) -> np.ndarray:
        """:meth:`before` of every diagonal in ``d``."""
        split = (self.blocks - 1) * self.rows
        return (_ramp_array(d, self.width) - _ramp_array(d - split, self.width)
                + _ramp_array(d - split, self.last_width) - _ramp_array(d - split - self.rows, self.last_width))

    @property
    def valid(self) -> int:
        return (self.blocks - 1) * self.rows * self.width + self.rows * self.last_width

    def block_width(self, b: int) -> int:
        return self.last_width if b == self.blocks - 1 else self.width

    def last_position(self, b: int, delta: int) -> int:
        """Position of the last entry of block ``b`` on its local diagonal ``delta``."""
        return self.before(b * self.rows + delta) + min(delta, self.block_width(b) - 1)


def _stream_scan(diag: _Diagonals, window: _Window, folds, fold_cycles: int, offset: int, per_set: int,
                 conv: Conv, by_pixel: bool) -> None:
    """:func:`_stream_stalls` entry by entry (compiled), for an ifmap whose addresses repeat:
    an entry is a hit if its own set or a set holding a repeat of its address is in the window."""
    folds = list(folds)
    blocks = np.asarray([b for _, b in folds], dtype=np.int64)
    lines = np.asarray([i * fold_cycles + offset for i, _ in folds], dtype=np.int64)
    geo = np.asarray([conv.ifmap_w, conv.filter_h, conv.filter_w, conv.channels, conv.stride_h, conv.stride_w,
                      conv.out_h, conv.out_w], dtype=np.int64)
    layout = np.asarray([int(by_pixel), diag.rows, diag.blocks, diag.width, diag.last_width], dtype=np.int64)
    win = np.asarray([window.sets, window.active, window.step, window.cycles_per_prefetch, window.start,
                      window.prefetches, window.stall], dtype=np.int64)
    _stream_scan_nb(blocks, lines, geo, layout, per_set, win)
    window.start, window.prefetches, window.stall = int(win[4]), int(win[5]), int(win[6])


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
def _stream_scan_nb(fold_blocks, fold_lines, geo, layout, per_set, win):
    """Serve a streamed ifmap entry by entry (see :func:`_stream_stalls`); ``win`` = [L, A, P,
    cycles per prefetch, start, prefetches, stall] is updated in place."""
    by_pixel, rows, blocks, width, last_width = layout
    sets, active, step, cycles = win[0], win[1], win[2], win[3]
    out_h, out_w = geo[6], geo[7]
    margin_h, margin_w = -(-(geo[1] - 1) // geo[4]), -(-(geo[2] - 1) // geo[5])
    stamp = np.full(blocks * width, -1, dtype=np.int64)
    covered = np.zeros(blocks * width, dtype=np.bool_)
    before = np.empty(blocks * rows + width + 1, dtype=np.int64)  # valid entries before each diagonal
    for d in range(before.size):
        before[d] = _before_nb(d, rows, blocks, width, last_width)
    block_sets = np.empty((blocks, 2), dtype=np.int64)  # first and last set holding a block's entries
    for b in range(blocks):
        wb = last_width if b == blocks - 1 else width
        block_sets[b, 0] = _before_nb(b * rows, rows, blocks, width, last_width) // per_set
        block_sets[b, 1] = (_before_nb(b * rows + rows + wb - 1, rows, blocks, width, last_width) - 1) // per_set
    for f in range(fold_blocks.size):
        block = fold_blocks[f]
        w = last_width if block == blocks - 1 else width
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
                win[6] = max(win[6], -1 + win[5] * cycles - (fold_lines[f] + delta) - 1)


def _stream_stalls(diag: _Diagonals, window: _Window, folds, fold_cycles: int, offset: int, per_set: int) -> None:
    """Walk a streamed operand without repeated addresses fold by fold, jumping from one prefetch
    to the next (binary search for the diagonal whose demand leaves the window): ``folds``
    yields (fold index, block)."""
    for index, block in folds:
        first_line = index * fold_cycles + offset
        last_delta = diag.rows + diag.block_width(block) - 2
        start_set = diag.before(block * diag.rows) // per_set
        base, behind = window.base_behind(start_set)
        if behind:  # the block starts behind the window: slide it around the circle
            base = window.demand(start_set, None, first_line) - start_set
        end_set = diag.last_position(block, last_delta) // per_set
        low = 0
        while True:
            target = window.start + window.active - base  # first local set outside the window
            if target > end_set:
                break
            high = last_delta
            while low < high:  # first diagonal whose demand reaches the target set
                mid = (low + high) // 2
                if diag.last_position(block, mid) // per_set >= target:
                    high = mid
                else:
                    low = mid + 1
            window.demand(diag.last_position(block, low) // per_set, base, first_line + low)


def _stationary_stalls(window: _Window, row_folds: int, col_folds: int, fold_cycles: int, height: int,
                       array_rows: int, width: int, last_width: int, per_set: int,
                       oracle: _Duplicates | None = None) -> None:
    """Row-major stationary operand, one block per column fold (``height`` x ``width``, the last
    ``last_width`` valid): fold (fc, fr) loads rows ``fr*R`` up to ``fr*R + R`` of block ``fc``
    from its first line on, highest row first, each row's entries in order."""
    for fc in range(col_folds):
        w = last_width if fc == col_folds - 1 else width
        before_block = fc * height * width  # every earlier block is full width
        for fr in range(row_folds):
            first, top = fr * array_rows, min(fr * array_rows + array_rows, height)
            line = (fc * row_folds + fr) * fold_cycles
            window.demand((before_block + (top - 1) * w) // per_set, None, line)
            window.demand((before_block + top * w - 1) // per_set, None, line)
            low_set = (before_block + first * w) // per_set
            base, behind = window.base_behind(low_set)
            if not behind:
                continue
            limit = (window.start - base) * per_set
            if oracle is None:  # the first entry behind the window, rows descending: its row's first
                row = min(top - 2, (limit - 1 - before_block) // w)
                if row >= first:
                    window.demand((before_block + row * w) // per_set, None, line + top - 1 - row)
                continue
            rows = np.repeat(np.arange(top - 2, first - 1, -1), w)  # demand order: rows descending
            cols = np.tile(np.arange(w), max(0, top - 1 - first))
            positions = before_block + rows * w + cols
            behind_mask = positions < limit
            if rows.size <= _MAX_CHECKED:
                behind_mask &= ~oracle.hits(fc * height + rows, cols, window, per_set)
            missing = np.flatnonzero(behind_mask)
            if missing.size:
                row, position = int(rows[missing[0]]), int(positions[missing[0]])
                window.demand(position // per_set, None, line + top - 1 - row)


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
    last_rows = sr - (row_folds - 1) * rows
    last_cols = sc - (col_folds - 1) * cols
    stalls = 0
    if dataflow in ("ws", "is"):
        # Streamed: ws ifmap / is filter, blocks = row folds (T x R), repeated per column fold.
        streamed_bytes = ifmap_bytes if dataflow == "ws" else filter_bytes
        stationary_bytes = filter_bytes if dataflow == "ws" else ifmap_bytes
        diag = _Diagonals(row_folds, t, rows, last_rows)
        window = _window(diag.valid, streamed_bytes, bytes_per_cycle)
        if window is not None:
            per_set = math.ceil(int(streamed_bytes) / 100)
            folds = ((fc * row_folds + fr, fr) for fc in range(col_folds) for fr in range(row_folds))
            if conv and dataflow == "ws":
                _stream_scan(diag, window, folds, fold_cycles, rows, per_set, conv, by_pixel=False)
            else:
                _stream_stalls(diag, window, folds, fold_cycles, rows, per_set)
            stalls = max(stalls, window.stall)
        # Stationary: ws filter / is ifmap, blocks = column folds (Sr x C), row-major.
        window = _window(sr * sc, stationary_bytes, bytes_per_cycle)
        if window is not None:
            per_set = math.ceil(int(stationary_bytes) / 100)
            oracle = _Duplicates(conv, "is", sr, cols, blocks=col_folds, last_width=last_cols) \
                if conv and dataflow == "is" else None
            _stationary_stalls(window, row_folds, col_folds, fold_cycles, sr, rows, cols, last_cols, per_set, oracle)
            stalls = max(stalls, window.stall)
        return stalls
    # Output stationary: ifmap blocks = row folds (K x R), filter blocks = column folds (K x C).
    for blocks, width, last, size, block_of, is_ifmap in (
            (row_folds, rows, last_rows, ifmap_bytes, lambda fc, fr: fr, True),
            (col_folds, cols, last_cols, filter_bytes, lambda fc, fr: fc, False)):
        diag = _Diagonals(blocks, t, width, last)
        window = _window(diag.valid, size, bytes_per_cycle)
        if window is None:
            continue
        per_set = math.ceil(int(size) / 100)
        folds = ((fc * row_folds + fr, block_of(fc, fr)) for fc in range(col_folds) for fr in range(row_folds))
        if conv and is_ifmap:
            _stream_scan(diag, window, folds, fold_cycles, 0, per_set, conv, by_pixel=True)
        else:
            _stream_stalls(diag, window, folds, fold_cycles, 0, per_set)
        stalls = max(stalls, window.stall)
    return stalls
