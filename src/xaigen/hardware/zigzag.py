"""Our energy model against ZigZag's (KU Leuven's DNN-accelerator cost model, ``zigzag-dse``).

One pod of an :class:`~xaigen.hardware.config.Accelerator` is described in ZigZag's hardware
format with the *same* per-access energies, so that only the two tools' counting of accesses
differs:

* operational array ``R x C``, one MAC = ``E_mul(P) + E_add`` pJ (multiplier of power ``P``,
  :func:`~xaigen.hardware.circuit.multiplier_energy_per_mac_pj`, plus the 32-bit accumulator);
* one register per PE for the stationary operand (weights for ``ws``, partial sums for ``os``,
  inputs for ``is``) at zero energy: our model has no PE register file, operands forwarded
  between PEs cost nothing;
* ifmap / filter / ofmap SRAMs of the pod's sizes, ``E_sram(size)`` pJ per byte read or
  written (ZigZag counts accesses of ``bandwidth_max`` bits, so an access costs
  ``E_sram * bandwidth_max / 8``; ``bandwidth_min`` = 8 bits makes a byte the counting grain);
* DRAM at ``E_dram`` pJ per byte for every operand.

Every layer goes to ZigZag as the same ``M x K x N`` GEMM (``O[b][k] += I[b][c] * W[c][k]``
with ``B = M``, ``C = K``, ``K = N``) and is compared with our estimate of that GEMM (``groups``
copies). ZigZag's leakage-free total is held against our total minus leakage. The mapping is
where the tools differ: we follow SCALE-Sim's fixed fold order of the dataflow; ZigZag searches
the temporal loop order and tiling (LOMA) for the lowest energy, counts partial-sum *reads* for
accumulation across row folds, and keeps data in the largest level that fits.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from xaigen.hardware.circuit import multiplier_energy_per_mac_pj
from xaigen.hardware.compute import gemm_cycles
from xaigen.hardware.config import Accelerator
from xaigen.hardware.estimate import buffer_pj_by_operand, estimate_layer
from xaigen.hardware.memory import layer_memory
from xaigen.hardware.topology import Layer

KIB_BITS = 8 * 1024
WIDE_BITS = 1024  # SRAM/DRAM port width in bits (only latency depends on it; energy is per byte)
# (row dim, col dim) of the GEMM O[b][k] += I[b][c] * W[c][k] per dataflow (see compute.py).
SPATIAL = {"ws": ("C", "K"), "os": ("B", "K"), "is": ("C", "B")}
STATIONARY = {"ws": ("I2", 8), "os": ("O", 32), "is": ("I1", 8)}  # (memory operand, bits)


@dataclass(frozen=True)
class ZigzagComparison:
    """One layer's dynamic energy (pJ) by both tools, by part."""

    name: str
    macs: int
    ours_pj: float  # our total without leakage
    zigzag_pj: float
    ours_parts: dict  # mac, buffer, dram
    zigzag_parts: dict  # mac, buffer, dram
    ours_dram_bytes: int
    zigzag_dram_bytes: float

    @property
    def rel_diff(self) -> float:
        """(ours - ZigZag) / ZigZag."""
        return (self.ours_pj - self.zigzag_pj) / self.zigzag_pj

    def as_dict(self) -> dict:
        return asdict(self) | {"rel_diff": self.rel_diff}


def _port(name: str, kind: str, bits: int, allocation: list[str]) -> dict:
    return {"name": name, "type": kind, "bandwidth_min": 8 if bits >= 8 else bits, "bandwidth_max": bits,
            "allocation": allocation}


def _memory(operands: list[str], size_bits: int, pj_per_byte: float, bits: int, served: list[str]) -> dict:
    cost = pj_per_byte * bits / 8  # per access of `bits`
    alloc_r = [f"{op}, {d}" for op in operands for d in (("tl", "th") if op == "O" else ("tl",))]
    alloc_w = [f"{op}, {d}" for op in operands for d in (("fh", "fl") if op == "O" else ("fh",))]
    return {"size": int(size_bits), "r_cost": cost, "w_cost": cost, "area": 0, "latency": 1, "operands": operands,
            "ports": [_port("r_port_1", "read", bits, alloc_r), _port("w_port_1", "write", bits, alloc_w)],
            "served_dimensions": served}


def hardware_description(accelerator: Accelerator, multiplier_mw: float | None = None) -> dict:
    """One pod of ``accelerator`` in ZigZag's accelerator format (a dict to dump as YAML)."""
    e = accelerator.energy
    power = e.exact_multiplier_mw if multiplier_mw is None else multiplier_mw
    reg_operand, reg_bits = STATIONARY[accelerator.dataflow]
    memories = {
        "pe_register": _memory([reg_operand], reg_bits, 0.0, reg_bits, []),
        "ifmap_sram": _memory(["I1"], accelerator.ifmap_sram_kib * KIB_BITS, e.sram_pj_per_byte(accelerator.ifmap_sram_kib),
                              WIDE_BITS, ["D1", "D2"]),
        "filter_sram": _memory(["I2"], accelerator.filter_sram_kib * KIB_BITS, e.sram_pj_per_byte(accelerator.filter_sram_kib),
                               WIDE_BITS, ["D1", "D2"]),
        "ofmap_sram": _memory(["O"], accelerator.ofmap_sram_kib * KIB_BITS, e.sram_pj_per_byte(accelerator.ofmap_sram_kib),
                              WIDE_BITS, ["D1", "D2"]),
        "dram": _memory(["I1", "I2", "O"], 8 * 10**10, e.dram_pj_per_byte, WIDE_BITS, ["D1", "D2"]),
    }
    return {"name": accelerator.name.replace("-", "_"), "memories": memories,
            "operational_array": {"unit_energy": multiplier_energy_per_mac_pj(power) + e.accumulate_pj,
                                  "unit_area": 1, "dimensions": ["D1", "D2"],
                                  "sizes": [accelerator.array_rows, accelerator.array_cols]}}


def mapping_description(accelerator: Accelerator) -> list[dict]:
    """The dataflow's spatial unrolling (rows, cols) in ZigZag's mapping format."""
    rows, cols = SPATIAL[accelerator.dataflow]
    return [{"name": "default", "spatial_mapping": {"D1": [f"{rows}, {accelerator.array_rows}"],
                                                    "D2": [f"{cols}, {accelerator.array_cols}"]},
             "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}]


def workload_description(layer: Layer, layer_id: int = 0) -> dict:
    """One group of ``layer`` as a ZigZag GEMM (8-bit operands, 32-bit partial sums)."""
    return {"id": layer_id, "name": layer.name, "operator_type": "Gemm",
            "equation": "O[b][k]+=I[b][c]*W[c][k]", "loop_dims": ["B", "C", "K"],
            "loop_sizes": [layer.m, layer.k, layer.n],
            "operand_precision": {"I": 8, "W": 8, "O": 32, "O_final": 8}}


def _as_gemm(layer: Layer) -> Layer:
    """The layer without convolution geometry: both tools see M x K distinct inputs."""
    return Layer(layer.name, m=layer.m, k=layer.k, n=layer.n, groups=layer.groups, batch=layer.batch)


OPERAND_NAMES = {"I": "ifmap", "W": "filter", "O": "ofmap"}


def _zigzag_parts(cme) -> dict:
    """Energy (pJ) of one ZigZag cost-model evaluation: mac, SRAM per operand, DRAM per operand."""
    hierarchy = cme.accelerator.memory_hierarchy
    parts = {"mac": float(cme.mac_energy)}
    for layer_op, per_level in cme.mem_energy_breakdown.items():
        mem_op = cme.memory_operand_links.layer_to_mem_op(layer_op)
        operand = OPERAND_NAMES[str(layer_op)[-1] if str(layer_op)[-1] in OPERAND_NAMES else str(layer_op)]
        for level, energy in zip(hierarchy.get_memory_levels(mem_op=mem_op), per_level):
            key = f"{'dram' if level.name == 'dram' else 'sram'}_{operand}"
            parts[key] = parts.get(key, 0.0) + float(energy)
    return parts


def our_parts(layer: Layer, accelerator: Accelerator, multiplier_mw: float | None = None) -> dict:
    """Our dynamic energy (pJ) of ``layer`` on one pod, split like :func:`_zigzag_parts`."""
    e, pod = accelerator.energy, replace(accelerator, pods=1, partition="rows")
    est = estimate_layer(layer, pod, multiplier_mw)
    c = gemm_cycles(layer.m, layer.k, layer.n, accelerator.array_rows, accelerator.array_cols, accelerator.dataflow)
    mem = layer_memory(c, layer.ifmap_bytes // layer.groups, layer.filter_bytes // layer.groups, layer.m * layer.n,
                       accelerator.ifmap_sram_kib, accelerator.filter_sram_kib, accelerator.ofmap_sram_kib)
    g = layer.groups
    sram = buffer_pj_by_operand(c, mem, accelerator, layer.m * layer.n)
    return {"mac": est.energy_pj.mac, **{f"sram_{op}": g * pj for op, pj in sram.items()},
            "dram_ifmap": g * mem.ifmap_dram_bytes * e.dram_pj_per_byte,
            "dram_filter": g * mem.filter_dram_bytes * e.dram_pj_per_byte,
            "dram_ofmap": g * mem.ofmap_dram_bytes * e.dram_pj_per_byte}


def _zigzag_stages() -> list:
    """ZigZag's own pipeline (``zigzag.api``) without its file dumps and printouts, which also fail
    on a layer that needs no temporal loop."""
    from zigzag.stages.evaluation.cost_model_evaluation import CostModelStage
    from zigzag.stages.mapping.spatial_mapping_generation import SpatialMappingGeneratorStage
    from zigzag.stages.mapping.temporal_mapping_generator_stage import TemporalMappingGeneratorStage
    from zigzag.stages.parser.accelerator_parser import AcceleratorParserStage
    from zigzag.stages.parser.workload_parser import WorkloadParserStage
    from zigzag.stages.results.reduce_stages import MinimalEnergyStage, SumStage
    from zigzag.stages.workload_iterator import WorkloadStage

    return [WorkloadParserStage, AcceleratorParserStage, SumStage, WorkloadStage, MinimalEnergyStage,
            SpatialMappingGeneratorStage, MinimalEnergyStage, TemporalMappingGeneratorStage, CostModelStage]


def run_zigzag(layer: Layer, accelerator: Accelerator, workdir: Path, multiplier_mw: float | None = None) -> dict:
    """ZigZag's lowest-energy mapping of one group of ``layer`` on one pod: energy parts (pJ)."""
    import yaml
    from zigzag.mapping.temporal_mapping import TemporalMappingType
    from zigzag.stages.main import MainStage

    hardware, mapping = workdir / "hardware.yaml", workdir / "mapping.yaml"
    hardware.write_text(yaml.safe_dump(hardware_description(accelerator, multiplier_mw), sort_keys=False))
    mapping.write_text(yaml.safe_dump(mapping_description(accelerator), sort_keys=False))
    logging.disable(logging.WARNING)  # ZigZag logs every stage at INFO/WARNING
    try:
        # The settings of zigzag.api.get_hardware_performance_zigzag(opt="energy") (v3.9.1).
        cmes = MainStage(_zigzag_stages(), accelerator=str(hardware), workload=[workload_description(layer)],
                         mapping=str(mapping), dump_folder=str(workdir), loma_lpf_limit=6,
                         loma_show_progress_bar=False, nb_mappings_generated=3,
                         enable_mix_spatial_mapping_generation=False, access_same_data_considered_as_no_access=True,
                         temporal_mapping_type=TemporalMappingType("uneven")).run()
    finally:
        logging.disable(logging.NOTSET)
    return _zigzag_parts(cmes[0][1][0][0])


def compare_layer(layer: Layer, accelerator: Accelerator, multiplier_mw: float | None = None,
                  workdir: Path | None = None) -> ZigzagComparison:
    """Dynamic energy of ``layer`` (as a GEMM) on one pod of ``accelerator`` by our model and by ZigZag."""
    gemm = _as_gemm(layer)
    pod = replace(accelerator, pods=1, partition="rows")
    ours = our_parts(gemm, pod, multiplier_mw)
    with tempfile.TemporaryDirectory(prefix="xaigen-zigzag-", dir=workdir) as tmp:
        one_group = replace(gemm, groups=1)
        theirs = {k: v * layer.groups for k, v in run_zigzag(one_group, pod, Path(tmp), multiplier_mw).items()}
    dram = accelerator.energy.dram_pj_per_byte
    return ZigzagComparison(layer.name, layer.macs, sum(ours.values()), sum(theirs.values()), ours, theirs,
                            round(sum(v for k, v in ours.items() if k.startswith("dram")) / dram),
                            sum(v for k, v in theirs.items() if k.startswith("dram")) / dram)
