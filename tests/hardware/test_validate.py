"""Our cycles against SCALE-Sim itself (runs scalesim==2.0.2, a few seconds)."""

from pathlib import Path

import pytest

from xaigen.hardware.validate import validate

SCALESIM_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "scalesim"


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_matches_scalesim_when_compute_bound(dataflow):
    result = validate(SCALESIM_DIR / "varied_gemm.csv", SCALESIM_DIR / f"{dataflow}_calc.cfg", repeats=5)
    assert len(result.layers) == 4
    assert result.max_rel_error == 0.0
    assert all(row["cycles"] == row["scalesim_cycles"] for row in result.layers)


def test_depthwise_and_strided_conv_layers(tmp_path):
    topo = tmp_path / "t.csv"
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                    "c, 9, 9, 1, 1, 50, 20, 2,\nd_DP, 8, 8, 3, 3, 3, 1, 1,\n")
    result = validate(topo, SCALESIM_DIR / "ws_calc.cfg", repeats=5)
    assert result.max_rel_error == 0.0
