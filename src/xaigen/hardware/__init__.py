"""Analytical model of multi-pod systolic-array accelerators (cycles, traffic, energy), checked
against SCALE-Sim."""

from xaigen.hardware.circuit import CHARACTERIZATION_PERIOD_NS, multiplier_energy_per_mac_pj
from xaigen.hardware.compute import ComputeResult, gemm_cycles
from xaigen.hardware.config import PRESETS, Accelerator, EnergyModel, load_accelerator, read_scalesim_cfg
from xaigen.hardware.estimate import (
    AssignmentEnergy,
    EnergyBreakdown,
    LayerEstimate,
    NetworkEstimate,
    assignment_energy,
    energy_reduction,
    estimate_layer,
    estimate_network,
)
from xaigen.hardware.memory import MemoryResult, layer_memory
from xaigen.hardware.topology import Layer, conv_layer, layers_from_model, read_topology_csv, write_topology_csv

__all__ = [
    "CHARACTERIZATION_PERIOD_NS", "PRESETS", "Accelerator", "AssignmentEnergy", "assignment_energy",
    "multiplier_energy_per_mac_pj", "ComputeResult", "EnergyBreakdown", "EnergyModel", "Layer", "LayerEstimate",
    "MemoryResult", "NetworkEstimate", "conv_layer", "energy_reduction", "estimate_layer", "estimate_network",
    "gemm_cycles", "layer_memory", "layers_from_model", "load_accelerator", "read_scalesim_cfg",
    "read_topology_csv", "write_topology_csv",
]
