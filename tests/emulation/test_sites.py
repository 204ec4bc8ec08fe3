"""Call sites: a user's network (functional conv, Conv1d, MultiheadAttention, BatchNorm) approximated
bit-exactly with every multiply counted; LSTM counted but not approximated; exact_layers; observers;
BatchNorm folding; data adapters."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from tests.emulation.reference import conv2d_corrected_reference, gemm_corrected_reference
from tests.emulation.user_model import make_model
from xaigen.emulation import (
    ApproxCall,
    ApproxLayer,
    accuracy_and_loss,
    approximable_layers,
    approximate,
    calibrate,
    coverage,
    current_assignment,
    fold_batchnorm,
    operand_histograms,
    quantize,
    set_assignment,
)
from xaigen.emulation.sites import Call
from xaigen.errors import InputError
from xaigen.hardware import layers_from_model, load_accelerator
from xaigen.multipliers import Catalogue, operand_values
from xaigen.search.problem import AssignmentProblem

CAT = Catalogue.default(include_user=False)
SITES = ["stem", "depthwise", "conv2d#0", "attn:linear#0", "attn:bmm#0", "attn:bmm#1", "attn.out_proj", "temporal",
         "head"]


def _value_table(signed: bool) -> np.ndarray:
    return np.repeat(operand_values(signed)[:, None], 256, axis=1)  # T[a, w] = value of a


def _rhs_codes(site: ApproxCall, call: Call):
    params, channel_first = site.rhs_params(call)
    rhs = call.rhs.detach()
    if channel_first:
        return quantize(rhs, params, channel_dim_first=True).numpy(), params
    if params.scale.dim():
        return quantize(rhs.T, params, channel_dim_first=True).T.numpy(), params
    return quantize(rhs, params).numpy(), params


def _conv_reference(call, a, w, table, signed, za, zw):
    if call.op == "conv1d":
        a, w = a[:, :, None, :], w[:, :, None, :]
        stride, dilation, pads = (1, *call.stride), (1, *call.dilation), ((0, 0), *call.pads)
    else:
        stride, dilation, pads = call.stride, call.dilation, call.pads
    a = np.pad(a, ((0, 0), (0, 0), pads[0], pads[1]), constant_values=za)
    out = conv2d_corrected_reference(a, w, table, _value_table(signed), stride, dilation, call.groups, za, zw)
    return out[:, :, 0, :] if call.op == "conv1d" else out


def site_reference(site: ApproxCall, call: Call) -> np.ndarray:
    """Product-by-product accumulators of a functional site, independent of the kernels."""
    m = site.multiplier
    a = quantize(call.lhs.detach(), site.input_params).numpy()
    za = int(site.input_params.zero_point)
    b, params = _rhs_codes(site, call)
    zb = params.zero_point.numpy()
    if call.op in ("conv1d", "conv2d"):
        return _conv_reference(call, a, b, m.table, m.signed, za, zb)
    if call.op == "linear":
        out = gemm_corrected_reference(a.reshape(-1, a.shape[-1]), b, m.table, za, zb)
        return out.reshape(*a.shape[:-1], b.shape[0])
    if b.ndim == 2:
        out = gemm_corrected_reference(a.reshape(-1, a.shape[-1]), b.T, m.table, za, zb)
        return out.reshape(*a.shape[:-1], b.shape[1])
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a3 = np.broadcast_to(a, (*batch, *a.shape[-2:])).reshape(-1, *a.shape[-2:])
    b3 = np.broadcast_to(b, (*batch, *b.shape[-2:])).reshape(-1, *b.shape[-2:])
    out = np.stack([gemm_corrected_reference(a3[i], b3[i].T, m.table, za, zb) for i in range(a3.shape[0])])
    return out.reshape(*batch, a.shape[-2], b.shape[-1])


def _layer_reference(layer: ApproxLayer, x: torch.Tensor) -> np.ndarray:
    m = layer.multiplier
    a = quantize(x, layer.input_params).numpy()
    za, zw, w = int(layer.input_params.zero_point), layer.weight_params.zero_point.numpy(), layer.weight_codes().numpy()
    if w.ndim == 4:
        left, right, top, bottom = layer.pad
        a = np.pad(a, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=za)
        return conv2d_corrected_reference(a, w, m.table, _value_table(m.signed), layer.stride, layer.dilation,
                                          layer.groups, za, zw)
    return gemm_corrected_reference(a.reshape(-1, a.shape[-1]), w, m.table, za, zw).reshape(*a.shape[:-1], -1)


def _capture(ax):
    """Record every site's call (functional) or input (module) during a forward pass."""
    seen, hooks = {}, []
    for name, layer in approximable_layers(ax, include_exact=True).items():
        def hook(_mod, args, name=name):
            seen.setdefault(name, []).append(args[0])
        hooks.append(layer.register_forward_pre_hook(hook))
    return seen, hooks


@pytest.fixture
def data():
    torch.manual_seed(3)
    return torch.randn(6, 3, 5, 5)


@pytest.mark.parametrize("multiplier", ["drum_s8_k4", "trunc_u8_c6", "mitchell_s8"])
def test_user_model_bit_exact_and_fully_covered(data, multiplier):
    model = make_model()
    ax = approximate(model, multiplier, CAT, calibrate(model, data), fold_batchnorm=True)
    assert list(approximable_layers(ax)) == SITES
    assert isinstance(ax.bn, nn.Identity) and isinstance(ax.stem, ApproxLayer) and ax.stem.bias is not None
    seen, hooks = _capture(ax)
    ax(data)
    for h in hooks:
        h.remove()
    assert set(seen) == set(SITES)  # every site took part in the forward pass
    for name, layer in approximable_layers(ax).items():
        for item in seen[name]:
            if isinstance(layer, ApproxCall):
                got = layer.accumulators(item)[0].numpy()
                assert np.array_equal(got, site_reference(layer, item)), name
            else:
                assert np.array_equal(layer.accumulators(item).numpy(), _layer_reference(layer, item)), name
    cov = coverage(model, data[:2])
    assert cov.fraction == 1.0 and cov.not_approximated == []
    with FlopCounterMode(display=False) as counter:
        model(data[:2])
    assert cov.total_macs == counter.get_total_flops() // 2  # the cross-check: nothing left out


def test_site_outputs_are_the_dequantized_accumulators(data):
    model = make_model()
    ax = approximate(model, "trunc_s8_c8", CAT, calibrate(model, data))
    outputs = {}
    hooks = [layer.register_forward_hook(lambda mod, args, out, name=name: outputs.__setitem__(name, (args[0], out)))
             for name, layer in approximable_layers(ax).items() if isinstance(layer, ApproxCall)]
    ax(data)
    for h in hooks:
        h.remove()
    assert set(outputs) == {"conv2d#0", "attn:linear#0", "attn:bmm#0", "attn:bmm#1", "temporal"}
    for name, (call, out) in outputs.items():
        site = approximable_layers(ax)[name]
        acc, params = site.accumulators(call)
        scale = params.scale * site.input_params.scale
        scale = scale.reshape(-1, *([1] * len(call.stride))) if call.op.startswith("conv") and scale.dim() else scale
        assert torch.equal(out, call.finish(acc.to(torch.float32) * scale)), name
    exact = approximate(model, None, CAT, calibrate(model, data))
    assert torch.allclose(exact(data), model(data), atol=0.05 * float(model(data).detach().abs().max()))


def test_hardware_layers_agree_with_sites_and_count_everything(data):
    model = make_model()
    layers = layers_from_model(model, (3, 5, 5), batch=2)
    assert [layer.name for layer in layers] == SITES and all(layer.approximable for layer in layers)
    assert sum(layer.macs for layer in layers) == coverage(model, data[:2]).total_macs
    ax = approximate(model, None, CAT, calibrate(model, data))
    assert layers_from_model(ax, (3, 5, 5), batch=2) == layers  # the same on the approximate model


def test_lstm_is_counted_charged_and_reported(data):
    model = make_model(lstm=True)
    cov = coverage(model, data[:2])
    lstm_macs = 2 * 25 * (4 * 6) * (8 + 6)  # batch x steps x gates*hidden x (input + hidden)
    assert cov.fraction < 1.0
    assert [(n.site, n.op, n.macs) for n in cov.not_approximated] == [("lstm:lstm#0", "lstm", lstm_macs)]
    assert cov.total_macs - cov.approximated_macs == lstm_macs
    layers = layers_from_model(model, (3, 5, 5), batch=2)
    flagged = [layer for layer in layers if not layer.approximable]
    assert sum(layer.macs for layer in flagged) == lstm_macs and {layer.name for layer in flagged} == {
        "lstm:lstm#0/0", "lstm:lstm#0/1"}
    calibration = calibrate(model, data)
    ax = approximate(model, "drum_s8_k4", CAT, calibration)
    assert list(approximable_layers(ax)) == SITES and ax(data).shape == (6, 5)
    y = torch.zeros(6, dtype=torch.long)
    acc = load_accelerator("sosa-32x32")
    with_lstm = AssignmentProblem(ax, data, y, CAT, ["drum_s8_k4"], layers, acc)
    without = AssignmentProblem(ax, data, y, CAT, ["drum_s8_k4"], [la for la in layers if la.approximable], acc)
    assert with_lstm.exact_energy_pj > without.exact_energy_pj  # the LSTM's work is charged
    all_approx = {n: "drum_s8_k4" for n in with_lstm.layers}
    assert with_lstm.energy(all_approx)[1] > without.energy(all_approx)[1]  # at exact multiplier power


def test_exact_layers_are_kept_exact_and_not_searchable(data):
    model = make_model()
    ax = approximate(model, "trunc_s8_c8", CAT, calibrate(model, data), exact_layers=["attn*", "head"])
    searchable = list(approximable_layers(ax))
    assert searchable == ["stem", "depthwise", "conv2d#0", "temporal"]
    assert list(approximable_layers(ax, exclude=["conv2d#*"])) == ["stem", "depthwise", "temporal"]
    every = approximable_layers(ax, include_exact=True)
    assert every["attn:bmm#0"].multiplier.name == "exact_s8" and every["head"].multiplier.name == "exact_s8"
    set_assignment(ax, "drum_s8_k4", CAT)
    assert set(current_assignment(ax).values()) == {"drum_s8_k4"} and every["attn.out_proj"].multiplier.name == "exact_s8"
    with pytest.raises(InputError, match="kept exact"):
        set_assignment(ax, {"head": "drum_s8_k4"}, CAT)
    cov = coverage(model, data[:1], exact_layers=["attn*", "head"])
    assert cov.fraction < 1 and {n.site for n in cov.not_approximated} == {
        "attn:linear#0", "attn:bmm#0", "attn:bmm#1", "attn.out_proj", "head"}


def test_an_exact_layers_pattern_that_matches_nothing_is_said(data, caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="xaigen"):
        cov = coverage(make_model(), data[:1], exact_layers=["head", "hed*"])
    assert "exact_layers: hed* match(es) no layer; the layers are stem," in caplog.text
    assert cov.fraction < 1  # "head" still kept exact


def test_operand_histograms_of_activation_pairs(data):
    model = make_model()
    ax = approximate(model, None, CAT, calibrate(model, data))
    hists = operand_histograms(ax, data)
    a, b = hists["attn:bmm#1"]  # attention weights [12, 25, 25] @ values [12, 25, 4]
    assert int(a.sum()) == 12 * 25 * 25 and int(b.sum()) == 12 * 25 * 4
    assert int(hists["conv2d#0"][1].sum()) == 8 * 8


def test_finetune_gradient_reaches_functional_weights(data):
    model = make_model()
    ax = approximate(model, "trunc_s8_c8", CAT, calibrate(model, data))
    ax.train()
    loss = ax(data).square().sum()
    loss.backward()
    assert ax.mix.grad is not None and float(ax.mix.grad.abs().sum()) > 0  # the functional conv's weight
    assert ax.attn.in_proj_weight.grad is not None and float(ax.attn.in_proj_weight.grad.abs().sum()) > 0


class _Branchy(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.post = nn.BatchNorm2d(4)

    def forward(self, x):
        x = self.features(x)
        return self.post(x) if float(x.detach().sum()) > 0 else x


def test_fold_batchnorm_with_fx_and_module_order_fallback(data):
    model = make_model()
    folding = fold_batchnorm(model)
    assert folding.folded == [("stem", "bn")] and folding.notes == []
    assert torch.allclose(folding.model(data), model(data), atol=1e-5)
    assert isinstance(model.bn, nn.BatchNorm2d)  # the original is left alone
    branchy = _Branchy().eval()
    folding = fold_batchnorm(branchy)
    assert folding.folded == [("features.0", "features.1")]
    assert len(folding.notes) == 1 and folding.notes[0].startswith("post:")
    assert torch.allclose(folding.model(data), branchy(data), atol=1e-5)


def test_observers_clip_outliers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3)).eval()
    x = torch.randn(4000, 4)
    x[0, 0] = 60.0  # one outlier
    ranges = {kind: calibrate(model, x, observer=kind)["0"] for kind in ("minmax", "percentile", "mse")}
    assert ranges["minmax"][1] == 60.0
    assert ranges["percentile"][1] < 10 and ranges["mse"][1] < 60.0
    with pytest.raises(InputError, match="unknown observer"):
        calibrate(model, x, observer="kl")


def test_data_adapters_agree(data):
    model = make_model()
    y = torch.arange(6) % 5
    reference = calibrate(model, data, batch_size=4)
    assert calibrate(model, data.numpy().astype(np.float64), batch_size=4) == reference
    assert calibrate(model, TensorDataset(data, y), batch_size=4) == reference
    assert calibrate(model, DataLoader(TensorDataset(data, y), batch_size=4)) == reference
    score = accuracy_and_loss(model, data, y)
    assert accuracy_and_loss(model, DataLoader(TensorDataset(data, y), batch_size=4)) == pytest.approx(score)
    assert accuracy_and_loss(model, data.numpy(), y.numpy(), batch_size=5) == pytest.approx(score)
    with pytest.raises(InputError, match="expected a tensor"):
        calibrate(model, 3.0)
    with pytest.raises(InputError, match="no labels"):
        accuracy_and_loss(model, DataLoader(data, batch_size=4))


@st.composite
def calls(draw):
    """A random functional call: conv1d/conv2d of any geometry, linear, matmul with a parameter or
    an activation, bmm."""
    op = draw(st.sampled_from(["conv1d", "conv2d", "linear", "matmul_param", "bmm"]))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    if op in ("conv1d", "conv2d"):
        dims = 1 if op == "conv1d" else 2
        groups, cin_g, og = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
        kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
        size = tuple(draw(st.integers(5, 7)) for _ in range(dims))  # >= the dilated kernel extent
        padding = draw(st.sampled_from(["same", "valid", 1]))
        stride = 1 if padding == "same" else draw(st.integers(1, 2))
        dilation = draw(st.integers(1, 2))
        x = torch.randn(2, groups * cin_g, *size, generator=gen)
        w = torch.randn(groups * og, cin_g, *kernel, generator=gen)
        return op, (x, w, torch.randn(groups * og, generator=gen), stride, padding, dilation, groups)
    if op == "linear":
        return op, (torch.randn(3, 2, 5, generator=gen), torch.randn(4, 5, generator=gen), None)
    if op == "matmul_param":
        return op, (torch.randn(2, 3, 6, generator=gen), nn.Parameter(torch.randn(6, 4, generator=gen)))
    return op, (torch.randn(3, 4, 5, generator=gen), torch.randn(3, 5, 2, generator=gen))


_FUNCS = {"conv1d": F.conv1d, "conv2d": F.conv2d, "linear": F.linear, "matmul_param": torch.matmul, "bmm": torch.bmm}


class _OneCall(nn.Module):
    def __init__(self, op, args):
        super().__init__()
        self.op, self.args = op, args

    def forward(self, x):
        return _FUNCS[self.op](x, *self.args[1:])


@pytest.mark.parametrize("multiplier", ["drum_s8_k3", "mitchell_u8", "trunc_u8_c4"])
@settings(max_examples=12, deadline=None)
@given(case=calls())
def test_functional_sites_bit_exact(multiplier, case):
    op, args = case
    model = _OneCall(op, args).eval()
    x = args[0]
    ax = approximate(model, multiplier, CAT, calibrate(model, x), per_channel=op != "linear")
    [(name, site)] = approximable_layers(ax).items()
    seen, hooks = _capture(ax)
    out = ax(x)
    for h in hooks:
        h.remove()
    [call] = seen[name]
    assert np.array_equal(site.accumulators(call)[0].numpy(), site_reference(site, call)), (name, op)
    assert out.shape == model(x).shape


def test_transformer_layer_attention_through_sdpa():
    """TransformerEncoderLayer calls MHA with need_weights=False: scaled_dot_product_attention, run
    as its two matmuls, each an activation x activation site."""
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dropout=0.0).eval()
    x = torch.randn(3, 5, 8)
    ax = approximate(layer, "drum_s8_k4", CAT, calibrate(layer, x))
    assert list(approximable_layers(ax)) == ["self_attn:linear#0", "self_attn:matmul#0", "self_attn:matmul#1",
                                             "self_attn.out_proj", "linear1", "linear2"]
    seen, hooks = _capture(ax)
    ax(x)
    for h in hooks:
        h.remove()
    for name in ("self_attn:matmul#0", "self_attn:matmul#1"):
        site = approximable_layers(ax)[name]
        [call] = seen[name]
        assert not call.rhs_is_weight
        assert np.array_equal(site.accumulators(call)[0].numpy(), site_reference(site, call)), name
    assert coverage(layer, x).fraction == 1.0


@pytest.mark.parametrize("multiplier", ["mul8u_T83+sm", "mul8u_18UH+sm", "drum_s8_k3"])
def test_batched_activation_products_are_exact_even_with_huge_factors(multiplier):
    """Attention-style products of two activations go through the table's integer factors in one
    batched matmul only when the exact bound allows (T83+sm's factors reach 1e16: an int64 bound
    would wrap and let an inexact path through)."""
    from xaigen.emulation.functional import gemm_accumulators

    m = CAT[multiplier]
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (2, 3, 40))
    b = rng.integers(-128, 128, (2, 40, 5))
    got = gemm_accumulators(torch.from_numpy(a).float(), torch.from_numpy(b), m, 0, torch.tensor(0))
    want = np.stack([gemm_corrected_reference(a[i], b[i].T, m.table, 0, 0) for i in range(2)])
    assert np.array_equal(got.numpy(), want)
