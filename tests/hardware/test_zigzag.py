"""Our energy against ZigZag's on a small case (skipped when zigzag-dse is not installed)."""

import pytest

from xaigen.hardware import PRESETS, Layer, multiplier_energy_per_mac_pj
from xaigen.hardware.zigzag import compare_layer, hardware_description


def test_description_carries_our_per_access_energies():
    acc = PRESETS["eyeriss-like"]
    hw = hardware_description(acc, 0.2)
    e = acc.energy
    assert hw["operational_array"]["unit_energy"] == pytest.approx(multiplier_energy_per_mac_pj(0.2) + e.accumulate_pj)
    assert hw["operational_array"]["sizes"] == [12, 14]
    sram = hw["memories"]["ifmap_sram"]
    bits = sram["ports"][0]["bandwidth_max"]
    assert sram["r_cost"] == pytest.approx(e.sram_pj_per_byte(54) * bits / 8)
    assert sram["size"] == 54 * 1024 * 8
    assert hw["memories"]["dram"]["w_cost"] == pytest.approx(160.0 * bits / 8)


@pytest.mark.parametrize("preset", ["tpu-v4", "eyeriss-like"])
def test_small_gemm_agrees_with_zigzag(preset, tmp_path):
    pytest.importorskip("zigzag")
    row = compare_layer(Layer("g", m=64, k=64, n=64), PRESETS[preset], workdir=tmp_path)
    assert row.ours_parts["mac"] == pytest.approx(row.zigzag_parts["mac"])  # same MAC energy, same MACs
    # Both fetch every operand once from DRAM here (it fits the buffers).
    assert row.zigzag_dram_bytes == pytest.approx(row.ours_dram_bytes, rel=0.02)
    assert abs(row.rel_diff) < 0.15
