"""Each layer's energy reference is the exact circuit of its circuit's signedness; a search can mix
signed circuits and unsigned ones in sign-magnitude, layer by layer."""

import pytest
import torch

from xaigen.data import load_digits
from xaigen.emulation import approximate, calibrate, set_assignment
from xaigen.hardware import PRESETS, energy_reduction, layers_from_model
from xaigen.models import TrainConfig, small_cnn, train
from xaigen.multipliers import Catalogue
from xaigen.search import AssignmentProblem, Run, summarize_run, xai_gen

SIGNED = ["exact_s8", "mul8s_1L2N", "mul8s_1KVA"]
UNSIGNED_SM = ["exact_u8+sm", "mul8u_17R6+sm", "mul8u_1A0M+sm"]


@pytest.fixture(scope="module")
def problem():
    data = load_digits()
    torch.manual_seed(0)
    model = small_cnn()
    train(model, data.x_train, data.y_train, TrainConfig(epochs=3))
    cat = Catalogue.default(include_user=False)
    ax = approximate(model, None, cat, calibrate(model, data.x_train[:256]))
    set_assignment(ax, None, cat)
    hw = layers_from_model(model, (1, 8, 8))
    return AssignmentProblem(ax, data.x_test[:200], data.y_test[:200], cat, SIGNED + UNSIGNED_SM, hw,
                             PRESETS["tpu-v4"]), hw


def test_unsigned_exact_saves_exactly_one_and_is_bit_identical(problem):
    p, hw = problem
    everywhere = {n: "exact_u8+sm" for n in p.layers}
    assert p.reductions(everywhere) == {"energy_reduction": 1.0, "multiplier_energy_reduction": 1.0,
                                        "mac_energy_reduction": 1.0}
    _, multiplier_pj = p.energy(everywhere)
    assert multiplier_pj == pytest.approx(p.exact_multiplier_energy_pj * 0.391 / 0.425)  # cheaper in pJ, yet 1.00x
    run = Run(p, 2, "check")
    assert run.evaluate(everywhere).accuracy == run.evaluate({}).accuracy == p.exact_accuracy
    powers = {n: 0.391 for n in p.layers}
    hw_reduction = energy_reduction(hw, PRESETS["tpu-v4"], powers, {n: 0.391 for n in p.layers})
    assert hw_reduction["multiplier_energy_reduction"] == pytest.approx(1.0)
    assert hw_reduction["energy_reduction"] == pytest.approx(1.0)
    assert energy_reduction(hw, PRESETS["tpu-v4"], powers)["multiplier_energy_reduction"] == pytest.approx(0.425 / 0.391)


def test_mixed_assignment_is_compared_layer_by_layer(problem):
    p, _ = problem
    first, second = p.layers[0], p.layers[1]
    mixed = {first: "mul8s_1KVA", second: "mul8u_17R6+sm"}
    cat = p.catalogue
    powers = {n: 0.425 for n in p.layers} | {first: cat["mul8s_1KVA"].power_mw, second: 0.095}
    reference = {n: 0.425 for n in p.layers} | {second: 0.391}
    want = sum(p.macs[n] * reference[n] for n in p.layers) / sum(p.macs[n] * powers[n] for n in p.layers)
    assert p.reductions(mixed)["multiplier_energy_reduction"] == pytest.approx(want, rel=1e-12)
    assert p.saving_pj(second, "exact_u8+sm") == 0.0
    assert p.saving_pj(second, "mul8u_17R6+sm") == pytest.approx(p.macs[second] * (0.391 - 0.095))
    assert p.saving_pj(first, "mul8s_1KVA") == pytest.approx(p.macs[first] * (0.425 - cat["mul8s_1KVA"].power_mw))


def _kinds(p, assignment) -> set[bool]:
    """The signedness of the physical circuits an assignment approximates with."""
    return {p.catalogue[m].circuit_signed for m in assignment.values() if not p.catalogue[m].is_exact}


def test_a_search_evaluates_and_returns_a_mixed_assignment(problem):
    """Energy alone ranks circuits alike in every layer, so a mix comes from accuracy: under a
    damage model where the first layer tolerates only signed circuits and the others only
    sign-magnitude unsigned ones, XAI-Gen's path evaluates mixed assignments, and the budget's
    choice is the mix when the fully unsigned point misses the budget."""
    p, _ = problem
    first = p.layers[0]

    def damage_of(layer: str, name: str) -> float:
        unsigned = not p.catalogue[name].circuit_signed
        return 0.0 if p.catalogue[name].is_exact or unsigned == (layer != first) else 10.0

    table = {n: {m: damage_of(n, m) for m in p.candidates} for n in p.layers}
    run = xai_gen(p, {}, {}, 8, loss_budgets=[0.9], damage=table, refine=False)
    mixed = [e for e in run.history if _kinds(p, e.assignment) == {True, False}]
    assert mixed, [e.assignment for e in run.history]
    # The choice at a budget: the mix is feasible, the cheaper all-unsigned point is not.
    replay = Run(p, 3, "replay")
    replay.record({}, p.exact_accuracy, 0.0)
    mix = replay.record(mixed[0].assignment, p.exact_accuracy - 0.01, 0.0)
    replay.record({n: "mul8u_1A0M+sm" for n in p.layers}, p.exact_accuracy - 0.2, 0.0)
    choice = summarize_run(replay, [0.02], 0.05)["by_budget"]["0.02"]
    assert choice["assignment"] == mix.assignment and _kinds(p, choice["assignment"]) == {True, False}
    assert choice["multiplier_energy_reduction"] == pytest.approx(
        p.reductions(mix.assignment)["multiplier_energy_reduction"])
