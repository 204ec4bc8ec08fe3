import math

import numpy as np
import pytest

from xaigen.emulation import approximate, operand_histograms, set_assignment
from xaigen.hardware import layers_from_model
from xaigen.xai import DAMAGE_MODELS, Evaluated, damage_vs_truth, measured_damage, network_damage, single_layer_table
from xaigen.xai.damage import error_moments
from xaigen.xai.truth import TruthTable, auc, interaction_corrected, pearson, pooled_spearman, strong_probes

CANDIDATES = ["exact_s8", "trunc_s8_c6", "trunc_s8_c8", "trunc_s8_c10", "drum_s8_k3"]


@pytest.fixture(scope="module")
def setting(digits_trained):
    d = digits_trained
    data, cat = d.data, d.catalogue
    ax = approximate(d.model, None, cat, d.calibration)
    hist = {n: {True: (a.numpy(), w.numpy())} for n, (a, w) in operand_histograms(ax, data.x_train[:128]).items()}
    set_assignment(ax, None, cat)
    fan_in = {layer.name: layer.k for layer in layers_from_model(d.model, (1, 8, 8))}
    x, y = data.x_train[:64], data.y_train[:64]
    tables = {t.model: t for t in measured_damage(ax, x, y, cat, CANDIDATES, DAMAGE_MODELS, 8, hist, fan_in)}
    return ax, cat, x, y, tables, data


def test_every_damage_model_runs_and_exact_costs_nothing(setting):
    ax, _, _, _, tables, _ = setting
    for name, table in tables.items():
        assert table.error is None, (name, table.error)
        assert list(table.values) == ["conv1", "conv2", "fc1", "fc2"]
        for row in table.values.values():
            assert row["exact_s8"] == 0.0 and all(v >= 0 and math.isfinite(v) for v in row.values())


def test_integrated_gradients_of_the_perturbation_sum_to_the_loss_change(setting):
    """Completeness: Captum's attribution from the exact to the approximate layer output is the
    single-layer loss increase measured on the same samples."""
    ax, cat, x, y, tables, _ = setting
    measured = single_layer_table(ax, x, y, cat, CANDIDATES)
    for layer, row in measured.increase.items():
        for m, value in row.items():
            if value > 0.01:  # clipped at 0 below; large enough for a relative check
                assert tables["ig_delta"].values[layer][m] == pytest.approx(value, rel=0.05, abs=2e-3), (layer, m)


def test_more_truncation_predicts_more_damage(setting):
    *_, tables, _ = setting
    for name in ("fisher", "trace_moment", "ig_delta"):
        for row in tables[name].values.values():
            assert row["trunc_s8_c6"] <= row["trunc_s8_c8"] <= row["trunc_s8_c10"], name


def test_error_moments():
    from xaigen.multipliers import exact, truncated

    hist = np.ones(256)
    assert error_moments(exact(True), hist, hist) == (0.0, 0.0)
    mu, var = error_moments(truncated(True, 8), hist, hist)
    assert mu < 0 and var > 0  # truncation drops low partial-product bits: a negative bias


def test_network_damage_is_the_sum_over_layers():
    table = {"a": {"e": 0.0, "m": 0.25}, "b": {"e": 0.0, "m": 0.5}}
    assert network_damage(table, {"a": "m", "b": "m"}) == 0.75 and network_damage(table, {"a": "e", "b": "m"}) == 0.5


def test_truth_figures_tell_a_good_estimator_from_a_bad_one(setting):
    ax, cat, _, _, tables, data = setting
    half = len(data.x_test) // 2
    held_out = single_layer_table(ax, data.x_test[half:], data.y_test[half:], cat, CANDIDATES)
    other = single_layer_table(ax, data.x_test[:half], data.y_test[:half], cat, CANDIDATES)
    reverse = {l: {m: -v for m, v in row.items()} for l, row in held_out.increase.items()}
    evaluated = [Evaluated({l: m for l in held_out.increase}, float(i), float(i) / 100) for i, m in
                 enumerate(CANDIDATES)]
    good = damage_vs_truth(held_out.increase, held_out, other, evaluated, 0.015)
    bad = damage_vs_truth(reverse, held_out, other, evaluated, 0.015)
    assert good["pooled_spearman"] == pytest.approx(1.0) and bad["pooled_spearman"] == pytest.approx(-1.0)
    assert good["pearson_assignments_corrected"] is None  # fewer assignments than two per fold
    assert -1 <= good["ceiling_pooled"] <= 1 and good["ceiling_pooled"] == bad["ceiling_pooled"]
    # the additive ceiling is the Pearson the validation half's measured table itself gets, whoever estimates
    assert good["ceiling_pearson_assignments"] is not None
    assert good["ceiling_pearson_assignments"] == bad["ceiling_pearson_assignments"] == pytest.approx(
        damage_vs_truth(other.increase, held_out, other, evaluated, 0.015)["pearson_assignments"])
    assert good["strong_probes"] and "trunc_s8_c10" in good["strong_probes"]
    assert tables["ig_delta"].values.keys() == held_out.increase.keys()
    assert pooled_spearman(tables["ig_delta"].values, held_out) > 0.5


def test_auc_pearson_and_strong_probes():
    assert auc([0.1, 0.2, 0.9, 0.8], [False, False, True, True]) == 1.0
    assert auc([0.9, 0.8, 0.1, 0.2], [False, False, True, True]) == 0.0
    assert auc([0.5, 0.5], [False, True]) == 0.5 and auc([1.0], [True]) is None
    assert pearson([1, 2, 3], [2, 4, 6.5]) > 0.99 and pearson([1, 1, 1], [1, 2, 3]) is None
    noisy = TruthTable({l: {"weak": 0.001, "strong": 0.1 * (i + 1)} for i, l in enumerate("abc")},
                       {l: {"weak": 0.01, "strong": 0.01} for l in "abc"})
    assert strong_probes(noisy) == ["strong"]


def test_interaction_correction_recovers_a_power_law_out_of_fold():
    """Sub-additive damage (measured = 0.3 sqrt(p)) with noise: the corrected predictions correlate
    better than the raw sum; each fold's predictions ignore that fold's measurements."""
    rng = np.random.default_rng(0)
    p = rng.exponential(1.0, 60) ** 2
    measured = 0.3 * np.sqrt(p) + rng.normal(0, 0.02, 60)
    corrected = interaction_corrected(p, measured)
    assert pearson(corrected, measured) > 0.97 > pearson(p, measured) + 0.05
    assert pearson(corrected, 0.3 * np.sqrt(p)) > 0.999
    moved = measured.copy()
    moved[::5] += 10.0  # fold 0 only
    again = interaction_corrected(p, moved)
    assert np.allclose(np.asarray(again)[::5], np.asarray(corrected)[::5])
    assert not np.allclose(again, corrected)  # the other folds learnt from the change
    assert interaction_corrected(p[:9], measured[:9]) is None


def test_floored_is_the_larger_of_the_two_per_pair():
    from xaigen.xai import floored

    guide = {"a": {"m1": 0.0, "m2": 0.3, "m3": 0.1}, "b": {"m1": 0.2}}
    floor = {"a": {"m1": 0.05, "m2": 0.1}, "b": {"m1": 0.4}}
    assert floored(guide, floor) == {"a": {"m1": 0.05, "m2": 0.3, "m3": 0.1}, "b": {"m1": 0.4}}


def test_filled_takes_the_floor_only_where_the_guide_reads_no_damage():
    from xaigen.xai import filled

    guide = {"a": {"m1": 0.0, "m2": 0.3, "m3": -0.1, "m4": 0.0, "m5": -0.2}, "b": {"m1": 0.2}}
    floor = {"a": {"m1": 0.05, "m2": 0.9, "m3": 0.02, "m5": -0.3}, "b": {"m1": 0.4}}
    # m4: the floor lacks it, so it keeps the guide's 0; m5: never below the guide; b/m1: the guide measured
    # damage, kept though the floor is higher
    assert filled(guide, floor) == {"a": {"m1": 0.05, "m2": 0.3, "m3": 0.02, "m4": 0.0, "m5": -0.2}, "b": {"m1": 0.2}}
