"""Layer and model level: quantization, zero-points, padding, exact = int8 inference, fine-tuning."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.emulation.reference import conv2d_reference, layer_inputs, linear_reference
from xaigen.emulation import (
    accuracy_and_loss,
    approximable_layers,
    approximate,
    calibrate,
    current_assignment,
    finetune,
    operand_histograms,
    quantize,
    set_assignment,
)
from xaigen.errors import InputError
from xaigen.multipliers import operand_values


def _net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=(2, 1), dilation=(2, 1), groups=3), nn.Tanh(),
        nn.Conv2d(6, 6, 3, padding=1, groups=6, bias=False),  # depthwise
        nn.Flatten(), nn.Linear(6 * 5 * 5, 7),
    ).eval()


@pytest.fixture
def net_and_data():
    torch.manual_seed(1)
    return _net(), torch.randn(12, 3, 10, 10)


@pytest.mark.parametrize("multiplier", ["mul8s_1KV8", "mul8s_1L2N", "trunc_u8_c6", "mul8u_ZB3", "exact_u8", "mul8u_DG8",
                                        "mitchell_u8", "mitchell_s8"])
@pytest.mark.parametrize("per_channel", [True, False])
def test_layer_accumulators_equal_reference_with_zero_points(catalogue, net_and_data, multiplier, per_channel):
    model, x = net_and_data
    ranges = calibrate(model, x)
    ax = approximate(model, multiplier, catalogue, ranges, per_channel=per_channel)
    m = catalogue[multiplier]
    inputs = layer_inputs(ax, x)
    for name, layer in approximable_layers(ax).items():
        a = quantize(inputs[name], layer.input_params).numpy()
        w = layer.weight_codes().numpy()
        za = int(layer.input_params.zero_point)
        zw = layer.weight_params.zero_point.numpy().reshape(-1, *([1] * (w.ndim - 1)))
        if w.ndim == 4:
            pad = layer.pad
            a_pad = np.pad(a, ((0, 0), (0, 0), (pad[2], pad[3]), (pad[0], pad[1])), constant_values=za)
            raw = conv2d_reference(a_pad, w, m.table, layer.stride, layer.dilation, layer.groups)
            ones = np.ones_like(w)
            a_value_table = np.repeat(operand_values(m.signed)[:, None], 256, axis=1)  # T[a, w] = a
            a_sum = conv2d_reference(a_pad, ones, a_value_table, layer.stride, layer.dilation, layer.groups)
            zw_b = zw.reshape(1, -1, 1, 1)
            w_sum = w.reshape(w.shape[0], -1).sum(1).reshape(1, -1, 1, 1)
        else:
            raw = linear_reference(a, w, m.table)
            a_sum = a.sum(1, keepdims=True)
            zw_b = zw.reshape(1, -1)
            w_sum = w.sum(1).reshape(1, -1)
        fan_in = w[0].size
        want = raw - zw_b * a_sum - za * w_sum + fan_in * za * zw_b
        assert np.array_equal(layer.accumulators(inputs[name]).numpy(), want), name


@pytest.mark.parametrize("exact_name", ["exact_s8", "mul8s_1KV6", "exact_u8", "mul8u_1JJQ"])
def test_exact_multiplier_is_plain_int8_inference(catalogue, net_and_data, exact_name):
    """With an exact table the output equals dequantize(int8 conv) computed independently in float64."""
    model, x = net_and_data
    ranges = calibrate(model, x)
    ax = approximate(model, exact_name, catalogue, ranges)
    for name, layer in approximable_layers(ax).items():
        if isinstance(layer, nn.Linear) or layer.weight.dim() != 4:
            continue
        xin = torch.randn(2, layer.weight.shape[1] * layer.groups, 7, 7)
        ap, wp = layer.input_params, layer.weight_params
        a = (quantize(xin, ap) - ap.zero_point).double()
        w = (layer.weight_codes() - wp.zero_point.reshape(-1, 1, 1, 1)).double()
        pad = layer.pad
        ref = F.conv2d(F.pad(a, pad), w, None, layer.stride, 0, layer.dilation, layer.groups)
        ref = ref * (ap.scale.double() * wp.scale.double().reshape(-1, 1, 1))
        if layer.bias is not None:
            ref = ref + layer.bias.double().reshape(-1, 1, 1)
        assert torch.allclose(layer(xin).double(), ref, rtol=1e-6, atol=1e-6)


def test_int8_close_to_float(net_and_data, catalogue):
    model, x = net_and_data
    ax = approximate(model, None, catalogue, calibrate(model, x))
    assert torch.allclose(ax(x), model(x), atol=0.05 * float(model(x).abs().max().detach()))


def test_assignment_and_retarget(catalogue, net_and_data):
    model, x = net_and_data
    ranges = calibrate(model, x)
    ax = approximate(model, {"0": "mul8s_1L12"}, catalogue, ranges)
    assert current_assignment(ax) == {"0": "mul8s_1L12", "2": "exact_s8", "4": "exact_s8", "6": "exact_s8"}
    y1 = ax(x)
    set_assignment(ax, None, catalogue)
    assert not torch.equal(y1, ax(x))
    with pytest.raises(InputError, match="unknown layer"):
        set_assignment(ax, {"nope": "exact_s8"}, catalogue)
    with pytest.raises(InputError, match="unknown multiplier"):
        set_assignment(ax, {"0": "nope"}, catalogue)


def test_operand_histograms(catalogue, net_and_data):
    model, x = net_and_data
    ax = approximate(model, None, catalogue, calibrate(model, x))
    hists = operand_histograms(ax, x)
    a_hist, w_hist = hists["0"]
    assert int(a_hist.sum()) == 12 * 3 * 10 * 10
    assert int(w_hist.sum()) == 6 * 3 * 3 * 3


def test_finetune_recovers_accuracy(catalogue):
    torch.manual_seed(0)
    x = torch.randn(600, 1, 8, 8)
    y = (x[:, 0, :4].sum(dim=(1, 2)) > x[:, 0, 4:].sum(dim=(1, 2))).long()
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 2))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(150):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    ax = approximate(model, "trunc_s8_c10", catalogue, calibrate(model, x))
    before = accuracy_and_loss(ax, x, y)
    weights = [p.detach().clone() for p in ax.parameters()]
    history = finetune(ax, x, y, epochs=4, lr=3e-3)
    after = accuracy_and_loss(ax, x, y)
    assert history[-1] < history[0]
    assert any(not torch.equal(w, p) for w, p in zip(weights, ax.parameters()))  # a no-op cannot pass
    assert after[1] < before[1] - 0.01  # the bit-exact approximate model's cross-entropy falls
    assert after[0] >= before[0]
    assert not ax.training


@pytest.mark.parametrize("multiplier", ["mul8s_1L2N", "mul8s_1KV8", "mul8u_ZB3", "mitchell_s8"])
def test_linear_over_tokens_is_the_linear_of_each_token(catalogue, multiplier):
    """An nn.Linear applied to [B, T, K] (a transformer's feed-forward) gives, for every token,
    what the same layer gives that token as a row: every path flattens the leading dimensions."""
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3)).eval()
    x = torch.randn(4, 6, 8)
    ax = approximate(model, multiplier, catalogue, calibrate(model, x))
    naive = approximate(model, multiplier, catalogue, calibrate(model, x), path="naive")
    out = ax(x)
    assert out.shape == (4, 6, 3)
    assert torch.equal(out, naive(x))
    assert torch.equal(out.reshape(-1, 3), ax(x.reshape(-1, 8)))
