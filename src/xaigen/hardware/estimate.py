"""Per-layer and per-network cycles, utilization and energy on a multi-pod accelerator.

Scale-out: a layer's ``groups`` GEMMs are spread over the pods; when there are more pods than
groups, each GEMM is split further along ``accelerator.partition`` (``rows``: output pixels M;
``cols``: filters N). Pods run in parallel, so a layer takes the cycles of its busiest pod. The
operand all pods of a GEMM share is fetched from DRAM once and multicast; the DRAM bandwidth is
shared by all pods, and transfers overlap computation (double buffering), so stalls are
``max(0, transfer_cycles - compute_cycles)``.

Energy of a layer, in pJ (constants in :mod:`xaigen.hardware.config`):

* multiplier  = MACs * 1000 * P_mul[mW] / f[MHz]   (the layer's assigned multiplier)
* accumulator = MACs * E_add
* buffer      = SRAM bytes read/written * E_sram(buffer size)   (partial sums are 32-bit)
* dram        = DRAM bytes * E_dram
* static      = MAC units * leakage[mW] * cycles * 1000 / f[MHz]

Idle MAC units are taken to be clock-gated: they leak but spend no dynamic energy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from xaigen.hardware.compute import gemm_cycles
from xaigen.hardware.config import Accelerator
from xaigen.hardware.memory import layer_memory, transfer_cycles
from xaigen.hardware.topology import Layer

ENERGY_PARTS = ("multiplier", "accumulator", "buffer", "dram", "static")


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy in pJ, by part."""

    multiplier: float
    accumulator: float
    buffer: float
    dram: float
    static: float

    @property
    def total(self) -> float:
        return self.multiplier + self.accumulator + self.buffer + self.dram + self.static

    def as_dict(self) -> dict:
        return asdict(self) | {"total": self.total}

    def __add__(self, other: EnergyBreakdown) -> EnergyBreakdown:
        return EnergyBreakdown(*(getattr(self, p) + getattr(other, p) for p in ENERGY_PARTS))


ZERO_ENERGY = EnergyBreakdown(0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class LayerEstimate:
    name: str
    macs: int
    cycles: int  # including stalls (clock cycles)
    stall_cycles: int
    utilization: float  # useful MACs / (all MAC units * cycles)
    pods_used: int
    partition: str  # "rows" (output pixels split over pods) or "cols" (filters split)
    dram_bytes: int
    multiplier_mw: float
    energy_pj: EnergyBreakdown

    def as_dict(self) -> dict:
        return asdict(self) | {"energy_pj": self.energy_pj.as_dict()}


@dataclass(frozen=True)
class NetworkEstimate:
    accelerator: str
    layers: list[LayerEstimate]

    @property
    def cycles(self) -> int:
        return sum(layer.cycles for layer in self.layers)

    @property
    def energy_pj(self) -> EnergyBreakdown:
        total = ZERO_ENERGY
        for layer in self.layers:
            total = total + layer.energy_pj
        return total

    def latency_us(self, clock_mhz: float) -> float:
        """Latency in microseconds (layers run one after another)."""
        return self.cycles / clock_mhz

    def as_dict(self, clock_mhz: float | None = None) -> dict:
        macs = sum(layer.macs for layer in self.layers)
        total = {"macs": macs, "cycles": self.cycles, "energy_pj": self.energy_pj.as_dict()}
        if clock_mhz:
            total["latency_us"] = self.latency_us(clock_mhz)
        return {"accelerator": self.accelerator, "layers": [layer.as_dict() for layer in self.layers], "total": total}


def _split(layer: Layer, acc: Accelerator, partition: str) -> tuple[int, int, int, int, int]:
    """(gemms per pod, pods per GEMM, m, n, pods used) of a layer's scale-out."""
    pods_per_gemm = max(1, acc.pods // layer.groups)
    gemms_per_pod = math.ceil(layer.groups / acc.pods)
    m, n = layer.m, layer.n
    if partition == "rows":
        pods_per_gemm = min(pods_per_gemm, m)
        m = math.ceil(m / pods_per_gemm)
    else:
        pods_per_gemm = min(pods_per_gemm, n)
        n = math.ceil(n / pods_per_gemm)
    pods_used = min(acc.pods, layer.groups * pods_per_gemm)
    return gemms_per_pod, pods_per_gemm, m, n, pods_used


def estimate_layer(layer: Layer, acc: Accelerator, multiplier_mw: float | None = None) -> LayerEstimate:
    """Cycles, utilization and energy of one layer with one multiplier (power in mW).

    With ``partition="auto"`` both splits are estimated and the faster one (then the one with
    less energy) is kept; :attr:`LayerEstimate.partition` says which.
    """
    if acc.partition != "auto":
        return _estimate_layer(layer, acc, multiplier_mw, acc.partition)
    return min((_estimate_layer(layer, acc, multiplier_mw, p) for p in ("rows", "cols")),
               key=lambda est: (est.cycles, est.energy_pj.total))


def _estimate_layer(layer: Layer, acc: Accelerator, multiplier_mw: float | None, partition: str) -> LayerEstimate:
    e = acc.energy
    multiplier_mw = e.exact_multiplier_mw if multiplier_mw is None else multiplier_mw
    gemms_per_pod, pods_per_gemm, m, n, pods_used = _split(layer, acc, partition)
    compute = gemm_cycles(m, layer.k, n, acc.array_rows, acc.array_cols, acc.dataflow)
    # Distinct bytes one pod touches for its share of one GEMM.
    ifmap_share = math.ceil(layer.ifmap_bytes / layer.groups / (pods_per_gemm if partition == "rows" else 1))
    filter_share = math.ceil(layer.filter_bytes / layer.groups / (pods_per_gemm if partition == "cols" else 1))
    memory = layer_memory(compute, ifmap_share, filter_share, m * n, acc.ifmap_sram_kib, acc.filter_sram_kib,
                          acc.ofmap_sram_kib)
    # The operand every pod of a GEMM needs (weights when pixels are split, inputs when filters
    # are split) is read from DRAM once and multicast to the pods.
    shared = "filter" if partition == "rows" else "ifmap"
    traffic = {"ifmap": memory.ifmap_dram_bytes, "filter": memory.filter_dram_bytes, "ofmap": memory.ofmap_dram_bytes}
    traffic = {op: layer.groups * (b if op == shared else pods_per_gemm * b) for op, b in traffic.items()}
    dram_bytes = sum(traffic.values())
    busy = gemms_per_pod * compute.cycles
    stalls = max(0, transfer_cycles(traffic["ifmap"], traffic["filter"], traffic["ofmap"], acc.dram_bytes_per_cycle,
                                    acc.port_per_operand) - busy)
    cycles = busy + stalls
    pieces = layer.groups * pods_per_gemm  # GEMM pieces run over all pods
    to_pj = 1000.0 / acc.clock_mhz  # mW * cycles -> pJ
    sram = pieces * (
        (compute.ifmap_reads + memory.ifmap_dram_bytes) * e.sram_pj_per_byte(acc.ifmap_sram_kib)
        + (compute.filter_reads + memory.filter_dram_bytes) * e.sram_pj_per_byte(acc.filter_sram_kib)
        + (compute.ofmap_writes * e.psum_bytes + memory.ofmap_dram_bytes) * e.sram_pj_per_byte(acc.ofmap_sram_kib)
    )
    energy = EnergyBreakdown(
        multiplier=layer.macs * multiplier_mw * to_pj,
        accumulator=layer.macs * e.accumulate_pj,
        buffer=sram,
        dram=dram_bytes * e.dram_pj_per_byte,
        static=acc.macs * e.static_fraction * e.exact_multiplier_mw * cycles * to_pj,
    )
    return LayerEstimate(layer.name, layer.macs, cycles, stalls,
                         layer.macs / (acc.macs * cycles) if cycles else 0.0, pods_used, partition, dram_bytes,
                         multiplier_mw, energy)


def estimate_network(layers: list[Layer], acc: Accelerator,
                     multiplier_mw: Mapping[str, float] | float | None = None) -> NetworkEstimate:
    """Estimate every layer; ``multiplier_mw`` is one power for all layers or a layer -> power map
    (layers not in the map use the exact multiplier)."""
    if isinstance(multiplier_mw, Mapping):
        powers = {layer.name: multiplier_mw.get(layer.name) for layer in layers}
    else:
        powers = {layer.name: multiplier_mw for layer in layers}
    return NetworkEstimate(acc.name, [estimate_layer(layer, acc, powers[layer.name]) for layer in layers])


def energy_reduction(layers: list[Layer], acc: Accelerator, multiplier_mw: Mapping[str, float]) -> dict:
    """Exact / approximate energy, for the multipliers alone and for the whole accelerator."""
    exact = estimate_network(layers, acc).energy_pj
    approx = estimate_network(layers, acc, multiplier_mw).energy_pj
    return {
        "multiplier_energy_reduction": exact.multiplier / approx.multiplier if approx.multiplier else math.inf,
        "energy_reduction": exact.total / approx.total,
        "exact_energy_pj": exact.total, "approx_energy_pj": approx.total,
        "exact_multiplier_energy_pj": exact.multiplier, "approx_multiplier_energy_pj": approx.multiplier,
    }
