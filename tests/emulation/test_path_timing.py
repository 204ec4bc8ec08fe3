"""The measured choice between a layer's int8 and float low-rank paths (CPUs without VNNI)."""

import logging
import time

import pytest
import torch
from torch import nn

from xaigen.emulation import ApproxLayer, approximable_layers, approximate, calibrate, int8, path_timing

needs_int8 = pytest.mark.skipif(not int8.int8_available(), reason="this CPU's int8 kernels are not exact")


@pytest.fixture(autouse=True)
def _fresh_choices():
    path_timing.clear()
    yield
    path_timing.clear()


def test_faster_path_takes_the_quicker_run_and_remembers_it():
    def slow():
        time.sleep(0.003)
        return torch.ones(2)

    choice, outputs = path_timing.faster_path("key", {"slow": slow, "quick": lambda: torch.zeros(2)}, repeats=2)
    assert choice == "quick" and path_timing.known_choice("key") == "quick"
    assert torch.equal(outputs["slow"], torch.ones(2)) and torch.equal(outputs["quick"], torch.zeros(2))
    assert path_timing.known_choice("other") is None


def _models(catalogue, name="mul8s_1L2N"):
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, stride=2), nn.ReLU(),
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 10)).eval()
    x = torch.randn(16, 3, 10, 10)
    ranges = calibrate(model, x)
    return x, {path: approximate(model, name, catalogue, ranges, path=path) for path in ("auto", "int8", "lowrank")}


@needs_int8
def test_auto_times_each_geometry_once_and_keeps_every_bit(catalogue, monkeypatch):
    """Whichever path a geometry's timing or a remembered choice picks, the output is the same."""
    monkeypatch.setattr(int8, "int8_conv_mode", lambda: "int16-pairs")  # time as on a CPU without VNNI
    x, models = _models(catalogue)
    expected = models["int8"](x)
    assert torch.equal(expected, models["lowrank"](x))
    assert torch.equal(models["auto"](x), expected)
    layers = approximable_layers(models["auto"]).values()
    assert len(path_timing._FASTER) == len(layers)  # one measured geometry per layer
    assert {layer.last_path for layer in layers} <= {"int8", "lowrank32"}
    for remembered, ran in (("float", "lowrank32"), ("int8", "int8")):
        path_timing._FASTER.update(dict.fromkeys(path_timing._FASTER, remembered))
        assert torch.equal(models["auto"](x), expected)
        assert {layer.last_path for layer in layers} == {ran}
        assert len(path_timing._FASTER) == len(layers)  # nothing timed again


@needs_int8
def test_auto_without_timing_runs_the_plan(catalogue):
    """On CPUs with exact int8 kernels (or the int8 path forced) nothing is timed."""
    if int8.int8_conv_mode() != "exact":
        pytest.skip("this CPU's int8 conv adds products in int16 pairs")
    x, models = _models(catalogue)
    models["auto"](x)
    assert not path_timing._FASTER
    assert {layer.last_path for layer in approximable_layers(models["auto"]).values()} == {"int8"}


@needs_int8
def test_paths_that_disagree_are_said_and_the_float_path_runs(catalogue, monkeypatch, caplog):
    monkeypatch.setattr(int8, "int8_conv_mode", lambda: "int16-pairs")
    x, models = _models(catalogue)
    output_with = ApproxLayer._output_with

    def off_by_one_on_int8(self, x, plan):
        y = output_with(self, x, plan)
        return y + 1 if plan.path == "int8" else y

    monkeypatch.setattr(ApproxLayer, "_output_with", off_by_one_on_int8)
    with caplog.at_level(logging.WARNING, logger="xaigen"):
        out = models["auto"](x)
    assert torch.equal(out, models["lowrank"](x))
    assert caplog.text.count("the int8 and float paths disagree") == 3
    assert set(path_timing._FASTER.values()) == {"float"}
    assert {layer.last_path for layer in approximable_layers(models["auto"]).values()} == {"lowrank32"}
