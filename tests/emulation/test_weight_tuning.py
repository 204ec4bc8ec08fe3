"""Weight tuning in the emulation: bit-exact against the table on the tuned codes, on every path."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tests.emulation.reference import conv2d_corrected_reference, gemm_corrected_reference, layer_inputs
from xaigen.emulation import (
    EmulationOptions,
    approximable_layers,
    approximate,
    calibrate,
    operand_histograms,
    quantize,
    set_assignment,
    tune_weights,
)
from xaigen.hardware import load_accelerator
from xaigen.multipliers import operand_values, tuned_weight_map
from xaigen.search import prepare


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 3, stride=2, groups=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 5)).eval()


def _tuned_model(catalogue, model, x, multiplier, path="auto"):
    """An approximate copy on ``multiplier`` with weights tuned to ``x``'s activations, and the
    activation histograms it was tuned to."""
    ranges = calibrate(model, x)
    ax = approximate(model, None, catalogue, ranges, path=path)
    signed = catalogue[multiplier].signed
    set_assignment(ax, catalogue.exact(signed).name, catalogue)
    histograms = {n: {signed: a.numpy()} for n, (a, _) in operand_histograms(ax, x).items()}
    tune_weights(ax, histograms)
    set_assignment(ax, multiplier, catalogue)
    return ax, histograms


@pytest.mark.parametrize("multiplier,path", [("mul8s_1KX5", "auto"), ("trunc_s8_c8", "auto"), ("mul8s_1L2N", "gather"),
                                             ("mitchell_s8", "auto"), ("mul8u_17R6", "auto"), ("mul8u_17R6+sm", "auto"),
                                             ("trunc_s8_c6", "naive")])
@settings(max_examples=2, deadline=None)
@given(seed=st.integers(0, 1000))
def test_tuned_accumulators_equal_the_table_on_tuned_codes(catalogue, multiplier, path, seed):
    """Every layer's accumulators equal a product-by-product sum from the table, with each weight
    code replaced by its tuned code as :func:`tuned_weight_map` says (computed here, not by the layer)."""
    model = _net()
    x = torch.randn(6, 3, 9, 9, generator=torch.Generator().manual_seed(seed))
    ax, histograms = _tuned_model(catalogue, model, x, multiplier, path)
    plain = approximate(model, multiplier, catalogue, calibrate(model, x))
    m = catalogue[multiplier]
    values = operand_values(m.signed)
    inputs = layer_inputs(ax, x)
    moved = 0
    for name, layer in approximable_layers(ax).items():
        untuned = approximable_layers(plain)[name].weight_codes().numpy()
        tuned = values[tuned_weight_map(m, histograms[name][m.signed], untuned[0].size)][untuned & 0xFF]
        moved += int(np.sum(tuned != untuned))
        assert np.array_equal(layer.weight_codes().numpy(), tuned), name
        a = quantize(inputs[name], layer.input_params).numpy()
        za, zw = int(layer.input_params.zero_point), layer.weight_params.zero_point.numpy()
        if tuned.ndim == 4:
            top, bottom = layer.pad[2], layer.pad[3]
            left, right = layer.pad[0], layer.pad[1]
            a = np.pad(a, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=za)
            value_table = np.repeat(values[:, None], 256, axis=1)
            want = conv2d_corrected_reference(a, tuned, m.table, value_table, layer.stride, layer.dilation,
                                              layer.groups, za, zw)
        else:
            want = gemm_corrected_reference(a, tuned, m.table, za, zw)
        assert np.array_equal(layer.accumulators(inputs[name]).numpy(), want), name
    assert moved > 0  # the tuning did something on these approximate circuits


def test_exact_multiplier_keeps_its_codes_and_retarget_retunes(catalogue):
    model, x = _net(), torch.randn(6, 3, 9, 9)
    ax, _ = _tuned_model(catalogue, model, x, "trunc_s8_c8")
    plain = approximate(model, None, catalogue, calibrate(model, x))
    set_assignment(ax, None, catalogue)
    assert torch.equal(ax(x), plain(x))  # exact: tuning is the identity
    set_assignment(ax, "trunc_s8_c8", catalogue)
    set_assignment(plain, "trunc_s8_c8", catalogue)
    assert not torch.equal(ax(x), plain(x))


def test_prepare_tunes_the_searched_model_and_every_copy(catalogue):
    """``weight_tuning`` in the options: prepare tunes its model, the options it returns carry the
    histograms so a fresh copy (a fine-tune's) is the same model, and the problem's fingerprint
    tells the tuned problem from the plain one (no stored study is replayed across them)."""
    model, x = _net(), torch.randn(40, 3, 9, 9)
    y = torch.randint(0, 5, (40,))
    args = (model, x, x, y, catalogue, ["exact_s8", "trunc_s8_c8"], load_accelerator("tpu-v4"))
    tuned = prepare(*args, options=EmulationOptions(weight_tuning=True))
    plain = prepare(*args)
    assert tuned.options.tuning_histograms is not None and plain.options.tuning_histograms is None
    assert tuned.problem.fingerprint != plain.problem.fingerprint
    copy = tuned.options.approximate(model, "trunc_s8_c8", catalogue, tuned.calibration)
    set_assignment(tuned.approx_model, "trunc_s8_c8", catalogue)
    set_assignment(plain.approx_model, "trunc_s8_c8", catalogue)
    assert torch.equal(copy(x), tuned.approx_model(x))
    assert not torch.equal(copy(x), plain.approx_model(x))


@pytest.mark.parametrize("multiplier", ["trunc_s8_c8", "mul8s_1L2N"])
def test_tuning_brings_outputs_nearer_the_exact_model(catalogue, multiplier):
    model, x = _net(), torch.randn(64, 3, 9, 9)
    ax, _ = _tuned_model(catalogue, model, x, multiplier)
    plain = approximate(model, multiplier, catalogue, calibrate(model, x))
    exact = approximate(model, None, catalogue, calibrate(model, x))
    with torch.no_grad():
        target = exact(x)
        assert float((ax(x) - target).pow(2).mean()) < float((plain(x) - target).pow(2).mean())


def test_error_models_see_the_tuned_error(catalogue):
    """XAI-Gen's error model (and ``trace_moment``) judge a tuned layer by the error it makes on the
    tuned codes: lower than the untuned circuit's for a truncated multiplier."""
    from xaigen.search.methods.xai_gen import damage_tables

    model, x = _net(), torch.randn(40, 3, 9, 9)
    y = torch.randint(0, 5, (40,))
    args = (model, x, x, y, catalogue, ["exact_s8", "trunc_s8_c8"], load_accelerator("tpu-v4"))
    tuned, plain = prepare(*args, options=EmulationOptions(weight_tuning=True)), prepare(*args)
    layer = approximable_layers(tuned.approx_model)["0"]
    m = catalogue["trunc_s8_c8"]
    hist = tuned.options.tuning_histograms["0"][True]
    assert np.array_equal(layer.as_run(m).table, m.table[:, tuned_weight_map(m, hist, layer.weight[0].numel())])
    tuned_damage = damage_tables(tuned.problem, {}, tuned.histograms, use_relevance=False)[1]
    plain_damage = damage_tables(plain.problem, {}, plain.histograms, use_relevance=False)[1]
    for name in tuned_damage:
        assert tuned_damage[name]["trunc_s8_c8"] < plain_damage[name]["trunc_s8_c8"], name
