"""The bandwidth-starved regime against SCALE-Sim 2.0.2 itself (a few seconds)."""

from pathlib import Path

import pytest

from xaigen.hardware import Accelerator, Layer, estimate_layer, gemm_cycles
from xaigen.hardware.starved import starved_stall_cycles
from xaigen.hardware.validate import validate

SCALESIM_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "scalesim"
HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
# Per dataflow, a layer that stalls in SCALE-Sim with 16 KiB buffers and 8 B/cycle (the ws one
# wraps around its input buffer and finds inputs again through repeated addresses).
LAYERS = {"ws": HEADER + "conv_7x7_s2, 22, 22, 7, 7, 3, 24, 2,\n", "os": HEADER + "conv_5x5, 16, 16, 5, 5, 6, 16, 1,\n",
          "is": "Layer, M, N, K,\ngemm_deep, 20, 20, 500,\n"}
SHAPES = {"conv_7x7_s2": (81, 147, 24), "conv_5x5": (144, 150, 16), "gemm_deep": (20, 500, 20)}


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_starved_layers_within_10_percent_of_scalesim(dataflow, tmp_path):
    topology = tmp_path / "t.csv"
    topology.write_text(LAYERS[dataflow])
    result = validate(topology, SCALESIM_DIR / f"{dataflow}_user.cfg", repeats=2)
    (row,) = result.layers
    assert row["scalesim_cycles"] > gemm_cycles(*SHAPES[row["name"]], 16, 8, dataflow).cycles  # it does stall
    assert result.max_rel_error <= 0.10, result.layers


def test_no_stall_when_the_operands_fit_half_the_buffers():
    # 64 x 64 inputs and weights (4 KiB each) fit the 8 KiB active half of 16 KiB buffers.
    assert starved_stall_cycles(64, 64, 64, 16, 8, "ws", 16384, 16384, 8) == 0
    assert starved_stall_cycles(64, 64, 64, 16, 8, "os", 16384, 16384, 1) == 0


def test_stalls_grow_as_bandwidth_shrinks_on_a_streamed_operand():
    # 500-deep GEMM: the 10 KB weights overflow the buffer and are streamed in prefetches.
    stalls = [starved_stall_cycles(20, 500, 20, 16, 8, "os", 16384, 16384, bw) for bw in (64, 8, 2)]
    assert stalls[0] <= stalls[1] < stalls[2]


def test_estimate_uses_the_scalesim_memory_model_per_port():
    acc = Accelerator("s", 16, 8, dataflow="os", ifmap_sram_kib=16, filter_sram_kib=16, ofmap_sram_kib=16,
                      dram_bytes_per_cycle=8, port_per_operand=True)
    est = estimate_layer(Layer("deep", m=20, k=500, n=20), acc)
    assert est.stall_cycles == starved_stall_cycles(20, 500, 20, 16, 8, "os", 16384, 16384, 8) > 0
    assert est.cycles == gemm_cycles(20, 500, 20, 16, 8, "os").cycles + est.stall_cycles
