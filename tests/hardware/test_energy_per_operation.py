"""Energy per operation: from the circuit's characterization, not the accelerator clock."""

import pytest

from xaigen.hardware import (
    CHARACTERIZATION_PERIOD_NS,
    PRESETS,
    Accelerator,
    Layer,
    assignment_energy,
    energy_reduction,
    estimate_network,
    multiplier_energy_per_mac_pj,
)

LAYERS = [Layer("A", m=64, k=27, n=32), Layer("B", m=10, k=100, n=10)]
MACS = sum(layer.macs for layer in LAYERS)


def test_energy_per_mac_is_power_times_characterization_period():
    assert multiplier_energy_per_mac_pj(0.425) == pytest.approx(0.425 * CHARACTERIZATION_PERIOD_NS)
    assert multiplier_energy_per_mac_pj(0.0) == 0.0


@pytest.mark.parametrize("power_mw", [0.425, 0.17, 0.052])
def test_same_circuit_same_energy_per_mac_on_every_preset(power_mw):
    per_mac = {name: estimate_network(LAYERS, acc, power_mw).energy_pj.multiplier / MACS
               for name, acc in PRESETS.items()}
    clocks = {acc.clock_mhz for acc in PRESETS.values()}
    assert len(clocks) > 1  # the presets do differ in clock (200 MHz to 1050 MHz)
    for value in per_mac.values():
        assert value == pytest.approx(multiplier_energy_per_mac_pj(power_mw))


def test_leakage_scales_with_the_circuits_own_power():
    acc = PRESETS["tpu-v4"]
    exact = estimate_network(LAYERS, acc).energy_pj.static
    quarter = estimate_network(LAYERS, acc, acc.energy.exact_multiplier_mw / 4).energy_pj.static
    assert exact > 0
    assert quarter == pytest.approx(exact / 4)
    # Leakage is power x time, so it does follow the clock: a slower clock, the same cycles, more pJ.
    slow = estimate_network(LAYERS, acc.with_(clock_mhz=acc.clock_mhz / 2)).energy_pj.static
    assert slow == pytest.approx(2 * exact)


def test_power_gating_idle_pods_lowers_static_energy_only():
    acc = Accelerator("p", 16, 16, pods=8, partition="rows")
    tiny = [Layer("t", m=4, k=16, n=16)]  # 4 output rows: at most 4 of the 8 pods busy
    on = estimate_network(tiny, acc.with_(power_gate_idle_pods=True)).layers[0]
    off = estimate_network(tiny, acc).layers[0]
    assert on.pods_used < acc.pods
    assert on.energy_pj.static == pytest.approx(off.energy_pj.static * on.pods_used / acc.pods)
    assert (on.energy_pj.multiplier, on.energy_pj.buffer, on.cycles) == \
        (off.energy_pj.multiplier, off.energy_pj.buffer, off.cycles)
    # A layer that keeps every pod busy saves nothing by gating.
    big = [Layer("b", m=800, k=16, n=16)]
    assert estimate_network(big, acc.with_(power_gate_idle_pods=True)).energy_pj.static == \
        pytest.approx(estimate_network(big, acc).energy_pj.static)


def test_three_reductions_side_by_side():
    acc = PRESETS["eyeriss-like"]
    powers = {"A": 0.425 / 8, "B": 0.425 / 8}
    r = energy_reduction(LAYERS, acc, powers)
    assert r["multiplier_energy_reduction"] == pytest.approx(8)
    e = acc.energy
    mac_exact = MACS * (multiplier_energy_per_mac_pj(0.425) + e.accumulate_pj)
    mac_approx = MACS * (multiplier_energy_per_mac_pj(0.425 / 8) + e.accumulate_pj)
    assert r["mac_energy_reduction"] == pytest.approx(mac_exact / mac_approx)
    assert 1 < r["energy_reduction"] < r["mac_energy_reduction"] < r["multiplier_energy_reduction"]
    assert (r["batch"], r["accelerator"]) == (1, "eyeriss-like")


def test_assignment_energy_is_the_estimate_made_linear():
    acc = PRESETS["sosa-32x32"].with_(power_gate_idle_pods=True)
    table = assignment_energy(LAYERS, acc)
    powers = {"A": 0.1, "B": 0.3}
    direct = estimate_network(LAYERS, acc, powers).energy_pj
    assert table.total(powers) == pytest.approx(direct.total)
    assert table.multiplier(powers) == pytest.approx(direct.multiplier)
    assert table.mac(powers) == pytest.approx(direct.mac)


def test_batch_is_reported_per_inference():
    acc = PRESETS["tpu-v4"]
    batched = [Layer(layer.name, m=layer.m * 4, k=layer.k, n=layer.n, batch=4) for layer in LAYERS]
    total = estimate_network(batched, acc).as_dict(acc.clock_mhz)["total"]
    assert total["batch"] == 4
    assert total["energy_per_inference_pj"] == pytest.approx(total["energy_pj"]["total"] / 4)
    assert total["inferences_per_s"] == pytest.approx(4 * acc.clock_mhz * 1e6 / total["cycles"])
