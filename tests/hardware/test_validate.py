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


def test_inputs_scalesim_cannot_run_are_one_line_errors(tmp_path):
    import pytest

    from xaigen.errors import InputError
    from xaigen.hardware.validate import validate

    with pytest.raises(InputError, match="is a directory"):
        validate(tmp_path, tmp_path)
    config = tmp_path / "bad.cfg"
    config.write_text("[general]\nrun_name = %(nope)s\n[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\n")
    topology = tmp_path / "t.csv"
    topology.write_text("Layer, M, N, K,\nfc, 4, 4, 4,\n")
    with pytest.raises(InputError) as error:
        validate(topology, config)
    assert "\n" not in str(error.value)
