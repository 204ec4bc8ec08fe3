"""DRAM traffic and stalls (an analytical double-buffering model).

Each operand has a buffer of which half is active while the other half is refilled (SCALE-Sim's
double-buffered scratchpad). An operand whose distinct data fits in the active half is fetched from
DRAM once; otherwise every SRAM read of it misses once, i.e. it is re-fetched each fold (no reuse
across folds). Outputs are written to DRAM once if the partial sums fit in the active half of the
output buffer, otherwise every partial-sum word is spilled.

With double buffering, transfers overlap computation, so the layer takes
``max(compute_cycles, transfer_cycles)`` cycles: stalls are the excess. ``transfer_cycles`` is
``dram_bytes / bandwidth`` over one shared DRAM interface, or the slowest operand's
``bytes / bandwidth`` when each buffer has its own interface of that bandwidth (SCALE-Sim). Less bandwidth
never makes a layer faster, and with enough buffer and bandwidth there is no stall (SCALE-Sim's
CALC mode).
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


def _traffic(distinct: int, sram_reads: int, buffer_kib: float) -> int:
    return distinct if distinct <= buffer_kib * KIB / 2 else max(distinct, sram_reads)


def layer_memory(compute: ComputeResult, ifmap_bytes: int, filter_bytes: int, ofmap_bytes: int,
                 ifmap_kib: float, filter_kib: float, ofmap_kib: float) -> MemoryResult:
    """DRAM traffic (bytes, 1-byte operands) of one pod's share of a layer, given its distinct
    data and its SRAM accesses (``compute``)."""
    return MemoryResult(_traffic(ifmap_bytes, compute.ifmap_reads, ifmap_kib),
                        _traffic(filter_bytes, compute.filter_reads, filter_kib),
                        _traffic(ofmap_bytes, compute.ofmap_writes, ofmap_kib))


def transfer_cycles(ifmap: int, weights: int, outputs: int, bytes_per_cycle: float, port_per_operand: bool) -> int:
    """Cycles to move the given DRAM bytes over one shared interface, or one interface per operand."""
    if math.isinf(bytes_per_cycle):
        return 0
    busiest = max(ifmap, weights, outputs) if port_per_operand else ifmap + weights + outputs
    return math.ceil(busiest / bytes_per_cycle)
