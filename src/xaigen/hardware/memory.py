"""DRAM traffic and stalls (an analytical double-buffering model).

Each operand has a buffer of which half is active while the other half is refilled (SCALE-Sim's
double-buffered scratchpad). An operand whose distinct bytes ``D`` fit in the active half is
fetched from DRAM once. Otherwise what is re-fetched follows the fold loops: the operand whose
blocks belong to row folds (``ws`` and ``os`` inputs, ``is`` weights) is used again by every
column fold, so it is fetched ``col_folds`` times unless the loops run row folds outermost and one
block (``D / row_folds``) fits, in which case each block is fetched once and kept; the ``os``
weights are the mirror image (blocks per column fold, used by every row fold). The stationary
operand of ``ws`` (weights) and ``is`` (inputs) is used by one fold per tile and is fetched once.
Of the two loop orders the one with less DRAM traffic is taken (what a compiler would pick;
SCALE-Sim's own order, column folds outermost, is followed for stalls by
:mod:`xaigen.hardware.starved`). Outputs are written to DRAM once if the partial sums fit in the
active half of the output buffer, otherwise every partial-sum word is spilled.

With double buffering, transfers overlap computation, so the layer takes
``max(compute_cycles, transfer_cycles)`` cycles: stalls are the excess. ``transfer_cycles`` is
``dram_bytes / bandwidth`` over one shared DRAM interface, or the slowest operand's
``bytes / bandwidth`` when each buffer has its own interface of that bandwidth. Less bandwidth
never makes a layer faster, and with enough buffer and bandwidth there is no stall (SCALE-Sim's
CALC mode). This bulk model is a lower bound on stalls; it is used for the shared-interface
presets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xaigen.hardware.compute import ComputeResult

KIB = 1024


@dataclass(frozen=True)
class MemoryResult:
    """Bytes moved between DRAM and one pod's buffers for its share of a layer."""

    ifmap_dram_bytes: int
    filter_dram_bytes: int
    ofmap_dram_bytes: int

    @property
    def dram_bytes(self) -> int:
        return self.ifmap_dram_bytes + self.filter_dram_bytes + self.ofmap_dram_bytes


def _refetched(distinct: int, half_buffer: float, passes: int, blocks: int) -> tuple[int, int]:
    """DRAM bytes of an operand used by ``passes`` passes and cut into ``blocks`` blocks, with the
    passes outermost and with the blocks outermost."""
    if distinct <= half_buffer:
        return distinct, distinct
    kept = distinct if distinct / blocks <= half_buffer else distinct * passes
    return distinct * passes, kept


def layer_memory(compute: ComputeResult, ifmap_bytes: int, filter_bytes: int, ofmap_bytes: int,
                 ifmap_kib: float, filter_kib: float, ofmap_kib: float) -> MemoryResult:
    """DRAM traffic (bytes, 1-byte operands) of one pod's share of a layer, given its distinct
    data and its folds (``compute``); see the module docstring."""
    rows, cols = compute.row_folds, compute.col_folds
    half_i, half_f = ifmap_kib * KIB / 2, filter_kib * KIB / 2
    outputs = ofmap_bytes if ofmap_bytes <= ofmap_kib * KIB / 2 else max(ofmap_bytes, compute.ofmap_writes)
    if compute.dataflow == "is":  # weights streamed per column fold, inputs stationary
        by_cols, by_rows = _refetched(filter_bytes, half_f, cols, rows)
        return MemoryResult(ifmap_bytes, min(by_cols, by_rows), outputs)
    inputs_by_cols, inputs_by_rows = _refetched(ifmap_bytes, half_i, cols, rows)
    if compute.dataflow == "ws":  # weights stationary: each tile used by one fold
        return MemoryResult(min(inputs_by_cols, inputs_by_rows), filter_bytes, outputs)
    weights_by_rows, weights_by_cols = _refetched(filter_bytes, half_f, rows, cols)
    if inputs_by_cols + weights_by_cols <= inputs_by_rows + weights_by_rows:
        return MemoryResult(inputs_by_cols, weights_by_cols, outputs)
    return MemoryResult(inputs_by_rows, weights_by_rows, outputs)


def transfer_cycles(ifmap: int, weights: int, outputs: int, bytes_per_cycle: float, port_per_operand: bool) -> int:
    """Cycles to move the given DRAM bytes over one shared interface, or one interface per operand."""
    if math.isinf(bytes_per_cycle):
        return 0
    busiest = max(ifmap, weights, outputs) if port_per_operand else ifmap + weights + outputs
    return math.ceil(busiest / bytes_per_cycle)
