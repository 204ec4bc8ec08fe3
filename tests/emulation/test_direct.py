"""The direct int8 convolution (few input channels): bit-exact against the product-by-product
reference on every shape it takes, both lane layouts, its front end, and the layer outputs."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.emulation.reference import conv2d_reference
from xaigen.emulation import direct, int8, low_rank_factors
from xaigen.emulation.frontend import lookup_conv_input
from xaigen.emulation.kernels import choose_path, conv2d_accumulators
from xaigen.emulation.native import gather_library

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TABLES = ["exact_s8", "mul8s_1L2N", "mul8s_1KV8", "mul8s_1KX5", "mul8s_1KVA", "exact_u8", "trunc_u8_c6"]
needs_direct = pytest.mark.skipif(
    not int8.int8_kernels_exact() or gather_library() is None or not gather_library().xaigen_direct_available(),
    reason="needs exact int8 kernels, a C compiler and AVX-512 VNNI")

shapes = st.fixed_dictionaries({
    "n": st.integers(1, 3), "cin": st.integers(1, 6), "cout": st.sampled_from([1, 5, 16, 17, 33]),
    "kh": st.integers(1, 5), "kw": st.integers(1, 7), "h": st.integers(1, 8), "w": st.integers(1, 40),
    "pad": st.tuples(st.integers(0, 2), st.integers(0, 2)), "seed": st.integers(0, 2**31 - 1),
})


@needs_direct
@pytest.mark.parametrize("layout", ["quads", "planes"])
@pytest.mark.parametrize("by_channel", [False, True])
@pytest.mark.parametrize("name", TABLES)
@SETTINGS
@given(shape=shapes)
def test_accumulators_equal_the_reference(catalogue, monkeypatch, name, by_channel, layout, shape):
    multiplier = catalogue[name]
    top, left = shape["pad"]
    assume(shape["h"] + 2 * top >= shape["kh"] and shape["w"] + 2 * left >= shape["kw"])
    rng = np.random.default_rng(shape["seed"])
    low, high = (-128, 127) if multiplier.signed else (0, 255)
    a = rng.integers(low, high + 1, (shape["n"], shape["cin"], shape["h"], shape["w"]))
    # unsigned weights as the sign-magnitude scheme feeds them (magnitudes 0..127: one weight part)
    w = rng.integers(low, min(high, 127) + 1, (shape["cout"], shape["cin"], shape["kh"], shape["kw"]))
    plan = choose_path(multiplier, torch.from_numpy(w))
    assert plan.path == "int8"
    assume(layout == "quads" or direct._kept_planes(plan.lowering).size <= 4 * direct.MAX_WORD_GROUPS)
    monkeypatch.setattr(direct, "SPEED_MARGIN", 1e9)  # a speed threshold, not a limit of exactness
    assert direct.applies(plan.lowering, (1, 1), (1, 1), 1, shape["w"], (top, left))  # the path under test
    monkeypatch.setattr(direct, "_by_channel", lambda out_channels, out_width: by_channel)
    monkeypatch.setattr(direct, "_layout", lambda planes, kw: layout)
    got = conv2d_accumulators(torch.from_numpy(a), plan, padding=(top, left))
    padded = np.pad(a, ((0, 0), (0, 0), (top, top), (left, left)))  # code 0 is the real value 0
    want = conv2d_reference(padded, w, multiplier.table, (1, 1), (1, 1), 1)
    assert np.array_equal(got.to(torch.int64).numpy(), want)


@needs_direct
@pytest.mark.parametrize("layout", ["quads", "planes"])
@SETTINGS
@given(n=st.integers(1, 2), c=st.integers(1, 7), h=st.integers(1, 5), w=st.integers(1, 35), top=st.integers(0, 2),
       left=st.integers(0, 2), extra=st.integers(0, 20), zero=st.integers(0, 40), signed=st.booleans(),
       channels_last=st.booleans(), rank=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
def test_front_end_words_are_the_padded_bytes_four_at_a_time(layout, n, c, h, w, top, left, extra, zero, signed,
                                                             channels_last, rank, seed):
    """Quads: four neighbouring columns of one stacked plane; plane words: four planes of one pixel."""
    assume(layout == "quads" or c * rank <= 4 * direct.MAX_WORD_GROUPS)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen) * 3
    zero, vmin = (0, -128) if signed else (zero, 0)
    table = np.random.default_rng(seed).integers(0, 256, (256, rank)).astype(np.uint8)
    width = w + 2 * left + extra
    xin = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    front_end = direct.quads if layout == "quads" else direct.plane_words
    got = front_end(xin, 0.037, zero, (vmin, vmin + 255), vmin, table, (top, left), width, zero)
    stacked = lookup_conv_input(x, 0.037, zero, (vmin, vmin + 255), vmin, table, (top, left), zero).numpy()
    planes = c * rank
    padded = np.zeros((n, -(-planes // 4) * 4, stacked.shape[2], width + 3), dtype=np.uint8)
    padded[:, :planes] = np.tile(table[zero - vmin], c)[None, :, None, None]  # plane c * R + r is padded with byte r
    padded[:, :planes, :, : stacked.shape[3]] = stacked
    if layout == "quads":
        want = sum(padded[:, :planes, :, b : b + width].astype(np.uint32) << (8 * b) for b in range(4))
    else:
        want = sum(padded[:, b::4, :, :width].astype(np.uint32) << (8 * b) for b in range(4))
    assert np.array_equal(got, want)


@needs_direct
@pytest.mark.parametrize("name", ["mul8s_1L2N", "mul8s_1KV8", "exact_s8"])
def test_layer_outputs_equal_onednn_bit_for_bit(catalogue, monkeypatch, name):
    """The direct kernel dequantizes and adds the bias inside; no output bit may change."""
    from torch import nn

    from xaigen.emulation import approximable_layers, approximate, calibrate

    monkeypatch.setattr(direct, "SPEED_MARGIN", 1e9)  # a speed threshold; here every stride-1 layer
    torch.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.Conv2d(6, 20, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(20, 4, 3, stride=2)).eval()
    x = torch.randn(7, 3, 23, 19)
    ax = approximate(model, name, catalogue, calibrate(model, x))
    calls = []
    real_conv2d = direct.conv2d
    monkeypatch.setattr(direct, "conv2d", lambda *args, **kwargs: calls.append(1) or real_conv2d(*args, **kwargs))
    with torch.no_grad():
        fast = ax(x)
        assert len(calls) >= 2  # the first two layers; the strided third stays on oneDNN
        monkeypatch.setattr(direct, "applies", lambda *args, **kwargs: False)
        assert torch.equal(fast, ax(x))
        layers = list(approximable_layers(ax).values())
        assert torch.equal(layers[0](x.contiguous(memory_format=torch.channels_last)), layers[0](x))


def _lowering(multiplier, weight_shape):
    """The int8 lowering of random signed weights, made without a plan (so on any CPU)."""
    index = torch.randint(-128, 128, weight_shape).numpy() + 128  # value-ordered, as choose_path indexes
    return int8.lower(low_rank_factors(multiplier), index)


def test_not_taken_where_it_does_not_apply(catalogue):
    lowering = _lowering(catalogue["mul8s_1L2N"], (4, 3, 3, 3))
    assert not direct.applies(lowering, (2, 1), (1, 1), 1, 10, (0, 0))  # stride
    assert not direct.applies(lowering, (1, 1), (1, 2), 1, 10, (0, 0))  # dilation
    lenet_conv2 = _lowering(catalogue["mul8s_1L2N"], (16, 6, 5, 5))
    assert not direct.applies(lenet_conv2, (1, 1), (1, 1), 1, 14, (0, 0))  # as many instructions: oneDNN
    # the rule (planes, out channels, kh, kw, out width): LeNet-5's conv1 at ranks 1 and 5; conv2; ResNet's conv1
    assert direct._fewer_instructions(3, 6, 5, 5, 28) and direct._fewer_instructions(15, 6, 5, 5, 28)
    assert not direct._fewer_instructions(6, 16, 5, 5, 10) and not direct._fewer_instructions(3, 16, 3, 3, 32)
    assert not direct.applies(lowering, (1, 1), (1, 1), 1, direct.MAX_ROW + 1, (0, 0))  # the row buffer
    too_many = torch.zeros(1, 4 * direct.MAX_WORD_GROUPS + 1, 2, 2)
    with pytest.raises(ValueError, match="plane-word"):  # never words the C kernel would leave unset
        direct.plane_words(too_many, 1.0, 0, (-128, 127), -128, np.zeros((256, 1), np.uint8), (0, 0), 16, 0)
