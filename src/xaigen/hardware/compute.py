"""Cycles and utilization of one GEMM on one systolic array (SCALE-Sim v2's timing model).

The dataflow maps the GEMM's dimensions onto the array's rows (``Sr``), columns (``Sc``) and time
(``T``) (Samajdar et al., "SCALE-Sim", arXiv 1811.02883 / ISPASS 2020):

=========  ==========  ==========  ==========
dataflow   Sr (rows)   Sc (cols)   T (time)
=========  ==========  ==========  ==========
``os``     M (pixels)  N (filters) K (window)
``ws``     K           N           M
``is``     K           M           N
=========  ==========  ==========  ==========

The work is folded into ``ceil(Sr / R) * ceil(Sc / C)`` folds on an R x C array. A fold of the
stationary dataflows takes ``2R + C + T - 2`` cycles (R cycles to load the stationary operand,
then T + R + C - 2 to stream through the skewed array); output stationary keeps no operand, so a
fold is ``R + C + T - 2``. SCALE-Sim's "Total Cycles" (no stalls) is then ``folds * fold - 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xaigen.hardware.config import Dataflow


@dataclass(frozen=True)
class ComputeResult:
    """Cycles (clock cycles), folds and SRAM traffic (words) of one GEMM on one array."""

    cycles: int
    folds: int
    macs: int
    ifmap_reads: int  # SRAM words read from the ifmap buffer
    filter_reads: int
    ofmap_writes: int  # partial-sum words written to the output buffer
    utilization: float  # useful MACs / (array MACs * cycles)
    row_folds: int = 1  # ceil(Sr / R)
    col_folds: int = 1  # ceil(Sc / C)
    dataflow: Dataflow = "ws"


def spatio_temporal(m: int, k: int, n: int, dataflow: Dataflow) -> tuple[int, int, int]:
    """(Sr, Sc, T) of an M x K x N GEMM under ``dataflow``."""
    if dataflow == "os":
        return m, n, k
    if dataflow == "ws":
        return k, n, m
    return k, m, n


def gemm_cycles(m: int, k: int, n: int, rows: int, cols: int, dataflow: Dataflow) -> ComputeResult:
    """Stall-free timing of an M x K x N GEMM on an R x C array (see the module docstring)."""
    if min(m, k, n) <= 0:
        return ComputeResult(0, 0, 0, 0, 0, 0, 0.0)
    sr, sc, t = spatio_temporal(m, k, n, dataflow)
    row_folds, col_folds = math.ceil(sr / rows), math.ceil(sc / cols)
    folds = row_folds * col_folds
    fold_cycles = (rows + cols + t - 2) if dataflow == "os" else (2 * rows + cols + t - 2)
    cycles = folds * fold_cycles - 1
    macs = m * k * n
    if dataflow == "os":
        reads = (m * k * col_folds, k * n * row_folds, m * n)
    elif dataflow == "ws":
        reads = (m * k * col_folds, k * n, m * n * row_folds)
    else:
        reads = (m * k, k * n * col_folds, m * n * row_folds)
    return ComputeResult(cycles, folds, macs, *reads, utilization=macs / (rows * cols * cycles), row_folds=row_folds,
                         col_folds=col_folds, dataflow=dataflow)
