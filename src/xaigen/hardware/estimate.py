"""Per-layer and per-network cycles, utilization and energy on a multi-pod accelerator.

Scale-out: a layer's ``groups`` GEMMs are spread over the pods; when there are more pods than
groups, each GEMM is split further along ``accelerator.partition`` (``rows``: output pixels M;
``cols``: filters N). Pods run in parallel, so a layer takes the cycles of its busiest pod. The
operand all pods of a GEMM share is fetched from DRAM once and multicast; the DRAM bandwidth is
shared by all pods, and transfers overlap computation (double buffering), so stalls are
``max(0, transfer_cycles - compute_cycles)`` (a lower bound). When every buffer has its own DRAM
port of finite bandwidth (``port_per_operand``, SCALE-Sim's memory system), stalls follow
SCALE-Sim's double-buffered scratchpad instead (:mod:`xaigen.hardware.starved`).

Energy of a layer, in pJ (constants in :mod:`xaigen.hardware.config`), with ``P`` the power (mW)
of the layer's multiplier circuit and ``E_mul(P) = P * T_char`` its energy per operation
(:mod:`xaigen.hardware.circuit`; independent of the accelerator clock):

* multiplier  = MACs * E_mul(P)
* accumulator = MACs * E_add
* buffer      = SRAM bytes read/written * E_sram(buffer size)   (partial sums are 32-bit, read back
                before each accumulation across row folds)
* dram        = DRAM bytes * E_dram
* static      = leaking MAC units * static_fraction * P * cycles * 1000 / f[MHz]   (mW x ns)

Leaking units are all MAC units of all pods, or only those of the pods the layer uses when
``power_gate_idle_pods`` is set. Idle units inside a busy pod are clock-gated: they leak but spend
no dynamic energy. Every term but the buffer/DRAM/accumulator ones is linear in ``P``:
``E_layer(P) = E_fixed + P * pj_per_multiplier_mw``, which :func:`assignment_energy` tabulates.

Three reductions (exact / approximate) are reported side by side: multiplier-only (dynamic
multiplier energy), MAC (multiplier + accumulator, dynamic) and whole accelerator (everything,
leakage included), with the batch size of the layers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from xaigen.hardware.circuit import leakage_mw, multiplier_energy_per_mac_pj
from xaigen.hardware.compute import ComputeResult, gemm_cycles
from xaigen.hardware.config import Accelerator
from xaigen.hardware.memory import MemoryResult, layer_memory, transfer_cycles
from xaigen.hardware.starved import Conv, starved_stall_cycles
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

    @property
    def mac(self) -> float:
        """Dynamic energy of the MAC units: multiplier + accumulator."""
        return self.multiplier + self.accumulator

    def as_dict(self) -> dict:
        return asdict(self) | {"mac": self.mac, "total": self.total}

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
    pj_per_multiplier_mw: float  # d(energy_pj.total) / d(multiplier_mw): the layer's energy is linear in P
    batch: int = 1

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
    def batch(self) -> int:
        """Inferences the layers' work counts (the layers share one batch)."""
        return max((layer.batch for layer in self.layers), default=1)

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
        energy = self.energy_pj
        total = {"macs": macs, "cycles": self.cycles, "energy_pj": energy.as_dict(), "batch": self.batch,
                 "energy_per_inference_pj": energy.total / self.batch}
        if clock_mhz:
            total["latency_us"] = self.latency_us(clock_mhz)
            total["inferences_per_s"] = self.batch * 1e6 / total["latency_us"] if self.cycles else math.inf
        return {"accelerator": self.accelerator, "layers": [layer.as_dict() for layer in self.layers], "total": total}


def _split(layer: Layer, accelerator: Accelerator, partition: str) -> tuple[int, int, int, int, int]:
    """(gemms per pod, pods per GEMM, m, n, pods used) of a layer's scale-out."""
    pods_per_gemm = max(1, accelerator.pods // layer.groups)
    gemms_per_pod = math.ceil(layer.groups / accelerator.pods)
    m, n = layer.m, layer.n
    if partition == "rows":
        pods_per_gemm = min(pods_per_gemm, m)
        m = math.ceil(m / pods_per_gemm)
    else:
        pods_per_gemm = min(pods_per_gemm, n)
        n = math.ceil(n / pods_per_gemm)
    pods_used = min(accelerator.pods, layer.groups * pods_per_gemm)
    return gemms_per_pod, pods_per_gemm, m, n, pods_used


def estimate_layer(layer: Layer, accelerator: Accelerator, multiplier_mw: float | None = None) -> LayerEstimate:
    """Cycles, utilization and energy of one layer with one multiplier (power in mW).

    With ``partition="auto"`` both splits are estimated and the faster one (then the one with
    less energy) is kept; :attr:`LayerEstimate.partition` says which.
    """
    if accelerator.partition != "auto" or accelerator.pods == 1:  # one pod: nothing to split
        return _estimate_layer(layer, accelerator, multiplier_mw, "rows" if accelerator.partition == "auto" else accelerator.partition)
    return min((_estimate_layer(layer, accelerator, multiplier_mw, p) for p in ("rows", "cols")),
               key=lambda est: (est.cycles, est.energy_pj.total))


def _estimate_layer(layer: Layer, accelerator: Accelerator, multiplier_mw: float | None, partition: str) -> LayerEstimate:
    e = accelerator.energy
    multiplier_mw = e.exact_multiplier_mw if multiplier_mw is None else multiplier_mw
    gemms_per_pod, pods_per_gemm, m, n, pods_used = _split(layer, accelerator, partition)
    compute = gemm_cycles(m, layer.k, n, accelerator.array_rows, accelerator.array_cols, accelerator.dataflow)
    # Distinct bytes one pod touches for its share of one GEMM.
    ifmap_share = math.ceil(layer.ifmap_bytes / layer.groups / (pods_per_gemm if partition == "rows" else 1))
    filter_share = math.ceil(layer.filter_bytes / layer.groups / (pods_per_gemm if partition == "cols" else 1))
    memory = layer_memory(compute, ifmap_share, filter_share, m * n, accelerator.ifmap_sram_kib, accelerator.filter_sram_kib,
                          accelerator.ofmap_sram_kib)
    # The operand every pod of a GEMM needs (weights when pixels are split, inputs when filters
    # are split) is read from DRAM once and multicast to the pods.
    shared = "filter" if partition == "rows" else "ifmap"
    traffic = {"ifmap": memory.ifmap_dram_bytes, "filter": memory.filter_dram_bytes, "ofmap": memory.ofmap_dram_bytes}
    traffic = {op: layer.groups * (b if op == shared else pods_per_gemm * b) for op, b in traffic.items()}
    dram_bytes = sum(traffic.values())
    busy = gemms_per_pod * compute.cycles
    if accelerator.port_per_operand and not math.isinf(accelerator.dram_bytes_per_cycle):
        stalls = gemms_per_pod * _scalesim_stalls(layer, accelerator, m, n, pods_per_gemm)
    else:
        stalls = max(0, transfer_cycles(traffic["ifmap"], traffic["filter"], traffic["ofmap"],
                                        accelerator.dram_bytes_per_cycle, accelerator.port_per_operand) - busy)
    cycles = busy + stalls
    pieces = layer.groups * pods_per_gemm  # GEMM pieces run over all pods
    leaking_units = accelerator.array_rows * accelerator.array_cols * (pods_used if accelerator.power_gate_idle_pods else accelerator.pods)
    # Per mW of multiplier power: dynamic energy of every MAC, plus leakage of every leaking unit
    # over the layer's time (cycles / f[MHz] us = 1000 * cycles / f ns; mW x ns = pJ).
    pj_per_mw = (multiplier_energy_per_mac_pj(1.0) * layer.macs
                 + leaking_units * leakage_mw(1.0, e.static_fraction) * cycles * 1000.0 / accelerator.clock_mhz)
    energy = EnergyBreakdown(
        multiplier=layer.macs * multiplier_energy_per_mac_pj(multiplier_mw),
        accumulator=layer.macs * e.accumulate_pj,
        buffer=pieces * sum(buffer_pj_by_operand(compute, memory, accelerator, m * n).values()),
        dram=dram_bytes * e.dram_pj_per_byte,
        static=leaking_units * leakage_mw(multiplier_mw, e.static_fraction) * cycles * 1000.0 / accelerator.clock_mhz,
    )
    return LayerEstimate(layer.name, layer.macs, cycles, stalls,
                         layer.macs / (accelerator.macs * cycles) if cycles else 0.0, pods_used, partition, dram_bytes,
                         multiplier_mw, energy, pj_per_mw, layer.batch)


def _scalesim_stalls(layer: Layer, accelerator: Accelerator, m: int, n: int, pods_per_gemm: int) -> int:
    """Stalls of one GEMM piece in SCALE-Sim's memory system (:mod:`xaigen.hardware.starved`);
    repeated input addresses are followed when the piece is a whole convolution group."""
    conv = None
    if layer.ifmap_h is not None and pods_per_gemm == 1 and layer.batch == 1:
        conv = Conv(layer.ifmap_h, layer.ifmap_w, layer.filter_h, layer.filter_w, layer.channels // layer.groups,
                    layer.stride_h, layer.stride_w)
    return starved_stall_cycles(m, layer.k, n, accelerator.array_rows, accelerator.array_cols, accelerator.dataflow,
                                accelerator.ifmap_sram_kib * 1024, accelerator.filter_sram_kib * 1024, accelerator.dram_bytes_per_cycle, conv)


def buffer_pj_by_operand(compute: ComputeResult, memory: MemoryResult, accelerator: Accelerator, outputs: int) -> dict:
    """SRAM energy (pJ) of one GEMM piece per buffer: the array's reads (ifmap, filter) and
    partial-sum traffic (ofmap: every write, and a read-back of the running sum before each write
    but an output's first), plus the DRAM fills and drains through each buffer. ``outputs`` is
    the piece's ``m * n``; partial sums are ``psum_bytes`` wide."""
    e = accelerator.energy
    psum_words = compute.ofmap_writes + max(0, compute.ofmap_writes - outputs)
    return {"ifmap": (compute.ifmap_reads + memory.ifmap_dram_bytes) * e.sram_pj_per_byte(accelerator.ifmap_sram_kib),
            "filter": (compute.filter_reads + memory.filter_dram_bytes) * e.sram_pj_per_byte(accelerator.filter_sram_kib),
            "ofmap": (psum_words * e.psum_bytes + memory.ofmap_dram_bytes) * e.sram_pj_per_byte(accelerator.ofmap_sram_kib)}


def estimate_network(layers: list[Layer], accelerator: Accelerator,
                     multiplier_mw: Mapping[str, float] | float | None = None) -> NetworkEstimate:
    """Estimate every layer; ``multiplier_mw`` is one power for all layers or a layer -> power map
    (layers not in the map use the exact multiplier)."""
    if isinstance(multiplier_mw, Mapping):
        powers = {layer.name: multiplier_mw.get(layer.name) for layer in layers}
    else:
        powers = {layer.name: multiplier_mw for layer in layers}
    return NetworkEstimate(accelerator.name, [estimate_layer(layer, accelerator, powers[layer.name]) for layer in layers])


def _ratio(exact: float, approx: float) -> float:
    return exact / approx if approx else math.inf


def energy_reduction(layers: list[Layer], accelerator: Accelerator, multiplier_mw: Mapping[str, float],
                     reference_mw: Mapping[str, float] | None = None) -> dict:
    """Reference / approximate energy three ways: multipliers alone, MAC units (multiplier +
    accumulator) and the whole accelerator, with the batch size and preset they hold for.

    ``reference_mw``: each layer's reference circuit power (mW), the exact circuit of the same
    signedness as the layer's circuit (``Catalogue.reference_exact``); layers not in it, and every
    layer by default, are compared with the exact multiplier (``exact_multiplier_mw``).
    """
    exact_net = estimate_network(layers, accelerator, reference_mw or None)
    exact, approx = exact_net.energy_pj, estimate_network(layers, accelerator, multiplier_mw).energy_pj
    return {
        "multiplier_energy_reduction": _ratio(exact.multiplier, approx.multiplier),
        "mac_energy_reduction": _ratio(exact.mac, approx.mac),
        "energy_reduction": _ratio(exact.total, approx.total),
        "batch": exact_net.batch, "accelerator": accelerator.name, "power_gate_idle_pods": accelerator.power_gate_idle_pods,
        "exact_energy_pj": exact.total, "approx_energy_pj": approx.total,
        "exact_mac_energy_pj": exact.mac, "approx_mac_energy_pj": approx.mac,
        "exact_multiplier_energy_pj": exact.multiplier, "approx_multiplier_energy_pj": approx.multiplier,
    }


@dataclass(frozen=True)
class AssignmentEnergy:
    """A network's energy as a linear function of its layers' multiplier powers (pJ, mW):

    ``total(P) = fixed_pj + sum_l total_pj_per_mw[l] * P_l``,
    ``multiplier(P) = sum_l multiplier_pj_per_mw[l] * P_l``,
    ``mac(P) = accumulator_pj + multiplier(P)``.
    """

    fixed_pj: float  # buffers, DRAM and accumulators: independent of the circuits
    accumulator_pj: float
    total_pj_per_mw: dict[str, float]  # dynamic multiplier energy + leakage, per mW of the layer's circuit
    multiplier_pj_per_mw: dict[str, float]  # dynamic multiplier energy only
    batch: int

    def total(self, powers: Mapping[str, float]) -> float:
        return self.fixed_pj + sum(self.total_pj_per_mw[n] * p for n, p in powers.items())

    def multiplier(self, powers: Mapping[str, float]) -> float:
        return sum(self.multiplier_pj_per_mw[n] * p for n, p in powers.items())

    def mac(self, powers: Mapping[str, float]) -> float:
        return self.accumulator_pj + self.multiplier(powers)


def assignment_energy(layers: list[Layer], accelerator: Accelerator) -> AssignmentEnergy:
    """Tabulate :class:`AssignmentEnergy` once, for searches that score many assignments."""
    net = estimate_network(layers, accelerator)
    energy = net.energy_pj
    per_mw = {est.name: est.pj_per_multiplier_mw for est in net.layers}
    circuit_pj = sum(est.pj_per_multiplier_mw * est.multiplier_mw for est in net.layers)
    return AssignmentEnergy(energy.total - circuit_pj, energy.accumulator, per_mw,
                            {layer.name: layer.macs * multiplier_energy_per_mac_pj(1.0) for layer in layers},
                            net.batch)
