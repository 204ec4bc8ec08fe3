import pytest
import torch
from torch import nn

from xaigen.errors import InputError
from xaigen.hardware import (
    PRESETS,
    energy_reduction,
    estimate_network,
    layers_from_model,
    load_accelerator,
    read_scalesim_cfg,
    read_topology_csv,
)


def test_layers_from_model_geometry():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1, groups=4), nn.Flatten(), nn.Linear(8 * 8 * 8, 5))
    layers = layers_from_model(model, (3, 16, 16), batch=2)
    c1, c2, fc = layers
    assert (c1.m, c1.k, c1.n, c1.ifmap_h) == (2 * 8 * 8, 27, 8, 18)
    assert (c2.m, c2.k, c2.n, c2.groups) == (2 * 64, 2 * 9, 2, 4)
    assert (fc.m, fc.k, fc.n) == (2, 512, 5)
    assert sum(layer.macs for layer in layers) == 2 * (64 * 27 * 8 + 64 * 18 * 8 + 512 * 5)


def test_multiplier_energy_scales_with_power():
    layers = read_topology_csv_text("Layer, M, N, K,\nA, 64, 32, 27,\nB, 10, 10, 100,\n")
    acc = PRESETS["tpu-v4"]
    exact = estimate_network(layers, acc)
    half = estimate_network(layers, acc, 0.425 / 2)
    assert half.energy_pj.multiplier == pytest.approx(exact.energy_pj.multiplier / 2)
    assert half.energy_pj.dram == exact.energy_pj.dram
    assert half.cycles == exact.cycles
    r = energy_reduction(layers, acc, {"A": 0.425 / 8, "B": 0.425 / 8})
    assert r["multiplier_energy_reduction"] == pytest.approx(8)
    assert 1 < r["energy_reduction"] < 8  # the rest of the accelerator does not shrink


def read_topology_csv_text(text, tmp=None):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "t.csv"
    path.write_text(text)
    return read_topology_csv(path)


@pytest.mark.parametrize("text,problem,where", [
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
     "c1, 10, 10, 3, 3, 4,\n", "missing 'num filter'", "line 2"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
     "c1, 10, ten, 3, 3, 4, 8, 1,\n", "'ifmap width': 'ten' is not an integer", "line 2"),
    ("Layer, M, N, K,\nA, 4, -4, 4,\n", "must be a positive integer", "line 2"),
    ("foo, bar\nA, 1\n", "header must be", "line 1"),
    ("Layer, M, N, K,\nA, 4, 4, 4,\nB, 4, 4, 4,\nA, 2, 2, 2,\n", "layer name 'A' is already used on line 2", "line 4"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
     "c1, 2, 2, 3, 3, 4, 8, 1,\n", "larger than the input", "line 2"),
])
def test_bad_topology(tmp_path, text, problem, where):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        read_topology_csv(path)
    assert problem in str(info.value) and where in str(info.value) and str(path) in str(info.value)


CFG = """[general]
run_name = t
[architecture_presets]
ArrayHeight: 8
ArrayWidth: 16
IfmapSramSzkB: 64
FilterSramSzkB: 64
OfmapSramSzkB: 64
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Dataflow: {df}
Bandwidth: 10
[run_presets]
InterfaceBandwidth: {mode}
"""


def test_read_cfg(tmp_path, caplog):
    path = tmp_path / "a.cfg"
    path.write_text(CFG.format(df="os", mode="USER").replace("Bandwidth: 10", "Bandwidth: 10\nMemoryBanks: 2\n"
                                                                              "ArrayHieght: 4\nSramBanks: 4"))
    with caplog.at_level("WARNING", logger="xaigen"):
        acc = read_scalesim_cfg(path)
    assert "[architecture_presets] arrayhieght, srambanks: not read by xaigen" in caplog.text  # not MemoryBanks
    assert (acc.array_rows, acc.array_cols, acc.dataflow, acc.dram_bytes_per_cycle) == (8, 16, "os", 10.0)
    assert load_accelerator(path) == acc
    assert load_accelerator("sosa-32x32").pods == 256


@pytest.mark.parametrize("edit,problem", [
    (lambda t: t.replace("Dataflow: ws", "Dataflow: rs"), "'dataflow' must be one of"),
    (lambda t: t.replace("ArrayWidth: 16", "ArrayWidth: -3"), "'ArrayWidth' must be positive"),
    (lambda t: t.replace("ArrayWidth: 16", "ArrayWidth: wide"), "'ArrayWidth' = 'wide' is not a valid int"),
    (lambda t: t.replace("ArrayHeight: 8\n", ""), "missing key 'ArrayHeight'"),
    (lambda t: t.replace("[architecture_presets]", "[arch]"), "missing section"),
])
def test_bad_cfg(tmp_path, edit, problem):
    path = tmp_path / "bad.cfg"
    path.write_text(edit(CFG.format(df="ws", mode="CALC")))
    with pytest.raises(InputError, match=problem):
        read_scalesim_cfg(path)


def test_unknown_preset():
    with pytest.raises(InputError, match="unknown accelerator"):
        load_accelerator("tpu-v9")


def test_estimate_of_approximate_model_matches_float_model(catalogue):
    from xaigen.emulation import approximate, calibrate

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    x = torch.randn(4, 1, 6, 6)
    ax = approximate(model, None, catalogue, calibrate(model, x))
    assert layers_from_model(ax, (1, 6, 6)) == layers_from_model(model, (1, 6, 6))
