"""Latency, throughput and energy per inference against the batch size (``hw estimate --sweep-batch``)."""

import json

import pytest
from torch import nn
from typer.testing import CliRunner

from xaigen.hardware import PRESETS, Layer, estimate_network, layers_from_model
from xaigen.hardware.throughput import DEFAULT_BATCHES, batch_sweep, plot_batch_sweep, with_batch

MODEL = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1),
                      nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


def test_with_batch_equals_tracing_at_that_batch():
    one = layers_from_model(MODEL, (3, 8, 8), batch=1)
    assert [with_batch(layer, 6) for layer in one] == layers_from_model(MODEL, (3, 8, 8), batch=6)


def test_sweep_matches_the_estimate_and_fills_the_array():
    acc = PRESETS["tpu-v4"]
    layers = layers_from_model(MODEL, (3, 8, 8))
    points = batch_sweep(layers, acc)
    assert [p.batch for p in points] == list(DEFAULT_BATCHES)
    at_16 = estimate_network(layers_from_model(MODEL, (3, 8, 8), batch=16), acc)
    p16 = points[DEFAULT_BATCHES.index(16)]
    assert p16.cycles == at_16.cycles
    assert p16.energy_per_inference_pj == pytest.approx(at_16.energy_pj.total / 16)
    assert p16.inferences_per_s == pytest.approx(16 * acc.clock_mhz * 1e6 / at_16.cycles)
    # A batch of one leaves most of a 8 x 128 x 128 accelerator idle; batching fills it and
    # amortizes leakage and weight loads.
    assert points[-1].utilization > 10 * points[0].utilization
    assert points[-1].inferences_per_s > 10 * points[0].inferences_per_s
    assert points[-1].energy_per_inference_pj < points[0].energy_per_inference_pj
    assert points[-1].latency_us > points[0].latency_us


def test_plot_and_cli(tmp_path, monkeypatch):
    from xaigen.cli import app

    acc = PRESETS["eyeriss-like"]
    path = plot_batch_sweep(batch_sweep(layers_from_model(MODEL, (3, 8, 8)), acc, (1, 4)), tmp_path / "s.png")
    assert path.stat().st_size > 1000
    topo = tmp_path / "t.csv"
    topo.write_text("Layer, M, N, K,\nA, 4, 64, 64,\n")
    result = CliRunner().invoke(app, ["hw", "estimate", "--topology", str(topo), "--accelerator", "sosa-32x32",
                                      "--sweep-batch", "--json"])
    assert result.exit_code == 0, result.output
    sweep = json.loads(result.output)["batch_sweep"]
    assert [p["batch"] for p in sweep] == list(DEFAULT_BATCHES)
    at_8 = estimate_network([with_batch(Layer("A", m=4, k=64, n=64), 8)], PRESETS["sosa-32x32"])
    assert (sweep[3]["batch"], sweep[3]["cycles"]) == (8, at_8.cycles)
